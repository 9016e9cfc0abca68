//! State restore against a local object store: first run, success, D5 skip, D4 failure.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use the0_executor::config::Config;
use the0_executor::state::{restore_with, write_tar_gz, Manifest, RestoreError, RestoreOutcome, RetryPolicy};
use the0_objstore::Store;

const KEY: &str = "b1/state.tar.gz";

fn setup(extra: &[(&str, &str)]) -> (tempfile::TempDir, Config, Store) {
    let d = tempfile::tempdir().unwrap();
    let cfg = common::local_config(d.path(), extra);
    let store = Store::local(d.path().join("objects"));
    (d, cfg, store)
}

fn fast() -> RetryPolicy {
    RetryPolicy { delays: vec![Duration::from_millis(1); 3] }
}

fn archive_of(root: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    write_tar_gz(root, &Manifest::scan(root).unwrap(), &mut out).unwrap();
    out
}

async fn put(store: &Store, body: Vec<u8>) {
    store.ensure_bucket("bot-state").await.unwrap();
    store.put_bytes("bot-state", KEY, Bytes::from(body), "application/gzip").await.unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn first_run_without_archive_or_bucket() {
    let (_d, cfg, store) = setup(&[]);
    let out = restore_with(&store, &cfg, &fast()).await.unwrap();
    assert_eq!(out, RestoreOutcome::FirstRun);
    assert!(cfg.state_path.is_dir());
    assert!(cfg.run_dir().join("state-restored").exists());
    assert!(!cfg.run_dir().join("state-restore-failed").exists());
}

#[tokio::test]
async fn restores_the_tree_and_seeds_the_manifest() {
    let (_d, cfg, store) = setup(&[]);
    let src = tempfile::tempdir().unwrap();
    fs::create_dir_all(src.path().join(".the0-state")).unwrap();
    fs::write(src.path().join(".the0-state/k.json"), b"{\"n\":1}").unwrap();
    fs::create_dir_all(src.path().join("models/empty")).unwrap();
    fs::write(src.path().join("models/w.bin"), vec![3u8; 300_000]).unwrap();
    put(&store, archive_of(src.path())).await;

    // Local leftovers: a conflicting name is replaced, an unrelated one stays.
    fs::create_dir_all(cfg.state_path.join("models")).unwrap();
    fs::write(cfg.state_path.join("models/stale"), b"old").unwrap();
    fs::write(cfg.state_path.join("local-only"), b"mine").unwrap();

    let RestoreOutcome::Restored(m) = restore_with(&store, &cfg, &fast()).await.unwrap() else {
        panic!("expected Restored");
    };
    assert_eq!(m, Manifest::scan(&cfg.state_path).unwrap(), "the seed is the restored tree");
    assert_eq!(names(&cfg.state_path), [".the0-state", "local-only", "models"]);
    assert_eq!(fs::read(cfg.state_path.join(".the0-state/k.json")).unwrap(), b"{\"n\":1}");
    assert_eq!(fs::read(cfg.state_path.join("models/w.bin")).unwrap(), vec![3u8; 300_000]);
    assert!(cfg.state_path.join("models/empty").is_dir());
    assert!(!cfg.state_path.join("models/stale").exists());
    assert!(cfg.run_dir().join("state-restored").exists());
}

#[tokio::test]
async fn in_pod_restart_skips_restore() {
    let (_d, cfg, store) = setup(&[]);
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("k"), b"remote").unwrap();
    put(&store, archive_of(src.path())).await;
    fs::create_dir_all(cfg.run_dir()).unwrap();
    fs::write(cfg.run_dir().join("state-restored"), b"").unwrap();
    fs::create_dir_all(&cfg.state_path).unwrap();
    fs::write(cfg.state_path.join("k"), b"newer local").unwrap();

    assert_eq!(restore_with(&store, &cfg, &fast()).await.unwrap(), RestoreOutcome::Skipped);
    assert_eq!(fs::read(cfg.state_path.join("k")).unwrap(), b"newer local");
}

async fn assert_gives_up(cfg: &Config, store: &Store, body: &[u8]) -> RestoreError {
    fs::create_dir_all(&cfg.state_path).unwrap();
    fs::write(cfg.state_path.join("junk"), b"partial").unwrap();
    fs::create_dir_all(cfg.state_path.join(".the0-state")).unwrap();

    let policy = RetryPolicy { delays: vec![Duration::from_millis(20); 3] };
    let start = Instant::now();
    let err = restore_with(store, cfg, &policy).await.unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(60), "three pauses between four attempts");
    assert!(matches!(err, RestoreError::Failed { attempts: 4, .. }), "{err}");

    assert!(cfg.state_path.is_dir());
    assert!(names(&cfg.state_path).is_empty(), "state emptied: {:?}", names(&cfg.state_path));
    let marker = fs::read_to_string(cfg.run_dir().join("state-restore-failed")).unwrap();
    assert!(!marker.is_empty());
    assert!(!cfg.run_dir().join("state-restored").exists());

    let log = fs::read_to_string(cfg.bot_log_path()).unwrap();
    assert_eq!(log.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(log.trim_end()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["message"].as_str().unwrap().starts_with("State restore failed: "), "{v}");
    let ts = v["timestamp"].as_str().unwrap();
    assert!(ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");

    let remote = fs::read(Path::new(&cfg_storage_root(cfg)).join("bot-state").join(KEY)).unwrap();
    assert_eq!(remote, body, "the remote archive is untouched");
    err
}

fn cfg_storage_root(cfg: &Config) -> String {
    match cfg.storage().unwrap() {
        the0_executor::config::StorageConfig::Local { root } => root.display().to_string(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn corrupt_archive_fails_after_retries_and_blocks() {
    let (_d, cfg, store) = setup(&[]);
    let garbage = b"\x1f\x8b this is not really a gzip stream".to_vec();
    put(&store, garbage.clone()).await;
    let err = assert_gives_up(&cfg, &store, &garbage).await;
    assert!(err.to_string().contains("bot-state/b1/state.tar.gz"), "{err}");
}

#[tokio::test]
async fn over_cap_archive_fails_like_a_corrupt_one() {
    let (_d, cfg, store) = setup(&[("MAX_STATE_FILE_SIZE_MB", "1")]);
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("huge"), vec![0u8; 1024 * 1024 + 1]).unwrap();
    let body = archive_of(src.path());
    put(&store, body.clone()).await;
    let err = assert_gives_up(&cfg, &store, &body).await;
    assert!(err.to_string().contains("huge"), "{err}");
}

#[tokio::test]
async fn a_later_success_lifts_the_failure_marker() {
    let (_d, cfg, store) = setup(&[]);
    fs::create_dir_all(cfg.run_dir()).unwrap();
    fs::write(cfg.run_dir().join("state-restore-failed"), b"earlier").unwrap();
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("k"), b"v").unwrap();
    put(&store, archive_of(src.path())).await;
    assert!(matches!(restore_with(&store, &cfg, &fast()).await.unwrap(), RestoreOutcome::Restored(_)));
    assert!(!cfg.run_dir().join("state-restore-failed").exists());
    assert!(!cfg.state_path.join(".the0-restore-tmp").exists());
}

#[tokio::test]
async fn an_entry_named_like_the_temp_dir_cannot_wipe_the_restore() {
    let (_d, cfg, store) = setup(&[]);
    let src = tempfile::tempdir().unwrap();
    fs::create_dir_all(src.path().join(".the0-restore-tmp")).unwrap();
    fs::write(src.path().join(".the0-restore-tmp/x"), b"x").unwrap();
    fs::write(src.path().join("k"), b"v").unwrap();
    put(&store, archive_of(src.path())).await;
    assert!(matches!(restore_with(&store, &cfg, &fast()).await.unwrap(), RestoreOutcome::Restored(_)));
    assert_eq!(names(&cfg.state_path), ["k"]);
}
