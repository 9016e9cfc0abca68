//! The executor's state sync under scoped (STS session) keys on Ceph's S3 gateway (Ceph lane
//! only: the file name ends in `_ceph`). Ceph 16 refuses UploadPartCopy to every STS session, so
//! the incremental upload (compose from copies of the unchanged ranges) cannot work there: the
//! sync must fall back to a whole upload, keep working on every later sync, and the object must
//! still restore to exactly the tree. Start the gateway with `eval "$(scripts/ceph-s3.sh start)"`;
//! without `THE0_TEST_CEPH_ENDPOINT` this test panics, so a missing server is never a silent pass.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use the0_contract::botpolicy::{bot_session_policy, BotObjects};
use the0_contract::buckets::Buckets;
use the0_executor::config::{Config, StorageConfig};
use the0_executor::state::{extract_tar_gz, StateSyncOutcome, StateSyncer};
use the0_objstore::s3::AssumeRole;
use the0_objstore::Store;
use the0_test_support::ceph::{ceph_region as region, ceph_settings as settings, ceph_var as var};
use the0_test_support::names::unique;
use tokio::io::AsyncReadExt;

/// Incompressible bytes (xorshift64).
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n.div_ceil(8))
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .take(n)
        .collect()
}

fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, data).expect("write");
}

fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("prefix").display().to_string();
                out.insert(rel, fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn config(root: &Path, bucket: &str, creds: &Path) -> Config {
    let r = root.display().to_string();
    let vars: std::collections::HashMap<String, String> = [
        ("BOT_ID", "b1".to_string()),
        ("RUNTIME", "python3.11".into()),
        ("ENTRYPOINT", "main.py".into()),
        ("CODE_PATH", format!("{r}/bot")),
        ("STATE_PATH", format!("{r}/state")),
        ("LOGS_PATH", format!("{r}/run/logs")),
        ("MINIO_ENDPOINT", var("THE0_TEST_CEPH_ENDPOINT")),
        ("MINIO_REGION", region()),
        ("MINIO_STATE_BUCKET", bucket.to_string()),
        ("THE0_CREDENTIALS_FILE", creds.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Config::from_vars(&vars, true).expect("config")
}

#[tokio::test]
async fn state_sync_under_session_keys_falls_back_to_whole_uploads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bucket = unique("state-incr");
    let admin = Store::s3(settings()).expect("admin store");
    admin.ensure_bucket(&bucket).await.expect("bucket");

    // The keys the orchestrator would issue for bot b1, in the file it would write.
    let buckets = Buckets { state: bucket.clone(), ..Buckets::default() };
    let policy = bot_session_policy(&BotObjects {
        bot_id: "b1",
        buckets: &buckets,
        code_key: "b1/v1.zip",
        query_result_key: None,
    })
    .expect("policy");
    let Store::S3(sts) = Store::s3(settings()).expect("sts") else { panic!("not S3") };
    let req = AssumeRole {
        role_arn: var("THE0_TEST_CEPH_ROLE_ARN"),
        session_name: "the0-b1".into(),
        policy: Some(policy),
        duration: Duration::from_secs(900),
    };
    let creds = sts.assume_role(&req).await.expect("AssumeRole");
    let creds_file = dir.path().join("credentials.json");
    fs::write(&creds_file, creds.to_json()).expect("write credentials");

    let cfg = config(dir.path(), &bucket, &creds_file);
    assert!(matches!(cfg.storage(), Ok(StorageConfig::S3 { credentials_file: Some(_), .. })));
    let store = the0_objstore::Store::open(cfg.storage().expect("storage")).expect("open on the file");

    // ~16 MiB of incompressible state: large enough for an incremental upload on S3.
    for n in 0..64u64 {
        write(&cfg.state_path.join(format!("d{}/f{n:03}.bin", n % 4)), &noise(n + 7, 256 * 1024));
    }
    let mut syncer = StateSyncer::new(&cfg, None);
    let first = syncer.sync(&store).await.expect("first sync");
    assert!(matches!(first, StateSyncOutcome::Uploaded { bytes, sent, .. } if bytes == sent), "{first:?}");
    for round in 0..3u64 {
        write(&cfg.state_path.join(format!("d1/f{:03}.bin", round * 4 + 1)), &noise(1000 + round, 4096));
        let out = syncer.sync(&store).await.expect("sync under session keys");
        match out {
            StateSyncOutcome::Uploaded { bytes, sent, .. } => assert_eq!(sent, bytes, "round {round}: whole upload"),
            other => panic!("round {round}: expected an upload, got {other:?}"),
        }
        assert!(store.part_copy_refused(), "Ceph 16 refuses UploadPartCopy to STS sessions");
        let mut obj = admin.get(&bucket, "b1/state.tar.gz").await.expect("get").expect("object");
        let mut body = Vec::new();
        obj.body.read_to_end(&mut body).await.expect("read");
        let out = tempfile::tempdir().expect("tempdir");
        extract_tar_gz(&body[..], out.path(), &cfg.limits).expect("extract");
        assert!(tree(&cfg.state_path) == tree(out.path()), "round {round}: the object restores to the tree");
    }
    let _ = admin.delete(&bucket, "b1/state.tar.gz").await;
}
