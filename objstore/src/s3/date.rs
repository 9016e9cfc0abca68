//! The SigV4 `x-amz-date` (`20130524T000000Z`) S3 requests carry. The RFC 3339 values S3 sends
//! back (`LastModified`, STS `Expiration`) are parsed by the contract crate's `timefmt`.

use std::time::SystemTime;

use the0_contract::timefmt::rfc3339_seconds;

/// `YYYYMMDDTHHMMSSZ` for SigV4: the contract's RFC 3339 seconds without separators.
pub(crate) fn amz_date(t: SystemTime) -> String {
    rfc3339_seconds(t).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
}
