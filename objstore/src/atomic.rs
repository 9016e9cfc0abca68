//! The one atomic file write of the workspace: a new temp file beside the target, written,
//! fsynced, renamed over the target, then the directory fsynced. A crash leaves either the old or
//! the new content under the target's name, never a torn one, and once the write has returned the
//! new content survives a power loss. Every caller uses it: the local backend's temp names and the
//! S3 backend's `get_to_file` (here), the executor's small run-dir files (markers, the done file,
//! the log offset) and the orchestrator's scoped-credentials files.
//!
//! Links are never followed into: the temp file is created `O_CREAT | O_EXCL | O_NOFOLLOW` (a
//! link or anything else planted at its name is an error, and another name is tried), and the
//! rename replaces a link at the target instead of writing through it. Bots are hostile and share
//! some of these directories, so nothing they control is opened following a link. (The local
//! backend walks below its root with directory descriptors, `beneath.rs`, using the names and
//! modes defined here.)
//!
//! The temp file lives beside the target because in production a container sees only bind mounts
//! of its own subdirectories: a rename across directories could cross a mount, and the bucket
//! root may not be writable. [`AtomicFile::create_in`] puts it in another directory of the same
//! file system instead, for a target whose directory a container can see (the half-written file is
//! then never visible there). A guard removes the temp file on every failure path, including a
//! dropped future (timeout, cancellation).

use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};

/// Mode of the files the object store writes (not subject to the umask).
pub const FILE_MODE: u32 = 0o644;
/// Mode of the directories the object store creates (not subject to the umask).
pub const DIR_MODE: u32 = 0o755;

/// Longest part of the target's name kept in a temp name (stays well under NAME_MAX = 255).
const TEMP_NAME_KEEP: usize = 200;
/// Copy buffer: large enough that a multi-GB copy is not thousands of tiny blocking writes.
const COPY_BUF: usize = 256 * 1024;
/// Temp names tried before giving up when something already sits at each one.
const TEMP_TRIES: usize = 8;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.<name>.tmp-<pid>-<counter>` for the target name `name`: unique within this process.
pub fn temp_name(name: &str) -> String {
    let mut end = name.len().min(TEMP_NAME_KEEP);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{}.tmp-{}-{}", &name[..end], std::process::id(), n)
}

/// [`temp_name`] of `target`'s file name, in `target`'s directory.
pub(crate) fn temp_path(target: &Path) -> io::Result<PathBuf> {
    Ok(target.with_file_name(temp_name(&file_name(target)?)))
}

fn file_name(target: &Path) -> io::Result<String> {
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "target has no file name"))
}

/// Whether a file name has the shape of [`temp_name`]'s names (listings skip them).
pub fn is_temp_name(name: &str) -> bool {
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
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A temp file that becomes `target` on [`AtomicFile::commit`], or disappears when dropped.
pub struct AtomicFile {
    file: File,
    guard: TempGuard,
    target: PathBuf,
    mode: u32,
}

impl AtomicFile {
    /// A new temp file beside `target` (its directory must exist), to get `mode` exactly.
    pub fn create(target: &Path, mode: u32) -> io::Result<AtomicFile> {
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        AtomicFile::create_in(dir, target, mode)
    }

    /// A new temp file in `temp_dir`, which must be on `target`'s file system.
    pub fn create_in(temp_dir: &Path, target: &Path, mode: u32) -> io::Result<AtomicFile> {
        let name = file_name(target)?;
        let mut last = None;
        for _ in 0..TEMP_TRIES {
            let temp = temp_dir.join(temp_name(&name));
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc_flags::NOFOLLOW | libc_flags::CLOEXEC)
                .open(&temp);
            match opened {
                Ok(file) => {
                    return Ok(AtomicFile { file, guard: TempGuard(Some(temp)), target: target.to_path_buf(), mode })
                }
                // Something (perhaps planted) sits at the name: pick another.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "could not create a temp file")))
    }

    /// The temp file, to write the new content into.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Sets the mode (the umask may have narrowed it), fsyncs the file, renames it over the
    /// target and fsyncs the target's directory. Returns the metadata of the written file (taken
    /// before the rename, so it is this write's even if another writer replaces the target right
    /// after). On any error the target is untouched and the temp file removed.
    pub fn commit(mut self) -> io::Result<Metadata> {
        self.file.flush()?;
        self.file.set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        self.file.sync_all()?;
        let written = self.file.metadata()?;
        if let Some(temp) = self.guard.0.as_deref() {
            std::fs::rename(temp, &self.target)?;
        }
        self.guard.0 = None;
        sync_dir(self.target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
        Ok(written)
    }
}

/// fsync of a directory, so a rename (or a new entry) in it survives a power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The open(2) flags `std` has no name for (values of Linux, the only platform the0 runs on).
mod libc_flags {
    pub const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    pub const CLOEXEC: i32 = rustix::fs::OFlags::CLOEXEC.bits() as i32;
}

/// Writes `contents` to `target` atomically with `mode` (the directory must exist).
pub fn write_file(target: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut f = AtomicFile::create(target, mode)?;
    f.file().write_all(contents)?;
    f.commit().map(drop)
}

/// Writes `contents` to `target` atomically with `mode`, through a temp file in `temp_dir` (on
/// the same file system): for a target in a directory someone else watches.
pub fn write_file_via(temp_dir: &Path, target: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut f = AtomicFile::create_in(temp_dir, target, mode)?;
    f.file().write_all(contents)?;
    f.commit().map(drop)
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

/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

/// Writes everything `reader` yields to `target` atomically (mode 0644), creating the parent
/// directory if needed. Returns the metadata of the written file (see [`AtomicFile::commit`]).
/// On any error, or if the future is dropped before the end, the target is untouched.
pub(crate) async fn write_stream<R: AsyncRead + Unpin + ?Sized>(target: &Path, reader: &mut R) -> io::Result<Metadata> {
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        make_dirs(parent).await?;
    }
    let t = target.to_path_buf();
    let mut temp = blocking(move || AtomicFile::create(&t, FILE_MODE)).await?;
    // A second descriptor of the same open file for the async copy; `temp` keeps the guard.
    let mut file = tokio::fs::File::from_std(temp.file().try_clone()?);
    let mut reader = BufReader::with_capacity(COPY_BUF, reader);
    tokio::io::copy_buf(&mut reader, &mut file).await?;
    file.flush().await?;
    drop(file);
    blocking(move || temp.commit()).await
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

    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_replace_with_the_exact_mode_and_leave_no_temp() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("k");
        for (contents, mode) in [(&b"one"[..], 0o600), (b"two", 0o644), (b"", 0o640)] {
            write_file(&p, contents, mode).expect("write");
            assert_eq!(std::fs::read(&p).expect("read"), contents);
            let m = std::fs::metadata(&p).expect("stat");
            assert_eq!(m.permissions().mode() & 0o777, mode);
            assert_eq!(names_in(d.path()), ["k"]);
        }
    }

    #[test]
    fn a_link_at_the_target_is_replaced_not_written_through() {
        let d = tempfile::tempdir().expect("tempdir");
        let outside = d.path().join("outside");
        std::fs::write(&outside, b"host file").expect("write");
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).expect("mkdir");
        std::os::unix::fs::symlink(&outside, sub.join("k")).expect("symlink");
        write_file(&sub.join("k"), b"new", 0o644).expect("write");
        assert_eq!(std::fs::read(&outside).expect("read"), b"host file");
        let m = std::fs::symlink_metadata(sub.join("k")).expect("stat");
        assert!(m.file_type().is_file());
    }

    #[test]
    fn a_temp_file_is_dropped_when_not_committed() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("k");
        let mut f = AtomicFile::create(&p, 0o644).expect("create");
        f.file().write_all(b"half").expect("write");
        drop(f);
        assert!(names_in(d.path()).is_empty());
    }

    #[test]
    fn write_via_another_directory_leaves_nothing_there() {
        let d = tempfile::tempdir().expect("tempdir");
        let (tmp, dir) = (d.path().join("tmp"), d.path().join("dir"));
        std::fs::create_dir(&tmp).expect("mkdir");
        std::fs::create_dir(&dir).expect("mkdir");
        write_file_via(&tmp, &dir.join("k"), b"x", 0o644).expect("write");
        assert_eq!(names_in(&dir), ["k"]);
        assert!(names_in(&tmp).is_empty());
    }

    #[test]
    fn a_missing_directory_is_an_error_and_leaves_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let err = write_file(&d.path().join("no/k"), b"x", 0o644).expect_err("no dir");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(names_in(d.path()).is_empty());
    }

    #[tokio::test]
    async fn streams_create_their_directories() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("a/b/k");
        let m = write_stream(&p, &mut &b"streamed"[..]).await.expect("write");
        assert_eq!(m.len(), 8);
        assert_eq!(std::fs::read(&p).expect("read"), b"streamed");
        assert_eq!(names_in(&d.path().join("a/b")), ["k"]);
    }
}
