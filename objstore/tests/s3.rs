//! The S3 backend against a real S3-compatible server (moto in server mode). Start it with
//! `eval "$(THE0_VENV=/opt/the0-venv scripts/test-services.sh start)"`; these tests refuse to run
//! (panic) without `THE0_TEST_S3_ENDPOINT`, so a missing server is never a silent pass.
//!
//! This file: shared helpers and single-object operations; `s3/uploads.rs`: `put_stream` and
//! `put_file`; `s3/append.rs`: `append`; `s3/compose.rs`: `compose`; `s3/conditional.rs`:
//! conditional writes.

#[path = "s3/append.rs"]
mod append;
#[path = "s3/compose.rs"]
mod compose;
#[path = "s3/conditional.rs"]
mod conditional;
#[path = "s3/uploads.rs"]
mod uploads;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ring::digest::{Context as Sha, SHA256};
use the0_objstore::{Error, Store, StreamOptions};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

const MIB: usize = 1024 * 1024;

use the0_test_support::{s3_endpoint as endpoint, s3_settings as settings};

fn store() -> Store {
    Store::s3(settings(&endpoint())).expect("S3 store")
}

fn s3(store: &Store) -> &the0_objstore::s3::S3Store {
    match store {
        Store::S3(s) => s,
        Store::Local(_) => panic!("not an S3 store"),
    }
}

/// A bucket name no other test (or earlier run) uses.
fn bucket(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos();
    format!("t-{name}-{}-{nanos}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

async fn read_all(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
    let mut obj = store.get(bucket, key).await.expect("get").expect("object exists");
    let mut v = Vec::new();
    obj.body.read_to_end(&mut v).await.expect("read body");
    assert_eq!(obj.meta.size, v.len() as u64);
    v
}

/// Deterministic pseudo-random bytes (xorshift), `len` of them, then EOF or an error; hashes what
/// it yields.
struct Source {
    left: usize,
    fail_at_end: bool,
    state: u64,
    sha: Option<Sha>,
}

impl Source {
    fn new(len: usize, fail_at_end: bool) -> Source {
        Source { left: len, fail_at_end, state: 0x9E37_79B9_7F4A_7C15, sha: Some(Sha::new(&SHA256)) }
    }
    fn digest(&mut self) -> Vec<u8> {
        self.sha.take().expect("digest once").finish().as_ref().to_vec()
    }
}

impl AsyncRead for Source {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            if self.fail_at_end {
                return Poll::Ready(Err(std::io::Error::other("source broke")));
            }
            return Poll::Ready(Ok(()));
        }
        let n = self.left.min(buf.remaining()).min(64 * 1024);
        let mut chunk = vec![0u8; n];
        for b in chunk.iter_mut() {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
        if let Some(sha) = self.sha.as_mut() {
            sha.update(&chunk);
        }
        buf.put_slice(&chunk);
        self.left -= n;
        Poll::Ready(Ok(()))
    }
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&SHA256, data).as_ref().to_vec()
}
#[tokio::test]
async fn round_trip_with_awkward_keys() {
    let store = store();
    let b = bucket("roundtrip");
    assert!(!store.bucket_exists(&b).await.expect("bucket_exists"));
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    assert!(store.bucket_exists(&b).await.expect("bucket_exists"));
    let keys = ["plain.txt", "dir with space/a+b=c&d.txt", "ünïcødé/日本語 ключ €.json", "a/b/c/~tilde!'()*$.log"];
    for (i, key) in keys.iter().enumerate() {
        let body = Bytes::from(format!("body {i} of {key}"));
        store.put_bytes(&b, key, body.clone(), "text/plain").await.expect("put_bytes");
        assert_eq!(read_all(&store, &b, key).await, body);
        let meta = store.head(&b, key).await.expect("head").expect("present");
        assert_eq!(meta.size, body.len() as u64);
        assert!(!meta.etag.is_empty());
    }
    let listed = store.list(&b, "").await.expect("list");
    let mut want: Vec<&str> = keys.to_vec();
    want.sort();
    assert_eq!(listed.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), want);
    let now = SystemTime::now();
    for o in &listed {
        let age = now.duration_since(o.last_modified).unwrap_or_default();
        assert!(age < Duration::from_secs(600), "{o:?}");
    }
    let sub = store.list(&b, "dir with space/").await.expect("list prefix");
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0].key, keys[1]);
    assert_eq!(sub[0].size, format!("body 1 of {}", keys[1]).len() as u64);

    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("dl/file");
    let n = store.get_to_file(&b, keys[2], &dest).await.expect("get_to_file");
    assert_eq!(n, Some(std::fs::read(&dest).expect("read dest").len() as u64));
    assert_eq!(std::fs::read_dir(dest.parent().expect("parent")).expect("ls").count(), 1, "no temp left");

    for key in keys {
        store.delete(&b, key).await.expect("delete");
        store.delete(&b, key).await.expect("delete of a missing key");
        assert!(store.head(&b, key).await.expect("head").is_none());
    }
    assert!(store.list(&b, "").await.expect("list").is_empty());
}

#[tokio::test]
async fn missing_key_and_bucket_are_none() {
    let store = store();
    let b = bucket("missing");
    assert!(store.get(&b, "k").await.expect("get on missing bucket").is_none());
    assert!(store.head(&b, "k").await.expect("head on missing bucket").is_none());
    assert!(store.list(&b, "").await.expect("list on missing bucket").is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(store.get_to_file(&b, "k", &dir.path().join("x")).await.expect("get_to_file"), None);
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    assert!(store.get(&b, "k").await.expect("get on missing key").is_none());
    assert!(store.head(&b, "no/such/key").await.expect("head on missing key").is_none());
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

#[tokio::test]
async fn ensure_bucket_twice_and_list_pagination() {
    let store = Arc::new(store());
    let b = bucket("pages");
    store.ensure_bucket(&b).await.expect("first ensure_bucket");
    store.ensure_bucket(&b).await.expect("second ensure_bucket");
    // A second store that did not create it: the server says it exists already.
    let other = self::store();
    other.ensure_bucket(&b).await.expect("ensure_bucket of an existing bucket");

    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (store, b) = (store.clone(), b.clone());
        tasks.spawn(async move {
            for i in (worker..1003).step_by(8) {
                store.put_bytes(&b, &format!("k/{i:05}"), Bytes::from_static(b"x"), "").await.expect("put");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("worker");
    }
    let all = store.list(&b, "k/").await.expect("list");
    assert_eq!(all.len(), 1003, "pagination past 1000 keys");
    assert!(all.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(all[1002].key, "k/01002");
}
#[tokio::test]
async fn server_down_is_a_quick_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let store = Store::s3(settings(&format!("127.0.0.1:{port}"))).expect("store");
    let started = Instant::now();
    let err = store.head("b", "k").await.expect_err("nothing listens");
    assert!(matches!(err, Error::Transport { op: "HeadObject", .. }), "{err}");
    let err = store.ensure_bucket("b").await.expect_err("nothing listens");
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    let err =
        store.put_stream("b", "k", &b"data"[..], "", StreamOptions::default()).await.expect_err("nothing listens");
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn invalid_keys_never_reach_the_server() {
    let store = store();
    for key in ["../x", "/abs", "a//b", "a\0b", ""] {
        let err = store.put_bytes("bucket", key, Bytes::from_static(b"x"), "").await.expect_err(key);
        assert!(matches!(err, Error::Invalid(_)), "{key:?}: {err}");
    }
}
