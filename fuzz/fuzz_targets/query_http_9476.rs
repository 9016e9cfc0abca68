//! The :9476 request parsing of the executor (`executor/src/query/http.rs`): request heads, the
//! framing they ask for, and chunked bodies, from bytes a client sends. Whatever is accepted must
//! be self-consistent (the head length lies inside the input, a chunked body within its limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_executor::query::http::{decode_chunked, parse_head, Chunked, Framing};

const LIMIT: usize = 1024;

fuzz_target!(|data: &[u8]| {
    // Also as a body on its own: a client controls it entirely.
    let mut out = Vec::new();
    if let Ok(Chunked::Done(n)) = decode_chunked(data, &mut out, LIMIT) {
        assert!(n <= data.len() && out.len() <= LIMIT);
    }
    let Ok(Some((head, n))) = parse_head(data) else { return };
    assert!(n <= data.len(), "head length {n} beyond the input");
    let _ = (head.keep_alive(), head.expects_continue(), head.header("host"));
    if let Ok(Framing::Chunked) = head.framing() {
        if let Ok(Chunked::Done(m)) = decode_chunked(&data[n..], &mut out, LIMIT) {
            assert!(m <= data.len() - n && out.len() <= LIMIT);
        }
    }
});
