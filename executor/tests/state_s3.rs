//! State and code against a real S3-compatible server (moto): a multipart state upload restored
//! into a fresh container, the D8 delete, and a code fetch. Start the server with
//! `eval "$(THE0_VENV=/opt/the0-venv scripts/test-services.sh start)"`; like the object-store
//! tests, these panic without `THE0_TEST_S3_ENDPOINT` so a missing server is never a silent pass.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use the0_executor::code::{fetch, FetchOutcome};
use the0_executor::config::Config;
use the0_executor::state::{restore_with, Manifest, RestoreOutcome, RetryPolicy, StateSyncOutcome, StateSyncer};
use the0_objstore::Store;
use the0_test_support::names::unique;

fn endpoint() -> String {
    common::s3_endpoint()
}

fn store() -> Store {
    Store::s3(common::s3_settings(&endpoint())).expect("S3 store")
}

fn config(root: &Path, extra: &[(&str, &str)]) -> Config {
    let r = root.display().to_string();
    let mut v: HashMap<String, String> = [
        ("BOT_ID", "b1".to_string()),
        ("RUNTIME", "python3.11".into()),
        ("ENTRYPOINT", "main.py".into()),
        ("CODE_PATH", format!("{r}/bot")),
        ("STATE_PATH", format!("{r}/state")),
        ("LOGS_PATH", format!("{r}/run/logs")),
        ("MAX_STATE_FILE_SIZE_MB", "64".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    v.extend(common::s3_env(&endpoint()));
    v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_vars(&v, true).unwrap()
}

fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_state_upload_restores_in_a_new_container_then_clears() {
    let s3 = store();
    let bucket = unique("state");
    let a = tempfile::tempdir().unwrap();
    let cfg = config(a.path(), &[("MINIO_STATE_BUCKET", &bucket)]);
    fs::create_dir_all(cfg.state_path.join(".the0-state")).unwrap();
    fs::write(cfg.state_path.join(".the0-state/k.json"), b"{\"n\":1}").unwrap();
    // Above one 8 MiB part after compression: a multipart upload.
    fs::write(cfg.state_path.join("blob.bin"), noise(10 * 1024 * 1024)).unwrap();

    let mut syncer = StateSyncer::new(&cfg, None);
    let StateSyncOutcome::Uploaded { bytes, files, .. } = syncer.sync(&s3).await.unwrap() else { panic!() };
    assert_eq!(files, 2);
    let meta = s3.head(&bucket, "b1/state.tar.gz").await.unwrap().expect("object");
    assert_eq!(meta.size, bytes);
    assert_eq!(syncer.sync(&s3).await.unwrap(), StateSyncOutcome::Unchanged);

    // A new container of the same bot restores it.
    let b = tempfile::tempdir().unwrap();
    let cfg_b = config(b.path(), &[("MINIO_STATE_BUCKET", &bucket)]);
    let policy = RetryPolicy { delays: vec![Duration::from_millis(10); 3] };
    let RestoreOutcome::Restored(m) = restore_with(&s3, &cfg_b, &policy).await.unwrap() else { panic!() };
    assert_eq!(m.file_count(), 2);
    assert_eq!(
        fs::read(cfg_b.state_path.join("blob.bin")).unwrap(),
        fs::read(cfg.state_path.join("blob.bin")).unwrap()
    );
    assert_eq!(fs::read(cfg_b.state_path.join(".the0-state/k.json")).unwrap(), b"{\"n\":1}");

    // The restored container clears its state: the remote archive goes (D8).
    let mut syncer_b = StateSyncer::new(&cfg_b, Some(m));
    fs::remove_file(cfg_b.state_path.join("blob.bin")).unwrap();
    fs::remove_file(cfg_b.state_path.join(".the0-state/k.json")).unwrap();
    assert_eq!(syncer_b.sync(&s3).await.unwrap(), StateSyncOutcome::Deleted);
    assert!(s3.head(&bucket, "b1/state.tar.gz").await.unwrap().is_none());

    // A third container finds no archive: first run.
    let c = tempfile::tempdir().unwrap();
    let cfg_c = config(c.path(), &[("MINIO_STATE_BUCKET", &bucket)]);
    assert_eq!(restore_with(&s3, &cfg_c, &policy).await.unwrap(), RestoreOutcome::FirstRun);
    assert_eq!(Manifest::scan(&cfg_c.state_path).unwrap(), Manifest::default());
}

#[tokio::test]
async fn missing_state_bucket_is_a_first_run() {
    let s3 = store();
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), &[("MINIO_STATE_BUCKET", &unique("nobucket"))]);
    let out = restore_with(&s3, &cfg, &RetryPolicy { delays: vec![] }).await.unwrap();
    assert_eq!(out, RestoreOutcome::FirstRun);
}

#[tokio::test]
async fn code_fetch_from_s3() {
    let s3 = store();
    let bucket = unique("code");
    s3.ensure_bucket(&bucket).await.unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("main.py", zip::write::SimpleFileOptions::default()).unwrap();
    w.write_all(b"print('hi')").unwrap();
    let body = w.finish().unwrap().into_inner();
    s3.put_bytes(&bucket, "u1/bot/1", Bytes::from(body), "application/zip").await.unwrap();

    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), &[("MINIO_CODE_BUCKET", &bucket), ("CODE_FILE", "u1/bot/1")]);
    assert!(matches!(fetch(&s3, &cfg).await.unwrap(), FetchOutcome::Extracted(_)));
    assert_eq!(fs::read(cfg.code_path.join("main.py")).unwrap(), b"print('hi')");
    let missing = config(d.path(), &[("MINIO_CODE_BUCKET", &bucket), ("CODE_FILE", "u1/bot/2")]);
    let err = fetch(&s3, &missing).await.unwrap_err();
    assert_eq!(err.to_string(), format!("code object {bucket}/u1/bot/2 not found"));
}

/// Issue #10 on S3: a restored archive replaced by another writer is not overwritten, and neither
/// is one another writer created after a first run. (The refusal comes from the HEAD check before
/// each write, and from `If-Match` / `If-None-Match` where the server honours them.)
#[tokio::test]
async fn another_writers_archive_is_not_overwritten() {
    let store = store();
    for first_run in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let bucket = unique(if first_run { "conflict-first" } else { "conflict" });
        let cfg = |name: &str| config(&dir.path().join(name), &[("MINIO_STATE_BUCKET", bucket.as_str())]);
        common::conflict_scenario(&store, &cfg("seed"), &cfg("pod"), first_run).await;
    }
}
