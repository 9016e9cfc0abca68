//! Cutting the state tree into segments with stable boundaries, so that a small change to the
//! tree changes few segments (the incremental upload of [`super::incremental`] recompresses and
//! uploads only those). Pure functions over a [`Manifest`](super::fingerprint::Manifest)'s entries.
//!
//! A segment is a run of consecutive entries in walk order; the archive holds one gzip member per
//! segment. A segment ends after an entry whose path hashes to a cut point (one path in
//! [`CUT_ONE_IN`]) once it holds [`MIN_SEGMENT`] bytes of tar data, or as soon as it holds
//! [`MAX_SEGMENT`]. Cut points depend on paths, not positions: changing, adding or removing a file
//! changes its own segment, and only rarely (when a minimum or maximum is crossed) the next ones
//! until the next cut point, never every segment after it.

use std::ops::Range;

use super::fingerprint::{Entry, Kind};

/// Tar bytes a segment holds at least before a path cut point may end it.
pub const MIN_SEGMENT: u64 = 1024 * 1024;
/// Tar bytes after which a segment ends whatever the path.
pub const MAX_SEGMENT: u64 = 8 * 1024 * 1024;
/// One path in this many is a cut point.
pub const CUT_ONE_IN: u64 = 8;

/// Identifies a segment's exact contents as the fingerprint sees them (paths, kinds, sizes,
/// mtimes, modes): equal digests mean the archived member can be reused.
pub type Digest = String;

/// Tar bytes an entry takes in the archive (header + content padded to 512; PAX records ignored).
fn tar_bytes(entry: &Entry) -> u64 {
    match entry.kind {
        Kind::Dir => 512,
        Kind::File => 512 + entry.size.div_ceil(512) * 512,
        Kind::Symlink | Kind::Other => 0,
    }
}

/// FNV-1a: a stable hash (its value must not change between releases, or every segment would).
fn path_hash(path: &str) -> u64 {
    path.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The segments of `entries` (in walk order) as index ranges covering them all, in order.
pub fn cut(entries: &[(String, Entry)]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, (path, entry)) in entries.iter().enumerate() {
        bytes += tar_bytes(entry);
        let cut_point = bytes >= MIN_SEGMENT && path_hash(path).is_multiple_of(CUT_ONE_IN);
        if cut_point || bytes >= MAX_SEGMENT {
            out.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < entries.len() {
        out.push(start..entries.len());
    }
    out
}

/// The digest of a segment's entries (SHA-256, first 128 bits, hex).
pub fn digest(entries: &[(String, Entry)]) -> Digest {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for (path, e) in entries {
        ctx.update(&(path.len() as u64).to_le_bytes());
        ctx.update(path.as_bytes());
        let kind: u8 = match e.kind {
            Kind::Dir => 0,
            Kind::File => 1,
            Kind::Symlink => 2,
            Kind::Other => 3,
        };
        ctx.update(&[kind]);
        ctx.update(&e.size.to_le_bytes());
        ctx.update(&e.mtime_ns.to_le_bytes());
        ctx.update(&e.mode.to_le_bytes());
    }
    ctx.finish().as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> (String, Entry) {
        (path.to_string(), Entry { kind: Kind::File, size, mtime_ns: 1, mode: 0o644 })
    }

    /// 2 000 files of 4 KiB..36 KiB in 20 directories, in walk order.
    fn tree() -> Vec<(String, Entry)> {
        let mut v = Vec::new();
        for d in 0..20 {
            v.push((format!("d{d:02}"), Entry { kind: Kind::Dir, size: 0, mtime_ns: 1, mode: 0o755 }));
            for f in 0..100u64 {
                v.push(file(&format!("d{d:02}/f{f:03}"), 4096 * (1 + (f * 7 + d) % 9)));
            }
        }
        v
    }

    fn digests(entries: &[(String, Entry)]) -> Vec<Digest> {
        cut(entries).into_iter().map(|r| digest(&entries[r])).collect()
    }

    /// How many segments of `after` are not segments of `before`.
    fn changed(before: &[(String, Entry)], after: &[(String, Entry)]) -> usize {
        let old = digests(before);
        digests(after).iter().filter(|d| !old.contains(d)).count()
    }

    #[test]
    fn segments_cover_everything_within_the_bounds() {
        let t = tree();
        let segs = cut(&t);
        assert!(segs.len() > 10, "{} segments", segs.len());
        let mut next = 0;
        for (n, r) in segs.iter().enumerate() {
            assert_eq!(r.start, next);
            next = r.end;
            let bytes: u64 = t[r.clone()].iter().map(|(_, e)| tar_bytes(e)).sum();
            assert!(bytes <= MAX_SEGMENT + 512 + 36 * 1024, "segment {n}: {bytes} bytes");
            if n + 1 < segs.len() {
                assert!(bytes >= MIN_SEGMENT, "segment {n}: {bytes} bytes");
            }
        }
        assert_eq!(next, t.len());
        assert!(cut(&[]).is_empty());
        assert_eq!(cut(&t[..3]), vec![0..3]);
    }

    #[test]
    fn a_small_change_touches_few_segments() {
        let t = tree();
        let at = t.len() / 2;
        let mut modified = t.clone();
        modified[at].1.mtime_ns = 2;
        let mut grown = t.clone();
        grown[at].1.size += 100_000;
        let mut added = t.clone();
        added.insert(at, file(&format!("{}-new", t[at - 1].0), 5000));
        let mut removed = t.clone();
        removed.remove(at);
        let mut renamed = t.clone();
        renamed.remove(at);
        renamed.push(file("zz/renamed", t[at].1.size));
        type Case<'a> = (&'a str, &'a [(String, Entry)], usize);
        let cases: [Case<'_>; 5] = [
            ("modified in place", &modified, 1),
            ("grown", &grown, 2),
            ("added", &added, 2),
            ("removed", &removed, 2),
            ("renamed to the end", &renamed, 3),
        ];
        for (what, after, most) in cases {
            let n = changed(&t, after);
            assert!((1..=most).contains(&n), "{what}: {n} segments changed");
        }
        assert_eq!(changed(&t, &t), 0);
    }

    #[test]
    fn digests_see_every_fingerprint_field() {
        let base = vec![file("a", 1)];
        let mut variants = vec![vec![file("b", 1)], vec![file("a", 2)]];
        for f in [|e: &mut Entry| e.mtime_ns = 9, |e: &mut Entry| e.mode = 0o600, |e: &mut Entry| e.kind = Kind::Other]
        {
            let mut v = base.clone();
            f(&mut v[0].1);
            variants.push(v);
        }
        for v in variants {
            assert_ne!(digest(&base), digest(&v), "{v:?}");
        }
        assert_eq!(digest(&base), digest(&base.clone()));
        assert_eq!(digest(&base).len(), 32);
    }
}
