//! The state archive format (CONTRACT §2.8): gzip(tar) of the contents of `STATE_PATH`.
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
use super::fingerprint::{Kind, Manifest};

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
/// must have been scanned from `root`), to `out`. Returns after the gzip trailer is flushed.
pub fn write_tar_gz<W: Write>(root: &Path, manifest: &Manifest, out: W) -> Result<ArchiveStats, ArchiveError> {
    let mut builder = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    let mut stats = ArchiveStats::default();
    let mut buf = vec![0u8; COPY_BUF];
    for (rel, entry) in manifest.entries() {
        let mtime = u64::try_from(entry.mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0);
        match entry.kind {
            Kind::Dir => {
                let header = header_for(&mut builder, rel, EntryType::Directory, entry.mode, mtime, 0)?;
                builder.get_mut().write_all(header.as_bytes()).map_err(ArchiveError::Write)?;
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
                let header = header_for(&mut builder, rel, EntryType::Regular, entry.mode, mtime, size)?;
                let w = builder.get_mut();
                w.write_all(header.as_bytes()).map_err(ArchiveError::Write)?;
                copy_exact(file, size, w, &mut buf).map_err(|e| match e {
                    CopyError::Read(source) => ArchiveError::ReadFile { path: path.clone(), source },
                    CopyError::Write(e) => ArchiveError::Write(e),
                })?;
                pad_block(w, size).map_err(ArchiveError::Write)?;
                stats.files += 1;
                stats.content_bytes += size;
            }
            Kind::Symlink | Kind::Other => {
                crate::info!("state entry is not a regular file or directory; left out of the archive", entry = rel);
                stats.skipped += 1;
            }
        }
    }
    let gz = builder.into_inner().map_err(ArchiveError::Write)?;
    let mut out = gz.finish().map_err(ArchiveError::Write)?;
    out.flush().map_err(ArchiveError::Write)?;
    Ok(stats)
}

/// A ustar header for `name`; first appends a PAX record to `builder` if the name (or size)
/// does not fit ustar, leaving a truncated name in the header for old readers.
fn header_for<W: Write>(
    builder: &mut tar::Builder<W>,
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
        builder.append_pax_extensions(pax).map_err(ArchiveError::Write)?;
    }
    header.set_cksum();
    Ok(header)
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
