//! Atomic file replacement, shared by the local backend (every write) and the S3 backend
//! (`get_to_file`): write a hidden temp file in the target's own directory, fsync, rename.
//!
//! The temp file lives beside the target because in production a container sees only bind mounts
//! of its own subdirectories: a rename across directories could cross a mount, and the bucket
//! root may not be writable. A guard removes the temp file on every failure path, including a
//! dropped future (timeout, cancellation).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};

pub(crate) const FILE_MODE: u32 = 0o644;
pub(crate) const DIR_MODE: u32 = 0o755;

/// Longest part of the target's name kept in a temp name (stays well under NAME_MAX = 255).
const TEMP_NAME_KEEP: usize = 200;
/// Copy buffer: large enough that a multi-GB copy is not thousands of tiny blocking writes.
const COPY_BUF: usize = 256 * 1024;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.<name>.tmp-<pid>-<counter>` in the directory of `target`.
pub(crate) fn temp_path(target: &Path) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "target has no file name"))?
        .to_string_lossy();
    let mut end = name.len().min(TEMP_NAME_KEEP);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = format!(".{}.tmp-{}-{}", &name[..end], std::process::id(), n);
    Ok(target.with_file_name(temp))
}

/// Whether a file name has the shape of [`temp_path`]'s names (listings skip them).
pub(crate) fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((_, tail)) = rest.rsplit_once(".tmp-") else {
        return false;
    };
    let Some((pid, n)) = tail.split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(pid) && digits(n)
}

/// Removes the temp file when dropped, unless disarmed (set to `None`) after the rename.
pub(crate) struct TempGuard(pub(crate) Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Creates `dir` and its missing ancestors with mode 0755 (not subject to the umask). Existing
/// directories are left alone, so a read-only parent of an existing directory is no obstacle.
pub(crate) async fn make_dirs(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir;
    loop {
        match tokio::fs::metadata(cur).await {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} exists and is not a directory", cur.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(cur.to_path_buf()),
            Err(e) => return Err(e),
        }
        match cur.parent() {
            Some(p) if !p.as_os_str().is_empty() => cur = p,
            _ => break,
        }
    }
    for d in missing.iter().rev() {
        let mut b = tokio::fs::DirBuilder::new();
        b.mode(DIR_MODE);
        match b.create(d).await {
            Ok(()) => tokio::fs::set_permissions(d, std::fs::Permissions::from_mode(DIR_MODE)).await?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes everything `reader` yields to `target` atomically (mode 0644), creating the parent
/// directory if needed. Returns the metadata of the written file (taken before the rename, so it
/// is this write's even if another writer replaces the target right after). On any error the
/// target is untouched.
pub(crate) async fn write_atomic<R: AsyncRead + Unpin + ?Sized>(
    target: &Path,
    reader: &mut R,
) -> io::Result<std::fs::Metadata> {
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        make_dirs(parent).await?;
    }
    let temp = temp_path(target)?;
    let mut file = tokio::fs::OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(&temp).await?;
    let mut guard = TempGuard(Some(temp));
    let mut reader = BufReader::with_capacity(COPY_BUF, reader);
    tokio::io::copy_buf(&mut reader, &mut file).await?;
    file.flush().await?;
    file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE)).await?;
    file.sync_all().await?;
    let written = file.metadata().await?;
    drop(file);
    if let Some(temp) = guard.0.as_deref() {
        tokio::fs::rename(temp, target).await?;
    }
    guard.0 = None;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognised() {
        let p = temp_path(Path::new("/x/y/state.tar.gz")).expect("temp path");
        assert_eq!(p.parent(), Some(Path::new("/x/y")));
        let name = p.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        assert!(name.starts_with(".state.tar.gz.tmp-"), "{name}");
        assert!(is_temp_name(name));
        for not_temp in ["state.tar.gz", ".the0-state", ".a.tmp-", ".a.tmp-1-", ".a.tmp-x-1", "a.tmp-1-2"] {
            assert!(!is_temp_name(not_temp), "{not_temp}");
        }
    }

    #[test]
    fn long_names_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let p = temp_path(Path::new(&long)).expect("temp path");
        let name = p.to_str().expect("utf-8");
        assert!(name.len() < 255, "{}", name.len());
        assert!(is_temp_name(name));
    }
}
