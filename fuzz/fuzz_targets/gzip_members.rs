//! The multi-member gzip reader of state archives (`executor/src/state/members.rs`): spans must
//! be consecutive and cover exactly the bytes read, compressed and decompressed.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use the0_executor::state::members::MemberReader;

fuzz_target!(|data: &[u8]| {
    let mut r = MemberReader::new(data);
    let mut out = Vec::new();
    // Bounded: a small input can inflate a lot; the spans are checked on what was read.
    if (&mut r).take(8 << 20).read_to_end(&mut out).is_err() || out.len() >= 8 << 20 {
        return;
    }
    let Ok(spans) = r.finish() else { return };
    let mut c = 0;
    let mut d = 0;
    for s in &spans {
        assert_eq!(s.compressed.start, c, "compressed spans are consecutive: {spans:?}");
        assert_eq!(s.decompressed.start, d, "decompressed spans are consecutive: {spans:?}");
        assert!(s.compressed.end > s.compressed.start, "a member has bytes: {spans:?}");
        c = s.compressed.end;
        d = s.decompressed.end;
    }
    assert!(c <= data.len() as u64, "spans beyond the input: {spans:?}");
    assert_eq!(d, out.len() as u64, "decompressed spans cover the output: {spans:?}");
});
