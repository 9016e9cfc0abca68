//! UTC timestamp formats of the contract, the one implementation of each in the workspace:
//! RFC 3339 seconds (`2025-01-31T12:00:00Z`) and with nanoseconds (Go's RFC3339Nano), the parser
//! of RFC 3339 as S3 listings, STS and Docker write it, and the `YYYYMMDD` day of log object keys.
//! No time zone database is needed. (SigV4's `x-amz-date` is a different format and lives with
//! the S3 signer.)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Civil date (year, month 1-12, day 1-31) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    }
}

fn parts(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2025-01-31T12:00:00Z`
pub fn rfc3339_seconds(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = parts(split(t).0);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Go's RFC3339Nano: fractional seconds with trailing zeros removed (`…12:00:00.5Z`, `…12:00:00Z`).
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let (secs, nanos) = split(t);
    let (y, mo, d, h, mi, s) = parts(secs);
    if nanos == 0 {
        return format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
    }
    let frac = format!("{nanos:09}");
    let frac = frac.trim_end_matches('0');
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac}Z")
}

/// `20250131`: the UTC day used in log object keys.
pub fn yyyymmdd(t: SystemTime) -> String {
    let (y, m, d, ..) = parts(split(t).0);
    format!("{y:04}{m:02}{d:02}")
}

fn digits(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = s.get(range)?;
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Parses RFC 3339 (`2013-09-17T18:07:53.123Z`, `...+02:00`, surrounding blanks ignored); `None`
/// if malformed or before 1970 (Docker's zero time `0001-01-01T00:00:00Z` included). Digits of
/// the fraction past nanoseconds are dropped.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (digits(s, 0..4)?, digits(s, 5..7)?, digits(s, 8..10)?);
    let (h, mi, sec) = (digits(s, 11..13)?, digits(s, 14..16)?, digits(s, 17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        for (i, c) in frac[..n].bytes().take(9).enumerate() {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &frac[n..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && rest.as_bytes()[3] == b':' => {
            let (oh, om) = (digits(rest, 1..3)?, digits(rest, 4..6)?);
            let o = i64::from(oh) * 3600 + i64::from(om) * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn formats_known_instants() {
        for (secs, want, day) in [
            (0, "1970-01-01T00:00:00Z", "19700101"),
            (1_738_324_800, "2025-01-31T12:00:00Z", "20250131"),
            (951_782_400, "2000-02-29T00:00:00Z", "20000229"),
            (4_102_444_799, "2099-12-31T23:59:59Z", "20991231"),
        ] {
            assert_eq!(rfc3339_seconds(at(secs, 0)), want);
            assert_eq!(yyyymmdd(at(secs, 999_999_999)), day);
        }
    }

    #[test]
    fn nanos_trim_trailing_zeros() {
        assert_eq!(rfc3339_nanos(at(0, 500_000_000)), "1970-01-01T00:00:00.5Z");
        assert_eq!(rfc3339_nanos(at(0, 1)), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(rfc3339_nanos(at(0, 0)), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn parses_rfc3339() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        let cases: &[(&str, Option<SystemTime>)] = &[
            ("1970-01-01T00:00:00Z", Some(at(0))),
            ("2013-05-24T00:00:00.000Z", Some(at(1_369_353_600))),
            ("2000-02-29T00:00:00Z", Some(at(951_782_400))),
            ("2099-12-31T23:59:59Z", Some(at(4_102_444_799))),
            ("2013-05-24T02:00:00+02:00", Some(at(1_369_353_600))),
            ("2013-05-23T22:30:00-01:30", Some(at(1_369_353_600))),
            (" 2013-05-24t00:00:00z\n", Some(at(1_369_353_600))),
            ("2013-05-24T00:00:00.5Z", Some(at(1_369_353_600) + Duration::from_millis(500))),
            ("2013-05-24T00:00:00.123456789123Z", Some(at(1_369_353_600) + Duration::from_nanos(123_456_789))),
            ("2026-01-02T03:04:05.123456789Z", Some(at(1_767_323_045) + Duration::from_nanos(123_456_789))),
            ("2013-05-24T00:00:00", None),
            ("2013-05-24", None),
            ("2013-13-24T00:00:00Z", None),
            ("2013-05-24T00:00:00.Z", None),
            ("2013-05-24T0a:00:00Z", None),
            ("2026-01-02T03:-4:05Z", None),
            ("2026--1-02T03:04:05.1232T03678", None),
            ("1969-12-31T23:59:59Z", None),
            ("0001-01-01T00:00:00Z", None),
            ("2013-05-24T00:00:00+0200", None),
            ("garbage", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_rfc3339(s), *want, "{s}");
        }
    }

    #[test]
    fn formats_parse_back() {
        for (secs, nanos) in [(0, 0), (1_738_324_800, 500_000_000), (4_102_444_799, 1), (951_782_400, 999_999_999)] {
            let t = at(secs, nanos);
            assert_eq!(parse_rfc3339(&rfc3339_nanos(t)), Some(t));
            assert_eq!(parse_rfc3339(&rfc3339_seconds(t)), Some(at(secs, 0)));
        }
    }

    #[test]
    fn civil_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
