//! `--scoped-credentials` against Ceph's S3 gateway (Ceph lane only: the file name ends in
//! `_ceph`). Start the gateway with `eval "$(scripts/ceph-s3.sh start)"`; without
//! `THE0_TEST_CEPH_ENDPOINT` these tests panic, so a missing server is never a silent pass.
//!
//! Host side, no container: the orchestrator's issuing (AssumeRole with the bot's session policy,
//! the file and its record, 0644 in a 0755 directory), what the issued keys reach (own state yes,
//! another bot's state no), renewal (a new file by rename, picked up by a store reading it),
//! removal, and the part-copy fallbacks the executor relies on under Ceph 16 (log append of 5 MiB
//! or more, compose refused and remembered).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use the0_contract::buckets::Buckets;
use the0_contract::keys;
use the0_objstore::s3::{CredentialSource, CredentialsFile};
use the0_objstore::{ObjectMeta, Piece, Store};
use the0_orchestrator::creds;
use the0_orchestrator::spec::{credentials_dir, HostSettings, Scoped, Storage};
use the0_test_support::ceph::{ceph_region as region, ceph_settings as settings, ceph_var as var};
use the0_test_support::names::unique;

struct Fixture {
    _dir: tempfile::TempDir,
    host: HostSettings,
    admin: Store,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = unique("sc");
    let buckets = Buckets {
        code: format!("code-{tag}"),
        state: format!("state-{tag}"),
        logs: format!("logs-{tag}"),
        query_results: format!("qr-{tag}"),
    };
    let s = settings();
    let host = HostSettings {
        storage: Storage::S3 {
            endpoint: s.endpoint.clone(),
            container_endpoint: s.endpoint.clone(),
            access_key: s.access_key.clone(),
            secret_key: s.secret_key.clone(),
            use_ssl: false,
        },
        buckets: buckets.clone(),
        scoped: Some(Scoped {
            dir: dir.path().join("credentials"),
            role_arn: var("THE0_TEST_CEPH_ROLE_ARN"),
            duration: Duration::from_secs(900),
            region: region(),
        }),
        ..Default::default()
    };
    let admin = Store::s3(s).expect("store");
    for b in [&buckets.code, &buckets.state, &buckets.logs, &buckets.query_results] {
        admin.ensure_bucket(b).await.expect("bucket");
    }
    for bot in ["bot-a", "bot-b"] {
        let put = |bucket: &str, key: String, body: String| {
            let (admin, bucket) = (&admin, bucket.to_owned());
            async move { admin.put_bytes(&bucket, &key, Bytes::from(body), "").await.expect("seed") }
        };
        put(&buckets.code, format!("{bot}/v1.zip"), format!("code of {bot}")).await;
        put(&buckets.state, keys::state_key(bot), format!("state of {bot}")).await;
    }
    Fixture { _dir: dir, host, admin }
}

fn file_of(h: &HostSettings, bot: &str, container: &str) -> PathBuf {
    credentials_dir(h.scoped.as_ref().expect("scoped"), bot, container).join(creds::FILE)
}

fn scoped_store(path: &std::path::Path) -> Store {
    let file = CredentialsFile::open(path).expect("credentials file");
    Store::s3_with_credentials(settings(), CredentialSource::File(file)).expect("store")
}

#[tokio::test]
async fn issued_keys_reach_only_their_bot_and_are_renewed_and_removed() {
    let f = fixture().await;
    let h = &f.host;
    let b = &h.buckets;
    creds::issue(h, "bot-a", "bot-a/v1.zip", "the0-bot-bot-a", None).await.expect("issue");
    let path = file_of(h, "bot-a", "the0-bot-bot-a");
    let meta = std::fs::metadata(&path).expect("file written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "the container's uid 1000 must read it");
    let dir_mode = std::fs::metadata(path.parent().expect("dir")).expect("dir").permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o755);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains("session_token") && !text.contains(&var("THE0_TEST_CEPH_SECRET_KEY")));

    let store = scoped_store(&path);
    // Its own objects.
    assert!(store.head(&b.code, "bot-a/v1.zip").await.expect("own code").is_some());
    assert!(store.get(&b.state, &keys::state_key("bot-a")).await.expect("own state").is_some());
    store.put_bytes(&b.state, &keys::state_key("bot-a"), Bytes::from_static(b"new"), "").await.expect("own put");
    // Another bot's objects: refused by the session policy.
    let other = store.get(&b.state, &keys::state_key("bot-b")).await.err().expect("other bot's state refused");
    assert!(other.is_access_denied(), "{other}");
    let code = store.head(&b.code, "bot-b/v1.zip").await;
    assert!(code.is_err(), "other bot's code refused: {code:?}");
    let put = store.put_bytes(&b.state, &keys::state_key("bot-b"), Bytes::from_static(b"x"), "").await;
    assert!(put.is_err_and(|e| e.is_access_denied()));

    // Renewal: a new file by rename, with new keys, used by the next request of the same store.
    let grants = creds::grants(h.scoped.as_ref().expect("scoped"));
    assert_eq!(grants.len(), 1);
    let mut g = grants[0].clone();
    assert!(g.expires_unix > g.issued_unix + 800, "{g:?}");
    let before = std::fs::read_to_string(&path).expect("read");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    creds::reissue(h, &mut g).await.expect("renew");
    let after = std::fs::metadata(&path).expect("meta");
    assert_ne!(after.ino(), meta.ino(), "renewal renames a new file into place");
    assert_ne!(std::fs::read_to_string(&path).expect("read"), before, "new keys");
    assert!(store.get(&b.state, &keys::state_key("bot-a")).await.expect("renewed keys work").is_some());
    let planned = creds::renew::plan(&[g.clone()], None, g.issued_unix + 449);
    assert!(planned.is_empty(), "not due before half life: {planned:?}");
    assert_eq!(creds::renew::plan(&[g.clone()], None, g.issued_unix + 450), vec![(0, creds::renew::Action::Renew)]);

    // Removal with the container.
    creds::forget(h, "bot-a", "the0-bot-bot-a");
    assert!(!path.parent().expect("dir").exists());
    assert!(creds::grants(h.scoped.as_ref().expect("scoped")).is_empty());
    let _ = f.admin.delete(&b.state, &keys::state_key("bot-a")).await;
}

#[tokio::test]
async fn a_query_container_gets_its_own_directory_and_result_key() {
    let f = fixture().await;
    let h = &f.host;
    let key = "bot-a/1-00000000000000aa/result.json";
    creds::issue(h, "bot-a", "bot-a/v1.zip", "the0-bot-bot-a", None).await.expect("bot");
    creds::issue(h, "bot-a", "bot-a/v1.zip", "the0-query-bot-a-1", Some(key)).await.expect("query");
    let q = scoped_store(&file_of(h, "bot-a", "the0-query-bot-a-1"));
    let bot = scoped_store(&file_of(h, "bot-a", "the0-bot-bot-a"));
    q.put_bytes(&h.buckets.query_results, key, Bytes::from_static(b"{}"), "").await.expect("query writes its key");
    let other = "bot-a/2-00000000000000bb/result.json";
    assert!(q.put_bytes(&h.buckets.query_results, other, Bytes::from_static(b"{}"), "").await.is_err());
    assert!(bot.put_bytes(&h.buckets.query_results, key, Bytes::from_static(b"{}"), "").await.is_err());
    creds::forget(h, "bot-a", "the0-query-bot-a-1");
    assert!(file_of(h, "bot-a", "the0-bot-bot-a").exists(), "the bot's own file stays");
    creds::forget(h, "bot-a", "the0-bot-bot-a");
}

#[tokio::test]
async fn part_copy_refused_to_sessions_falls_back_to_whole_uploads() {
    let f = fixture().await;
    let h = &f.host;
    let b = &h.buckets;
    creds::issue(h, "bot-a", "bot-a/v1.zip", "the0-bot-bot-a", None).await.expect("issue");
    let store = scoped_store(&file_of(h, "bot-a", "the0-bot-bot-a"));
    assert!(!store.part_copy_refused());

    // A log of 5 MiB or more grows by part copy, which Ceph 16 refuses to STS sessions: the
    // append must still land, whole, and the store remembers the refusal.
    let log = keys::log_key("bot-a", "20261205");
    let big = Bytes::from(vec![b'x'; 5 * 1024 * 1024 + 10]);
    store.append(&b.logs, &log, big.clone(), "text/plain").await.expect("first append (PUT)");
    store.append(&b.logs, &log, Bytes::from_static(b"tail\n"), "text/plain").await.expect("append past 5 MiB");
    assert!(store.part_copy_refused(), "Ceph 16 refuses UploadPartCopy to STS sessions");
    let meta = f.admin.head(&b.logs, &log).await.expect("head").expect("exists");
    assert_eq!(meta.size, big.len() as u64 + 5);
    store.append(&b.logs, &log, Bytes::from_static(b"more\n"), "text/plain").await.expect("next append, whole");
    assert_eq!(f.admin.head(&b.logs, &log).await.expect("head").expect("exists").size, big.len() as u64 + 10);

    // compose (the incremental state upload) is refused and reported as such.
    let fresh = scoped_store(&file_of(h, "bot-a", "the0-bot-bot-a"));
    let state = keys::state_key("bot-a");
    let body = Bytes::from(vec![b's'; 11 * 1024 * 1024]);
    fresh.put_bytes(&b.state, &state, body, "").await.expect("state put");
    let m = fresh.head(&b.state, &state).await.expect("head").expect("exists");
    let source = ObjectMeta { size: m.size, etag: m.etag };
    let pieces = vec![Piece::Copy { start: 0, end: 6 * 1024 * 1024 }, Piece::Data(Bytes::from_static(b"new"))];
    let r = fresh.compose(&b.state, &state, &source, pieces, "", Duration::from_secs(60)).await;
    assert!(r.as_ref().is_err_and(|e| e.is_access_denied()), "{r:?}");
    assert!(fresh.part_copy_refused());
    creds::forget(h, "bot-a", "the0-bot-bot-a");
}
