//! The state archive: round trips, PAX long names, files changing while archived, and archives
//! written by other tools (Python `tarfile` PAX as node-tar writes them, GNU tar `--format=pax`).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use the0_executor::config::Limits;
use the0_executor::state::{extract_tar_gz, write_tar_gz, ArchiveError, Entry, Kind, Manifest};

fn set_mtime(p: &Path, secs: u64) {
    let f = fs::File::open(p).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

const LONG_DIR: &str =
    "a-directory-name-that-is-quite-long-on-purpose-to-need-more-than-one-hundred-bytes";

/// A tree with nested and empty dirs, odd modes, fixed mtimes and names that need PAX.
fn sample_tree() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    fs::create_dir_all(r.join(".the0-state")).unwrap();
    fs::create_dir_all(r.join("nested/deeper/deepest")).unwrap();
    fs::create_dir_all(r.join("empty")).unwrap();
    fs::write(
        r.join(".the0-state/k.json"),
        br#"{"v":12345678901234567890}"#,
    )
    .unwrap();
    fs::write(
        r.join("nested/deeper/deepest/data.bin"),
        (0..70_000u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>(),
    )
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
    let stats = write_tar_gz(root, &m, &mut out).unwrap();
    assert_eq!(stats.files as usize, m.file_count());
    out
}

/// The manifest with mtimes cut to whole seconds (what tar keeps).
fn seconds(m: &Manifest) -> Vec<(String, Entry)> {
    m.entries()
        .iter()
        .map(|(p, e)| {
            (
                p.clone(),
                Entry {
                    mtime_ns: e.mtime_ns / 1_000_000_000,
                    ..*e
                },
            )
        })
        .collect()
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ma, mb) = (Manifest::scan(a).unwrap(), Manifest::scan(b).unwrap());
    assert_eq!(seconds(&ma), seconds(&mb));
    for (p, e) in ma.entries() {
        if e.kind == Kind::File {
            assert_eq!(
                fs::read(a.join(p)).unwrap(),
                fs::read(b.join(p)).unwrap(),
                "content of {p}"
            );
        }
    }
}

fn raw_entries(gz: &[u8]) -> Vec<(u8, String)> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = Vec::new();
    for e in ar.entries().unwrap().raw(true) {
        let e = e.unwrap();
        out.push((
            e.header().entry_type().as_byte(),
            String::from_utf8_lossy(&e.path_bytes()).into_owned(),
        ));
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
    assert!(
        entries.iter().all(|(t, _)| *t != b'L' && *t != b'K'),
        "no GNU long-name entries"
    );
    let pax: Vec<&(u8, String)> = entries.iter().filter(|(t, _)| *t == b'x').collect();
    assert_eq!(pax.len(), 1, "exactly one name needs PAX: {entries:?}");
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names[0], ".the0-state");
    assert_eq!(names[1], ".the0-state/k.json");
    assert!(names
        .iter()
        .all(|n| !n.starts_with("./") && !n.starts_with('/') && !n.is_empty()));
    for (i, n) in names.iter().enumerate() {
        if let Some((parent, _)) = n.rsplit_once('/') {
            assert!(
                names[..i].contains(&parent),
                "{parent} must come before {n}"
            );
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
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&file)
        .arg("-C")
        .arg(&gnu)
        .status()
        .unwrap();
    assert!(st.success());
    assert_same_tree(src.path(), &gnu);
    let py = work.path().join("py");
    let st = Command::new("python3")
        .args([
            "-c",
            "import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])",
        ])
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
    assert_eq!(
        fs::read(out.path().join("z-after")).unwrap(),
        b"still here",
        "entries after stay aligned"
    );
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
    let stats = write_tar_gz(d.path(), &m, &mut gz).unwrap();
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

/// Runs a Python snippet that writes a tar.gz to argv[1].
fn python_tar(script: &str, out: &Path) {
    let full = format!("import sys, tarfile, io\nt = tarfile.open(sys.argv[1], 'w:gz', format=tarfile.PAX_FORMAT)\n{script}\nt.close()\n");
    let o = Command::new("python3")
        .arg("-c")
        .arg(full)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

const PY_ADD: &str = "
def add(name, data=None, kind=tarfile.REGTYPE, mode=0o644, size=None, link=''):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = 1700000000
    ti.linkname = link
    if data is not None:
        ti.size = len(data) if size is None else size
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)
";

#[test]
fn reads_node_tar_style_pax_archives() {
    let w = tempfile::tempdir().unwrap();
    let file = w.path().join("api.tar.gz");
    let long = format!("./.the0-state/{}.json", "k".repeat(150));
    python_tar(
        &format!(
            "{PY_ADD}
add('./', kind=tarfile.DIRTYPE, mode=0o755)
add('./.the0-state/', kind=tarfile.DIRTYPE, mode=0o755)
add('./.the0-state/counter.json', b'{{\"n\": 41}}')
add('{long}', b'\"long\"')
add('./.the0-state/big.json', b'x' * (3 * 1024 * 1024))
add('plain/no-dot.txt', b'plain', mode=0o600)
"
        ),
        &file,
    );
    let dest = w.path().join("state");
    let stats = extract_tar_gz(fs::File::open(&file).unwrap(), &dest, &Limits::default()).unwrap();
    assert_eq!((stats.files, stats.skipped), (4, 0));
    assert_eq!(
        fs::read(dest.join(".the0-state/counter.json")).unwrap(),
        br#"{"n": 41}"#
    );
    assert_eq!(
        fs::read(dest.join(long.trim_start_matches("./"))).unwrap(),
        br#""long""#
    );
    assert_eq!(
        fs::metadata(dest.join(".the0-state/big.json"))
            .unwrap()
            .len(),
        3 * 1024 * 1024
    );
    let md = fs::metadata(dest.join("plain/no-dot.txt")).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        md.modified().unwrap(),
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    );
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

#[test]
fn escaping_and_special_entries_are_skipped() {
    let w = tempfile::tempdir().unwrap();
    let file = w.path().join("evil.tar.gz");
    python_tar(
        &format!(
            "{PY_ADD}
add('../evil1', b'x')
add('a/../../evil2', b'x')
add('/tmp/the0-evil-abs', b'x')
add('link', kind=tarfile.SYMTYPE, link='/etc/passwd')
add('hard', kind=tarfile.LNKTYPE, link='ok')
add('dev', kind=tarfile.CHRTYPE)
add('fifo', kind=tarfile.FIFOTYPE)
add('ok', b'fine')
"
        ),
        &file,
    );
    let dest = w.path().join("inner/state");
    let stats = extract_tar_gz(fs::File::open(&file).unwrap(), &dest, &Limits::default()).unwrap();
    assert_eq!((stats.files, stats.skipped), (1, 7));
    assert_eq!(fs::read(dest.join("ok")).unwrap(), b"fine");
    let left: Vec<_> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["ok"]);
    assert!(!w.path().join("evil1").exists() && !w.path().join("inner/evil1").exists());
    assert!(!w.path().join("evil2").exists() && !w.path().join("inner/evil2").exists());
    assert!(!Path::new("/tmp/the0-evil-abs").exists());
}

fn caps(file: u64, total: u64) -> Limits {
    Limits {
        state_file: file,
        state_total: total,
        ..Limits::default()
    }
}

#[test]
fn caps_fail_the_whole_extract() {
    let w = tempfile::tempdir().unwrap();
    let file = w.path().join("t.tar.gz");
    python_tar(
        &format!("{PY_ADD}\nadd('a', b'12345678')\nadd('b', b'12345678')\n"),
        &file,
    );
    let open = || fs::File::open(&file).unwrap();

    let err = extract_tar_gz(open(), &w.path().join("x1"), &caps(7, 100)).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::FileTooLarge { entry, size: 8, cap: 7 } if entry == "a"),
        "{err}"
    );
    let err = extract_tar_gz(open(), &w.path().join("x2"), &caps(8, 10)).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::TotalTooLarge { entry, .. } if entry == "b"),
        "{err}"
    );
    assert!(err.to_string().contains('b'));
    extract_tar_gz(open(), &w.path().join("x3"), &caps(8, 16)).unwrap();
}

#[test]
fn lying_sizes_truncation_and_garbage_are_errors() {
    let w = tempfile::tempdir().unwrap();
    // Header claims 4 bytes, 600 follow: the next "header" is file data and fails its checksum.
    let mut raw = Vec::new();
    raw.extend_from_slice(ustar("a", 4).as_bytes());
    raw.extend_from_slice(&[b'Z'; 1024]);
    raw.extend_from_slice(ustar("b", 0).as_bytes());
    raw.extend_from_slice(&[0u8; 1024]);
    let res = extract_tar_gz(
        gz_of(&raw).as_slice(),
        &w.path().join("o1"),
        &Limits::default(),
    );
    assert!(matches!(res, Err(ArchiveError::Corrupt(_))), "{res:?}");

    // A PAX size record larger than the ustar size: the PAX size counts, and is over the cap.
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("size", &b"20"[..])]).unwrap();
    b.append(&ustar("paxed", 4), &[b'P'; 20][..]).unwrap();
    let raw = b.into_inner().unwrap();
    let res = extract_tar_gz(
        gz_of(&raw).as_slice(),
        &w.path().join("o1b"),
        &caps(10, 100),
    );
    assert!(
        matches!(&res, Err(ArchiveError::FileTooLarge { entry, size: 20, .. }) if entry == "paxed"),
        "{res:?}"
    );

    // A valid archive cut short inside a file's data.
    let good = tempfile::tempdir().unwrap();
    fs::write(
        good.path().join("f"),
        (0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let gz = archive_of(good.path());
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut raw)
        .unwrap();
    raw.truncate(100_000);
    let res = extract_tar_gz(
        gz_of(&raw).as_slice(),
        &w.path().join("o2"),
        &Limits::default(),
    );
    assert!(res.is_err(), "truncated data must fail: {res:?}");

    for garbage in [&b"not a gzip stream at all"[..], &gz[..gz.len() / 2]] {
        let res = extract_tar_gz(garbage, &w.path().join("o3"), &Limits::default());
        assert!(matches!(res, Err(ArchiveError::Corrupt(_))), "{res:?}");
    }
}

fn ustar(name: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

fn gz_of(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(raw).unwrap();
    e.finish().unwrap()
}

#[test]
fn old_style_directory_entries_with_a_trailing_slash() {
    let mut raw = Vec::new();
    let mut h = ustar("olddir/", 0);
    h.set_mode(0o700);
    h.set_cksum();
    raw.extend_from_slice(h.as_bytes());
    raw.extend_from_slice(&[0u8; 1024]);
    let w = tempfile::tempdir().unwrap();
    let stats = extract_tar_gz(gz_of(&raw).as_slice(), w.path(), &Limits::default()).unwrap();
    assert_eq!((stats.dirs, stats.files), (1, 0));
    let md = fs::metadata(w.path().join("olddir")).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.permissions().mode() & 0o777, 0o700);
}
