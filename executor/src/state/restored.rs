//! The [`Layout`] of a state archive that a restore has just extracted, so that a new pod's first
//! upload can copy unchanged members server-side instead of sending the whole tree again.
//!
//! A member of the downloaded object is reusable for a segment of the restored tree only if it
//! holds exactly that segment's entries, whole, and each entry's header says what the tree now
//! holds (kind, size, mode, mtime): then copying the member writes the same tar bytes a fresh
//! archive would. Anything else (an archive from node-tar or the original runtime, one gzip member
//! for everything; entries the extract skipped; local files the archive did not have) only makes
//! the members concerned unusable, and with none usable there is no layout at all. Pure.

use std::collections::HashMap;
use std::ops::Range;

use super::extract::{ArchiveMap, Extent, Extracted};
use super::fingerprint::{Entry, Kind, Manifest};
use super::layout::Layout;
use super::segment::{self, Digest};

/// Digest of a member that no segment can reuse (real digests are 32 hex digits).
const UNUSABLE: &str = "-";

/// The layout of the object (`etag`, `size`) whose extraction `map` describes, after which
/// `manifest` was scanned; `None` if no member can be reused.
pub fn layout(map: &ArchiveMap, manifest: &Manifest, bucket: &str, key: &str, etag: &str, size: u64) -> Option<Layout> {
    let (end, members) = map.members.split_last()?;
    if etag.is_empty() || end.compressed.end != size || members.first()?.compressed.start != 0 {
        return None;
    }
    // The last member holds only the end-of-archive blocks (no entry reaches into it).
    if map.entries.last().is_some_and(|e| e.range.end > end.decompressed.start) {
        return None;
    }
    let entries = manifest.entries();
    let segments: HashMap<&str, Range<usize>> =
        segment::cut(entries).into_iter().map(|r| (entries[r.start].0.as_str(), r)).collect();
    let mut next = 0;
    let mut out = Vec::with_capacity(members.len());
    let mut usable = 0;
    for m in members {
        let first = next;
        while next < map.entries.len() && map.entries[next].range.start < m.decompressed.end {
            next += 1;
        }
        let inside = &map.entries[first..next];
        let digest = match_segment(inside, &m.decompressed, entries, &segments);
        usable += usize::from(digest.is_some());
        out.push((digest.unwrap_or_else(|| UNUSABLE.to_string()), m.compressed.end - m.compressed.start));
    }
    (usable > 0).then(|| Layout::new(bucket, key, etag.to_string(), size, out))
}

/// The digest of the segment that the entries of one member (which occupy `span` of the tar
/// stream) are exactly, as the restored tree holds it.
fn match_segment(
    inside: &[Extent],
    span: &Range<u64>,
    entries: &[(String, Entry)],
    segments: &HashMap<&str, Range<usize>>,
) -> Option<Digest> {
    let (head, tail) = (inside.first()?, inside.last()?);
    if head.range.start != span.start || tail.range.end != span.end {
        return None; // an entry straddles a member boundary
    }
    let first = head.extracted.as_ref()?;
    let range = segments.get(first.path.as_str())?;
    if range.len() != inside.len() {
        return None;
    }
    let same = inside
        .iter()
        .zip(&entries[range.clone()])
        .all(|(x, (path, entry))| x.extracted.as_ref().is_some_and(|x| x.path == *path && describes(x, entry)));
    same.then(|| segment::digest(&entries[range.clone()]))
}

/// Whether an entry's header describes the tree's entry exactly as an archive of it would.
fn describes(x: &Extracted, e: &Entry) -> bool {
    let kind = if x.dir { Kind::Dir } else { Kind::File };
    e.kind == kind && e.size == x.size && e.mode == x.mode && e.mtime_ns == i128::from(x.mtime) * 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::members::Span;

    fn file(size: u64) -> Entry {
        Entry { kind: Kind::File, size, mtime_ns: 1_700_000_000_000_000_000, mode: 0o644 }
    }

    fn extracted(path: &str, e: &Entry) -> Extracted {
        Extracted {
            path: path.into(),
            dir: e.kind == Kind::Dir,
            size: e.size,
            mode: e.mode,
            mtime: (e.mtime_ns / 1_000_000_000) as u64,
        }
    }

    /// Three segments of 2 MiB files (a cut after every file whose path hashes to one in 8, past
    /// 1 MiB), the archive our writer makes of them (one member per segment, 1000 compressed
    /// bytes each, plus an end member of 30) and its map.
    fn fixture() -> (Manifest, ArchiveMap, Vec<Range<usize>>) {
        let entries: Vec<(String, Entry)> = (0..40).map(|n| (format!("f{n:03}"), file(2 << 20))).collect();
        let manifest = Manifest::from_entries(entries);
        let cuts = segment::cut(manifest.entries());
        assert!(cuts.len() >= 3, "{cuts:?}");
        let mut map = ArchiveMap::default();
        let (mut c, mut d) = (0u64, 0u64);
        for r in &cuts {
            let d0 = d;
            for (path, e) in &manifest.entries()[r.clone()] {
                let len = 512 + e.size.div_ceil(512) * 512;
                map.entries.push(Extent { range: d..d + len, extracted: Some(extracted(path, e)) });
                d += len;
            }
            map.members.push(Span { compressed: c..c + 1000, decompressed: d0..d });
            c += 1000;
        }
        map.members.push(Span { compressed: c..c + 30, decompressed: d..d + 1024 });
        (manifest, map, cuts)
    }

    fn size(map: &ArchiveMap) -> u64 {
        map.members.last().unwrap().compressed.end
    }

    fn digests(l: &Layout) -> Vec<&str> {
        l.members.iter().map(|m| m.digest.as_str()).collect()
    }

    #[test]
    fn every_member_of_our_own_archive_is_reusable() {
        let (manifest, map, cuts) = fixture();
        let l = layout(&map, &manifest, "b", "k", "\"e\"", size(&map)).unwrap();
        let want: Vec<Digest> = cuts.iter().map(|r| segment::digest(&manifest.entries()[r.clone()])).collect();
        assert_eq!(digests(&l), want.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(l.find(&want[1]), Some(1000..2000));
        assert_eq!((l.size, l.etag.as_str()), (size(&map), "\"e\""));
    }

    /// Which of the first three members `layout` finds reusable.
    fn reusable(map: &ArchiveMap, manifest: &Manifest) -> Vec<bool> {
        match layout(map, manifest, "b", "k", "e", size(map)) {
            Some(l) => digests(&l).iter().take(3).map(|d| *d != UNUSABLE).collect(),
            None => vec![false; 3],
        }
    }

    #[test]
    fn a_member_that_is_not_exactly_its_segment_is_not_reused() {
        let (manifest, map, cuts) = fixture();
        assert_eq!(reusable(&map, &manifest), [true, true, true]);
        // The tree changed after the extract: a file's mtime, size or mode (cuts stay put).
        for change in [|e: &mut Entry| e.mtime_ns += 1, |e: &mut Entry| e.size += 1, |e: &mut Entry| e.mode = 0o600] {
            let mut entries = manifest.entries().to_vec();
            change(&mut entries[cuts[1].start + 1].1);
            assert_eq!(reusable(&map, &Manifest::from_entries(entries)), [true, false, true]);
        }
        // An entry the extract skipped (a link, an unsafe name).
        let mut m = map.clone();
        m.entries[cuts[2].start].extracted = None;
        assert_eq!(reusable(&m, &manifest), [true, true, false]);
        // An entry across a member boundary.
        let mut m = map.clone();
        let b = m.members[0].decompressed.end - 512;
        m.members[0].decompressed.end = b;
        m.members[1].decompressed.start = b;
        assert_eq!(reusable(&m, &manifest), [false, false, true]);
        // A local file the archive did not have, inside the second segment (later cuts may move).
        let mut entries = manifest.entries().to_vec();
        entries.insert(cuts[1].start + 1, ("f001x".into(), file(10)));
        assert_eq!(reusable(&map, &Manifest::from_entries(entries))[..2], [true, false]);
    }

    #[test]
    fn foreign_archives_and_mismatched_objects_have_no_layout() {
        let (manifest, map, _) = fixture();
        // One member for everything, end blocks included (node-tar, the original runtime).
        let all = ArchiveMap {
            members: vec![Span { compressed: 0..5000, decompressed: 0..map.members.last().unwrap().decompressed.end }],
            entries: map.entries.clone(),
        };
        assert_eq!(layout(&all, &manifest, "b", "k", "e", 5000), None);
        // The end blocks in the same member as the last entries.
        let mut merged = map.clone();
        let end = merged.members.pop().unwrap();
        let last = merged.members.last_mut().unwrap();
        (last.compressed.end, last.decompressed.end) = (end.compressed.end, end.decompressed.end);
        assert_eq!(layout(&merged, &manifest, "b", "k", "e", size(&merged)), None);
        assert_eq!(layout(&map, &manifest, "b", "k", "e", size(&map) + 1), None, "size differs");
        assert_eq!(layout(&map, &manifest, "b", "k", "", size(&map)), None, "no ETag");
        assert_eq!(layout(&ArchiveMap::default(), &manifest, "b", "k", "e", 0), None);
    }
}
