//! A cheap fingerprint of the state tree: one `lstat` per entry, no content hashing (D7).
//!
//! The syncer uploads only when the manifest differs from the one it last uploaded (or the one
//! scanned right after restore), and the archive writer uses the manifest as its exact list of
//! entries and sizes, so what is uploaded and what is remembered are the same snapshot.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What kind of file system object an entry is (symlinks are never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    /// FIFOs, sockets, devices: counted as "non-directory" but never archived.
    Other,
}

/// One entry of the tree, as `lstat` saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Bytes for files (and symlinks: the target's length); 0 for directories.
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

/// Every entry below a root, keyed by relative `/`-separated path, in depth-first lexical order
/// (each directory's children sorted by name, a directory before its contents).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<(String, Entry)>,
}

impl Entry {
    fn from_metadata(md: &fs::Metadata) -> Entry {
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        };
        Entry {
            kind,
            size: if kind == Kind::Dir { 0 } else { md.size() },
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            mode: md.mode() & 0o7777,
        }
    }
}

/// Whether an error means "it vanished while we looked", which a scan of a live tree tolerates.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

impl Manifest {
    /// Walks `root` (not following symlinks below it). A missing root is an empty manifest;
    /// entries that disappear during the walk are left out. Names that are not UTF-8 cannot be
    /// named in a PAX archive read by the0's API, so they are left out with a warning.
    pub fn scan(root: &Path) -> io::Result<Manifest> {
        let mut manifest = Manifest::default();
        match fs::metadata(root) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a directory", root.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(manifest),
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", root.display()))),
        }
        walk(root, "", &mut manifest.entries)?;
        Ok(manifest)
    }

    /// A manifest from explicit entries (sorted into walk order); for tests and callers that
    /// already know the tree.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, Entry)>) -> Manifest {
        let mut entries: Vec<(String, Entry)> = entries.into_iter().collect();
        entries.sort_by(|a, b| walk_order(&a.0, &b.0));
        Manifest { entries }
    }

    /// All entries in walk order.
    pub fn entries(&self) -> &[(String, Entry)] {
        &self.entries
    }

    /// The entry at a relative path.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|(p, _)| p == path).map(|(_, e)| e)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// At least one non-directory entry (the upload condition of docs/contract.md §2.8).
    pub fn has_files(&self) -> bool {
        self.entries.iter().any(|(_, e)| e.kind != Kind::Dir)
    }

    /// Number of regular files (what an archive will carry).
    pub fn file_count(&self) -> usize {
        self.files().count()
    }

    /// Sum of the sizes of the regular files.
    pub fn total_file_size(&self) -> u64 {
        self.files().map(|(_, size)| size).sum()
    }

    /// The largest regular file and its size (the first in walk order on ties).
    pub fn largest_file(&self) -> Option<(&str, u64)> {
        self.files().fold(None, |best, (p, s)| match best {
            Some((_, bs)) if bs >= s => best,
            _ => Some((p, s)),
        })
    }

    fn files(&self) -> impl Iterator<Item = (&str, u64)> {
        self.entries.iter().filter(|(_, e)| e.kind == Kind::File).map(|(p, e)| (p.as_str(), e.size))
    }
}

/// Depth-first lexical order on relative paths: compare component by component, so `a` and
/// everything below it come before `a-b` (as a sorted directory walk would produce).
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, Entry)>) -> io::Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if vanished(&e) && !prefix.is_empty() => return Ok(()),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
    };
    let mut children: Vec<(String, fs::DirEntry)> = Vec::new();
    for de in rd {
        let de = match de {
            Ok(de) => de,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
        };
        match de.file_name().into_string() {
            Ok(name) => children.push((name, de)),
            Err(raw) => crate::warn!(
                "state entry with a non-UTF-8 name left out",
                dir = dir.display(),
                name = raw.to_string_lossy()
            ),
        }
    }
    children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, de) in children {
        // DirEntry::metadata is an lstat (fstatat with AT_SYMLINK_NOFOLLOW) on Unix.
        let md = match de.metadata() {
            Ok(md) => md,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", de.path().display()))),
        };
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let entry = Entry::from_metadata(&md);
        if entry.kind == Kind::Dir {
            out.push((rel.clone(), entry));
            walk(&de.path(), &rel, out)?;
        } else {
            out.push((rel, entry));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_order_puts_directories_before_siblings_with_longer_names() {
        let m = Manifest::from_entries(
            ["a-b", "a/x", "a", "b", "a/x/y", ".the0-state"]
                .map(|p| (p.to_string(), Entry { kind: Kind::File, size: 1, mtime_ns: 0, mode: 0o644 })),
        );
        let names: Vec<&str> = m.entries().iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, [".the0-state", "a", "a/x", "a/x/y", "a-b", "b"]);
    }

    #[test]
    fn missing_root_is_empty_and_a_file_root_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Manifest::scan(&dir.path().join("nope")).unwrap().is_empty());
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert!(Manifest::scan(&dir.path().join("f")).is_err());
    }
}
