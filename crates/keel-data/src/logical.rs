//! Avro's logical types as values: dates, times, timestamps, UUIDs and
//! decimals, read from Avro's JSON encoding (numbers) and from text as CSV and
//! JSON users write it (`2024-01-31`, `13:45:00.123`, RFC 3339 timestamps).
//!
//! Every function returns the value in the unit Keel stores (days, millis or
//! micros, an unscaled decimal) or a short reason that follows "expected T,
//! found V: " in a rejection.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// The unit a time or timestamp is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Milliseconds (`time-millis`, `timestamp-millis`).
    Millis,
    /// Microseconds (`time-micros`, `timestamp-micros`).
    Micros,
}

impl Unit {
    /// How many of this unit make a second.
    pub(crate) fn per_second(self) -> i64 {
        match self {
            Unit::Millis => 1_000,
            Unit::Micros => 1_000_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Millis => "milliseconds",
            Unit::Micros => "microseconds",
        }
    }
}

/// 0001-01-01 and 9999-12-31 as days since 1970-01-01: the dates Python's
/// `datetime.date` (and so every model) can hold.
const MIN_DAY: i64 = -719_162;
const MAX_DAY: i64 = 2_932_896;
const SECONDS_PER_DAY: i64 = 86_400;

const DATE_RANGE: &str = "dates must lie between 0001-01-01 and 9999-12-31";
pub(crate) const TIMESTAMP_RANGE: &str = "timestamps must lie between the years 1 and 9999";

/// A number of days since 1970-01-01, checked to be a date a model can hold.
pub(crate) fn days(d: i64) -> Result<i64, String> {
    if (MIN_DAY..=MAX_DAY).contains(&d) {
        Ok(d)
    } else {
        Err(DATE_RANGE.to_string())
    }
}

/// A date written as `2024-01-31`, or as a whole number of days since 1970-01-01.
pub(crate) fn days_from_text(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return days(n);
    }
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
        "write dates as YYYY-MM-DD (2024-01-31) or as days since 1970-01-01".to_string()
    })?;
    days(date_days(date))
}

fn date_days(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// A time of day in `unit` since midnight, checked to lie within one day.
pub(crate) fn time_of_day(v: i64, unit: Unit) -> Result<i64, String> {
    if (0..SECONDS_PER_DAY * unit.per_second()).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "a time of day is a number of {} from 0 up to one day",
            unit.name()
        ))
    }
}

/// A time of day written as `13:45`, `13:45:00` or `13:45:00.123456`, or as
/// a whole number of `unit` since midnight. Digits finer than `unit` are
/// dropped, as fastavro does when it writes a `datetime.time`.
pub(crate) fn time_from_text(s: &str, unit: Unit) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return time_of_day(n, unit);
    }
    let time = NaiveTime::parse_from_str(t, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
        .map_err(|_| "write times as HH:MM:SS with an optional fraction (13:45:00.123)")?;
    if time.nanosecond() >= 1_000_000_000 {
        return Err("leap seconds (:60) cannot be stored".to_string());
    }
    let secs = i64::from(time.num_seconds_from_midnight());
    Ok(secs * unit.per_second() + sub_second(time.nanosecond(), unit))
}

fn sub_second(nanos: u32, unit: Unit) -> i64 {
    match unit {
        Unit::Millis => i64::from(nanos / 1_000_000),
        Unit::Micros => i64::from(nanos / 1_000),
    }
}

/// An instant in `unit` since 1970-01-01T00:00:00Z, checked to lie within
/// the years 1 to 9999.
pub(crate) fn instant(v: i64, unit: Unit) -> Result<i64, String> {
    let per_day = SECONDS_PER_DAY * unit.per_second();
    let lo = MIN_DAY * per_day;
    let hi = (MAX_DAY + 1) * per_day;
    if (lo..hi).contains(&v) {
        Ok(v)
    } else {
        Err(TIMESTAMP_RANGE.to_string())
    }
}

/// The text forms of a timestamp without an offset, tried in order.
const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// A timestamp written as RFC 3339 (`2024-01-31T13:45:00Z`,
/// `2024-01-31T13:45:00.5+02:00`), with a space for the `T`, without
/// seconds, without an offset (then it is UTC), as a bare date (midnight
/// UTC), or as a whole number of `unit` since the epoch. Digits finer than
/// `unit` are dropped.
pub(crate) fn timestamp_from_text(s: &str, unit: Unit) -> Result<i64, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i64>() {
        return instant(n, unit);
    }
    let (seconds, nanos) = parse_timestamp(t).ok_or_else(|| {
        "write timestamps as RFC 3339 (2024-01-31T13:45:00Z, 2024-01-31 13:45:00+02:00; \
         no offset means UTC)"
            .to_string()
    })?;
    let v = seconds
        .checked_mul(unit.per_second())
        .and_then(|v| v.checked_add(sub_second(nanos, unit)))
        .ok_or_else(|| TIMESTAMP_RANGE.to_string())?;
    instant(v, unit)
}

/// Seconds since the epoch and the nanoseconds within that second.
fn parse_timestamp(t: &str) -> Option<(i64, u32)> {
    // RFC 3339 spells UTC as Z; chrono's offset formats want +00:00.
    let zoned = match t.strip_suffix(['Z', 'z']) {
        Some(head) => format!("{head}+00:00"),
        None => t.to_string(),
    };
    let with_offset = DateTime::parse_from_rfc3339(&zoned).ok().or_else(|| {
        [
            "%Y-%m-%dT%H:%M%:z",
            "%Y-%m-%d %H:%M%:z",
            "%Y-%m-%d %H:%M:%S%.f%:z",
        ]
        .iter()
        .find_map(|f| DateTime::parse_from_str(&zoned, f).ok())
    });
    if let Some(dt) = with_offset {
        return (dt.nanosecond() < 1_000_000_000).then(|| (dt.timestamp(), dt.nanosecond()));
    }
    let naive = NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        })?;
    let utc = naive.and_utc();
    (utc.nanosecond() < 1_000_000_000).then(|| (utc.timestamp(), utc.nanosecond()))
}

/// True for a UUID in its canonical form, 8-4-4-4-12 hexadecimal digits (any case).
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The reason a text is not a UUID.
pub(crate) const NOT_UUID: &str = "a uuid is written as 8-4-4-4-12 hexadecimal digits, such as 123e4567-e89b-12d3-a456-426614174000";

/// The largest precision a decimal stored as Decimal128 may have.
pub(crate) const MAX_PRECISION: u32 = 38;

/// A decimal written as a number (`12.5`, `-3`, `1.25e2`), as its unscaled
/// value at `scale`. Trailing zeros past the scale are fine (`1.50` fits scale
/// 1); any other digit past it, or more than `precision` digits in all, is not.
pub(crate) fn decimal_from_text(s: &str, precision: u32, scale: i32) -> Result<i128, String> {
    let t = s.trim();
    let not_number = || format!("{t:?} is not a decimal number");
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => {
            let e: i64 = body[i + 1..].parse().map_err(|_| not_number())?;
            (&body[..i], e)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(not_number());
    }
    // The value is digits × 10^(exponent - fraction digits); at `scale` the
    // unscaled value is digits × 10^shift.
    let digits: String = format!("{int_part}{frac_part}");
    let shift = exponent
        .checked_add(i64::from(scale))
        .and_then(|v| v.checked_sub(frac_part.len() as i64))
        .ok_or_else(not_number)?;
    let digits = digits.trim_start_matches('0');
    let unscaled: String = if shift >= 0 {
        if digits.is_empty() {
            String::new()
        } else if digits.len() as i64 + shift > i64::from(precision) {
            return Err(too_many_digits(precision, scale));
        } else {
            format!("{digits}{}", "0".repeat(shift as usize))
        }
    } else {
        let cut = usize::try_from(-shift).unwrap_or(usize::MAX);
        let keep = digits.len().saturating_sub(cut);
        if digits[keep..].bytes().any(|c| c != b'0') {
            return Err(format!(
                "it has more digits after the point than the scale ({scale}) allows"
            ));
        }
        digits[..keep].to_string()
    };
    if unscaled.len() > precision as usize {
        return Err(too_many_digits(precision, scale));
    }
    let magnitude: i128 = if unscaled.is_empty() {
        0
    } else {
        unscaled
            .parse()
            .map_err(|_| too_many_digits(precision, scale))?
    };
    Ok(if negative { -magnitude } else { magnitude })
}

fn too_many_digits(precision: u32, scale: i32) -> String {
    format!(
        "it has more digits than the precision ({precision}) allows with scale {scale} \
         (at most {} before the point)",
        i64::from(precision) - i64::from(scale)
    )
}

/// An unscaled decimal at `from_scale` brought to `scale`, exactly, within `precision`.
pub(crate) fn rescale(
    v: i128,
    from_scale: i32,
    precision: u32,
    scale: i32,
) -> Result<i128, String> {
    let diff = i64::from(scale) - i64::from(from_scale);
    let pow = |n: i64| 10i128.checked_pow(u32::try_from(n).unwrap_or(u32::MAX));
    let out = if diff >= 0 {
        pow(diff)
            .and_then(|p| v.checked_mul(p))
            .ok_or_else(|| too_many_digits(precision, scale))?
    } else {
        match pow(-diff) {
            Some(p) if v % p == 0 => v / p,
            Some(_) => {
                return Err(format!(
                    "it has more digits after the point than the scale ({scale}) allows"
                ));
            }
            // Dividing by more than 10^38 leaves only zero, which fits.
            None if v == 0 => 0,
            None => {
                return Err(format!(
                    "it has more digits after the point than the scale ({scale}) allows"
                ));
            }
        }
    };
    if out.unsigned_abs().checked_ilog10().map_or(0, |d| d + 1) > precision {
        return Err(too_many_digits(precision, scale));
    }
    Ok(out)
}

/// The most decimal digits a two's-complement number of `size` bytes holds.
pub(crate) fn fixed_digits(size: usize) -> u64 {
    if size == 0 {
        return 0;
    }
    if size > 16 {
        return u64::from(MAX_PRECISION);
    }
    // 2^(8 size - 1) - 1 fits in i128 for sizes up to 16; every number of
    // floor(log10) of it digits fits in the size.
    let largest = i128::MAX >> (128 - (8 * size as u32));
    u64::from(largest.checked_ilog10().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("1970-01-01", Ok(0)),
            ("2024-01-31", Ok(19_753)),
            (" 2024-01-31 ", Ok(19_753)),
            ("19753", Ok(19_753)),
            ("-1", Ok(-1)),
            ("0001-01-01", Ok(MIN_DAY)),
            ("9999-12-31", Ok(MAX_DAY)),
            ("3000000", Err(DATE_RANGE)),
            ("2024-02-30", Err("write dates as")),
            ("31/01/2024", Err("write dates as")),
            ("2024-01-31T00:00:00", Err("write dates as")),
        ];
        for (text, want) in cases {
            match (days_from_text(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn times() {
        let cases: &[(&str, Unit, Result<i64, &str>)] = &[
            ("00:00", Unit::Millis, Ok(0)),
            ("13:45:00.123", Unit::Millis, Ok(49_500_123)),
            ("13:45:00.1239", Unit::Millis, Ok(49_500_123)),
            ("13:45:00.123456", Unit::Micros, Ok(49_500_123_456)),
            ("13:45", Unit::Micros, Ok(49_500_000_000)),
            ("49500123", Unit::Millis, Ok(49_500_123)),
            ("86400000", Unit::Millis, Err("a time of day")),
            ("-1", Unit::Millis, Err("a time of day")),
            ("25:00", Unit::Millis, Err("write times as")),
            ("1pm", Unit::Millis, Err("write times as")),
        ];
        for (text, unit, want) in cases {
            match (time_from_text(text, *unit), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn timestamps() {
        const T: i64 = 1_706_708_700; // 2024-01-31T13:45:00Z
        let cases: &[(&str, Unit, Result<i64, &str>)] = &[
            ("2024-01-31T13:45:00Z", Unit::Millis, Ok(T * 1000)),
            ("2024-01-31t13:45:00z", Unit::Millis, Ok(T * 1000)),
            ("2024-01-31T13:45:00.123Z", Unit::Millis, Ok(T * 1000 + 123)),
            ("2024-01-31T15:45:00+02:00", Unit::Millis, Ok(T * 1000)),
            ("2024-01-31 15:45:00+02:00", Unit::Millis, Ok(T * 1000)),
            (
                "2024-01-31T13:45:00.5-00:00",
                Unit::Micros,
                Ok(T * 1_000_000 + 500_000),
            ),
            (
                "2024-01-31T13:45:00.1234567Z",
                Unit::Micros,
                Ok(T * 1_000_000 + 123_456),
            ),
            ("2024-01-31 13:45:00", Unit::Millis, Ok(T * 1000)),
            ("2024-01-31T13:45:00", Unit::Millis, Ok(T * 1000)),
            ("2024-01-31T13:45", Unit::Millis, Ok(T * 1000)),
            ("2024-01-31 13:45", Unit::Millis, Ok(T * 1000)),
            ("2024-01-31T14:45+01:00", Unit::Millis, Ok(T * 1000)),
            (
                "2024-01-31",
                Unit::Millis,
                Ok((T - 13 * 3600 - 45 * 60) * 1000),
            ),
            ("1706708700000", Unit::Millis, Ok(T * 1000)),
            ("1969-12-31T23:59:59.999Z", Unit::Millis, Ok(-1)),
            (
                "10000-01-01T00:00:00Z",
                Unit::Millis,
                Err("write timestamps"),
            ),
            ("99999999999999999", Unit::Millis, Err(TIMESTAMP_RANGE)),
            ("yesterday", Unit::Millis, Err("write timestamps")),
            (
                "2024-01-31T13:45:00 UTC",
                Unit::Millis,
                Err("write timestamps"),
            ),
        ];
        for (text, unit, want) in cases {
            match (timestamp_from_text(text, *unit), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(is_uuid("123E4567-E89B-12D3-A456-426614174000"));
        for bad in [
            "123e4567e89b12d3a456426614174000",
            "{123e4567-e89b-12d3-a456-426614174000}",
            "123e4567-e89b-12d3-a456-42661417400g",
            "123e4567-e89b-12d3-a456_426614174000",
            "",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn decimals() {
        let cases: &[(&str, u32, i32, Result<i128, &str>)] = &[
            ("12.34", 4, 2, Ok(1234)),
            ("-12.34", 4, 2, Ok(-1234)),
            ("+0.5", 4, 2, Ok(50)),
            ("12", 4, 2, Ok(1200)),
            ("12.", 4, 2, Ok(1200)),
            (".5", 4, 2, Ok(50)),
            ("1.50", 3, 1, Ok(15)),
            ("0012.30", 4, 2, Ok(1230)),
            ("1.25e2", 5, 2, Ok(12_500)),
            ("125E-2", 3, 2, Ok(125)),
            ("0", 1, 0, Ok(0)),
            ("0.000", 1, 0, Ok(0)),
            ("0e999999", 1, 0, Ok(0)),
            (
                "99999999999999999999999999999999999999",
                38,
                0,
                Ok(99_999_999_999_999_999_999_999_999_999_999_999_999),
            ),
            (
                "123.45",
                4,
                2,
                Err("it has more digits than the precision (4)"),
            ),
            (
                "1.5",
                2,
                2,
                Err("it has more digits than the precision (2)"),
            ),
            ("1e999999", 38, 0, Err("it has more digits than")),
            (
                "12.345",
                5,
                2,
                Err("it has more digits after the point than the scale (2)"),
            ),
            ("1e-99", 5, 2, Err("it has more digits after the point")),
            ("abc", 5, 2, Err("\"abc\" is not a decimal")),
            ("", 5, 2, Err("\"\" is not a decimal")),
            (".", 5, 2, Err("\".\" is not a decimal")),
            ("1.2.3", 5, 2, Err("\"1.2.3\" is not a decimal")),
            ("1e", 5, 2, Err("\"1e\" is not a decimal")),
            ("NaN", 5, 2, Err("\"NaN\" is not a decimal")),
            ("--1", 5, 2, Err("\"--1\" is not a decimal")),
        ];
        for (text, p, s, want) in cases {
            match (decimal_from_text(text, *p, *s), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn decimals_rescale_exactly() {
        assert_eq!(rescale(1500, 3, 4, 2), Ok(150));
        assert_eq!(rescale(15, 1, 4, 2), Ok(150));
        assert!(rescale(1234, 3, 4, 2).is_err(), "a digit would be lost");
        assert!(
            rescale(99_999, 0, 4, 0).is_err(),
            "five digits for precision 4"
        );
        assert_eq!(rescale(0, 60, 4, 0), Ok(0));
    }

    #[test]
    fn fixed_sizes_hold_their_digits() {
        let cases = [(0, 0), (1, 2), (2, 4), (4, 9), (8, 18), (16, 38), (17, 38)];
        for (size, digits) in cases {
            assert_eq!(fixed_digits(size), digits, "size {size}");
        }
    }
}
