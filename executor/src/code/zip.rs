//! Safe extraction of a bot's code zip into `CODE_PATH` (docs/contract.md §2.7 step 2, D16, D17).
//!
//! Entries are written in central-directory order. Nothing is ever written outside the
//! destination: names are cleaned lexically and skipped if they escape, and no entry is written
//! through an existing symlink. Files go to a temp name beside the target and are renamed over
//! it, so a running binary is replaced rather than rewritten in place (no ETXTBSY). The declared
//! uncompressed total is checked before anything is written and the real bytes are counted too.

use std::fs;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::CodeError;
use crate::state::tree::{self, ChainError};

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;
/// Longest symlink target accepted.
const MAX_LINK: u64 = 4096;

/// What [`extract_zip`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Uncompressed bytes written.
    pub bytes: u64,
    /// Entries left out (escaping names, links leaving the tree, special files).
    pub skipped: u64,
}

/// Cleans an entry name into path components below the destination: `\` counts as a separator,
/// `.` and empty components go, `..` pops. `None` if it is absolute, names a drive (`C:`),
/// contains NUL or climbs above the destination.
pub fn clean_entry_name(name: &str) -> Option<Vec<String>> {
    let name = name.replace('\\', "/");
    if name.starts_with('/') || name.contains('\0') {
        return None;
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c.to_string()),
        }
    }
    Some(parts)
}

/// Whether `target`, read relative to the directory `parent` (components below the destination),
/// stays inside `dest` lexically. An absolute target must lie under `dest` itself.
fn link_stays_inside(dest: &Path, parent: &[String], target: &str) -> bool {
    let mut stack: Vec<String> = Vec::new();
    let rel = if target.starts_with('/') {
        match Path::new(target).strip_prefix(dest) {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => return false,
        }
    } else {
        stack.extend(parent.iter().cloned());
        PathBuf::from(target)
    };
    // A `..` after a name of the target itself is refused: that name may be another link of the
    // same zip (`q -> .`, `r -> q/../gone`), which lexical resolution gets wrong (found by the
    // fuzz target `code_zip`). Leading `..`s climb the link's own real parent directories.
    let mut named = false;
    for c in rel.components() {
        match c {
            Component::Normal(s) => {
                named = true;
                stack.push(s.to_string_lossy().into_owned())
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if named || stack.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn entry_io(entry: &str) -> impl FnOnce(io::Error) -> CodeError + '_ {
    move |source| CodeError::Entry { entry: entry.to_string(), source }
}

fn chain_err(entry: &str, e: ChainError) -> CodeError {
    let source = match e {
        ChainError::Symlink(p) => io::Error::other(format!("{} is a symlink", p.display())),
        ChainError::Io(p, e) => io::Error::new(e.kind(), format!("{}: {e}", p.display())),
    };
    CodeError::Entry { entry: entry.to_string(), source }
}

/// Extracts `zip_path` into `dest` (created 0755); see the module docs.
pub fn extract_zip(zip_path: &Path, dest: &Path, max_total: u64) -> Result<ExtractStats, CodeError> {
    let zip_err = |source| CodeError::Zip { path: zip_path.to_path_buf(), source };
    let file = fs::File::open(zip_path).map_err(|source| CodeError::Open { path: zip_path.to_path_buf(), source })?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;

    let mut declared: u64 = 0;
    for i in 0..archive.len() {
        declared = declared.saturating_add(archive.by_index_raw(i).map_err(zip_err)?.size());
    }
    if declared > max_total {
        return Err(CodeError::DeclaredTooLarge { declared, limit: max_total });
    }

    tree::mkdir_all(dest, 0o755).map_err(|source| CodeError::Io {
        what: "creating",
        path: dest.to_path_buf(),
        source,
    })?;
    let mut stats = ExtractStats::default();
    let mut dirs: Vec<(PathBuf, u32)> = Vec::new();
    let mut links: Vec<(String, PathBuf)> = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    for i in 0..archive.len() {
        let shown = archive.name_for_index(i).unwrap_or_default().to_string();
        let mut entry = archive.by_index(i).map_err(|source| CodeError::BadEntry { entry: shown, source })?;
        let name = entry.name().to_string();
        let Some(parts) = clean_entry_name(&name) else {
            crate::warn!("code zip entry escapes the code directory; skipped", entry = name);
            stats.skipped += 1;
            continue;
        };
        let Some((last, parent_parts)) = parts.split_last() else {
            continue; // `./`: the destination itself.
        };
        let mode = entry.unix_mode().unwrap_or(0);
        let kind = mode & S_IFMT;
        // The original created entries through the process umask (022); keep that effect
        // explicit, so MS-DOS entries (mapped to 0664 by the zip crate) come out 0644 too.
        let perm = mode & 0o755;
        let is_dir = name.ends_with('/') || name.ends_with('\\') || kind == S_IFDIR;
        if !is_dir && kind != 0 && kind != S_IFREG && kind != S_IFLNK {
            crate::warn!("code zip entry is a special file; skipped", entry = name, mode = format!("{mode:o}"));
            stats.skipped += 1;
            continue;
        }
        let comps: Vec<&std::ffi::OsStr> = parent_parts.iter().map(std::ffi::OsStr::new).collect();
        let parent = match tree::ensure_dirs(dest, &comps, 0o755) {
            Ok(p) => p,
            Err(ChainError::Symlink(p)) => {
                crate::warn!(
                    "code zip entry would be written through a symlink; skipped",
                    entry = name,
                    link = p.display()
                );
                stats.skipped += 1;
                continue;
            }
            Err(e) => return Err(chain_err(&name, e)),
        };
        let target = parent.join(last);

        if is_dir {
            match tree::ensure_dirs(&parent, &[std::ffi::OsStr::new(last)], 0o755) {
                Ok(p) => dirs.push((p, if perm == 0 { 0o755 } else { perm })),
                Err(ChainError::Symlink(p)) => {
                    crate::warn!(
                        "code zip directory entry is an existing symlink; skipped",
                        entry = name,
                        link = p.display()
                    );
                    stats.skipped += 1;
                    continue;
                }
                Err(e) => return Err(chain_err(&name, e)),
            }
            stats.dirs += 1;
            continue;
        }

        if kind == S_IFLNK {
            let mut raw = Vec::new();
            (&mut entry).take(MAX_LINK + 1).read_to_end(&mut raw).map_err(entry_io(&name))?;
            stats.bytes += raw.len() as u64;
            let link_target = String::from_utf8_lossy(&raw).into_owned();
            if raw.is_empty()
                || raw.len() as u64 > MAX_LINK
                || raw.contains(&0)
                || !link_stays_inside(dest, parent_parts, &link_target)
            {
                crate::warn!(
                    "code zip symlink points outside the code directory; skipped",
                    entry = name,
                    target = link_target
                );
                stats.skipped += 1;
                continue;
            }
            if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                crate::warn!("code zip symlink would replace a directory; skipped", entry = name);
                stats.skipped += 1;
                continue;
            }
            tree::remove_any(&target).map_err(entry_io(&name))?;
            std::os::unix::fs::symlink(&link_target, &target).map_err(entry_io(&name))?;
            links.push((name, target));
            stats.symlinks += 1;
            continue;
        }

        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(CodeError::Entry {
                entry: name,
                source: io::Error::new(io::ErrorKind::AlreadyExists, format!("{} is a directory", target.display())),
            });
        }
        let file_mode = if perm == 0 { 0o644 } else { perm };
        let tmp = parent.join(format!(".{last}.the0-tmp-{}-{i}", std::process::id()));
        let res = write_entry(&mut entry, &tmp, &mut buf, max_total - stats.bytes.min(max_total));
        let written = match res {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(match e {
                    WriteError::Limit => CodeError::TooLarge { entry: name, limit: max_total },
                    WriteError::Io(source) => CodeError::Entry { entry: name, source },
                });
            }
        };
        let done = tree::set_mode(&tmp, file_mode).and_then(|()| fs::rename(&tmp, &target));
        if let Err(source) = done {
            let _ = fs::remove_file(&tmp);
            return Err(CodeError::Entry { entry: name, source });
        }
        stats.bytes += written;
        stats.files += 1;
    }

    // A link chain can leave the tree even if each link looks inside on its own: check for real.
    let real_dest = fs::canonicalize(dest).unwrap_or_else(|_| dest.to_path_buf());
    for (name, link) in links {
        if let Ok(resolved) = fs::canonicalize(&link) {
            if !resolved.starts_with(&real_dest) {
                crate::warn!(
                    "code zip symlink resolves outside the code directory; removed",
                    entry = name,
                    resolved = resolved.display()
                );
                let _ = fs::remove_file(&link);
                stats.symlinks -= 1;
                stats.skipped += 1;
            }
        }
    }
    // Deepest first, after every file was written, so a read-only directory could still be filled.
    for (path, mode) in dirs.iter().rev() {
        tree::set_mode(path, *mode).map_err(|source| CodeError::Io {
            what: "setting the mode of",
            path: path.clone(),
            source,
        })?;
    }
    Ok(stats)
}

enum WriteError {
    Limit,
    Io(io::Error),
}

/// Copies `src` into a new file `tmp` (0600 until the caller sets its mode); fails as soon as
/// more than `budget` bytes arrive.
fn write_entry(src: &mut impl Read, tmp: &Path, buf: &mut [u8], budget: u64) -> Result<u64, WriteError> {
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)
        .map_err(WriteError::Io)?;
    let mut written = 0u64;
    loop {
        let n = match src.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WriteError::Io(e)),
        };
        written += n as u64;
        if written > budget {
            return Err(WriteError::Limit);
        }
        out.write_all(&buf[..n]).map_err(WriteError::Io)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_rejected() {
        let c = |n: &str| clean_entry_name(n).map(|p| p.join("/"));
        assert_eq!(c("a/b.py").as_deref(), Some("a/b.py"));
        assert_eq!(c("./a/./b/").as_deref(), Some("a/b"));
        assert_eq!(c("a/../b").as_deref(), Some("b"));
        assert_eq!(c("a\\b.py").as_deref(), Some("a/b.py"));
        for bad in ["../x", "a/../../x", "/etc/passwd", "\\evil", "..\\..\\x", "C:\\x", "c:x", "a\0b"] {
            assert_eq!(c(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn link_targets() {
        let dest = Path::new("/bot");
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(link_stays_inside(dest, &p(&["lib"]), "../main.py"));
        assert!(link_stays_inside(dest, &[], "lib/x"));
        assert!(link_stays_inside(dest, &[], "/bot/lib"));
        assert!(!link_stays_inside(dest, &[], "/etc/passwd"));
        assert!(!link_stays_inside(dest, &p(&["lib"]), "../../etc"));
        assert!(!link_stays_inside(dest, &[], ".."));
        // Found by fuzzing: `q -> .` makes `q/..` the parent of the code directory.
        assert!(!link_stays_inside(dest, &[], "q/../gone"));
        assert!(!link_stays_inside(dest, &p(&["lib"]), "../q/../x"));
    }
}
