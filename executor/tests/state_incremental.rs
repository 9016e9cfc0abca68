//! Incremental state uploads (one gzip member per segment, unchanged members copied server-side)
//! against the local backend and the real S3 server (moto): after rounds of random edits (change,
//! add, delete, rename) the object restores to exactly the tree, is byte for byte what a full
//! upload would write, and is read by GNU tar, Python's tarfile/gzip and Node's zlib (the0's API
//! reader); an object edited by someone else is never overwritten (issue #10); a failed upload
//! leaves the previous object in place and the next one succeeds; a new pod that restored the
//! archive uploads its first change incrementally, and a foreign (one-member) archive makes it a
//! full upload.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use the0_executor::config::Config;
use the0_executor::state::{
    extract_tar_gz, restore, write_tar_gz, Entry, Kind, Manifest, RestoreOutcome, StateSyncOutcome, StateSyncer,
};
use the0_objstore::Store;
use tokio::io::AsyncReadExt;

const KEY: &str = "b1/state.tar.gz";
/// ~8 MiB: several segments (the local store takes pieces of any size).
const LOCAL_FILES: usize = 60;
/// ~32 MiB: S3 copies only ranges of at least 5 MiB and new parts are at least 5 MiB too, so a
/// few scattered edits leave something to copy only in an object several times that size.
const S3_FILES: usize = 240;

/// xorshift64: deterministic edits and incompressible contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n.div_ceil(8)).flat_map(|_| self.next().to_le_bytes()).take(n).collect()
    }
}

struct Env {
    _dir: tempfile::TempDir,
    cfg: Config,
    store: Store,
    bucket: String,
    rng: Rng,
}

impl Env {
    fn local() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let cfg = common::local_config(dir.path(), &[]);
        let store = Store::local(dir.path().join("objects"));
        Env { _dir: dir, cfg, store, bucket: "bot-state".into(), rng: Rng(0x9e37_79b9_7f4a_7c15) }
    }

    fn s3(endpoint: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let bucket = common::unique("incr").to_lowercase();
        let cfg = common::local_config(dir.path(), &[("MINIO_STATE_BUCKET", &bucket)]);
        let store = Store::s3(common::s3_settings(endpoint)).unwrap();
        Env { _dir: dir, cfg, store, bucket, rng: Rng(0x2545_f491_4f6c_dd1d) }
    }

    fn state(&self) -> &Path {
        &self.cfg.state_path
    }

    /// `files` files of 16 KiB..`max_kib` KiB of random bytes in 8 directories, plus a key file.
    fn generate(&mut self, files: usize, max_kib: u64) {
        for n in 0..files {
            let size = 16 * 1024 + self.rng.below((max_kib - 16) * 1024) as usize;
            let data = self.rng.bytes(size);
            write(&self.state().join(format!("d{}/f{n:04}.bin", n % 8)), &data);
        }
        write(&self.state().join(".the0-state/k.json"), b"{\"n\":0}");
    }

    fn files(&self) -> Vec<PathBuf> {
        let m = Manifest::scan(self.state()).unwrap();
        m.entries().iter().filter(|(_, e)| e.kind == Kind::File).map(|(p, _)| self.state().join(p)).collect()
    }

    /// One random edit: change a file's content, add, delete or rename a file.
    fn edit(&mut self) {
        let files = self.files();
        let pick = files[self.rng.below(files.len() as u64) as usize].clone();
        let size = 1 + self.rng.below(64 * 1024) as usize;
        let data = self.rng.bytes(size);
        let other = format!("d{}/{}.bin", self.rng.below(9), self.rng.next());
        match self.rng.below(4) {
            0 => write(&pick, &data),
            1 => write(&self.state().join(other), &data),
            2 => fs::remove_file(&pick).unwrap(),
            _ => {
                let to = self.state().join(other);
                fs::create_dir_all(to.parent().unwrap()).unwrap();
                fs::rename(&pick, to).unwrap();
            }
        }
    }

    async fn sync(&self, syncer: &mut StateSyncer) -> (u64, u64) {
        match syncer.sync(&self.store).await.unwrap() {
            StateSyncOutcome::Uploaded { bytes, sent, .. } => (bytes, sent),
            other => panic!("expected an upload, got {other:?}"),
        }
    }

    async fn object(&self) -> Vec<u8> {
        let mut obj = self.store.get(&self.bucket, KEY).await.unwrap().expect("state object");
        let mut v = Vec::new();
        obj.body.read_to_end(&mut v).await.unwrap();
        v
    }

    /// The object restores to exactly the tree.
    async fn check_object(&self) -> Vec<u8> {
        let got = self.object().await;
        let out = tempfile::tempdir().unwrap();
        extract_tar_gz(&got[..], out.path(), &self.cfg.limits).unwrap();
        assert_same_tree(self.state(), out.path());
        got
    }

    /// The object is byte for byte the archive a full upload would write now.
    async fn check_same_as_full(&self) {
        let got = self.object().await;
        let mut full = Vec::new();
        write_tar_gz(self.state(), &Manifest::scan(self.state()).unwrap(), &mut full).unwrap();
        assert!(got == full, "the object differs from a full archive ({} vs {} bytes)", got.len(), full.len());
    }
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// Same entries (mtimes to the second, as tar keeps them) and same file contents.
fn assert_same_tree(want: &Path, got: &Path) {
    let secs = |m: Manifest| -> Vec<(String, Entry)> {
        m.entries().iter().map(|(p, e)| (p.clone(), Entry { mtime_ns: e.mtime_ns / 1_000_000_000, ..*e })).collect()
    };
    let (a, b) = (Manifest::scan(want).unwrap(), Manifest::scan(got).unwrap());
    for (p, e) in a.entries() {
        if e.kind == Kind::File {
            assert!(fs::read(want.join(p)).unwrap() == fs::read(got.join(p)).unwrap(), "{p} differs");
        }
    }
    assert_eq!(secs(a), secs(b));
}

/// GNU tar, Python's tarfile (which the API's Python tools would use) and gzip, and Node's zlib
/// (the0's API gunzips with it before node-tar) read the whole multi-member archive.
fn assert_other_readers(archive: &[u8], state: &Path) {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("state.tar.gz");
    fs::write(&file, archive).unwrap();
    let mut tar_len = 0;
    flate2::read::MultiGzDecoder::new(archive).read_to_end_len(&mut tar_len);
    let gnu = work.path().join("gnu");
    fs::create_dir(&gnu).unwrap();
    assert!(Command::new("tar").arg("-xzf").arg(&file).arg("-C").arg(&gnu).status().unwrap().success());
    assert_same_tree(state, &gnu);
    let py = work.path().join("py");
    let script = "import gzip,sys,tarfile\n\
                  tarfile.open(sys.argv[1], 'r:gz').extractall(sys.argv[2])\n\
                  print(len(gzip.decompress(open(sys.argv[1], 'rb').read())))";
    let out = Command::new("python3").args(["-c", script]).arg(&file).arg(&py).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tar_len.to_string(), "python gzip length");
    assert_same_tree(state, &py);
    let js =
        "const z=require('zlib'),fs=require('fs');console.log(z.gunzipSync(fs.readFileSync(process.argv[1])).length)";
    let out = Command::new("node").args(["-e", js]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tar_len.to_string(), "node zlib length");
}

trait ReadLen {
    fn read_to_end_len(self, len: &mut usize);
}

impl<R: std::io::Read> ReadLen for R {
    fn read_to_end_len(mut self, len: &mut usize) {
        *len = std::io::copy(&mut self, &mut std::io::sink()).unwrap() as usize;
    }
}

/// Rounds of random edits, each synced incrementally (fewer bytes sent than the object holds) and
/// checked; then a restarted syncer (same run dir, no seed) still uploads incrementally.
async fn random_edits_round_trip(mut e: Env, files: usize) {
    e.generate(files, 256);
    let mut syncer = StateSyncer::new(&e.cfg, None);
    let (bytes, sent) = e.sync(&mut syncer).await;
    assert_eq!(sent, bytes, "the first upload is a full one");
    e.check_object().await;
    for round in 0..5 {
        for _ in 0..=round % 3 {
            e.edit();
        }
        let (bytes, sent) = e.sync(&mut syncer).await;
        assert!(sent < bytes, "round {round}: sent {sent} of {bytes} bytes: not incremental");
        e.check_object().await;
    }
    let mut restarted = StateSyncer::new(&e.cfg, None);
    e.edit();
    let (bytes, sent) = e.sync(&mut restarted).await;
    assert!(sent < bytes, "after a restart: sent {sent} of {bytes} bytes");
    let archive = e.check_object().await;
    e.check_same_as_full().await;
    assert_other_readers(&archive, e.state());
}

/// A new pod (empty state and run directories) restores the archive; its first change is uploaded
/// incrementally, and the object is still byte for byte a full archive. An archive written as
/// one gzip member (node-tar, the original runtime) restores fine and is then uploaded whole.
async fn a_new_pod_uploads_its_first_change_incrementally(mut e: Env, files: usize) {
    e.generate(files, 256);
    let mut first_pod = StateSyncer::new(&e.cfg, None);
    e.sync(&mut first_pod).await;
    let new_pod = |e: &Env| {
        fs::remove_dir_all(e.state()).unwrap();
        fs::remove_dir_all(e.cfg.run_dir()).unwrap();
    };
    new_pod(&e);
    let seed = match restore(&e.store, &e.cfg).await.unwrap() {
        RestoreOutcome::Restored(m) => m,
        other => panic!("expected a restore, got {other:?}"),
    };
    let mut syncer = StateSyncer::new(&e.cfg, Some(seed));
    assert_eq!(syncer.sync(&e.store).await.unwrap(), StateSyncOutcome::Unchanged);
    e.edit();
    let (bytes, sent) = e.sync(&mut syncer).await;
    assert!(sent < bytes, "the first upload after a restore sent {sent} of {bytes} bytes");
    e.check_object().await;
    e.check_same_as_full().await;

    // The same tree as one gzip member.
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    tar.append_dir_all(".", e.state()).unwrap();
    let single = tar.into_inner().unwrap().finish().unwrap();
    e.store.put_bytes(&e.bucket, KEY, single.into(), "application/gzip").await.unwrap();
    new_pod(&e);
    let Ok(RestoreOutcome::Restored(seed)) = restore(&e.store, &e.cfg).await else { panic!("restore") };
    let mut syncer = StateSyncer::new(&e.cfg, Some(seed));
    e.edit();
    let (bytes, sent) = e.sync(&mut syncer).await;
    assert_eq!(sent, bytes, "nothing of a one-member archive can be reused");
    e.check_object().await;
}

/// Someone else (the0's API editing a key) replaced the object: it is never overwritten (issue
/// #10, conditional writes): the next sync refuses, and so does every later one.
async fn edited_object_is_not_overwritten(mut e: Env, files: usize) {
    e.generate(files, 256);
    let mut syncer = StateSyncer::new(&e.cfg, None);
    e.sync(&mut syncer).await;
    let api_tree = tempfile::tempdir().unwrap();
    write(&api_tree.path().join(".the0-state/k.json"), b"{\"edited\":true}");
    let mut edited = Vec::new();
    write_tar_gz(api_tree.path(), &Manifest::scan(api_tree.path()).unwrap(), &mut edited).unwrap();
    e.store.put_bytes(&e.bucket, KEY, edited.clone().into(), "application/gzip").await.unwrap();
    for _ in 0..2 {
        e.edit();
        let outcome = syncer.sync(&e.store).await.unwrap();
        assert!(matches!(outcome, StateSyncOutcome::NotSaved { .. }), "{outcome:?}");
        assert!(e.object().await == edited, "the edited object is kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_random_edits_round_trip() {
    random_edits_round_trip(Env::local(), LOCAL_FILES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_edited_object_is_not_overwritten() {
    edited_object_is_not_overwritten(Env::local(), LOCAL_FILES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_a_new_pod_uploads_its_first_change_incrementally() {
    a_new_pod_uploads_its_first_change_incrementally(Env::local(), LOCAL_FILES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_a_new_pod_uploads_its_first_change_incrementally() {
    a_new_pod_uploads_its_first_change_incrementally(Env::s3(&common::s3_endpoint()), S3_FILES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_random_edits_round_trip() {
    random_edits_round_trip(Env::s3(&common::s3_endpoint()), S3_FILES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_edited_object_is_not_overwritten() {
    edited_object_is_not_overwritten(Env::s3(&common::s3_endpoint()), S3_FILES).await;
}

/// Storage goes away during an incremental upload: the sync fails, the previous object stays
/// exactly as it was, nothing incomplete is left, and the next sync uploads incrementally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_failed_upload_keeps_the_previous_object() {
    let proxy = common::proxy::Proxy::start(&common::s3_endpoint());
    let mut e = Env::s3(&proxy.endpoint);
    let direct = Env::s3(&common::s3_endpoint()).store;
    e.generate(S3_FILES, 256);
    let mut syncer = StateSyncer::new(&e.cfg, None);
    e.sync(&mut syncer).await;
    let before = e.object().await;
    e.edit();
    proxy.set_up(false);
    syncer.sync(&e.store).await.expect_err("storage is down");
    proxy.set_up(true);
    let mut obj = direct.get(&e.bucket, KEY).await.unwrap().expect("object");
    let mut now = Vec::new();
    obj.body.read_to_end(&mut now).await.unwrap();
    assert!(now == before, "the previous object is intact");
    let (bytes, sent) = e.sync(&mut syncer).await;
    assert!(sent < bytes, "sent {sent} of {bytes} bytes");
    e.check_object().await;
    let the0_objstore::Store::S3(s3) = &direct else { unreachable!() };
    assert!(s3.incomplete_uploads(&e.bucket, "").await.unwrap().is_empty());
}
