//! JetStream bot events (`orchestrator/src/model.rs`, as `ingest.rs` hands them over): the first
//! byte picks created/updated or deleted, the rest is the payload. An accepted upsert always has
//! an id, and validation either names what is wrong or gives a launch whose bot id is safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_orchestrator::images::RuntimeImages;
use the0_orchestrator::model::{is_safe_id, parse_payload, validate, Change};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else { return };
    match parse_payload(payload, kind & 1 == 1) {
        Ok(Change::Upsert(rec)) => {
            assert!(!rec.id.is_empty());
            if validate(&rec, &RuntimeImages::default()).is_ok() {
                assert!(is_safe_id(&rec.id), "launch of an unsafe id {:?}", rec.id);
            }
        }
        Ok(Change::Delete(id)) => assert!(!id.is_empty()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
