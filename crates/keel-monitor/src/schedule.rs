//! When a monitor runs: SageMaker's schedule expressions (`cron(0 * ? * * *)`,
//! whose six fields are minutes, hours, day of month, month, day of week
//! with 1 for Sunday, and year), plain five-field cron (`0 * * * *`, 0 for
//! Sunday), ISO-8601 repeating intervals (`R/PT1H`, `R/2026-12-01T00:00:00Z/PT6H`),
//! and `NOW` (one execution, at once), in UTC or a named time zone.
//!
//! The clock is the caller's: [`Schedule::due`] answers, for an instant and
//! the last tick that ran, the newest tick due, so a scheduler that was down
//! for hours runs one execution and says how many ticks it skipped.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::duration::parse_duration;
use crate::error::{Error, Result};

/// A parsed schedule expression with its time zone.
#[derive(Clone)]
pub struct Schedule {
    kind: Kind,
    zone: Tz,
    expression: String,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The parsed cron's bit fields are thousands of numbers: show the words.
        write!(f, "Schedule({:?} in {})", self.expression, self.zone.name())
    }
}

#[derive(Clone)]
enum Kind {
    Cron(Box<Cron>),
    /// Every `period` from `start` (the Unix epoch when none was given).
    Every {
        start: DateTime<Utc>,
        period: Duration,
    },
    /// Once, as soon as the schedule starts.
    Now,
}

/// What is due at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// The tick to run: the newest at or before the instant.
    pub tick: DateTime<Utc>,
    /// How many older ticks after the last one that ran were skipped (the
    /// scheduler was down): they are not run one by one.
    pub skipped: u64,
}

/// The shortest period a schedule may have, so a typo cannot make a
/// monitor run every second.
const MIN_PERIOD_SECONDS: i64 = 60;

impl Schedule {
    /// Parses `expression` in `zone` (an IANA name such as `Europe/Paris`;
    /// UTC when `None`).
    pub fn parse(expression: &str, zone: Option<&str>) -> Result<Schedule> {
        let zone = match zone.map(str::trim).filter(|z| !z.is_empty()) {
            None => Tz::UTC,
            Some(z) => Tz::from_str(z).map_err(|_| {
                Error::InvalidArgument(format!(
                    "'{z}' is not a time zone Keel knows; name one as the IANA database does, such as UTC, Europe/Paris or America/New_York."
                ))
            })?,
        };
        let text = expression.trim();
        let kind = if text.eq_ignore_ascii_case("NOW") {
            Kind::Now
        } else if let Some(inner) = strip_call(text, "cron") {
            Kind::Cron(Box::new(aws_cron(inner, text)?))
        } else if let Some(rest) = text.strip_prefix("R/").or_else(|| strip_repeat(text)) {
            every(rest, text)?
        } else {
            Kind::Cron(Box::new(five_field(text)?))
        };
        let schedule = Schedule {
            kind,
            zone,
            expression: text.to_string(),
        };
        schedule.check_period()?;
        Ok(schedule)
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone its cron fields are read in.
    pub fn zone(&self) -> &str {
        self.zone.name()
    }

    /// The first tick strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Now => None,
            Kind::Every { start, period } => {
                if t < *start {
                    return Some(*start);
                }
                let n = (t - *start).num_milliseconds() / period.num_milliseconds();
                start.checked_add_signed(*period * i32::try_from(n + 1).ok()?)
            }
            Kind::Cron(cron) => {
                let local = t.with_timezone(&self.zone);
                cron.find_next_occurrence(&local, false)
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            }
        }
    }

    /// The newest tick at or before `t`.
    pub fn latest_at(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Now => None,
            Kind::Every { start, period } => {
                if t < *start {
                    return None;
                }
                let n = (t - *start).num_milliseconds() / period.num_milliseconds();
                start.checked_add_signed(*period * i32::try_from(n).ok()?)
            }
            Kind::Cron(cron) => {
                let local = t.with_timezone(&self.zone);
                cron.find_previous_occurrence(&local, true)
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            }
        }
    }

    /// What is due at `now`, given the last tick that ran (`None` before
    /// the first): the newest tick at or before `now` that is after `last`,
    /// and how many ticks between them were skipped. A `NOW` schedule is due
    /// once, at `created`.
    pub fn due(
        &self,
        now: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
        created: DateTime<Utc>,
    ) -> Option<Due> {
        if let Kind::Now = self.kind {
            return last.is_none().then_some(Due {
                tick: created,
                skipped: 0,
            });
        }
        let tick = self.latest_at(now)?;
        // The first run is the first tick after the schedule was made (one
        // made on the hour waits for the next hour).
        let floor = last.unwrap_or(created);
        if tick <= floor {
            return None;
        }
        let mut skipped = 0u64;
        let mut t = self.next_after(floor)?;
        while t < tick && skipped < 100_000 {
            skipped += 1;
            t = self.next_after(t)?;
        }
        Some(Due { tick, skipped })
    }

    /// Refuses schedules whose ticks come less than a minute apart.
    fn check_period(&self) -> Result<()> {
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).single();
        let (Some(start), false) = (start, matches!(self.kind, Kind::Now)) else {
            return Ok(());
        };
        let Some(a) = self.next_after(start) else {
            return Err(Error::InvalidArgument(format!(
                "The schedule '{}' never fires.",
                self.expression
            )));
        };
        if let Some(b) = self.next_after(a)
            && (b - a).num_seconds() < MIN_PERIOD_SECONDS
        {
            return Err(Error::InvalidArgument(format!(
                "The schedule '{}' fires every {} s; a monitor runs at most once a minute.",
                self.expression,
                (b - a).num_seconds()
            )));
        }
        Ok(())
    }
}

/// `cron(...)` → the text inside, for the call named `name`.
fn strip_call<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let (head, rest) = text.split_at_checked(name.len())?;
    if !head.eq_ignore_ascii_case(name) {
        return None;
    }
    rest.trim_start()
        .strip_prefix('(')?
        .strip_suffix(')')
        .map(str::trim)
}

/// `R5/...` and `R/...` are both repeating intervals; Keel repeats forever.
fn strip_repeat(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('R')?;
    let (count, rest) = rest.split_once('/')?;
    count.chars().all(|c| c.is_ascii_digit()).then_some(rest)
}

/// SageMaker's six fields: minutes, hours, day of month, month, day of
/// week (1 = Sunday, as in Quartz and EventBridge), year.
fn aws_cron(inner: &str, text: &str) -> Result<Cron> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(Error::InvalidArgument(format!(
            "'{text}' has {} fields; SageMaker's cron() has six: minutes, hours, day of month, month, day of week and year, such as cron(0 * ? * * *) for every hour.",
            fields.len()
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&format!("0 {}", fields.join(" ")))
        .map_err(|e| {
            Error::InvalidArgument(format!(
                "'{text}' is not a valid SageMaker cron expression: {e}."
            ))
        })
}

/// A plain five-field cron expression (0 = Sunday).
fn five_field(text: &str) -> Result<Cron> {
    let fields = text.split_whitespace().count();
    if fields != 5 {
        return Err(Error::InvalidArgument(format!(
            "'{text}' is not a schedule: write SageMaker's cron(0 * ? * * *), five-field cron such as 0 * * * *, an ISO-8601 repeating interval such as R/PT1H, or NOW."
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(text)
        .map_err(|e| {
            Error::InvalidArgument(format!("'{text}' is not a valid cron expression: {e}."))
        })
}

/// `PT1H` or `START/PT1H` after the `R/`.
fn every(rest: &str, text: &str) -> Result<Kind> {
    let (start, period) = match rest.split_once('/') {
        Some((start, period)) => {
            let start = DateTime::parse_from_rfc3339(start.trim())
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "The start of '{text}' is not an RFC 3339 time such as 2026-12-01T00:00:00Z."
                    ))
                })?
                .with_timezone(&Utc);
            (start, period)
        }
        None => (DateTime::<Utc>::UNIX_EPOCH, rest),
    };
    let period = parse_duration(period)?;
    if period <= Duration::zero() {
        return Err(Error::InvalidArgument(format!(
            "The interval of '{text}' must be positive."
        )));
    }
    Ok(Kind::Every { start, period })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// (expression, zone, instant, the next tick after it)
    #[test]
    fn next_ticks_of_each_kind() {
        for (expr, zone, t, next) in [
            (
                "cron(0 * ? * * *)",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-29T11:00:00Z",
            ),
            (
                "cron(0 0 ? * * *)",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-30T00:00:00Z",
            ),
            (
                "cron(0 0/6 ? * * *)",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-29T12:00:00Z",
            ),
            (
                "cron(30 9 ? * 2 *)",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-30T09:30:00Z",
            ),
            (
                "cron(30 9 ? * MON *)",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-30T09:30:00Z",
            ),
            (
                "0 * * * *",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-29T11:00:00Z",
            ),
            (
                "30 9 * * 1",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-30T09:30:00Z",
            ),
            (
                "R/PT1H",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-29T11:00:00Z",
            ),
            (
                "R/2026-11-29T10:05:00Z/PT30M",
                None,
                "2026-11-29T10:20:00Z",
                "2026-11-29T10:35:00Z",
            ),
            (
                "R3/2026-12-01T00:00:00Z/P1D",
                None,
                "2026-11-29T10:20:00Z",
                "2026-12-01T00:00:00Z",
            ),
            (
                "cron(0 0 ? * * *)",
                Some("Europe/Paris"),
                "2026-11-29T10:20:00Z",
                "2026-11-29T23:00:00Z",
            ),
            (
                "0 9 * * *",
                Some("America/New_York"),
                "2026-07-01T00:00:00Z",
                "2026-07-01T13:00:00Z",
            ),
        ] {
            let s = Schedule::parse(expr, zone).unwrap();
            assert_eq!(s.next_after(at(t)), Some(at(next)), "{s:?}");
        }
    }

    #[test]
    fn a_scheduler_that_was_down_runs_the_newest_tick_once() {
        let s = Schedule::parse("cron(0 * ? * * *)", None).unwrap();
        let created = at("2026-11-29T08:30:00Z");
        // Nothing before the first tick after creation.
        assert_eq!(s.due(at("2026-11-29T08:59:59Z"), None, created), None);
        let on_the_hour = at("2026-11-29T08:00:00Z");
        assert_eq!(s.due(at("2026-11-29T08:30:00Z"), None, on_the_hour), None);
        let first = s.due(at("2026-11-29T09:00:00Z"), None, created).unwrap();
        assert_eq!(
            first,
            Due {
                tick: at("2026-11-29T09:00:00Z"),
                skipped: 0
            }
        );
        // The same tick is not due twice.
        assert_eq!(
            s.due(at("2026-11-29T09:30:00Z"), Some(first.tick), created),
            None
        );
        // Down from 09:00 to 13:10: 13:00 runs, 10:00, 11:00 and 12:00 are skipped.
        let late = s
            .due(at("2026-11-29T13:10:00Z"), Some(first.tick), created)
            .unwrap();
        assert_eq!(
            late,
            Due {
                tick: at("2026-11-29T13:00:00Z"),
                skipped: 3
            }
        );
        let once = Schedule::parse("NOW", None).unwrap();
        assert_eq!(
            once.due(at("2026-11-29T13:10:00Z"), None, created)
                .unwrap()
                .tick,
            created
        );
        assert_eq!(
            once.due(at("2026-11-29T13:10:00Z"), Some(created), created),
            None
        );
    }

    #[test]
    fn every_minute_is_the_most_often() {
        assert!(Schedule::parse("* * * * *", None).is_ok());
        assert!(Schedule::parse("R/PT1M", None).is_ok());
    }

    #[test]
    fn bad_schedules_say_what_to_write() {
        for (expr, zone, why) in [
            ("cron(0 * * *)", None, "six"),
            ("cron(0 99 ? * * *)", None, "not a valid SageMaker cron"),
            ("every hour", None, "R/PT1H"),
            ("R/PT10S", None, "at most once a minute"),
            ("R/PT0S", None, "positive"),
            ("R/yesterday/PT1H", None, "RFC 3339"),
            ("R/P1M", None, "fixed length"),
            ("0 * * * *", Some("Mars/Olympus"), "time zone"),
        ] {
            let e = Schedule::parse(expr, zone).unwrap_err().to_string();
            assert!(e.contains(why), "{expr}: {e}");
        }
    }
}
