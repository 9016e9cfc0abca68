//! Small file-system helpers shared by the state extractor and the code unzipper: creating
//! directories below a destination without ever following a symlink and emptying a directory
//! (small files are written with `the0_objstore::atomic`). Kept in one place so both extractors enforce the same rule:
//! nothing is ever written outside the destination, even through a link planted earlier.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Why a path below a destination could not be prepared.
#[derive(Debug)]
pub enum ChainError {
    /// A component exists and is a symlink: writing through it could leave the destination.
    Symlink(PathBuf),
    /// A component exists and is not a directory, or the file system failed.
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainError::Symlink(p) => write!(f, "{} is a symlink", p.display()),
            ChainError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

/// Makes sure `dest/<components...>` exists as a chain of real directories, creating missing
/// ones with `mode` (then `chmod`-ed, so the umask does not matter). Returns the full path.
pub fn ensure_dirs(dest: &Path, components: &[&std::ffi::OsStr], mode: u32) -> Result<PathBuf, ChainError> {
    let mut path = dest.to_path_buf();
    for c in components {
        path.push(c);
        match fs::symlink_metadata(&path) {
            Ok(md) if md.is_dir() => continue,
            Ok(md) if md.file_type().is_symlink() => return Err(ChainError::Symlink(path)),
            Ok(_) => {
                return Err(ChainError::Io(
                    path,
                    io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a directory"),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ChainError::Io(path, e)),
        }
        match fs::DirBuilder::new().mode(mode).create(&path) {
            Ok(()) => set_mode(&path, mode).map_err(|e| ChainError::Io(path.clone(), e))?,
            // Lost a race with another creator: fine if it is a real directory.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let md = fs::symlink_metadata(&path).map_err(|e| ChainError::Io(path.clone(), e))?;
                if !md.is_dir() {
                    return Err(ChainError::Io(path, e));
                }
            }
            Err(e) => return Err(ChainError::Io(path, e)),
        }
    }
    Ok(path)
}

/// `chmod` without following a final symlink (callers only pass real files and directories).
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// `mkdir -p` with `mode` for the directories it creates.
pub fn mkdir_all(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(mode).create(path)
}

/// Removes one entry of any kind (a directory recursively, a symlink itself). Missing is fine.
pub fn remove_any(path: &Path) -> io::Result<()> {
    let res = match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes everything inside `dir` but not `dir` itself (it may be a mount point), except the
/// entries named in `keep`. A missing `dir` is fine.
pub fn empty_dir(dir: &Path, keep: &[&str]) -> io::Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for de in rd {
        let de = de?;
        if keep.iter().any(|k| de.file_name() == *k) {
            continue;
        }
        remove_any(&de.path()).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", de.path().display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn ensure_dirs_refuses_to_pass_through_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("l")).unwrap();
        let err = ensure_dirs(d.path(), &[OsStr::new("l"), OsStr::new("x")], 0o755).unwrap_err();
        assert!(matches!(err, ChainError::Symlink(_)), "{err}");
        assert!(!outside.path().join("x").exists());
        let p = ensure_dirs(d.path(), &[OsStr::new("a"), OsStr::new("b")], 0o755).unwrap();
        assert!(p.is_dir());
        fs::write(d.path().join("f"), b"").unwrap();
        assert!(matches!(ensure_dirs(d.path(), &[OsStr::new("f"), OsStr::new("y")], 0o755), Err(ChainError::Io(..))));
    }

    #[test]
    fn empty_dir_keeps_the_dir_and_named_entries() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("f"), b"1").unwrap();
        fs::write(d.path().join("keep"), b"1").unwrap();
        std::os::unix::fs::symlink("/", d.path().join("l")).unwrap();
        empty_dir(d.path(), &["keep"]).unwrap();
        let left: Vec<_> = fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["keep"]);
        empty_dir(&d.path().join("missing"), &[]).unwrap();
    }
}
