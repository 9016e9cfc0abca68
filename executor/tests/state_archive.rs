//! The state archive: round trips, PAX long names, files changing while archived, and GNU tar
//! and Python reading our archives (and us reading GNU tar's `--format=pax` with `./` names).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use the0_executor::config::Limits;
use the0_executor::state::{extract_tar_gz, write_tar_gz, Entry, Kind, Manifest};

fn set_mtime(p: &Path, secs: u64) {
    let f = fs::File::open(p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

const LONG_DIR: &str = "a-directory-name-that-is-quite-long-on-purpose-to-need-more-than-one-hundred-bytes";

/// A tree with nested and empty dirs, odd modes, fixed mtimes and names that need PAX.
fn sample_tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    fs::create_dir_all(r.join(".the0-state")).unwrap();
    fs::create_dir_all(r.join("nested/deeper/deepest")).unwrap();
    fs::create_dir_all(r.join("empty")).unwrap();
    fs::write(r.join(".the0-state/k.json"), br#"{"v":12345678901234567890}"#).unwrap();
    fs::write(r.join("nested/deeper/deepest/data.bin"), (0..70_000u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>())
        .unwrap();
    fs::write(r.join("secret"), b"s").unwrap();
    chmod(&r.join("secret"), 0o600);
    fs::write(r.join("tool.sh"), b"#!/bin/sh\n").unwrap();
    chmod(&r.join("tool.sh"), 0o755);
    fs::write(r.join("héllo wörld.txt"), "unicode").unwrap();
    // 100 < name <= 255 split into prefix/name; and one whose last component alone exceeds 100.
    let split = r.join(LONG_DIR).join("f".repeat(90));
    fs::create_dir_all(split.parent().unwrap()).unwrap();
    fs::write(&split, b"split").unwrap();
    let pax = r.join(LONG_DIR).join("g".repeat(200));
    fs::write(&pax, b"pax").unwrap();
    chmod(&r.join("empty"), 0o750);
    for (p, _) in Manifest::scan(r).unwrap().entries().iter().rev() {
        set_mtime(&r.join(p), 1_600_000_000 + p.len() as u64);
    }
    d
}

fn archive_of(root: &Path) -> Vec<u8> {
    let m = Manifest::scan(root).unwrap();
    let mut out = Vec::new();
    let stats = write_tar_gz(root, &m, &mut out).unwrap().stats;
    assert_eq!(stats.files as usize, m.file_count());
    out
}

/// The manifest with mtimes cut to whole seconds (what tar keeps).
fn seconds(m: &Manifest) -> Vec<(String, Entry)> {
    m.entries().iter().map(|(p, e)| (p.clone(), Entry { mtime_ns: e.mtime_ns / 1_000_000_000, ..*e })).collect()
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ma, mb) = (Manifest::scan(a).unwrap(), Manifest::scan(b).unwrap());
    assert_eq!(seconds(&ma), seconds(&mb));
    for (p, e) in ma.entries() {
        if e.kind == Kind::File {
            assert_eq!(fs::read(a.join(p)).unwrap(), fs::read(b.join(p)).unwrap(), "content of {p}");
        }
    }
}

fn raw_entries(gz: &[u8]) -> Vec<(u8, String)> {
    let mut ar = tar::Archive::new(flate2::read::MultiGzDecoder::new(gz));
    let mut out = Vec::new();
    for e in ar.entries().unwrap().raw(true) {
        let e = e.unwrap();
        out.push((e.header().entry_type().as_byte(), String::from_utf8_lossy(&e.path_bytes()).into_owned()));
    }
    out
}

#[test]
fn round_trip_keeps_tree_modes_mtimes_and_long_names() {
    let src = sample_tree();
    let gz = archive_of(src.path());
    let dst = tempfile::tempdir().unwrap();
    let stats = extract_tar_gz(gz.as_slice(), &dst.path().join("out"), &Limits::default()).unwrap();
    assert_eq!(stats.files, 7);
    assert_eq!(stats.skipped, 0);
    assert_same_tree(src.path(), &dst.path().join("out"));
}

#[test]
fn names_order_and_pax_headers() {
    let src = sample_tree();
    let gz = archive_of(src.path());
    let entries = raw_entries(&gz);
    assert!(entries.iter().all(|(t, _)| *t != b'L' && *t != b'K'), "no GNU long-name entries");
    let pax: Vec<&(u8, String)> = entries.iter().filter(|(t, _)| *t == b'x').collect();
    assert_eq!(pax.len(), 1, "exactly one name needs PAX: {entries:?}");
    let mut ar = tar::Archive::new(flate2::read::MultiGzDecoder::new(gz.as_slice()));
    let names: Vec<String> =
        ar.entries().unwrap().map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names[0], ".the0-state");
    assert_eq!(names[1], ".the0-state/k.json");
    assert!(names.iter().all(|n| !n.starts_with("./") && !n.starts_with('/') && !n.is_empty()));
    for (i, n) in names.iter().enumerate() {
        if let Some((parent, _)) = n.rsplit_once('/') {
            assert!(names[..i].contains(&parent), "{parent} must come before {n}");
        }
    }
    assert!(names.contains(&format!("{LONG_DIR}/{}", "g".repeat(200)).as_str()));
}

#[test]
fn gnu_tar_and_python_read_our_archives() {
    let src = sample_tree();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("state.tar.gz");
    fs::write(&file, archive_of(src.path())).unwrap();
    let gnu = work.path().join("gnu");
    fs::create_dir(&gnu).unwrap();
    let st = Command::new("tar").arg("-xzf").arg(&file).arg("-C").arg(&gnu).status().unwrap();
    assert!(st.success());
    assert_same_tree(src.path(), &gnu);
    let py = work.path().join("py");
    let st = Command::new("python3")
        .args(["-c", "import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])"])
        .arg(&file)
        .arg(&py)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(py.join(LONG_DIR).join("g".repeat(200)).is_file());
    assert_eq!(fs::read(py.join("héllo wörld.txt")).unwrap(), b"unicode");
}

#[test]
fn a_file_that_shrank_or_grew_still_gives_a_valid_archive() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("shrank"), b"short").unwrap();
    fs::write(d.path().join("grew"), b"0123456789abcdef").unwrap();
    fs::write(d.path().join("z-after"), b"still here").unwrap();
    let scanned = Manifest::scan(d.path()).unwrap();
    // Pretend the scan saw other sizes than the files now have.
    let m = Manifest::from_entries(scanned.entries().iter().map(|(p, e)| {
        let size = match p.as_str() {
            "shrank" => 1000,
            "grew" => 4,
            _ => e.size,
        };
        (p.clone(), Entry { size, ..*e })
    }));
    let mut gz = Vec::new();
    write_tar_gz(d.path(), &m, &mut gz).unwrap();
    let out = tempfile::tempdir().unwrap();
    extract_tar_gz(gz.as_slice(), out.path(), &Limits::default()).unwrap();
    let shrank = fs::read(out.path().join("shrank")).unwrap();
    assert_eq!(shrank.len(), 1000);
    assert_eq!(&shrank[..5], b"short");
    assert!(shrank[5..].iter().all(|&b| b == 0), "zero-padded");
    assert_eq!(fs::read(out.path().join("grew")).unwrap(), b"0123");
    assert_eq!(fs::read(out.path().join("z-after")).unwrap(), b"still here", "entries after stay aligned");
}

#[test]
fn vanished_files_and_symlinks_are_left_out() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("gone"), b"x").unwrap();
    fs::write(d.path().join("kept"), b"y").unwrap();
    symlink("kept", d.path().join("link")).unwrap();
    let m = Manifest::scan(d.path()).unwrap();
    fs::remove_file(d.path().join("gone")).unwrap();
    let mut gz = Vec::new();
    let stats = write_tar_gz(d.path(), &m, &mut gz).unwrap().stats;
    assert_eq!((stats.files, stats.skipped), (1, 2));
    let names: Vec<String> = raw_entries(&gz).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["kept"]);
}

#[test]
fn empty_manifest_is_a_valid_empty_archive() {
    let d = tempfile::tempdir().unwrap();
    let mut gz = Vec::new();
    write_tar_gz(d.path(), &Manifest::default(), &mut gz).unwrap();
    let out = tempfile::tempdir().unwrap();
    let stats = extract_tar_gz(gz.as_slice(), &out.path().join("s"), &Limits::default()).unwrap();
    assert_eq!(stats.files + stats.dirs, 0);
    assert!(out.path().join("s").is_dir());
}

#[test]
fn reads_gnu_tar_pax_archives_with_dot_prefixes() {
    let src = sample_tree();
    let w = tempfile::tempdir().unwrap();
    let file = w.path().join("gnu.tar.gz");
    let st = Command::new("tar")
        .args(["--format=pax", "-czf"])
        .arg(&file)
        .arg("-C")
        .arg(src.path())
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let dest = w.path().join("out");
    extract_tar_gz(fs::File::open(&file).unwrap(), &dest, &Limits::default()).unwrap();
    assert_same_tree(src.path(), &dest);
}
