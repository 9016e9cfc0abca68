//! The incremental state upload: when the remote archive is still the one this executor last
//! uploaded (its [`Layout`] is known and the object's size and ETag match), only the segments that
//! changed are compressed, into memory, and the new object is composed from server-side copies of
//! the unchanged members plus the new ones ([`Store::compose`], all or nothing). Anything that
//! makes this impossible or not worth it (no usable layout, a small object, nothing reusable, too
//! many changes, the object changed meanwhile) returns [`Incremental::Full`] and the caller
//! streams the whole archive as before.

use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use the0_objstore::{Error as StoreError, ObjectMeta, Piece, Store};

use super::archive::{write_end, write_member, ArchiveError, ArchiveStats};
use super::fingerprint::{Entry, Manifest};
use super::layout::Layout;
use super::plan::{fresh_items, plan, Item, Part};
use super::segment;
use super::upload::StateSyncError;

/// Most compressed bytes an incremental upload holds in memory; a larger change goes the full,
/// streaming way (which is as cheap then, and bounded in memory).
pub const FRESH_BUDGET: usize = 24 * 1024 * 1024;
/// Planning rounds before giving up (a round only repeats if recompressed sizes surprised it).
const MAX_ROUNDS: usize = 4;

/// The reason given when the server refuses part copy: logged once by
/// [`crate::storage::note_part_copy_refused`], not on every upload.
pub const COPY_REFUSED: &str = "the server refuses part copy to these credentials";

/// What [`upload`] did.
#[derive(Debug)]
pub enum Incremental {
    /// The new object is in place; `fresh` bytes were uploaded, the rest copied server-side.
    Done { layout: Layout, fresh: u64 },
    /// Nothing was written: the caller must upload the whole archive.
    Full { why: &'static str },
}

/// One segment of the new archive: its entries, digest, and where it can come from.
struct Seg {
    entries: Vec<(String, Entry)>,
    digest: segment::Digest,
    item: Item,
    member: Option<Bytes>,
}

/// Uploads `manifest`'s tree (scanned from `root`) as a new version of the object `prev` describes.
pub async fn upload(
    store: &Store,
    root: &Path,
    manifest: &Manifest,
    prev: &Layout,
    deadline: Duration,
) -> Result<Incremental, StateSyncError> {
    if crate::storage::note_part_copy_refused(store) {
        return Ok(Incremental::Full { why: COPY_REFUSED });
    }
    let min_part = store.compose_min_piece();
    if prev.size < 2 * min_part {
        return Ok(Incremental::Full { why: "small archive" });
    }
    // Checked again (and raced-proof where the server honours if-match) by compose; this early
    // look only saves compressing segments for an object someone else has replaced.
    let upload_err = |source| StateSyncError::Upload {
        bucket: prev.bucket.clone(),
        key: prev.key.clone(),
        source: Box::new(source),
    };
    let current = store.head(&prev.bucket, &prev.key).await.map_err(upload_err)?;
    if current.is_none_or(|m| m.size != prev.size || m.etag.trim_matches('"') != prev.etag.trim_matches('"')) {
        crate::info!("the remote state archive is not the one this executor uploaded; uploading it whole");
        return Ok(Incremental::Full { why: "the remote archive changed" });
    }
    let entries = manifest.entries();
    let mut segs: Vec<Seg> = segment::cut(entries)
        .into_iter()
        .map(|r| {
            let digest = segment::digest(&entries[r.clone()]);
            let reuse = prev.find(&digest).map(|b| (b.start, b.end - b.start));
            let item = Item { reuse, size: reuse.map_or(0, |(_, len)| len) };
            Seg { entries: entries[r].to_vec(), digest, item, member: None }
        })
        .collect();
    if !segs.iter().any(|s| s.item.reuse.is_some()) {
        return Ok(Incremental::Full { why: "no segment can be reused" });
    }
    let end = Bytes::from(write_end(Vec::new()).map_err(|e| archive_err(root, e))?);
    let mut used = end.len();
    let mut parts = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let mut items: Vec<Item> = segs.iter().map(|s| s.item).collect();
        items.push(Item { reuse: None, size: end.len() as u64 });
        parts = plan(&items, min_part);
        let missing: Vec<usize> = fresh_items(&parts).filter(|&i| i < segs.len() && segs[i].member.is_none()).collect();
        if missing.is_empty() {
            break;
        }
        let jobs: Vec<(usize, Vec<(String, Entry)>)> = missing.iter().map(|&i| (i, segs[i].entries.clone())).collect();
        let (dir, budget) = (root.to_path_buf(), FRESH_BUDGET.saturating_sub(used));
        let compressed = tokio::task::spawn_blocking(move || compress_all(&dir, jobs, budget))
            .await
            .map_err(|e| StateSyncError::Task(e.to_string()))?
            .map_err(|e| archive_err(root, e))?;
        let Some(compressed) = compressed else {
            return Ok(Incremental::Full { why: "too much changed" });
        };
        for (i, member) in compressed {
            used += member.len();
            segs[i].item.size = member.len() as u64;
            segs[i].member = Some(member);
        }
        parts.clear();
    }
    if parts.is_empty() {
        return Ok(Incremental::Full { why: "the plan did not settle" });
    }
    if !parts.iter().any(|p| matches!(p, Part::Copy { .. })) {
        return Ok(Incremental::Full { why: "nothing left to copy" });
    }
    let (pieces, fresh) = pieces(&parts, &segs, &end);
    let source = ObjectMeta { size: prev.size, etag: prev.etag.clone() };
    let meta = match store.compose(&prev.bucket, &prev.key, &source, pieces, "application/gzip", deadline).await {
        Ok(meta) => meta,
        Err(StoreError::Changed { detail, .. }) => {
            crate::info!("the remote state archive changed since our upload; uploading it whole", detail = detail);
            return Ok(Incremental::Full { why: "the remote archive changed" });
        }
        Err(source) if source.is_access_denied() && crate::storage::note_part_copy_refused(store) => {
            return Ok(Incremental::Full { why: COPY_REFUSED });
        }
        Err(source) => return Err(upload_err(source)),
    };
    let members: Vec<(segment::Digest, u64)> = segs.into_iter().map(|s| (s.digest, s.item.size)).collect();
    let layout = Layout::new(&prev.bucket, &prev.key, meta.etag, meta.size, members);
    Ok(Incremental::Done { layout, fresh })
}

fn archive_err(root: &Path, source: ArchiveError) -> StateSyncError {
    StateSyncError::Archive { path: root.to_path_buf(), source }
}

/// The pieces of the new object, and how many of their bytes are new.
fn pieces(parts: &[Part], segs: &[Seg], end: &Bytes) -> (Vec<Piece>, u64) {
    let mut fresh = 0;
    let pieces = parts
        .iter()
        .map(|part| match part {
            Part::Copy { start, end } => Piece::Copy { start: *start, end: *end },
            Part::Fresh(r) => {
                let mut data = BytesMut::new();
                for i in r.clone() {
                    match segs.get(i) {
                        Some(seg) => data.extend_from_slice(seg.member.as_deref().unwrap_or_default()),
                        None => data.extend_from_slice(end),
                    }
                }
                fresh += data.len() as u64;
                Piece::Data(data.freeze())
            }
        })
        .collect();
    (pieces, fresh)
}

/// Compresses each job's segment into its own member; `None` once together they pass `budget`.
fn compress_all(
    root: &Path,
    jobs: Vec<(usize, Vec<(String, Entry)>)>,
    budget: usize,
) -> Result<Option<Vec<(usize, Bytes)>>, ArchiveError> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut left = budget;
    for (i, entries) in jobs {
        let capped = Capped { buf: Vec::new(), cap: left };
        let mut stats = ArchiveStats::default();
        match write_member(root, &entries, capped, &mut stats) {
            Ok(c) => {
                left -= c.buf.len();
                out.push((i, Bytes::from(c.buf)));
            }
            Err(ArchiveError::Write(e)) if e.kind() == std::io::ErrorKind::OutOfMemory => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(out))
}

/// An in-memory writer that refuses to hold more than `cap` bytes (error kind `OutOfMemory`).
struct Capped {
    buf: Vec<u8>,
    cap: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            return Err(std::io::Error::new(std::io::ErrorKind::OutOfMemory, "over the incremental upload budget"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
