//! File access below the local store's root that never follows a symbolic link and never opens
//! anything but a regular file (issue #10, item 1).
//!
//! Why: bot containers see their own state, log and query-result directories of the local store
//! read-write, and the orchestrator reads and writes the same files as root. A bot can plant a
//! symlink (to a host file) or a FIFO at any path component at any moment, including between two
//! of our checks, so no check-then-open on a path is safe. Instead every operation walks from the
//! root one component at a time with `openat(O_DIRECTORY | O_NOFOLLOW)`, opens the leaf relative
//! to the verified directory descriptor with `O_NOFOLLOW | O_NONBLOCK` (a FIFO cannot block us),
//! then `fstat`s the descriptor it got and refuses anything but a regular file. Writes create
//! their temp file `O_EXCL | O_NOFOLLOW` inside the directory descriptor and `renameat` it within
//! that same descriptor; a rename replaces a planted symlink instead of writing through it.
//!
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` would do the walk in one call, but needs
//! Linux 5.6 and the walk is correct everywhere, so there is one code path only. The root itself
//! is the operator's path and is opened normally.
//!
//! Hard links are not refused: a link(2) needs a path to its source, and a container only names
//! files inside its own mounts, so a hard link can only point at a file the bot could already
//! read and write.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::atomic::{DIR_MODE, FILE_MODE};

/// Why a walk or an open did not yield a usable descriptor.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Nothing there (or a path component is a regular file): the object does not exist.
    Absent,
    /// Something that is not what we need: `found` (e.g. "symbolic link") at `at` (the path below
    /// the bucket).
    NotRegular {
        found: &'static str,
        at: String,
    },
    Io(io::Error),
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Refused {
        Refused::Io(e)
    }
}

impl From<Errno> for Refused {
    fn from(e: Errno) -> Refused {
        Refused::Io(e.into())
    }
}

/// What a file type is, in words, for error messages.
pub(crate) fn kind_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symbolic link"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// What is at `name` in `dir`, without following it (`None`: nothing).
fn what_is(dir: &OwnedFd, name: &OsStr) -> Option<&'static str> {
    let fd = rustix::fs::openat(dir, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).ok()?;
    File::from(fd).metadata().ok().map(|m| kind_name(m.file_type()))
}

/// Opens the directory `root/bucket/<dirs...>` component by component, never following a link
/// below `root`. With `create`, missing directories are made (mode 0755).
pub(crate) fn open_dir(root: &Path, bucket: &str, dirs: &[&str], create: bool) -> Result<OwnedFd, Refused> {
    if create {
        std::fs::create_dir_all(root)?;
    }
    let mut fd = match rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Err(Refused::Absent),
        Err(e) => return Err(e.into()),
    };
    fd = open_subdir(&fd, OsStr::new(bucket), create, "")?;
    let mut at = String::new();
    for d in dirs {
        if !at.is_empty() {
            at.push('/');
        }
        at.push_str(d);
        fd = open_subdir(&fd, OsStr::new(d), create, &at)?;
    }
    Ok(fd)
}

fn open_subdir(dir: &OwnedFd, name: &OsStr, create: bool, at: &str) -> Result<OwnedFd, Refused> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let refuse = |found| Refused::NotRegular { found, at: at.to_owned() };
    // Bounded: each round either opens, creates, or fails; a racing remover can only make us
    // retry a few times.
    for _ in 0..8 {
        match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if create => match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(DIR_MODE)) {
                Ok(()) => {
                    let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
                    // mkdir is subject to the umask; the mode must be exact.
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(DIR_MODE))?;
                    return Ok(fd);
                }
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            },
            Err(Errno::NOENT) => return Err(Refused::Absent),
            Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                return match what_is(dir, name) {
                    None => Err(Refused::Absent),
                    // A regular file where a directory is expected: for reads, no such object.
                    Some("regular file") if !create => Err(Refused::Absent),
                    Some(found) => Err(refuse(found)),
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Refused::Io(io::Error::other("directory kept changing while being opened")))
}

/// Opens the regular file `name` in `dir` for reading, without following a link and without
/// blocking on a FIFO; anything but a regular file is refused (`at` names it in the refusal).
pub(crate) fn open_regular(dir: &OwnedFd, name: &str, at: &str) -> Result<(File, Metadata), Refused> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => checked(fd, at),
        Err(Errno::NOENT) => Err(Refused::Absent),
        Err(Errno::LOOP) => Err(Refused::NotRegular { found: "symbolic link", at: at.to_owned() }),
        Err(Errno::NXIO) | Err(Errno::OPNOTSUPP) => Err(Refused::NotRegular {
            found: what_is(dir, OsStr::new(name)).unwrap_or("special file"),
            at: at.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Opens (creating if needed, mode 0644) the regular file `name` in `dir` for appending.
pub(crate) fn open_append(dir: &OwnedFd, name: &str, at: &str) -> Result<File, Refused> {
    let flags =
        OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(FILE_MODE)) {
        Ok(fd) => {
            let (file, _) = checked(fd, at)?;
            // Clear O_NONBLOCK again (it only mattered for the open of a FIFO).
            rustix::fs::fcntl_setfl(file.as_fd(), OFlags::APPEND)?;
            Ok(file)
        }
        Err(Errno::LOOP) => Err(Refused::NotRegular { found: "symbolic link", at: at.to_owned() }),
        Err(Errno::NXIO) | Err(Errno::ISDIR) | Err(Errno::OPNOTSUPP) => Err(Refused::NotRegular {
            found: what_is(dir, OsStr::new(name)).unwrap_or("special file"),
            at: at.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

fn checked(fd: OwnedFd, at: &str) -> Result<(File, Metadata), Refused> {
    let file = File::from(fd);
    let m = file.metadata()?;
    if !m.file_type().is_file() {
        return Err(Refused::NotRegular { found: kind_name(m.file_type()), at: at.to_owned() });
    }
    Ok((file, m))
}

/// What is at `name` in `dir`, not following a link: `Ok(None)` when nothing is.
pub(crate) fn stat_nofollow(dir: &OwnedFd, name: &str) -> Result<Option<Metadata>, Refused> {
    match rustix::fs::openat(dir, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(Some(File::from(fd).metadata()?)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes `name` from `dir` (never a directory); absent is fine.
pub(crate) fn unlink(dir: &OwnedFd, name: &str) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A temp file created `O_EXCL | O_NOFOLLOW` in a directory descriptor; removed when dropped
/// unless [`TempAt::commit`] renamed it over its target.
pub(crate) struct TempAt {
    dir: Arc<OwnedFd>,
    name: Option<String>,
}

impl TempAt {
    /// Creates a new temp file for the object `leaf` in `dir` (mode 0644, not subject to umask).
    pub(crate) fn create(dir: Arc<OwnedFd>, leaf: &str) -> io::Result<(TempAt, File)> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..8 {
            let temp = crate::atomic::temp_path(Path::new(leaf))?;
            let name = temp.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
            let name = String::from_utf8_lossy(&name).into_owned();
            match rustix::fs::openat(&*dir, name.as_str(), flags, Mode::from_raw_mode(FILE_MODE)) {
                Ok(fd) => {
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(FILE_MODE))?;
                    return Ok((TempAt { dir, name: Some(name) }, File::from(fd)));
                }
                // A bot planted something at the name we picked: pick another.
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "could not create a temp file"))
    }

    /// The directory descriptor the temp file was made in.
    pub(crate) fn dir(&self) -> Arc<OwnedFd> {
        self.dir.clone()
    }

    /// Renames the temp file (which the caller has fsynced) over `leaf` within the same directory
    /// descriptor, then fsyncs the directory: the same guarantees as [`crate::atomic`].
    pub(crate) fn commit(mut self, leaf: &str) -> io::Result<()> {
        if let Some(name) = self.name.as_deref() {
            rustix::fs::renameat(&*self.dir, name, &*self.dir, leaf)?;
        }
        self.name = None;
        rustix::fs::fsync(&*self.dir)?;
        Ok(())
    }
}

impl Drop for TempAt {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = rustix::fs::unlinkat(&*self.dir, name.as_str(), AtFlags::empty());
        }
    }
}

/// An exclusive `flock` of a directory, released when dropped. Conditional writes of the local
/// store hold it across their check and their rename, so two of them (in any processes sharing
/// the directory) cannot both see the old version and both replace it.
pub(crate) struct DirLock<'a>(&'a OwnedFd);

impl Drop for DirLock<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(self.0, rustix::fs::FlockOperation::Unlock);
    }
}

/// Tries to take [`DirLock`] on `dir` without waiting: `None` while another holds it.
pub(crate) fn try_lock_dir(dir: &OwnedFd) -> io::Result<Option<DirLock<'_>>> {
    match rustix::fs::flock(dir, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(DirLock(dir))),
        Err(Errno::WOULDBLOCK) | Err(Errno::INTR) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One entry met while listing a directory descriptor.
pub(crate) enum Entry {
    File { name: String, meta: Metadata },
    Dir { name: String, fd: OwnedFd },
}

/// The regular files and real subdirectories of `dir` (links, special files, names that are
/// not UTF-8 and entries removed meanwhile are skipped).
pub(crate) fn entries(dir: &OwnedFd) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in rustix::fs::Dir::read_from(dir)? {
        let e = e?;
        let raw = e.file_name().to_bytes();
        if raw == b"." || raw == b".." {
            continue;
        }
        let Ok(name) = std::str::from_utf8(raw) else { continue };
        let Ok(Some(m)) = stat_nofollow(dir, name) else { continue };
        if m.file_type().is_file() {
            out.push(Entry::File { name: name.to_owned(), meta: m });
        } else if m.file_type().is_dir() {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            if let Ok(fd) = rustix::fs::openat(dir, name, flags, Mode::empty()) {
                out.push(Entry::Dir { name: name.to_owned(), fd });
            }
        }
    }
    Ok(out)
}
