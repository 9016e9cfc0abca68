//! Extraction of state archives (docs/contract.md §2.8 "Extract").
//!
//! Reads archives written by [`super::archive::write_tar_gz`], by the original runtime and by
//! the0's API (node-tar: PAX headers, `./` prefixes, directory names ending in `/`), enforcing
//! the state caps and never writing outside the destination. The caller extracts into a fresh
//! temp directory and discards it on any error, so a failed extract leaves nothing behind.
//!
//! [`extract_tar_gz_mapped`] also returns an [`ArchiveMap`]: where each gzip member and each tar
//! entry lay, and what each entry became, from which a restore learns which members of the
//! object it can reuse ([`super::restored`]).

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::archive::ArchiveError;
use super::members::{MemberReader, Span};
use super::tree::{self, ChainError};
use crate::config::Limits;

const COPY_BUF: usize = 256 * 1024;

/// What [`extract_tar_gz`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractStats {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Entries left out: traversal, absolute, links, devices, other special types.
    pub skipped: u64,
}

/// Where the members and entries of an extracted archive lay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveMap {
    /// Every gzip member, in order.
    pub members: Vec<Span>,
    /// Every tar entry, in order.
    pub entries: Vec<Extent>,
}

/// One tar entry: its bytes in the tar stream (from the end of the previous entry, so extension
/// headers before it are included, to the end of its padded data) and what was extracted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    pub range: Range<u64>,
    /// `None` when the entry was skipped or made nothing (links, globals, `./`, unsafe names).
    pub extracted: Option<Extracted>,
}

/// A file or directory made from an entry, as its header described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Relative `/`-separated path, as [`super::fingerprint::Manifest`] names it.
    pub path: String,
    pub dir: bool,
    pub size: u64,
    pub mode: u32,
    /// Seconds since the epoch.
    pub mtime: u64,
}

/// The relative path of an archive entry, or `None` if it must be skipped: absolute names and
/// any `..` component. Leading `./`, empty and `.` components and a trailing `/` are dropped.
fn clean_name(raw: &[u8]) -> Option<Vec<&[u8]>> {
    if raw.first() == Some(&b'/') {
        return None;
    }
    let mut parts = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts)
}

/// Extracts gzip(tar) from `input` into `dest` (created 0755) under the state caps of `limits`.
/// Directories get their header mode and mtime (applied last, so a read-only directory can
/// still be filled); files get theirs. A cap violation fails the whole extract; the caller
/// discards the partial tree.
pub fn extract_tar_gz<R: Read>(input: R, dest: &Path, limits: &Limits) -> Result<ExtractStats, ArchiveError> {
    extract_tar_gz_mapped(input, dest, limits).map(|(stats, _)| stats)
}

/// [`extract_tar_gz`], also returning the archive's [`ArchiveMap`]; `None` when what follows the
/// end of the tar data could not be read as gzip members (the extract itself still succeeded).
pub fn extract_tar_gz_mapped<R: Read>(
    input: R,
    dest: &Path,
    limits: &Limits,
) -> Result<(ExtractStats, Option<ArchiveMap>), ArchiveError> {
    let ex = |entry: &str, path: &Path, source: io::Error| ArchiveError::Extract {
        entry: entry.to_string(),
        path: path.to_path_buf(),
        source,
    };
    tree::mkdir_all(dest, 0o755).map_err(|e| ex("", dest, e))?;
    let mut archive = tar::Archive::new(MemberReader::new(BufReader::with_capacity(COPY_BUF, input)));
    let mut stats = ExtractStats::default();
    let mut extents: Vec<Extent> = Vec::new();
    let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
    let mut buf = vec![0u8; COPY_BUF];
    for item in archive.entries().map_err(ArchiveError::Corrupt)? {
        let mut entry = item.map_err(ArchiveError::Corrupt)?;
        let start = extents.last().map_or(0, |e| e.range.end);
        let end = entry.raw_file_position() + entry.size().div_ceil(512) * 512;
        extents.push(Extent { range: start..end, extracted: None });
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let Some(parts) = clean_name(&raw) else {
            crate::warn!("state archive entry escapes the state directory; skipped", entry = shown);
            stats.skipped += 1;
            continue;
        };
        let Some((last, parents)) = parts.split_last() else {
            continue; // `./` itself: the destination exists already.
        };
        // Old (V7) archives mark directories only by a trailing `/` on a regular entry.
        let is_dir = kind.is_dir() || (kind.is_file() && raw.ends_with(b"/"));
        if !is_dir && !kind.is_file() {
            crate::warn!(
                "state archive entry is not a regular file or directory; skipped",
                entry = shown,
                kind = format!("{kind:?}")
            );
            stats.skipped += 1;
            continue;
        }
        let mode = entry.header().mode().unwrap_or(if is_dir { 0o755 } else { 0o644 }) & 0o7777;
        let mtime = entry.header().mtime().unwrap_or(0);
        let parents: Vec<&std::ffi::OsStr> = parents.iter().map(|c| std::ffi::OsStr::from_bytes(c)).collect();
        let parent = match tree::ensure_dirs(dest, &parents, 0o755) {
            Ok(p) => p,
            Err(ChainError::Symlink(p)) => return Err(ex(&shown, &p, io::Error::other("is a symlink"))),
            Err(ChainError::Io(p, e)) => return Err(ex(&shown, &p, e)),
        };
        let path = parent.join(std::ffi::OsStr::from_bytes(last));
        if is_dir {
            match tree::ensure_dirs(&parent, &[std::ffi::OsStr::from_bytes(last)], 0o755) {
                Ok(_) => {}
                Err(ChainError::Symlink(p)) => return Err(ex(&shown, &p, io::Error::other("is a symlink"))),
                Err(ChainError::Io(p, e)) => return Err(ex(&shown, &p, e)),
            }
            dirs.push((path, mode, mtime));
            stats.dirs += 1;
            note(&mut extents, &parts, true, 0, mode, mtime);
            continue;
        }
        let size = entry.size();
        if size > limits.state_file {
            return Err(ArchiveError::FileTooLarge { entry: shown, size, cap: limits.state_file });
        }
        if stats.bytes.saturating_add(size) > limits.state_total {
            return Err(ArchiveError::TotalTooLarge {
                entry: shown,
                total: stats.bytes.saturating_add(size),
                cap: limits.state_total,
            });
        }
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| ex(&shown, &path, e))?;
        let mut written = 0u64;
        let cap = limits.state_file;
        let mut limited = (&mut entry).take(cap + 1);
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = fs::remove_file(&path);
                    return Err(ArchiveError::Corrupt(io::Error::new(e.kind(), format!("entry {shown}: {e}"))));
                }
            };
            written += n as u64;
            if written > cap || stats.bytes + written > limits.state_total {
                let _ = fs::remove_file(&path);
                return Err(if written > cap {
                    ArchiveError::FileTooLarge { entry: shown, size: written, cap }
                } else {
                    ArchiveError::TotalTooLarge { entry: shown, total: stats.bytes + written, cap: limits.state_total }
                });
            }
            file.write_all(&buf[..n]).map_err(|e| ex(&shown, &path, e))?;
        }
        tree::set_mode(&path, mode).map_err(|e| ex(&shown, &path, e))?;
        let _ = file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime));
        stats.bytes += written;
        stats.files += 1;
        note(&mut extents, &parts, false, written, mode, mtime);
    }
    // Deepest first, so setting a parent's mtime comes after its children were created.
    for (path, mode, mtime) in dirs.iter().rev() {
        let t: SystemTime = UNIX_EPOCH + Duration::from_secs(*mtime);
        if let Ok(f) = fs::File::open(path) {
            let _ = f.set_modified(t);
        }
        tree::set_mode(path, *mode).map_err(|e| ex(&path.to_string_lossy(), path, e))?;
    }
    let map = match archive.into_inner().finish() {
        Ok(members) => Some(ArchiveMap { members, entries: extents }),
        Err(e) => {
            crate::debug!("state archive: unreadable data after the tar end", error = e);
            None
        }
    };
    Ok((stats, map))
}

/// Records what the last entry became (a name that is not UTF-8 is never in a manifest).
fn note(extents: &mut [Extent], parts: &[&[u8]], dir: bool, size: u64, mode: u32, mtime: u64) {
    let path: Result<Vec<&str>, _> = parts.iter().map(|p| std::str::from_utf8(p)).collect();
    if let (Some(last), Ok(path)) = (extents.last_mut(), path) {
        last.extracted = Some(Extracted { path: path.join("/"), dir, size, mode, mtime });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_name_rules() {
        let j = |raw: &str| {
            clean_name(raw.as_bytes())
                .map(|p| p.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("/"))
        };
        assert_eq!(j("./.the0-state/k.json").as_deref(), Some(".the0-state/k.json"));
        assert_eq!(j(".the0-state/").as_deref(), Some(".the0-state"));
        assert_eq!(j("./").as_deref(), Some(""));
        assert_eq!(j("a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(j("../x"), None);
        assert_eq!(j("a/../../x"), None);
        assert_eq!(j("/etc/passwd"), None);
    }
}
