//! The D20 request-target handling shared by :9476 and :9477 (`contract/src/querytarget.rs`):
//! the first bytes up to a NUL are the target, the rest the JSON body. Checked: an accepted target
//! has no `..` segment or control character even after percent-decoding and validates again to
//! itself; merging the body's parameters is idempotent; component encoding round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_contract::querytarget::{encode_component, merge_target, path_of, percent_decode, validate_target};

fuzz_target!(|data: &[u8]| {
    let (target, body) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(target) = std::str::from_utf8(target) else { return };

    let enc = encode_component(target);
    assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)), "encoded {enc:?}");
    assert_eq!(percent_decode(&enc).as_deref(), Ok(target.as_bytes()), "encoding round-trips");

    if let Ok(origin) = validate_target(target) {
        assert!(origin.starts_with('/'), "origin {origin:?}");
        let decoded = percent_decode(path_of(&origin)).expect("an accepted path decodes");
        assert!(!decoded.iter().any(u8::is_ascii_control), "control character in {origin:?}");
        assert!(!decoded.split(|b| *b == b'/' || *b == b'\\').any(|s| s == b".."), "'..' in {origin:?}");
        assert_eq!(validate_target(&origin).as_deref(), Ok(origin.as_str()), "validation is idempotent");
        let once = merge_target(&origin, body);
        assert_eq!(merge_target(&once, body), once, "merging is idempotent");
    }
});
