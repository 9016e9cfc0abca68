//! `orchestrator gc` against real parts: moto (S3, and Ceph's gateway in the `_ceph` twin) and
//! the local directory store, a SQLite store held open read-write as a serving orchestrator
//! holds it, and a real Docker container carrying the managed labels.
//!
//! Ages: neither S3 server lets a test backdate an object or an upload, so each scenario writes
//! its "old" things, waits until the server's clock has moved on two seconds, writes its "fresh"
//! things, and runs the pass at the time when only the old ones are past the hour.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde_json::json;
use the0_contract::buckets::Buckets;
use the0_objstore::{Store as Objects, StreamOptions};
use the0_orchestrator::docker::Docker;
use the0_orchestrator::gc::{Gc, GcError, Plan, MAX_AGE};
use the0_orchestrator::metrics::Metrics;
use the0_orchestrator::model::{parse_payload, Change};
use the0_orchestrator::store::{Mode, Store};
use the0_test_support::names::unique;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use common::{bot_payload, docker, Cleanup};

/// A body that never ends (after what is chained before it): the multipart upload it feeds stays open.
struct Stuck;

impl AsyncRead for Stuck {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Poll::Pending
    }
}

/// The three bots of a scenario: one the store knows, one it does not, one with a container.
struct Bots {
    known: String,
    gone: String,
    running: String,
}

struct World {
    objects: Arc<Objects>,
    buckets: Buckets,
    data: tempfile::TempDir,
    /// Held open read-write (WAL) for the whole test, as a serving orchestrator holds it.
    _store: Store,
    bots: Bots,
    _cleanup: Cleanup,
    /// Uploads kept open (S3): dropping them aborts them.
    stuck: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for t in &self.stuck {
            t.abort();
        }
    }
}

fn docker_client() -> Docker {
    Docker::connect("unix:///var/run/docker.sock", None, Arc::new(Metrics::default())).expect("docker")
}

/// Opens the backend: S3 with `s3`, else a local store in the world's data dir.
fn open_objects(s3: Option<&the0_objstore::S3Settings>, data: &Path) -> Objects {
    match s3 {
        Some(s) => Objects::s3(s.clone()).expect("s3"),
        None => Objects::local(data.join("objects")),
    }
}

async fn world(s3: Option<the0_objstore::S3Settings>, buckets: Buckets) -> (World, Gc) {
    let data = tempfile::tempdir().expect("tempdir");
    let objects = Arc::new(open_objects(s3.as_ref(), data.path()));
    for b in [&buckets.state, &buckets.logs, &buckets.query_results] {
        objects.ensure_bucket(b).await.expect("ensure_bucket");
    }
    let gc =
        Gc::new(open_objects(s3.as_ref(), data.path()), buckets.clone(), data.path().to_path_buf(), docker_client());
    let store = Store::open(data.path()).expect("store");
    let bots = Bots { known: unique("known"), gone: unique("gone"), running: unique("running") };
    let Change::Upsert(rec) =
        parse_payload(bot_payload(&bots.known, "u/k/1", json!({})).to_string().as_bytes(), false).expect("payload")
    else {
        panic!("not an upsert")
    };
    store.apply(&Change::Upsert(rec), Mode::Put, None).expect("apply");
    // The running bot: in no table, but a managed container of another instance carries its id.
    let instance = unique("gc");
    let labels = [
        "--label".to_string(),
        "runtime.managed=true".to_string(),
        "--label".to_string(),
        format!("runtime.id={}", bots.running),
        "--label".to_string(),
        format!("runtime.instance={instance}"),
    ];
    let mut args = vec!["run", "-d", "--entrypoint", "sleep"];
    args.extend(labels.iter().map(String::as_str));
    let image = common::image();
    args.extend([image.as_str(), "600"]);
    let id = docker(&args);
    assert!(!id.is_empty(), "the labelled container did not start");
    (World { objects, buckets, data, _store: store, bots, _cleanup: Cleanup(instance), stuck: Vec::new() }, gc)
}

impl World {
    async fn put(&self, bucket: &str, key: &str) {
        self.objects.put_bytes(bucket, key, Bytes::from_static(b"x"), "text/plain").await.expect("put");
    }

    async fn exists(&self, bucket: &str, key: &str) -> bool {
        self.objects.head(bucket, key).await.expect("head").is_some()
    }

    /// Starts an upload that stays open (S3: a multipart upload whose third part never comes; local: a
    /// temp file beside the key, as a write in progress leaves it).
    async fn open_upload(&mut self, bucket: &str, key: &str) {
        match self.objects.as_ref() {
            Objects::Local(_) => {
                let (dir, leaf) = key.rsplit_once('/').expect("key with a directory");
                let dir = self.data.path().join("objects").join(bucket).join(dir);
                std::fs::create_dir_all(&dir).expect("mkdir");
                std::fs::write(dir.join(format!(".{leaf}.tmp-1-{}", self.stuck.len())), b"half").expect("temp");
                self.stuck.push(tokio::spawn(async {}));
            }
            Objects::S3(_) => {
                let before = self.uploads(bucket).await.len();
                let (objects, b, k) = (self.objects.clone(), bucket.to_string(), key.to_string());
                self.stuck.push(tokio::spawn(async move {
                    let body = tokio::io::repeat(b'x').take(2 * 5 * 1024 * 1024 + 1).chain(Stuck);
                    let opts = StreamOptions {
                        part_size: 5 * 1024 * 1024,
                        deadline: Duration::from_secs(600),
                        ..StreamOptions::default()
                    };
                    let _ = objects.put_stream(&b, &k, body, "application/gzip", opts).await;
                }));
                let t0 = std::time::Instant::now();
                while self.uploads(bucket).await.len() == before {
                    assert!(t0.elapsed() < Duration::from_secs(30), "the upload never showed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    async fn uploads(&self, bucket: &str) -> Vec<(String, SystemTime)> {
        let list = self.objects.uploads(bucket, "").await.expect("list uploads");
        list.into_iter().map(|u| (u.key, u.initiated)).collect()
    }

    /// Every object of the scenario's buckets.
    async fn all_objects(&self) -> BTreeSet<(String, String)> {
        let mut keys = BTreeSet::new();
        for b in [&self.buckets.state, &self.buckets.logs, &self.buckets.query_results] {
            for o in self.objects.list(b, "").await.expect("list") {
                keys.insert((b.clone(), o.key));
            }
        }
        keys
    }

    /// The newest time the server gave any object or upload of the scenario's buckets.
    async fn newest(&self) -> SystemTime {
        let mut t = SystemTime::UNIX_EPOCH;
        for b in [&self.buckets.state, &self.buckets.logs, &self.buckets.query_results] {
            for o in self.objects.list(b, "").await.expect("list") {
                t = t.max(o.last_modified);
            }
            for (_, at) in self.uploads(b).await {
                t = t.max(at);
            }
        }
        t
    }

    /// Waits until the server stamps new objects at least two seconds after `t`.
    async fn after(&self, t: SystemTime) {
        let probe = format!("{}/probe", unique("clock"));
        let t0 = std::time::Instant::now();
        loop {
            self.put(&self.buckets.query_results, &probe).await;
            let now = self.objects.list(&self.buckets.query_results, &probe).await.expect("list")[0].last_modified;
            self.objects.delete(&self.buckets.query_results, &probe).await.expect("delete");
            if now.duration_since(t).is_ok_and(|d| d >= Duration::from_secs(2)) {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "the server's clock does not move");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Every decision of the brief in one pass, dry run first, on whichever backend `w` has.
async fn scenario(mut w: World, gc: Gc) {
    let (st, lg, qr) = (w.buckets.state.clone(), w.buckets.logs.clone(), w.buckets.query_results.clone());
    let (known, gone, running) = (w.bots.known.clone(), w.bots.gone.clone(), w.bots.running.clone());
    let state = |b: &str| format!("{b}/state.tar.gz");
    let log = |b: &str| format!("logs/{b}/20250101.log");
    let temp = |b: &str, n: u64| format!("logs/{b}/.tmp-{n}");
    let result = |b: &str, n: u64| format!("{b}/{n}-00112233aabbccdd/result.json");
    // Old things.
    for b in [&known, &gone, &running] {
        w.put(&st, &state(b)).await;
        w.put(&lg, &log(b)).await;
    }
    w.put(&lg, &temp(&known, 1)).await;
    w.put(&lg, &temp(&running, 1)).await;
    w.put(&qr, &result(&known, 1)).await;
    w.put(&qr, &result(&running, 1)).await;
    w.open_upload(&st, &format!("{known}/state.tar.gz")).await;
    let old = w.newest().await;
    w.after(old).await;
    // Fresh things.
    w.put(&lg, &temp(&known, 2)).await;
    w.put(&qr, &result(&known, 2)).await;
    w.open_upload(&lg, &format!("logs/{known}/20250102.log")).await;
    let now = old + MAX_AGE + Duration::from_millis(500);

    let expected: BTreeSet<(String, String, &str)> = [
        (st.clone(), state(&gone), "orphan-state"),
        (lg.clone(), log(&gone), "orphan-logs"),
        (lg.clone(), temp(&known, 1), "stale-temp"),
        (qr.clone(), result(&known, 1), "stale-query-result"),
    ]
    .into_iter()
    .collect();
    let summary = |p: &Plan| -> (BTreeSet<(String, String, &'static str)>, Vec<String>) {
        let mut objects = BTreeSet::new();
        let mut uploads = Vec::new();
        for d in p.deletions() {
            match &d.upload {
                Some(_) => uploads.push(format!("{}/{}", d.bucket, d.key)),
                None => {
                    objects.insert((d.bucket.clone(), d.key.clone(), d.reason.kind()));
                }
            }
        }
        (objects, uploads)
    };

    // Dry run: every line printed, nothing deleted.
    let before = w.all_objects().await;
    let uploads_before = (w.uploads(&st).await.len(), w.uploads(&lg).await.len());
    let mut out = Vec::new();
    let dry = gc.pass(now, true, &mut out).await.expect("dry run");
    let (objects, uploads) = summary(&dry.plan);
    assert_eq!(objects, expected);
    // Which uploads are past the hour by the server's own `Initiated`. moto reports a fixed
    // 2010 date for every upload, so there both are; the local store and Ceph stamp the real
    // time, and there only the old one is.
    let fresh_upload = w.uploads(&lg).await.into_iter().map(|(_, at)| at).max().expect("the fresh upload");
    let honest = fresh_upload > old;
    let mut want_uploads = vec![format!("{st}/{known}/")];
    if honest {
        assert_eq!(uploads.len(), 1, "one old upload: {uploads:?}");
    } else {
        eprintln!("this server's <Initiated> ({fresh_upload:?}) is older than the upload: every upload looks old");
        want_uploads.push(format!("{lg}/logs/{known}/"));
        assert_eq!(uploads.len(), 2, "{uploads:?}");
    }
    for (got, want) in uploads.iter().zip(&want_uploads) {
        assert!(got.starts_with(want), "{got} is not under {want}");
    }
    let printed = String::from_utf8(out).expect("utf-8");
    assert_eq!(printed.lines().count(), 4 + uploads.len(), "{printed}");
    assert!(printed.lines().all(|l| l.starts_with("would ")), "{printed}");
    assert!(printed.contains(&format!("would delete {st}/{gone}/state.tar.gz: bot \"{gone}\"")), "{printed}");
    assert_eq!(w.all_objects().await, before, "a dry run deletes nothing");
    assert_eq!((w.uploads(&st).await.len(), w.uploads(&lg).await.len()), uploads_before);

    // The real pass.
    let mut out = Vec::new();
    let done = gc.pass(now, false, &mut out).await.expect("pass");
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    let gone_now: BTreeSet<(String, String)> = expected.iter().map(|(b, k, _)| (b.clone(), k.clone())).collect();
    let want: BTreeSet<(String, String)> = before.difference(&gone_now).cloned().collect();
    assert_eq!(w.all_objects().await, want, "exactly the planned objects are gone");
    for (b, k) in [(&st, state(&known)), (&st, state(&running)), (&lg, log(&running)), (&lg, temp(&running, 1))] {
        assert!(w.exists(b, &k).await, "{b}/{k} kept");
    }
    assert!(w.exists(&qr, &result(&running, 1)).await, "a bot with a container keeps its query results");
    assert!(w.exists(&qr, &result(&known, 2)).await, "a fresh query result is kept");
    assert_eq!(w.uploads(&st).await.len(), uploads_before.0 - 1, "the old upload is aborted");
    let fresh_kept = if honest { uploads_before.1 } else { uploads_before.1 - 1 };
    assert_eq!(w.uploads(&lg).await.len(), fresh_kept, "the fresh upload is kept (where the server dates it)");
    for t in w.stuck.drain(..) {
        t.abort();
    }
}

fn s3_buckets() -> Buckets {
    Buckets { code: unique("code"), state: unique("st"), logs: unique("lg"), query_results: unique("qr") }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_local() {
    let (w, gc) = world(None, Buckets::default()).await;
    scenario(w, gc).await;
}

async fn s3_scenario(settings: the0_objstore::S3Settings) {
    let (w, gc) = world(Some(settings), s3_buckets()).await;
    scenario(w, gc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_s3() {
    s3_scenario(the0_test_support::s3_settings(&the0_test_support::s3_endpoint())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_s3_ceph() {
    s3_scenario(the0_test_support::ceph::ceph_settings()).await;
}

/// D33: a store with no bot deletes nothing, even what is old; a missing store is an error that
/// deletes nothing and creates no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_or_missing_store_deletes_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    let objects = Objects::local(data.path().join("objects"));
    let b = Buckets::default();
    let orphan = format!("{}/state.tar.gz", unique("gone"));
    objects.put_bytes(&b.state, &orphan, Bytes::from_static(b"x"), "").await.expect("put");
    let later = SystemTime::now() + MAX_AGE * 2;
    let gc =
        || Gc::new(Objects::local(data.path().join("objects")), b.clone(), data.path().to_path_buf(), docker_client());

    let err = gc().pass(later, false, &mut Vec::new()).await.expect_err("no store");
    assert!(matches!(err, GcError::Desired(_)), "{err}");
    assert!(err.to_string().contains("deleting nothing"), "{err}");
    assert!(!data.path().join("orchestrator.db").exists(), "opening read-only created the store");

    let store = Store::open(data.path()).expect("store");
    let out = gc().pass(later, false, &mut Vec::new()).await.expect("pass");
    assert_eq!(out.plan, Plan::NoKnownBots);
    assert!(objects.head(&b.state, &orphan).await.expect("head").is_some(), "D33: nothing deleted");
    drop(store);
}

/// A store of another schema version is refused, never migrated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_another_version_is_not_read() {
    let data = tempfile::tempdir().expect("tempdir");
    let db = data.path().join("orchestrator.db");
    {
        let conn = rusqlite_conn(&db);
        conn.pragma_update(None, "user_version", 99).expect("pragma");
    }
    let err = the0_orchestrator::store::known_ids(data.path()).expect_err("version 99");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    let conn = rusqlite_conn(&db);
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("pragma");
    assert_eq!(v, 99, "left as it was");
}

fn rusqlite_conn(p: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(p).expect("sqlite")
}
