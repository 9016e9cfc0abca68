//! Log shaping (`executor/src/logs/ndjson.rs`): whatever a bot prints, every output line is a JSON
//! object with a `timestamp`, and there is one output line per input line.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use the0_executor::logs::ndjson::to_ndjson;

fuzz_target!(|data: &[u8]| {
    let out = to_ndjson(data, "2025-01-31T12:00:00Z");
    let text = std::str::from_utf8(&out).expect("output is UTF-8");
    for line in text.lines() {
        // A full parse (numbers included); objects nested deeper than serde_json's recursion limit
        // of 128 are kept as they are by design, and are checked by a skipping parse instead.
        let keys: Vec<String> = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => v
                .as_object()
                .unwrap_or_else(|| panic!("output line is not an object: {line:?}"))
                .keys()
                .cloned()
                .collect(),
            Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
                serde_json::from_str::<HashMap<String, IgnoredAny>>(line)
                    .unwrap_or_else(|e| panic!("output line is not a JSON object ({e}): {line:?}"))
                    .into_keys()
                    .collect()
            }
            Err(e) => panic!("output line is not JSON ({e}): {line:?}"),
        };
        assert!(keys.iter().any(|k| k == "timestamp"), "no timestamp: {line:?}");
    }
    let _ = the0_executor::logs::ndjson::trim_space(data);
});
