//! State upload against a local object store: change detection, caps, D8 delete, D4 block.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use the0_executor::config::Config;
use the0_executor::state::seen::Seen;
use the0_executor::state::{extract_tar_gz, Entry, Manifest, StateSyncOutcome, StateSyncer};
use the0_objstore::Store;

struct Env {
    dir: tempfile::TempDir,
    cfg: Config,
    store: Store,
}

impl Env {
    fn new(extra: &[(&str, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let cfg = common::local_config(dir.path(), extra);
        fs::create_dir_all(&cfg.state_path).unwrap();
        let store = Store::local(dir.path().join("objects"));
        Env { dir, cfg, store }
    }

    fn object(&self) -> PathBuf {
        self.dir.path().join("objects/bot-state/b1/state.tar.gz")
    }

    fn state(&self, rel: &str) -> PathBuf {
        self.cfg.state_path.join(rel)
    }

    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.state(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }

    /// Extracts the uploaded object and checks it equals the state tree (mtimes to the second).
    fn assert_object_matches_state(&self) {
        let out = tempfile::tempdir().unwrap();
        let body = fs::File::open(self.object()).unwrap();
        extract_tar_gz(body, out.path(), &self.cfg.limits).unwrap();
        assert_eq!(secs(&Manifest::scan(out.path()).unwrap()), secs(&Manifest::scan(&self.cfg.state_path).unwrap()));
        for (p, e) in Manifest::scan(out.path()).unwrap().entries() {
            if e.kind == the0_executor::state::Kind::File {
                assert_eq!(fs::read(out.path().join(p)).unwrap(), fs::read(self.state(p)).unwrap(), "{p}");
            }
        }
    }
}

fn secs(m: &Manifest) -> Vec<(String, Entry)> {
    m.entries().iter().map(|(p, e)| (p.clone(), Entry { mtime_ns: e.mtime_ns / 1_000_000_000, ..*e })).collect()
}

fn touch(p: &Path, secs: u64) {
    fs::File::options().write(true).open(p).unwrap().set_modified(UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
}

#[tokio::test]
async fn empty_state_uploads_nothing() {
    let e = Env::new(&[]);
    fs::create_dir_all(e.state("only/dirs")).unwrap();
    let mut s = StateSyncer::new(&e.cfg, None);
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Empty);
    assert!(!e.object().exists());
}

#[tokio::test]
async fn uploads_on_change_only() {
    let e = Env::new(&[]);
    e.write(".the0-state/k.json", b"{\"n\":1}");
    e.write("models/w.bin", &vec![9u8; 100_000]);
    fs::create_dir_all(e.state("empty")).unwrap();
    let mut s = StateSyncer::new(&e.cfg, None);

    let StateSyncOutcome::Uploaded { bytes, files, .. } = s.sync(&e.store).await.unwrap() else { panic!() };
    assert_eq!(files, 2);
    assert_eq!(bytes, fs::metadata(e.object()).unwrap().len());
    e.assert_object_matches_state();

    // Unchanged: no upload happens (every write replaces the file: a new inode).
    use std::os::unix::fs::MetadataExt;
    let ino = fs::metadata(e.object()).unwrap().ino();
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Unchanged);
    assert_eq!(fs::metadata(e.object()).unwrap().ino(), ino);

    // Same size, different mtime: a change (no hashing, D7).
    touch(&e.state(".the0-state/k.json"), 1_650_000_000);
    assert!(matches!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Uploaded { files: 2, .. }));
    e.assert_object_matches_state();

    e.write(".the0-state/other.json", b"[]");
    assert!(matches!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Uploaded { files: 3, .. }));
    e.assert_object_matches_state();
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Unchanged);
}

#[tokio::test]
async fn a_restored_seed_is_not_uploaded_again() {
    let e = Env::new(&[]);
    e.write("k", b"v");
    let seed = Manifest::scan(&e.cfg.state_path).unwrap();
    let mut s = StateSyncer::new(&e.cfg, Some(seed));
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Unchanged);
    assert!(!e.object().exists());
}

#[tokio::test]
async fn caps_refuse_and_upload_nothing() {
    let e = Env::new(&[("MAX_STATE_FILE_SIZE_MB", "1"), ("MAX_STATE_SIZE_MB", "2")]);
    e.write("small", b"ok");
    e.write("dir/too-big.bin", &vec![0u8; 1024 * 1024 + 1]);
    let mut s = StateSyncer::new(&e.cfg, None);
    let StateSyncOutcome::Refused { reason } = s.sync(&e.store).await.unwrap() else { panic!() };
    assert!(reason.contains("dir/too-big.bin") && reason.contains("1048577"), "{reason}");
    assert!(!e.object().exists());
    assert!(matches!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Refused { .. }), "still refused");

    fs::remove_file(e.state("dir/too-big.bin")).unwrap();
    for i in 0..3 {
        e.write(&format!("part{i}"), &vec![1u8; 800 * 1024]);
    }
    let StateSyncOutcome::Refused { reason } = s.sync(&e.store).await.unwrap() else { panic!() };
    assert!(reason.contains("total"), "{reason}");
    assert!(!e.object().exists());

    fs::remove_file(e.state("part2")).unwrap();
    assert!(matches!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Uploaded { files: 3, .. }));
}

#[tokio::test]
async fn cleared_state_deletes_the_remote_archive_once() {
    let e = Env::new(&[]);
    e.write(".the0-state/k.json", b"1");
    let mut s = StateSyncer::new(&e.cfg, None);
    assert!(matches!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Uploaded { .. }));
    assert!(e.object().exists());
    fs::remove_file(e.state(".the0-state/k.json")).unwrap();
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Deleted);
    assert!(!e.object().exists());
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Empty);

    // After a restore with files, clearing deletes too.
    e.write("k", b"restored");
    let seed = Manifest::scan(&e.cfg.state_path).unwrap();
    fs::create_dir_all(e.object().parent().unwrap()).unwrap();
    fs::write(e.object(), b"remote").unwrap();
    // As a restore does: the version read is recorded, so the delete is conditional on it.
    let etag = e.store.head("bot-state", "b1/state.tar.gz").await.unwrap().expect("object").etag;
    Seen::of_etag(&etag).expect("etag").save(&e.cfg.run_dir(), "bot-state", "b1/state.tar.gz");
    let mut s = StateSyncer::new(&e.cfg, Some(seed));
    fs::remove_file(e.state("k")).unwrap();
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Deleted);
    assert!(!e.object().exists());
}

#[tokio::test]
async fn a_failed_restore_blocks_every_write_and_delete() {
    let e = Env::new(&[]);
    fs::create_dir_all(e.cfg.run_dir()).unwrap();
    fs::write(e.cfg.run_dir().join("state-restore-failed"), b"boom").unwrap();
    fs::create_dir_all(e.object().parent().unwrap()).unwrap();
    fs::write(e.object(), b"the good copy").unwrap();
    let seed = {
        e.write("k", b"v");
        Manifest::scan(&e.cfg.state_path).unwrap()
    };
    let mut s = StateSyncer::new(&e.cfg, Some(seed));
    e.write("k", b"changed");
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Blocked);
    fs::remove_file(e.state("k")).unwrap();
    assert_eq!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Blocked);
    assert_eq!(fs::read(e.object()).unwrap(), b"the good copy");
}

#[tokio::test]
async fn a_failed_upload_is_retried_on_the_next_sync() {
    let e = Env::new(&[]);
    e.write("k", b"v");
    // The bucket path is a file: creating the bucket fails.
    fs::create_dir_all(e.dir.path().join("objects")).unwrap();
    fs::write(e.dir.path().join("objects/bot-state"), b"in the way").unwrap();
    let mut s = StateSyncer::new(&e.cfg, None);
    let err = s.sync(&e.store).await.unwrap_err();
    assert!(err.to_string().contains("bot-state"), "{err}");
    fs::remove_file(e.dir.path().join("objects/bot-state")).unwrap();
    assert!(matches!(s.sync(&e.store).await.unwrap(), StateSyncOutcome::Uploaded { files: 1, .. }));
    e.assert_object_matches_state();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_state_streams_through_the_pipe() {
    let e = Env::new(&[("MAX_STATE_FILE_SIZE_MB", "64")]);
    // Poorly compressible data, several MiB: many pipe chunks.
    let mut x: u32 = 1;
    let data: Vec<u8> = (0..6 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    e.write("blob.bin", &data);
    for i in 0..200 {
        e.write(&format!("many/{i:03}.json"), format!("{{\"i\":{i}}}").as_bytes());
    }
    let mut s = StateSyncer::new(&e.cfg, None);
    let StateSyncOutcome::Uploaded { bytes, files, .. } = s.sync(&e.store).await.unwrap() else { panic!() };
    assert_eq!(files, 201);
    assert!(bytes > 6 * 1024 * 1024, "{bytes}");
    e.assert_object_matches_state();
}
