//! Shared checks of the fuzz targets: the safety property of an extraction (nothing written
//! outside the destination, no symlink that leads out of it), asserted after every run so a
//! target fails on an escape, not only on a panic. See `docs/fuzzing.md`.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// A scratch area for one run: `base/root` is the extraction destination (not created), and
/// `base/outside` an empty sibling that must stay empty. In `/dev/shm` when it exists (no disk).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let shm = Path::new("/dev/shm");
        let dir =
            if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.expect("scratch directory");
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).expect("outside directory");
        Sandbox { dir, root, outside }
    }

    /// Panics (a fuzz finding) if anything was written beside `root`, or if any entry under it
    /// is not a file, directory or symlink, or a symlink resolves (or would resolve once its
    /// target is created) outside `root`.
    pub fn assert_contained(&self) {
        let mut names: Vec<_> = fs::read_dir(self.dir.path())
            .expect("read scratch")
            .map(|e| e.expect("scratch entry").file_name())
            .collect();
        names.sort();
        let expected: &[&str] = if self.root.exists() { &["outside", "root"] } else { &["outside"] };
        assert_eq!(names, expected, "something was written beside the destination");
        assert!(
            fs::read_dir(&self.outside).expect("read outside").next().is_none(),
            "a file appeared outside the root"
        );
        if !self.root.exists() {
            return;
        }
        let real_root = fs::canonicalize(&self.root).expect("canonical root");
        // Restore permissions as we go so a read-only directory can still be walked and removed.
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries {
                let path = e.expect("entry").path();
                let meta = fs::symlink_metadata(&path).expect("lstat");
                let ft = meta.file_type();
                if ft.is_symlink() {
                    let resolved = resolve_lenient(&path);
                    assert!(
                        resolved.starts_with(&real_root),
                        "symlink {} resolves to {} outside the root {}",
                        path.display(),
                        resolved.display(),
                        real_root.display()
                    );
                } else if ft.is_dir() {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o755));
                    stack.push(path);
                } else {
                    assert!(ft.is_file(), "{} is neither file, directory nor symlink", path.display());
                }
            }
        }
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

/// Where `link` leads: canonical when its target exists; else the canonical form of the deepest
/// existing ancestor of the target, followed lexically by the rest (`..` included), so a dangling
/// link that would create a file outside is caught too. A link loop counts as staying where it is.
pub fn resolve_lenient(link: &Path) -> PathBuf {
    if let Ok(p) = fs::canonicalize(link) {
        return p;
    }
    let Ok(target) = fs::read_link(link) else { return link.to_path_buf() };
    let joined = link.parent().unwrap_or(Path::new("/")).join(target);
    let comps: Vec<Component> = joined.components().collect();
    // Deepest prefix that canonicalizes.
    for cut in (0..=comps.len()).rev() {
        let prefix: PathBuf = comps[..cut].iter().collect();
        if prefix.as_os_str().is_empty() {
            continue;
        }
        let Ok(mut out) = fs::canonicalize(&prefix) else { continue };
        for c in &comps[cut..] {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(s) => out.push(s),
                _ => {}
            }
        }
        return out;
    }
    joined
}
