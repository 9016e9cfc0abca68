//! Splits newly read `bot.log` bytes into the chunks a sync ships (docs/contract.md §2.8 "Logs", D9).
//!
//! Pure (the caller passes "now"), so the cut rules are table-tested: chunks are at most 1 MiB;
//! non-final chunks end after their last `\n` (a window without any `\n` goes whole); and a trailing
//! partial line is held back until it is completed, has waited [`TAIL_HOLD`], or the sync is final,
//! so a line being written is not split across two records.

use std::time::{Duration, Instant};

/// Largest chunk: NATS's default max payload, and the original's read size.
pub const MAX_CHUNK: usize = 1024 * 1024;

/// How long a trailing partial line may be held back before it ships as is.
pub const TAIL_HOLD: Duration = Duration::from_secs(5);

/// A trailing partial line (bytes after the last `\n`) that was seen and when it was first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailClock {
    /// Absolute offset in `bot.log` where the partial line starts.
    pub start: u64,
    pub first_seen: Instant,
}

/// What the caller knows about the bytes it read.
#[derive(Debug, Clone, Copy)]
pub struct SplitInput<'a> {
    /// The bytes read, starting at `base`.
    pub data: &'a [u8],
    /// Absolute offset of `data[0]` in `bot.log`.
    pub base: u64,
    /// Whether `data` ends at the end of the file (false when the read was capped).
    pub at_eof: bool,
    /// The final sync ships everything, partial line included.
    pub final_sync: bool,
    /// The partial line remembered from the previous split, if any.
    pub tail: Option<TailClock>,
    pub now: Instant,
}

/// The result of [`split`]: chunks are consecutive sub-slices of the input starting at 0.
#[derive(Debug, PartialEq, Eq)]
pub struct Split<'a> {
    pub chunks: Vec<&'a [u8]>,
    /// Bytes covered by `chunks` (the offset advances by this much once they are shipped).
    pub consumed: usize,
    /// The trailing partial line at the end of the file, whether held or released; remember it
    /// and pass it to the next split so its age keeps counting.
    pub tail: Option<TailClock>,
}

fn after_last_newline(window: &[u8]) -> Option<usize> {
    window.iter().rposition(|&b| b == b'\n').map(|i| i + 1)
}

/// Cuts `input.data` into chunks (see the module doc).
pub fn split(input: SplitInput<'_>) -> Split<'_> {
    let data = input.data;
    let mut chunks = Vec::new();
    let mut pos = 0;
    // Full windows: there is more than 1 MiB left, so this is never the last chunk.
    while data.len() - pos > MAX_CHUNK {
        let window = &data[pos..pos + MAX_CHUNK];
        let cut = after_last_newline(window).unwrap_or(MAX_CHUNK);
        chunks.push(&window[..cut]);
        pos += cut;
    }
    let rest = &data[pos..];
    let lines_end = after_last_newline(rest).unwrap_or(0);
    let mut tail = None;
    let mut take = rest.len();
    if lines_end < rest.len() {
        if input.at_eof {
            let start = input.base + (pos + lines_end) as u64;
            let first_seen = match input.tail {
                Some(t) if t.start == start => t.first_seen,
                _ => input.now,
            };
            tail = Some(TailClock { start, first_seen });
            let aged = input.now.saturating_duration_since(first_seen) >= TAIL_HOLD;
            if !input.final_sync && !aged {
                take = lines_end;
            }
        } else {
            // The read was capped: the unfinished line continues in the next read.
            take = lines_end;
        }
    }
    if take > 0 {
        chunks.push(&rest[..take]);
    }
    Split { chunks, consumed: pos + take, tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: usize = MAX_CHUNK;

    fn run(
        data: &[u8],
        at_eof: bool,
        final_sync: bool,
        tail: Option<TailClock>,
        now: Instant,
    ) -> (Vec<usize>, usize, Option<TailClock>) {
        let s = split(SplitInput { data, base: 100, at_eof, final_sync, tail, now });
        let lens: Vec<usize> = s.chunks.iter().map(|c| c.len()).collect();
        assert_eq!(lens.iter().sum::<usize>(), s.consumed, "chunks are consecutive");
        assert!(lens.iter().all(|&l| l > 0 && l <= M), "{lens:?}");
        (lens, s.consumed, s.tail)
    }

    fn lines(n_lines: usize, line_len: usize) -> Vec<u8> {
        let mut v = vec![b'x'; line_len - 1];
        v.push(b'\n');
        v.repeat(n_lines)
    }

    #[test]
    fn small_complete_input_is_one_chunk() {
        let t0 = Instant::now();
        assert_eq!(run(b"a\nb\n", true, false, None, t0), (vec![4], 4, None));
        assert_eq!(run(b"", true, false, None, t0), (vec![], 0, None));
        assert_eq!(run(b"", true, true, None, t0), (vec![], 0, None));
    }

    #[test]
    fn partial_tail_is_held_then_released() {
        let t0 = Instant::now();
        let tail = |since| Some(TailClock { start: 102, first_seen: since });
        // First seen now: held; only the complete line goes.
        assert_eq!(run(b"a\nbc", true, false, None, t0), (vec![2], 2, tail(t0)));
        // Still pending after 4.9 s: held, and the clock keeps its first sighting.
        let t49 = t0 + Duration::from_millis(4900);
        assert_eq!(run(b"a\nbc", true, false, tail(t0), t49), (vec![2], 2, tail(t0)));
        // Pending 5 s: released with the lines before it.
        let t5 = t0 + TAIL_HOLD;
        assert_eq!(run(b"a\nbcd", true, false, tail(t0), t5), (vec![5], 5, tail(t0)));
        // Final sync: released at once.
        assert_eq!(run(b"a\nbc", true, true, None, t0), (vec![4], 4, tail(t0)));
        // Only a partial line, young: nothing to ship.
        assert_eq!(run(b"abc", true, false, None, t0), (vec![], 0, Some(TailClock { start: 100, first_seen: t0 })));
    }

    #[test]
    fn a_tail_elsewhere_restarts_the_clock() {
        let t0 = Instant::now();
        let old = Some(TailClock { start: 101, first_seen: t0 });
        let t9 = t0 + Duration::from_secs(9);
        // The old partial line got its `\n`; the new partial one starts at 102 and is young.
        assert_eq!(run(b"a\nb", true, false, old, t9), (vec![2], 2, Some(TailClock { start: 102, first_seen: t9 })));
        // A completed line clears the clock.
        assert_eq!(run(b"a\nb\n", true, false, old, t9), (vec![4], 4, None));
    }

    #[test]
    fn non_final_chunks_end_after_their_last_newline() {
        let t0 = Instant::now();
        // 3 MiB of 1000-byte lines: windows cut at the last whole line inside 1 MiB.
        let data = lines(3 * 1024 * 1024 / 1000 + 1, 1000);
        let per = (M / 1000) * 1000;
        let (lens, consumed, tail) = run(&data, true, false, None, t0);
        assert_eq!(consumed, data.len());
        assert_eq!(&lens[..3], &[per, per, per]);
        assert_eq!(lens.len(), 4);
        assert!(tail.is_none());
        let s = split(SplitInput { data: &data, base: 0, at_eof: true, final_sync: false, tail: None, now: t0 });
        assert!(s.chunks.iter().all(|c| c.ends_with(b"\n")));
    }

    #[test]
    fn a_window_without_newline_goes_whole() {
        let t0 = Instant::now();
        // One 2.5 MiB line without `\n`: two whole MiB windows, then a held 0.5 MiB tail.
        let data = vec![b'y'; 2 * M + M / 2];
        let (lens, consumed, tail) = run(&data, true, false, None, t0);
        assert_eq!((lens, consumed), (vec![M, M], 2 * M));
        assert_eq!(tail, Some(TailClock { start: 100 + 2 * M as u64, first_seen: t0 }));
        // Final sync: the rest goes as is.
        let (lens, consumed, _) = run(&data, true, true, None, t0);
        assert_eq!((lens, consumed), (vec![M, M, M / 2], data.len()));
        // Exactly 1 MiB without `\n` is the final chunk: held unless final.
        assert_eq!(run(&data[..M], true, false, None, t0).0, Vec::<usize>::new());
        assert_eq!(run(&data[..M], true, true, None, t0).0, vec![M]);
    }

    #[test]
    fn a_long_line_then_newline() {
        let t0 = Instant::now();
        // 1.5 MiB line ending in `\n`, then "ok\n": the first window has no `\n` → whole 1 MiB.
        let mut data = vec![b'z'; M + M / 2];
        data.push(b'\n');
        data.extend_from_slice(b"ok\n");
        let (lens, consumed, tail) = run(&data, true, false, None, t0);
        assert_eq!(lens, vec![M, M / 2 + 4]);
        assert_eq!((consumed, tail), (data.len(), None));
    }

    #[test]
    fn capped_reads_leave_the_unfinished_line_for_next_time() {
        let t0 = Instant::now();
        let mut data = lines(1500, 1000); // ~1.43 MiB of whole lines
        data.extend_from_slice(b"partial");
        let (lens, consumed, tail) = run(&data, false, true, None, t0);
        assert_eq!(consumed, 1500 * 1000, "even a final sync leaves a line the read cut off");
        assert_eq!(lens.len(), 2);
        assert!(tail.is_none(), "no clock for a line that is not at the end of the file");
        // Capped in the middle of a huge line: whole windows only.
        let data = vec![b'q'; M + 10];
        assert_eq!(run(&data, false, false, None, t0), (vec![M], M, None));
    }
}
