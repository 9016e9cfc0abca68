//! UTC calendar arithmetic for the two timestamps S3 needs: the SigV4 `x-amz-date`
//! (`20130524T000000Z`) we send, and RFC 3339 `LastModified` values in listings we parse.
//! Calendar arithmetic comes from the contract crate's `timefmt`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use the0_contract::timefmt::{days_from_civil, rfc3339_seconds};

/// `YYYYMMDDTHHMMSSZ` for SigV4: the contract's RFC 3339 seconds without separators.
pub(crate) fn amz_date(t: SystemTime) -> String {
    rfc3339_seconds(t).replace(['-', ':'], "")
}

fn digits(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = s.get(range)?;
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Parses RFC 3339 (`2013-09-17T18:07:53.123Z`, `...+02:00`); `None` if malformed or pre-1970.
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

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn amz_dates() {
        assert_eq!(amz_date(at(0)), "19700101T000000Z");
        assert_eq!(amz_date(at(1_369_353_600)), "20130524T000000Z");
        assert_eq!(amz_date(at(951_782_400)), "20000229T000000Z");
        assert_eq!(amz_date(at(4_102_444_799)), "20991231T235959Z");
    }

    #[test]
    fn rfc3339() {
        let cases: &[(&str, Option<SystemTime>)] = &[
            ("1970-01-01T00:00:00Z", Some(at(0))),
            ("2013-05-24T00:00:00.000Z", Some(at(1_369_353_600))),
            ("2000-02-29T00:00:00Z", Some(at(951_782_400))),
            ("2099-12-31T23:59:59Z", Some(at(4_102_444_799))),
            ("2013-05-24T02:00:00+02:00", Some(at(1_369_353_600))),
            ("2013-05-23T22:30:00-01:30", Some(at(1_369_353_600))),
            ("2013-05-24T00:00:00.5Z", Some(at(1_369_353_600) + Duration::from_millis(500))),
            ("2013-05-24T00:00:00.123456789123Z", Some(at(1_369_353_600) + Duration::from_nanos(123_456_789))),
            ("2013-05-24T00:00:00", None),
            ("2013-05-24", None),
            ("2013-13-24T00:00:00Z", None),
            ("2013-05-24T00:00:00.Z", None),
            ("2013-05-24T0a:00:00Z", None),
            ("1969-12-31T23:59:59Z", None),
            ("2013-05-24T00:00:00+0200", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_rfc3339(s), *want, "{s}");
        }
    }
}
