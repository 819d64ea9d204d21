//! RFC 3339 timestamps as seconds since the Unix epoch, without a date crate.
//!
//! Handlers get the host's clock as an RFC 3339 string
//! ([`HandlerContext::now`](crate::HandlerContext::now)) and must not read
//! their own. These two functions are all a plugin needs to compute a due
//! date ("now plus one day") or an age, in UTC.
//!
//! ```
//! use crm_plugin_sdk::time;
//!
//! let now = time::parse_rfc3339("2025-03-01T09:30:00+08:00")?;
//! assert_eq!(time::format_rfc3339(now + 24 * 3600), "2025-03-02T01:30:00Z");
//! # Ok::<(), crm_plugin_sdk::Error>(())
//! ```

use crate::Error;

/// Seconds since 1970-01-01T00:00:00Z of an RFC 3339 timestamp
/// (`2025-03-01T09:30:00Z`, `2025-03-01T09:30:00.123+08:00`). Fractions of
/// a second are dropped; a space or `t` may separate date and time.
///
/// ```
/// use crm_plugin_sdk::time::parse_rfc3339;
///
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z")?, 0);
/// assert_eq!(parse_rfc3339("2000-03-01T00:00:00.999-01:00")?, 951_872_400);
/// assert!(parse_rfc3339("yesterday").is_err());
/// # Ok::<(), crm_plugin_sdk::Error>(())
/// ```
///
/// # Errors
/// `INVALID_TIMESTAMP` when `s` is not an RFC 3339 date-time.
pub fn parse_rfc3339(s: &str) -> Result<i64, Error> {
    parse(s.trim()).ok_or_else(|| {
        Error::new(
            "INVALID_TIMESTAMP",
            format!("{s:?} is not an RFC 3339 timestamp"),
        )
    })
}

/// The RFC 3339 form of a number of seconds since the epoch, in UTC
/// (`YYYY-MM-DDTHH:MM:SSZ`), as GraphQL `DateTime` inputs take it.
///
/// ```
/// assert_eq!(crm_plugin_sdk::time::format_rfc3339(86_400 + 61), "1970-01-02T00:01:01Z");
/// ```
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob[3] != b':' {
                return None;
            }
            let sign = match ob[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms (public domain), for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_leap_years_and_centuries() {
        for s in [
            "1970-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2000-02-29T12:00:00Z",
            "2024-02-29T00:00:00Z",
            "2100-03-01T00:00:00Z",
            "1969-07-20T20:17:40Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(s).unwrap()), s);
        }
    }

    #[test]
    fn offsets_and_fractions_are_applied() {
        assert_eq!(
            parse_rfc3339("2025-01-01T08:00:00.5+08:00").unwrap(),
            parse_rfc3339("2025-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_rfc3339("2025-01-01 00:00:00-00:30").unwrap() % 86_400,
            1800
        );
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for s in [
            "",
            "2025-01-01",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:00",
            "2025-01-01T00:00:00+0800",
            "2025-01-01T00:00:00.Z",
            "2025-1-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s}");
        }
    }
}
