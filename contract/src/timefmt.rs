//! UTC timestamp formats of the contract: RFC3339 seconds (`2025-01-31T12:00:00Z`), RFC3339 with
//! nanoseconds, and the `YYYYMMDD` day of log object keys. No time zone database is needed.

use std::time::{SystemTime, UNIX_EPOCH};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
    fn civil_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
