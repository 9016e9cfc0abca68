//! Planning the parts of an incremental archive upload (pure): which segments are copied from the
//! previous object and which are (re)compressed and uploaded, such that every part but the last
//! holds at least the store's minimum piece (S3: 5 MiB).
//!
//! Consecutive reusable segments that are also consecutive in the previous object become one copy
//! part. A run of fresh segments smaller than the minimum takes segments from the front of the
//! next copy run (they are recompressed, which gives the same bytes) until it is big enough; a
//! copy run left smaller than the minimum is absorbed whole. The last part may be small: the
//! archive always ends with the fresh end-of-archive member.

use std::ops::Range;

/// One segment of the new archive, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Where the same segment lies in the previous object (`offset`, `len`), if it can be reused.
    pub reuse: Option<(u64, u64)>,
    /// Its compressed size: the reused length, or the size of the freshly compressed member.
    pub size: u64,
}

/// One part of the new object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Bytes `start..end` of the previous object.
    Copy { start: u64, end: u64 },
    /// The members of these items, compressed now.
    Fresh(Range<usize>),
}

/// A run of items that would form one part if nothing had to be merged.
enum Run {
    Copy(Range<usize>),
    Fresh(Range<usize>),
}

fn runs(items: &[Item]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let extends = match (out.last(), item.reuse) {
            (Some(Run::Fresh(_)), None) => true,
            (Some(Run::Copy(r)), Some((offset, _))) => {
                items[r.end - 1].reuse.is_some_and(|(prev_offset, prev_len)| prev_offset + prev_len == offset)
            }
            _ => false,
        };
        match out.last_mut() {
            Some(Run::Copy(r) | Run::Fresh(r)) if extends => r.end = i + 1,
            _ => out.push(if item.reuse.is_some() { Run::Copy(i..i + 1) } else { Run::Fresh(i..i + 1) }),
        }
    }
    out
}

fn size(items: &[Item], r: Range<usize>) -> u64 {
    items[r].iter().map(|i| i.size).sum()
}

/// The parts of the new object; see the module docs. Every item is in exactly one part, in order.
pub fn plan(items: &[Item], min_part: u64) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut pending: Option<Range<usize>> = None;
    for run in runs(items) {
        let r = match run {
            Run::Fresh(r) => {
                pending = Some(pending.map_or(r.clone(), |p| p.start..r.end));
                continue;
            }
            Run::Copy(r) => r,
        };
        let mut start = r.start;
        if let Some(p) = pending.as_mut() {
            while start < r.end && size(items, p.clone()) < min_part {
                start += 1;
                p.end = start;
            }
        }
        if size(items, start..r.end) >= min_part {
            if let Some(p) = pending.take() {
                parts.push(Part::Fresh(p));
            }
            let first = items[start].reuse.map_or(0, |(offset, _)| offset);
            let last = items[r.end - 1].reuse.map_or(0, |(offset, len)| offset + len);
            parts.push(Part::Copy { start: first, end: last });
        } else {
            pending = Some(pending.map_or(r.clone(), |p| p.start..r.end));
        }
    }
    if let Some(p) = pending {
        parts.push(Part::Fresh(p));
    }
    parts
}

/// The items that a plan compresses now.
pub fn fresh_items(parts: &[Part]) -> impl Iterator<Item = usize> + '_ {
    parts.iter().filter_map(|p| if let Part::Fresh(r) = p { Some(r.clone()) } else { None }).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 10;

    /// `c<offset>:<len>` reusable, `f<len>` fresh.
    fn items(spec: &str) -> Vec<Item> {
        spec.split_whitespace()
            .map(|s| match s.split_at(1) {
                ("c", rest) => {
                    let (o, l) = rest.split_once(':').expect("c<offset>:<len>");
                    let (o, l) = (o.parse().expect("offset"), l.parse().expect("len"));
                    Item { reuse: Some((o, l)), size: l }
                }
                ("f", n) => Item { reuse: None, size: n.parse().expect("size") },
                _ => panic!("bad item {s}"),
            })
            .collect()
    }

    fn copy(start: u64, end: u64) -> Part {
        Part::Copy { start, end }
    }

    #[test]
    fn plans() {
        use Part::Fresh;
        let cases: Vec<(&str, &str, Vec<Part>)> = vec![
            ("nothing changed", "c0:6 c6:6 c12:6 f1", vec![copy(0, 18), Fresh(3..4)]),
            (
                "change in the middle, big enough",
                "c0:12 f10 c22:12 f1",
                vec![copy(0, 12), Fresh(1..2), copy(22, 34), Fresh(3..4)],
            ),
            (
                "small change takes from the next copy run",
                "c0:12 f2 c14:4 c18:4 c22:12 f1",
                vec![copy(0, 12), Fresh(1..4), copy(22, 34), Fresh(5..6)],
            ),
            ("a copy run left too small is absorbed", "c0:12 f2 c14:4 c18:4 c22:4 f1", vec![copy(0, 12), Fresh(1..6)]),
            ("first segment changed", "f1 c3:6 c9:6 c15:12 f1", vec![Fresh(0..3), copy(15, 27), Fresh(4..5)]),
            ("change just before the end needs nothing", "c0:20 f3 f1", vec![copy(0, 20), Fresh(1..3)]),
            (
                "small copy run between changes",
                "c0:12 f10 c30:5 f10 c50:12 f1",
                vec![copy(0, 12), Fresh(1..4), copy(50, 62), Fresh(5..6)],
            ),
            (
                "reordered segments are separate copy runs",
                "c10:10 c0:10 f1",
                vec![copy(10, 20), copy(0, 10), Fresh(2..3)],
            ),
            ("small tree: all fresh", "c0:3 c3:3 f1", vec![Fresh(0..3)]),
            ("only the end member", "f1", vec![Fresh(0..1)]),
        ];
        for (what, spec, want) in cases {
            let its = items(spec);
            let got = plan(&its, MIN);
            assert_eq!(got, want, "{what}");
            check_plan(&its, &got);
        }
    }

    /// Every item once, in order; every part but the last at least MIN; copies match the items.
    fn check_plan(items: &[Item], parts: &[Part]) {
        let mut next = 0;
        for (n, part) in parts.iter().enumerate() {
            let len = match part {
                Part::Fresh(r) => {
                    assert_eq!(r.start, next);
                    next = r.end;
                    size(items, r.clone())
                }
                Part::Copy { start, end } => {
                    let mut at = *start;
                    while at < *end {
                        let (o, l) = items[next].reuse.expect("copied items are reusable");
                        assert_eq!(o, at);
                        (at, next) = (o + l, next + 1);
                    }
                    end - start
                }
            };
            assert!(n + 1 == parts.len() || len >= MIN, "part {n} has {len} bytes: {parts:?}");
        }
        assert_eq!(next, items.len());
    }

    #[test]
    fn random_plans_are_valid() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for _ in 0..2000 {
            let (count, mut offset) = (1 + rnd(12) as usize, 0);
            let mut its = Vec::new();
            for _ in 0..count {
                let size = 1 + rnd(12);
                its.push(if rnd(3) == 0 {
                    Item { reuse: None, size }
                } else {
                    Item { reuse: Some((offset, size)), size }
                });
                offset += size + rnd(2) * 3;
            }
            its.push(Item { reuse: None, size: 1 });
            check_plan(&its, &plan(&its, MIN));
        }
    }
}
