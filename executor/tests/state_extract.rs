//! Extracting state archives written by other tools and by attackers: Python `tarfile` PAX
//! archives shaped like node-tar's (the0's API), V7 directories, and every kind of bad input
//! (traversal, links, devices, caps, lying sizes, truncation, garbage).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use the0_executor::config::Limits;
use the0_executor::state::{extract_tar_gz, ArchiveError};

/// Runs a Python snippet that writes a tar.gz to argv[1].
fn python_tar(script: &str, out: &Path) {
    let full = format!("import sys, tarfile, io\nt = tarfile.open(sys.argv[1], 'w:gz', format=tarfile.PAX_FORMAT)\n{script}\nt.close()\n");
    let o = Command::new("python3").arg("-c").arg(full).arg(out).output().unwrap();
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
    assert_eq!(fs::read(dest.join(".the0-state/counter.json")).unwrap(), br#"{"n": 41}"#);
    assert_eq!(fs::read(dest.join(long.trim_start_matches("./"))).unwrap(), br#""long""#);
    assert_eq!(fs::metadata(dest.join(".the0-state/big.json")).unwrap().len(), 3 * 1024 * 1024);
    let md = fs::metadata(dest.join("plain/no-dot.txt")).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
    assert_eq!(md.modified().unwrap(), UNIX_EPOCH + Duration::from_secs(1_700_000_000));
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
    let left: Vec<_> = fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["ok"]);
    assert!(!w.path().join("evil1").exists() && !w.path().join("inner/evil1").exists());
    assert!(!w.path().join("evil2").exists() && !w.path().join("inner/evil2").exists());
    assert!(!Path::new("/tmp/the0-evil-abs").exists());
}

fn caps(file: u64, total: u64) -> Limits {
    Limits { state_file: file, state_total: total, ..Limits::default() }
}

#[test]
fn caps_fail_the_whole_extract() {
    let w = tempfile::tempdir().unwrap();
    let file = w.path().join("t.tar.gz");
    python_tar(&format!("{PY_ADD}\nadd('a', b'12345678')\nadd('b', b'12345678')\n"), &file);
    let open = || fs::File::open(&file).unwrap();

    let err = extract_tar_gz(open(), &w.path().join("x1"), &caps(7, 100)).unwrap_err();
    assert!(matches!(&err, ArchiveError::FileTooLarge { entry, size: 8, cap: 7 } if entry == "a"), "{err}");
    let err = extract_tar_gz(open(), &w.path().join("x2"), &caps(8, 10)).unwrap_err();
    assert!(matches!(&err, ArchiveError::TotalTooLarge { entry, .. } if entry == "b"), "{err}");
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
    let res = extract_tar_gz(gz_of(&raw).as_slice(), &w.path().join("o1"), &Limits::default());
    assert!(matches!(res, Err(ArchiveError::Corrupt(_))), "{res:?}");

    // A PAX size record larger than the ustar size: the PAX size counts, and is over the cap.
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("size", &b"20"[..])]).unwrap();
    b.append(&ustar("paxed", 4), &[b'P'; 20][..]).unwrap();
    let raw = b.into_inner().unwrap();
    let res = extract_tar_gz(gz_of(&raw).as_slice(), &w.path().join("o1b"), &caps(10, 100));
    assert!(matches!(&res, Err(ArchiveError::FileTooLarge { entry, size: 20, .. }) if entry == "paxed"), "{res:?}");

    // A valid archive cut short inside a file's data.
    let mut b = tar::Builder::new(Vec::new());
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    b.append(&ustar("f", data.len() as u64), data.as_slice()).unwrap();
    let mut raw = b.into_inner().unwrap();
    let gz = gz_of(&raw);
    raw.truncate(100_000);
    let res = extract_tar_gz(gz_of(&raw).as_slice(), &w.path().join("o2"), &Limits::default());
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
