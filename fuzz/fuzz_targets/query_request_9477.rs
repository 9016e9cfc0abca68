//! The :9477 `POST /query` body checks (`orchestrator/src/query/request.rs`): an accepted request
//! has a non-empty bot id, a path that passed validation (leading `/`, no `..` segment, no control
//! character, bounded) and a timeout within the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_contract::querytarget::{path_of, percent_decode};
use the0_orchestrator::query::request::{normalize_path, parse, MAX_PATH_LEN, MAX_TIMEOUT_SEC};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = parse(data) {
        assert!(!req.bot_id.is_empty());
        assert!(req.path.starts_with('/') && req.path.len() <= MAX_PATH_LEN + 1, "path {:?}", req.path);
        let decoded = percent_decode(path_of(&req.path)).expect("an accepted path decodes");
        assert!(!decoded.split(|b| *b == b'/').any(|s| s == b".."), "path {:?}", req.path);
        assert!(!req.path.chars().any(char::is_control), "path {:?}", req.path);
        assert!(req.timeout.as_secs() <= MAX_TIMEOUT_SEC && !req.timeout.is_zero());
        let _ = req.params_json();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = normalize_path(s) {
            assert!(p.starts_with('/'), "path {p:?}");
            let decoded = percent_decode(path_of(&p)).expect("an accepted path decodes");
            assert!(!decoded.split(|b| *b == b'/').any(|s| s == b".."), "path {p:?}");
        }
    }
});
