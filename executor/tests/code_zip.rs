//! Code zip extraction (D17): traversal, symlinks, size caps, modes, overwrite without ETXTBSY.
//! Fixtures are built with Python's `zipfile`, which writes whatever names and modes it is told.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use the0_executor::code::{extract_zip, CodeError};

const PY: &str = r#"
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)
def add(name, data=b'', mode=None, kind=0o100000, system=3):
    zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_DEFLATED
    zi.create_system = system
    z.writestr(zi, data)
    # After writestr (which defaults empty attributes to 0600); the central directory is written
    # at close from this object.
    zi.external_attr = (0 if mode is None else ((kind | mode) << 16)) | (0x20 if system == 0 else 0)
def link(name, target):
    add(name, target.encode(), 0o777, 0o120000)
def mkdir(name, mode=None):
    add(name, b'', mode, 0o040000)
"#;

fn make_zip(path: &Path, body: &str) {
    let script = format!("{PY}\n{body}\nz.close()\n");
    let o = Command::new("python3").arg("-c").arg(script).arg(path).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const GIB: u64 = 1 << 30;

#[test]
fn escaping_entries_are_skipped_and_nothing_lands_outside() {
    let w = tempfile::tempdir().unwrap();
    let z = w.path().join("c.zip");
    make_zip(
        &z,
        r#"
add('../evil1.txt', b'x')
add('a/../../evil2.txt', b'x')
add('/tmp/the0-code-evil-abs.txt', b'x')
add('..\\evil3.txt', b'x')
add('C:\\evil4.txt', b'x')
add('c:evil5.txt', b'x')
add('a/../ok.txt', b'ok')
add('./main.py', b'print(1)')
"#,
    );
    let dest = w.path().join("inner/bot");
    let stats = extract_zip(&z, &dest, GIB).unwrap();
    assert_eq!((stats.files, stats.skipped), (2, 6));
    assert_eq!(listing(&dest), ["main.py", "ok.txt"]);
    assert_eq!(listing(w.path()).iter().filter(|p| p.contains("evil")).count(), 0);
    assert!(!Path::new("/tmp/the0-code-evil-abs.txt").exists());
}

#[test]
fn symlinks_only_inside_the_tree() {
    let w = tempfile::tempdir().unwrap();
    let z = w.path().join("c.zip");
    make_zip(
        &z,
        r#"
add('lib/x.py', b'x = 1')
link('in', 'lib/x.py')
link('lib/up', '../lib')
link('out-abs', '/etc/passwd')
link('out-rel', '../../outside')
mkdir('c/')
link('a/b/l', '../../c')
link('deep', 'a/b/l/../../..')
link('through', 'lib')
add('through/planted.txt', b'x')
"#,
    );
    let dest = w.path().join("bot");
    let stats = extract_zip(&z, &dest, GIB).unwrap();
    assert_eq!(fs::read_link(dest.join("in")).unwrap(), Path::new("lib/x.py"));
    assert_eq!(fs::read(dest.join("in")).unwrap(), b"x = 1");
    assert!(fs::symlink_metadata(dest.join("lib/up")).unwrap().file_type().is_symlink());
    assert!(fs::symlink_metadata(dest.join("a/b/l")).unwrap().file_type().is_symlink());
    for gone in ["out-abs", "out-rel", "deep", "lib/planted.txt", "through/planted.txt"] {
        assert!(fs::symlink_metadata(dest.join(gone)).is_err(), "{gone} must not exist");
    }
    // out-abs, out-rel, the chain that resolves above the tree, the file written through a link.
    assert_eq!(stats.skipped, 4, "{stats:?}");
    assert_eq!(stats.symlinks, 4, "{stats:?}");
}

#[test]
fn declared_size_over_the_limit_fails_before_writing() {
    let w = tempfile::tempdir().unwrap();
    let z = w.path().join("c.zip");
    make_zip(&z, "add('a.bin', b'0' * 600000)\nadd('b.bin', b'0' * 600000)\n");
    let dest = w.path().join("bot");
    let err = extract_zip(&z, &dest, 1_000_000).unwrap_err();
    assert!(matches!(err, CodeError::DeclaredTooLarge { declared: 1_200_000, limit: 1_000_000 }), "{err}");
    assert!(!dest.exists(), "nothing written");
    extract_zip(&z, &dest, 1_200_000).unwrap();
}

#[test]
fn a_lying_header_is_caught_by_counting_bytes() {
    let w = tempfile::tempdir().unwrap();
    let z = w.path().join("bomb.zip");
    make_zip(&z, "add('ok.txt', b'fine')\nadd('bomb.bin', b'\\0' * 2000000)\n");
    // Rewrite the declared uncompressed size of bomb.bin (local and central headers) to 100.
    let mut b = fs::read(&z).unwrap();
    let patch = |b: &mut Vec<u8>, sig: &[u8], name_off: usize, size_off: usize| {
        let mut i = 0;
        while let Some(p) = b[i..].windows(4).position(|w| w == sig) {
            let at = i + p;
            let n = u16::from_le_bytes([b[at + name_off], b[at + name_off + 1]]) as usize;
            let name_start = at + if sig[2] == 3 { 30 } else { 46 };
            if &b[name_start..name_start + n] == b"bomb.bin" {
                b[at + size_off..at + size_off + 4].copy_from_slice(&100u32.to_le_bytes());
            }
            i = at + 4;
        }
    };
    patch(&mut b, b"PK\x03\x04", 26, 22);
    patch(&mut b, b"PK\x01\x02", 28, 24);
    fs::write(&z, b).unwrap();
    let dest = w.path().join("bot");
    let err = extract_zip(&z, &dest, 1_000_000).unwrap_err();
    assert!(matches!(&err, CodeError::TooLarge { entry, .. } if entry == "bomb.bin"), "{err}");
    assert!(err.to_string().contains("bomb.bin"));
    assert!(!dest.join("bomb.bin").exists());
    assert!(listing(&dest).iter().all(|p| !p.contains("the0-tmp")), "no temp left: {:?}", listing(&dest));
}

#[test]
fn modes_follow_the_zip_with_sane_defaults() {
    let w = tempfile::tempdir().unwrap();
    let z = w.path().join("c.zip");
    make_zip(
        &z,
        r#"
add('none.py', b'a')
add('zero.py', b'a', 0)
add('exec.sh', b'a', 0o755)
add('private', b'a', 0o600)
add('group.sh', b'a', 0o775)
add('suid', b'a', 0o4777)
add('dos.txt', b'a', None, 0, 0)
mkdir('d0/')
mkdir('d700/', 0o700)
add('d700/inside', b'a', 0o644)
add('implicit/parent/file', b'a', 0o644)
"#,
    );
    let dest = w.path().join("bot");
    extract_zip(&z, &dest, GIB).unwrap();
    for (p, want) in [
        ("none.py", 0o644),
        ("zero.py", 0o644),
        ("exec.sh", 0o755),
        ("private", 0o600),
        ("dos.txt", 0o644),
        ("group.sh", 0o755),
        ("suid", 0o755),
        ("d0", 0o755),
        ("d700", 0o700),
        ("implicit", 0o755),
        ("implicit/parent", 0o755),
    ] {
        assert_eq!(mode(&dest.join(p)), want, "{p}");
    }
}

#[test]
fn existing_files_are_replaced_not_rewritten_in_place() {
    let w = tempfile::tempdir().unwrap();
    let dest = w.path().join("bot");
    fs::create_dir_all(&dest).unwrap();
    fs::copy("/bin/sleep", dest.join("bin")).unwrap();
    fs::write(dest.join("keep.txt"), b"untouched").unwrap();
    fs::write(dest.join("main.py"), b"old").unwrap();
    fs::hard_link(dest.join("main.py"), w.path().join("old-inode")).unwrap();
    let old_ino = fs::metadata(dest.join("main.py")).unwrap().ino();

    // A running binary: writing it in place would fail with ETXTBSY.
    let mut child = None;
    for _ in 0..20 {
        match Command::new(dest.join("bin")).arg("30").spawn() {
            Ok(c) => {
                child = Some(c);
                break;
            }
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("{e}"),
        }
    }
    let mut child = child.expect("could not start the test binary");

    let z = w.path().join("c.zip");
    make_zip(&z, "add('bin', b'#!/bin/sh\\necho new\\n', 0o755)\nadd('main.py', b'new')\n");
    let res = extract_zip(&z, &dest, GIB);
    let _ = child.kill();
    let _ = child.wait();
    res.unwrap();
    assert_eq!(fs::read(dest.join("bin")).unwrap(), b"#!/bin/sh\necho new\n");
    assert_eq!(fs::read(dest.join("main.py")).unwrap(), b"new");
    assert_ne!(fs::metadata(dest.join("main.py")).unwrap().ino(), old_ino);
    assert_eq!(fs::read(w.path().join("old-inode")).unwrap(), b"old", "the old inode was not written to");
    assert_eq!(fs::read(dest.join("keep.txt")).unwrap(), b"untouched");
    assert_eq!(listing(&dest), ["bin", "keep.txt", "main.py"], "no temp files left");
}

#[test]
fn corrupt_and_missing_zips_are_errors() {
    let w = tempfile::tempdir().unwrap();
    let z = w.path().join("c.zip");
    fs::write(&z, b"PK\x03\x04 definitely not a zip").unwrap();
    let err = extract_zip(&z, &w.path().join("bot"), GIB).unwrap_err();
    assert!(matches!(err, CodeError::Zip { .. }), "{err}");
    let err = extract_zip(&w.path().join("missing.zip"), &w.path().join("bot"), GIB).unwrap_err();
    assert!(matches!(err, CodeError::Open { .. }), "{err}");
    assert!(err.to_string().contains("missing.zip"));

    // A file entry where a directory already exists names the entry.
    make_zip(&z, "add('lib', b'x')\n");
    fs::create_dir_all(w.path().join("bot2/lib")).unwrap();
    let err = extract_zip(&z, &w.path().join("bot2"), GIB).unwrap_err();
    assert!(matches!(&err, CodeError::Entry { entry, .. } if entry == "lib"), "{err}");
}
