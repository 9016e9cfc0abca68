//! Time texts from outside: Go durations of bot configs (`contract/src/duration.rs`), RFC 3339
//! from S3 listings (`objstore/src/s3/date.rs`) and from Docker (`orchestrator/src/docker`).
//! Parsed RFC 3339 instants must print back (`contract/src/timefmt.rs`) as the same instant.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use the0_contract::{duration, timefmt};
use the0_objstore::s3::fuzzing::parse_rfc3339;
use the0_orchestrator::docker::parse_rfc3339_ms;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = duration::parse(s);
    if let Some(t) = parse_rfc3339(s) {
        let again = parse_rfc3339(&timefmt::rfc3339_nanos(t));
        assert_eq!(again, Some(t), "{s:?} prints back as the same instant");
    }
    if let Some(ms) = parse_rfc3339_ms(s) {
        assert!(ms >= 0, "{s:?}: before 1970 is refused");
        let t = UNIX_EPOCH + Duration::from_millis(ms as u64);
        let again = parse_rfc3339_ms(&timefmt::rfc3339_nanos(t));
        assert_eq!(again, Some(ms), "{s:?} prints back as the same instant");
    }
});
