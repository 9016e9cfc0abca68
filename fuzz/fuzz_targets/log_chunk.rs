//! Cutting `bot.log` reads into chunks (`executor/src/logs/chunk.rs`): chunks are consecutive
//! slices of the input from 0, `consumed` is their total, and a non-final chunk ends at a newline
//! unless it is a whole window without one.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use the0_executor::logs::chunk::{split, SplitInput, TailClock, MAX_CHUNK};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, data)) = data.split_first() else { return };
    // Bit 7: repeat the input past two windows, so the 1 MiB window cuts are reached too.
    let big: Vec<u8>;
    let data = if flags & 0x80 != 0 && !data.is_empty() {
        big = data.iter().copied().cycle().take(2 * MAX_CHUNK + data.len()).collect();
        &big[..]
    } else {
        data
    };
    let now = Instant::now();
    let tail = (flags & 4 != 0).then(|| TailClock {
        start: u64::from((flags >> 4) & 7),
        first_seen: now.checked_sub(Duration::from_secs(u64::from(flags & 8))).unwrap_or(now),
    });
    let input = SplitInput { data, base: 7, at_eof: flags & 1 != 0, final_sync: flags & 2 != 0, tail, now };
    let s = split(input);
    let mut pos = 0usize;
    for c in &s.chunks {
        assert!(!c.is_empty() && c.len() <= MAX_CHUNK, "chunk of {} bytes", c.len());
        let start = c.as_ptr() as usize - data.as_ptr() as usize;
        assert_eq!(start, pos, "chunks are consecutive from 0");
        pos += c.len();
    }
    assert_eq!(pos, s.consumed, "consumed is the chunks' total");
    assert!(s.consumed <= data.len());
    if flags & 3 == 3 {
        assert_eq!(s.consumed, data.len(), "the final sync at the end of the file ships everything");
    }
});
