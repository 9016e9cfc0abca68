//! Change detection of the state fingerprint (D7): path, type, size and mtime, no hashing.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use the0_executor::state::{Kind, Manifest};

fn set_mtime(p: &Path, secs: u64, nanos: u32) {
    let f = fs::File::options().write(true).open(p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::new(secs, nanos)).unwrap();
}

fn tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join(".the0-state")).unwrap();
    fs::create_dir_all(d.path().join("empty")).unwrap();
    fs::write(d.path().join(".the0-state/k.json"), b"{\"a\":1}").unwrap();
    fs::write(d.path().join("big.bin"), vec![7u8; 5000]).unwrap();
    set_mtime(&d.path().join("big.bin"), 1_700_000_000, 5);
    d
}

#[test]
fn entries_are_relative_lexical_and_lstat() {
    let d = tree();
    symlink("/etc", d.path().join("zlink")).unwrap();
    let m = Manifest::scan(d.path()).unwrap();
    let names: Vec<&str> = m.entries().iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, [".the0-state", ".the0-state/k.json", "big.bin", "empty", "zlink"]);
    assert_eq!(m.get(".the0-state").unwrap().kind, Kind::Dir);
    assert_eq!(m.get("zlink").unwrap().kind, Kind::Symlink, "symlinks are not followed");
    let big = m.get("big.bin").unwrap();
    assert_eq!((big.kind, big.size, big.mtime_ns), (Kind::File, 5000, 1_700_000_000_000_000_005));
    assert_eq!(m.file_count(), 2);
    assert_eq!(m.total_file_size(), 5007);
    assert_eq!(m.largest_file(), Some(("big.bin", 5000)));
    assert!(m.has_files());
}

#[test]
fn only_directories_means_no_files() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("a/b")).unwrap();
    let m = Manifest::scan(d.path()).unwrap();
    assert!(!m.has_files());
    assert_eq!(m.file_count(), 0);
    assert_eq!(m.largest_file(), None);
    assert!(!m.is_empty());
}

#[test]
fn every_kind_of_change_is_seen() {
    let d = tree();
    let base = Manifest::scan(d.path()).unwrap();
    assert_eq!(base, Manifest::scan(d.path()).unwrap(), "a rescan of an untouched tree is equal");
    let p = d.path().join("big.bin");

    // size (same mtime)
    fs::write(&p, vec![7u8; 5001]).unwrap();
    set_mtime(&p, 1_700_000_000, 5);
    assert_ne!(base, Manifest::scan(d.path()).unwrap(), "size");
    fs::write(&p, vec![7u8; 5000]).unwrap();
    set_mtime(&p, 1_700_000_000, 5);
    assert_eq!(base, Manifest::scan(d.path()).unwrap(), "restored");

    // mtime, down to the nanosecond (same size, same content)
    set_mtime(&p, 1_700_000_000, 6);
    assert_ne!(base, Manifest::scan(d.path()).unwrap(), "mtime ns");
    set_mtime(&p, 1_700_000_000, 5);

    // new file, then removed again
    fs::write(d.path().join("new"), b"").unwrap();
    assert_ne!(base, Manifest::scan(d.path()).unwrap(), "new file");
    fs::remove_file(d.path().join("new")).unwrap();
    let again = Manifest::scan(d.path()).unwrap();
    // The root's own mtime is not part of the manifest; only entries below it are.
    assert_eq!(base, again, "removing the new file restores the fingerprint");

    // removed file
    let k = d.path().join(".the0-state/k.json");
    fs::remove_file(&k).unwrap();
    assert_ne!(base, Manifest::scan(d.path()).unwrap(), "removed file");

    // type change: a file becomes a directory / a symlink of the same name
    let m1 = Manifest::scan(d.path()).unwrap();
    fs::remove_file(&p).unwrap();
    fs::create_dir(&p).unwrap();
    let m2 = Manifest::scan(d.path()).unwrap();
    assert_ne!(m1, m2, "file -> dir");
    assert_eq!(m2.get("big.bin").unwrap().kind, Kind::Dir);
    fs::remove_dir(&p).unwrap();
    symlink("elsewhere", &p).unwrap();
    assert_eq!(Manifest::scan(d.path()).unwrap().get("big.bin").unwrap().kind, Kind::Symlink);

    // mode
    let m3 = Manifest::scan(d.path()).unwrap();
    fs::set_permissions(d.path().join("empty"), fs::Permissions::from_mode(0o700)).unwrap();
    assert_ne!(m3, Manifest::scan(d.path()).unwrap(), "mode");
}

#[test]
fn ten_thousand_files_are_all_scanned() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..100 {
        let dir = d.path().join(format!("d{i:03}"));
        fs::create_dir(&dir).unwrap();
        for j in 0..100 {
            fs::write(dir.join(format!("f{j:03}.json")), b"{}").unwrap();
        }
    }
    let m = Manifest::scan(d.path()).unwrap();
    assert_eq!(m.file_count(), 10_000);
    assert_eq!(m.entries().len(), 10_100);
    // How fast is the benchmarks' question (change → upload, `make bench`), not a test's.
}
