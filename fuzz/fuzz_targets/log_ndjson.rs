//! Log shaping (`executor/src/logs/ndjson.rs`): whatever a bot prints, every output line is a JSON
//! object with a `timestamp`, and there is one output line per input line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_executor::logs::ndjson::to_ndjson;

fuzz_target!(|data: &[u8]| {
    let out = to_ndjson(data, "2025-01-31T12:00:00Z");
    let text = std::str::from_utf8(&out).expect("output is UTF-8");
    for line in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("output line is not JSON ({e}): {line:?}"));
        let obj = v.as_object().unwrap_or_else(|| panic!("output line is not an object: {line:?}"));
        assert!(obj.contains_key("timestamp"), "no timestamp: {line:?}");
    }
    let _ = the0_executor::logs::ndjson::trim_space(data);
});
