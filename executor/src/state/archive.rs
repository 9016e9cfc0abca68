//! The state archive format (docs/contract.md §2.8): gzip(tar) of the contents of `STATE_PATH`.
//!
//! The gzip stream is a concatenation of independent members (RFC 1952 §2.2: a gzip file is a
//! series of members; GNU tar/gzip, Python's `gzip`/`tarfile`, Node's zlib and our extractor
//! read them as one stream): one member per segment of the tree ([`super::segment`]) and a last
//! member with the end-of-archive blocks. Members carry no timestamp, so a segment whose files are
//! unchanged compresses to the same bytes, and the incremental upload reuses them in place.
//!
//! Writing follows a [`Manifest`] so the archive is exactly the snapshot the syncer remembers,
//! and stays valid while the bot keeps writing: every file contributes exactly the size in its
//! header (truncated if it grew, zero-padded if it shrank). Names that do not fit ustar get a
//! PAX `path` record (never GNU long names), as the0's API (node-tar) expects.
//!
//! Extraction lives in [`super::extract`] and is re-exported here.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use tar::{EntryType, Header};

pub use super::extract::{extract_tar_gz, ExtractStats};
use super::fingerprint::{Entry, Kind, Manifest};
use super::segment;

/// Largest size a ustar header holds in octal (8 GiB - 1); above it a PAX `size` record is added.
const USTAR_MAX_SIZE: u64 = 0o777_7777_7777;
const COPY_BUF: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading state file {path}: {source}")]
    ReadFile { path: PathBuf, source: io::Error },
    #[error("writing the state archive: {0}")]
    Write(#[source] io::Error),
    #[error("reading the state archive: {0}")]
    Corrupt(#[source] io::Error),
    #[error("state archive entry {entry}: {size} bytes exceeds the per-file limit of {cap} bytes")]
    FileTooLarge { entry: String, size: u64, cap: u64 },
    #[error("state archive entry {entry}: total state size {total} bytes exceeds the limit of {cap} bytes")]
    TotalTooLarge { entry: String, total: u64, cap: u64 },
    #[error("extracting state archive entry {entry} to {path}: {source}")]
    Extract { entry: String, path: PathBuf, source: io::Error },
}

/// What [`write_tar_gz`] put into the archive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    pub files: u64,
    pub dirs: u64,
    /// Entries left out: symlinks, special files, files that vanished before they were opened.
    pub skipped: u64,
    /// Content bytes written (the sum of the header sizes of the files).
    pub content_bytes: u64,
}

/// Writes gzip(tar) of the contents of `root`, entry by entry as listed in `manifest` (which
/// must have been scanned from `root`), to `out`, as one gzip member per segment
/// ([`segment::cut`]) and a last member holding the end-of-archive blocks. Returns after the last
/// member is flushed, with the compressed length of each segment's member.
pub fn write_tar_gz<W: Write>(root: &Path, manifest: &Manifest, out: W) -> Result<Written, ArchiveError> {
    let entries = manifest.entries();
    let mut out = Counting { inner: out, count: 0 };
    let mut written = Written::default();
    for range in segment::cut(entries) {
        let before = out.count;
        out = write_member(root, &entries[range], out, &mut written.stats)?;
        written.members.push(out.count - before);
    }
    let mut out = write_end(out)?;
    out.flush().map_err(ArchiveError::Write)?;
    Ok(written)
}

/// What [`write_tar_gz`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub stats: ArchiveStats,
    /// Compressed length of each segment's gzip member, in order (the end member not included).
    pub members: Vec<u64>,
}

/// A writer that counts what passes through.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The gzip member that ends every archive: tar's two zero blocks. Always the same bytes.
pub fn write_end<W: Write>(out: W) -> Result<W, ArchiveError> {
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&[0u8; 1024]).map_err(ArchiveError::Write)?;
    gz.finish().map_err(ArchiveError::Write)
}

/// Writes one gzip member holding the tar entries `entries` (consecutive entries of a manifest
/// scanned from `root`), without end-of-archive blocks. The gzip header carries no time or name,
/// so the same files give the same bytes. Every file contributes exactly the size in its entry.
pub fn write_member<W: Write>(
    root: &Path,
    entries: &[(String, Entry)],
    out: W,
    stats: &mut ArchiveStats,
) -> Result<W, ArchiveError> {
    let mut w = GzEncoder::new(out, Compression::default());
    let mut buf = vec![0u8; COPY_BUF];
    for (rel, entry) in entries {
        let mtime = u64::try_from(entry.mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0);
        match entry.kind {
            Kind::Dir => {
                let header = header_for(&mut w, rel, EntryType::Directory, entry.mode, mtime, 0)?;
                w.write_all(header.as_bytes()).map_err(ArchiveError::Write)?;
                stats.dirs += 1;
            }
            Kind::File => {
                let path = root.join(rel);
                // O_NOFOLLOW: the entry may have been swapped for a symlink since the scan.
                let file = match fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                    .open(&path)
                {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => {
                        crate::debug!("state file vanished before archiving; left out", file = rel);
                        stats.skipped += 1;
                        continue;
                    }
                    Err(source) => return Err(ArchiveError::ReadFile { path, source }),
                };
                match file.metadata() {
                    Ok(md) if md.is_file() => {}
                    Ok(_) => {
                        crate::warn!("state entry is no longer a regular file; left out", file = rel);
                        stats.skipped += 1;
                        continue;
                    }
                    Err(source) => return Err(ArchiveError::ReadFile { path, source }),
                }
                let size = entry.size;
                let header = header_for(&mut w, rel, EntryType::Regular, entry.mode, mtime, size)?;
                w.write_all(header.as_bytes()).map_err(ArchiveError::Write)?;
                copy_exact(file, size, &mut w, &mut buf).map_err(|e| match e {
                    CopyError::Read(source) => ArchiveError::ReadFile { path: path.clone(), source },
                    CopyError::Write(e) => ArchiveError::Write(e),
                })?;
                pad_block(&mut w, size).map_err(ArchiveError::Write)?;
                stats.files += 1;
                stats.content_bytes += size;
            }
            Kind::Symlink | Kind::Other => {
                crate::info!("state entry is not a regular file or directory; left out of the archive", entry = rel);
                stats.skipped += 1;
            }
        }
    }
    w.finish().map_err(ArchiveError::Write)
}

/// A ustar header for `name`; first writes a PAX record to `w` if the name (or size) does not
/// fit ustar, leaving a truncated name in the header for old readers.
fn header_for<W: Write>(
    w: &mut W,
    name: &str,
    kind: EntryType,
    mode: u32,
    mtime: u64,
    size: u64,
) -> Result<Header, ArchiveError> {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode & 0o7777);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    let size_text = size.to_string();
    let mut pax: Vec<(&str, &[u8])> = Vec::new();
    let fits = header.as_ustar_mut().is_some_and(|u| set_ustar_name(&mut u.name, &mut u.prefix, name.as_bytes()));
    if !fits {
        pax.push(("path", name.as_bytes()));
    }
    if size > USTAR_MAX_SIZE {
        pax.push(("size", size_text.as_bytes()));
    }
    if !pax.is_empty() {
        write_pax(w, &pax).map_err(ArchiveError::Write)?;
    }
    header.set_cksum();
    Ok(header)
}

/// A PAX extended header entry (type `x`) holding `records`, as tar's `append_pax_extensions`
/// writes it (that one needs a `tar::Builder`, which always ends its stream with end blocks).
fn write_pax<W: Write>(w: &mut W, records: &[(&str, &[u8])]) -> io::Result<()> {
    let mut data = Vec::new();
    for (key, value) in records {
        // "<len> <key>=<value>\n", where <len> counts itself.
        let rest = 3 + key.len() + value.len();
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {key}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut header = Header::new_ustar();
    header.set_size(data.len() as u64);
    header.set_entry_type(EntryType::XHeader);
    header.set_cksum();
    w.write_all(header.as_bytes())?;
    w.write_all(&data)?;
    pad_block(w, data.len() as u64)
}

/// Stores `name` in ustar's name (100) + prefix (155) fields split at a `/`. If it cannot fit,
/// stores a truncated name (at a UTF-8 boundary) and returns false.
fn set_ustar_name(field: &mut [u8; 100], prefix: &mut [u8; 155], name: &[u8]) -> bool {
    if name.len() <= field.len() {
        field[..name.len()].copy_from_slice(name);
        return true;
    }
    let limit = name.len().min(prefix.len() + 1);
    if let Some(i) = name[..limit].iter().rposition(|&b| b == b'/') {
        let rest = &name[i + 1..];
        if !rest.is_empty() && rest.len() <= field.len() {
            prefix[..i].copy_from_slice(&name[..i]);
            field[..rest.len()].copy_from_slice(rest);
            return true;
        }
    }
    let mut cut = field.len();
    while cut > 0 && (name[cut] & 0b1100_0000) == 0b1000_0000 {
        cut -= 1;
    }
    field[..cut].copy_from_slice(&name[..cut]);
    false
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies exactly `size` bytes: at most `size` from `src`, then zeros if it ended early.
fn copy_exact(mut src: fs::File, size: u64, dst: &mut impl Write, buf: &mut [u8]) -> Result<(), CopyError> {
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match src.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
        left -= n as u64;
    }
    if left > 0 {
        buf.fill(0);
        while left > 0 {
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
            left -= n as u64;
        }
    }
    Ok(())
}

fn pad_block(dst: &mut impl Write, size: u64) -> io::Result<()> {
    let rem = (size % 512) as usize;
    if rem != 0 {
        dst.write_all(&[0u8; 512][..512 - rem])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ustar_name_split_and_truncation() {
        let (mut n, mut p) = ([0u8; 100], [0u8; 155]);
        let long = format!("{}/{}", "d".repeat(150), "f".repeat(99));
        assert!(set_ustar_name(&mut n, &mut p, long.as_bytes()));
        assert_eq!(&p[..150], "d".repeat(150).as_bytes());
        let (mut n, mut p) = ([0u8; 100], [0u8; 155]);
        let too_long = "é".repeat(120);
        assert!(!set_ustar_name(&mut n, &mut p, too_long.as_bytes()));
        let end = n.iter().position(|&b| b == 0).unwrap_or(100);
        assert!(std::str::from_utf8(&n[..end]).is_ok());
    }
}
