//! Scoped credentials against Ceph's S3 gateway, which (unlike moto) checks signatures, STS
//! session tokens and session policies. Start it with `eval "$(scripts/ceph-s3.sh start)"`; these
//! tests refuse to run (panic) without `THE0_TEST_CEPH_ENDPOINT`, so a missing server is never a
//! silent pass.
//!
//! One bot's temporary keys (AssumeRole + the session policy of `the0_contract::botpolicy`) must
//! do everything its executor does on its own objects and nothing on another bot's.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use the0_contract::botpolicy::{bot_session_policy, BotObjects};
use the0_contract::buckets::Buckets;
use the0_contract::keys;
use the0_objstore::s3::{AssumeRole, CredentialSource, Credentials, CredentialsFile};
use the0_objstore::{Error, ObjectMeta, Piece, Store, StreamOptions};
use the0_test_support::ceph::{ceph_settings as settings, ceph_var as var};
use the0_test_support::names::unique;
use tokio::io::AsyncReadExt;

const MIB: usize = 1024 * 1024;

fn admin() -> Store {
    Store::s3(settings()).expect("S3 store")
}

fn test_buckets() -> Buckets {
    let tag = unique("t");
    Buckets {
        code: format!("code-{tag}"),
        state: format!("state-{tag}"),
        logs: format!("logs-{tag}"),
        query_results: format!("qr-{tag}"),
    }
}

struct Bot {
    id: String,
    code_key: String,
}

/// Creates the buckets and, for each bot, its code, state and log objects (with the shared keys).
async fn seed(admin: &Store, b: &Buckets, bots: &[&Bot]) {
    for bucket in [&b.code, &b.state, &b.logs, &b.query_results] {
        admin.ensure_bucket(bucket).await.expect("create bucket");
    }
    for bot in bots {
        let put = |bucket: &str, key: String, body: &str| {
            let body = Bytes::from(body.to_owned());
            let (admin, bucket) = (admin, bucket.to_owned());
            async move { admin.put_bytes(&bucket, &key, body, "").await.expect("seed put") }
        };
        put(&b.code, bot.code_key.clone(), &format!("code of {}", bot.id)).await;
        put(&b.state, keys::state_key(&bot.id), &format!("state of {}", bot.id)).await;
        put(&b.logs, keys::log_key(&bot.id, "20261205"), &format!("log of {}\n", bot.id)).await;
    }
}

async fn scoped_credentials(admin: &Store, b: &Buckets, bot: &Bot, result_key: Option<&str>) -> Credentials {
    let policy = bot_session_policy(&BotObjects {
        bot_id: &bot.id,
        buckets: b,
        code_key: &bot.code_key,
        query_result_key: result_key,
    })
    .expect("policy");
    let Store::S3(s3) = admin else { panic!("not S3") };
    s3.assume_role(&AssumeRole {
        role_arn: var("THE0_TEST_CEPH_ROLE_ARN"),
        session_name: format!("bot-{}", bot.id.len()),
        policy: Some(policy),
        duration: Duration::from_secs(900),
    })
    .await
    .expect("AssumeRole")
}

async fn read(store: &Store, bucket: &str, key: &str) -> the0_objstore::Result<Option<Vec<u8>>> {
    let Some(mut got) = store.get(bucket, key).await? else { return Ok(None) };
    let mut out = Vec::new();
    got.body.read_to_end(&mut out).await.expect("read body");
    Ok(Some(out))
}

fn assert_denied<T: std::fmt::Debug>(what: &str, r: the0_objstore::Result<T>) {
    match r {
        Err(Error::Server { status: 403, .. }) => {}
        other => panic!("{what}: expected 403 AccessDenied, got {other:?}"),
    }
}

#[tokio::test]
async fn scoped_keys_reach_own_objects_and_nothing_else() {
    let admin = admin();
    let b = test_buckets();
    let a = Bot { id: unique("bot-a"), code_key: "a-code/v1.zip".into() };
    let other = Bot { id: unique("bot-b"), code_key: "b-code/v1.zip".into() };
    seed(&admin, &b, &[&a, &other]).await;
    let result_key = format!("{}/q-1.json", a.id);
    let creds = scoped_credentials(&admin, &b, &a, Some(&result_key)).await;
    assert!(creds.session_token.is_some() && creds.access_key != settings().access_key);
    let bot = Store::s3_with_credentials(settings(), CredentialSource::Fixed(Arc::new(creds))).expect("store");

    // Everything the executor does on its own objects.
    assert_eq!(read(&bot, &b.code, &a.code_key).await.expect("own code"), Some(format!("code of {}", a.id).into()));
    bot.head(&b.code, &a.code_key).await.expect("own code HEAD").expect("exists");
    for bucket in [&b.state, &b.logs, &b.query_results] {
        bot.ensure_bucket(bucket).await.expect("HeadBucket of a bucket the bot writes to");
    }
    let state = keys::state_key(&a.id);
    assert!(read(&bot, &b.state, &state).await.expect("own state").is_some());
    bot.put_bytes(&b.state, &state, Bytes::from_static(b"new state"), "application/gzip").await.expect("state put");
    let big = vec![7u8; 6 * MIB];
    let opts = StreamOptions { part_size: 5 * MIB, ..StreamOptions::default() };
    bot.put_stream(&b.state, &state, &big[..], "application/gzip", opts).await.expect("state multipart");
    // compose (UploadPartCopy of the object itself) needs a source with an ETag.
    bot.put_bytes(&b.state, &state, Bytes::from(big.clone()), "application/gzip").await.expect("state put 6 MiB");
    let source: ObjectMeta = bot.head(&b.state, &state).await.expect("HEAD").expect("exists");
    let pieces = vec![Piece::Copy { start: 0, end: 5 * MIB as u64 }, Piece::Data(Bytes::from_static(b"tail"))];
    // Ceph 16.2.15 denies UploadPartCopy to every STS session, even with a session policy of
    // `s3:*` on `*` (CopyObject works; probed with boto3, see docs/security/creds.md). Pinned here
    // so the day the gateway allows it this assertion says so; on AWS/MinIO it is expected to pass.
    let composed = bot.compose(&b.state, &state, &source, pieces, "application/gzip", Duration::from_secs(120)).await;
    match composed {
        Err(Error::Server { op: "UploadPartCopy", status: 403, .. }) => {}
        other => panic!("compose under a scoped key on Ceph 16: expected the known 403, got {other:?}"),
    }
    let log = keys::log_key(&a.id, "20261205");
    bot.append(&b.logs, &log, Bytes::from_static(b"more\n"), "text/plain").await.expect("log append");
    let log_body = read(&bot, &b.logs, &log).await.expect("own log").expect("exists");
    assert!(log_body.ends_with(b"more\n"), "{}", String::from_utf8_lossy(&log_body));
    bot.put_bytes(&b.query_results, &result_key, Bytes::from_static(b"{}"), "application/json")
        .await
        .expect("own query result");
    bot.delete(&b.state, &state).await.expect("own state delete");

    // Nothing of the other bot's.
    assert_denied("other code", read(&bot, &b.code, &other.code_key).await);
    assert_denied("other state", read(&bot, &b.state, &keys::state_key(&other.id)).await);
    assert_denied("other log", read(&bot, &b.logs, &keys::log_key(&other.id, "20261205")).await);
    assert_denied(
        "overwrite other state",
        bot.put_bytes(&b.state, &keys::state_key(&other.id), Bytes::from_static(b"x"), "").await,
    );
    assert_denied("delete other state", bot.delete(&b.state, &keys::state_key(&other.id)).await);
    assert_denied(
        "append other log",
        bot.append(&b.logs, &keys::log_key(&other.id, "20261205"), Bytes::from_static(b"x"), "").await,
    );
    assert_denied(
        "other query result",
        bot.put_bytes(&b.query_results, &format!("{}/q-1.json", other.id), Bytes::from_static(b"{}"), "").await,
    );
    assert_denied("overwrite own code", bot.put_bytes(&b.code, &a.code_key, Bytes::from_static(b"x"), "").await);
    assert_denied("create a bucket", bot.ensure_bucket(&unique("newbucket")).await);
    // The other bot's objects are untouched.
    let st = read(&admin, &b.state, &keys::state_key(&other.id)).await.expect("admin read").expect("exists");
    assert_eq!(st, format!("state of {}", other.id).into_bytes());
}

/// A store reading its keys from a file picks up a rewrite (the orchestrator's renewal) on the
/// next request, without a restart.
#[tokio::test]
async fn credentials_file_rewrite_is_used_on_the_next_request() {
    let admin = admin();
    let b = test_buckets();
    let a = Bot { id: unique("bot-a"), code_key: "a-code/v1.zip".into() };
    seed(&admin, &b, &[&a]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("credentials.json");
    let write = |c: &Credentials| {
        let tmp = dir.path().join(".credentials.tmp");
        std::fs::write(&tmp, c.to_json()).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
    };
    let good = scoped_credentials(&admin, &b, &a, None).await;
    let revoked = Credentials { secret_key: format!("{}x", good.secret_key), ..good.clone() };
    write(&revoked);
    let file = CredentialsFile::open(&path).expect("open");
    let bot = Store::s3_with_credentials(settings(), CredentialSource::File(file)).expect("store");
    let state = keys::state_key(&a.id);
    assert_denied("wrong secret", read(&bot, &b.state, &state).await);
    write(&good);
    assert!(read(&bot, &b.state, &state).await.expect("after the rewrite").is_some());
    let renewed = scoped_credentials(&admin, &b, &a, None).await;
    assert_ne!(renewed.access_key, good.access_key);
    write(&renewed);
    bot.put_bytes(&b.state, &state, Bytes::from_static(b"renewed"), "").await.expect("with renewed keys");
}
