//! ISO-8601 durations as SageMaker's monitors and BPMN timers write them:
//! `PT1H`, `-PT30M`, `P1D`, `P1DT12H`, `PT0.5S`, `P2W`, with an optional
//! sign. Years and months have no fixed length, so they are refused with a
//! message saying what to write instead.

use chrono::Duration;

use crate::error::{Error, Result};

/// Parses an ISO-8601 duration (`-PT1H`) into a signed span.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let upper = text.trim().to_ascii_uppercase();
    let s = upper.as_str();
    let bad = |why: &str| {
        Error::InvalidArgument(format!(
            "'{text}' is not an ISO-8601 duration ({why}); write it as PT1H, -PT30M, P1D or P1DT12H."
        ))
    };
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest
        .strip_prefix('P')
        .ok_or_else(|| bad("it does not start with P"))?;
    if rest.is_empty() || rest == "T" {
        return Err(bad("it names no amount"));
    }
    let mut total = Duration::zero();
    let mut in_time = false;
    let mut number = String::new();
    let mut seen = String::new();
    for c in rest.chars() {
        if c == 'T' {
            if in_time || !number.is_empty() {
                return Err(bad("a T is misplaced"));
            }
            in_time = true;
            continue;
        }
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(if c == ',' { '.' } else { c });
            continue;
        }
        if number.is_empty() {
            return Err(bad("a unit has no number"));
        }
        let unit = if in_time { c.to_ascii_lowercase() } else { c };
        if seen.contains(unit) {
            return Err(bad("a unit appears twice"));
        }
        seen.push(unit);
        let n: f64 = number.parse().map_err(|_| bad("a number is malformed"))?;
        number.clear();
        let seconds = match unit {
            'Y' | 'M' => {
                return Err(bad(
                    "years and months have no fixed length; use days (P30D) or weeks (P4W)",
                ));
            }
            'W' => n * 7.0 * 86_400.0,
            'D' => n * 86_400.0,
            'h' => n * 3_600.0,
            'm' => n * 60.0,
            's' => n,
            _ => return Err(bad("a unit is unknown")),
        };
        let part = Duration::try_milliseconds((seconds * 1000.0).round() as i64)
            .filter(|_| seconds.is_finite() && seconds < 1e12)
            .ok_or_else(|| bad("it is too long"))?;
        total = total
            .checked_add(&part)
            .ok_or_else(|| bad("it is too long"))?;
    }
    if !number.is_empty() {
        return Err(bad("the last number has no unit"));
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_to_signed_spans() {
        for (text, seconds) in [
            ("PT1H", 3600),
            ("-PT1H", -3600),
            ("PT30M", 1800),
            ("-PT0H", 0),
            ("P1D", 86_400),
            ("P1DT12H", 129_600),
            ("P2W", 1_209_600),
            ("PT90S", 90),
            ("pt5m", 300),
            ("+PT1M", 60),
        ] {
            assert_eq!(
                parse_duration(text).unwrap().num_seconds(),
                seconds,
                "{text}"
            );
        }
        assert_eq!(parse_duration("PT0.5S").unwrap().num_milliseconds(), 500);
        assert_eq!(parse_duration("PT1,5S").unwrap().num_milliseconds(), 1500);
    }

    #[test]
    fn malformed_durations_say_why() {
        for (text, why) in [
            ("1H", "start with P"),
            ("P", "no amount"),
            ("PT", "no amount"),
            ("P1Y", "fixed length"),
            ("P1M", "fixed length"),
            ("PTH", "no number"),
            ("PT1", "no unit"),
            ("PT1H2H", "twice"),
            ("P1X", "unknown"),
            ("PT1HT", "misplaced"),
            ("P99999999999999W", "too long"),
        ] {
            let e = parse_duration(text).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("PT1H"), "{text}: {e}");
        }
    }
}
