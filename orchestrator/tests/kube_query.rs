//! The controller's :9477 query API (`kube::queryserve`) end to end against the stateful fake API
//! server (`kube_fake`: a test plays the kubelet and the Job controller by setting statuses), with
//! the real SQLite store as desired state and local object storage for the results.
//!
//! Scenarios: an unknown bot and a bot without a query entrypoint are 404 with no call made; a
//! realtime bot whose pod is not running gets a query Job (the golden shape's name and labels),
//! and a failed Job gives the error envelope; a scheduled bot's succeeded Job gives the result
//! object the bot wrote, which is gone afterwards; a Job still running at the query's timeout is
//! deleted with background propagation and the caller gets Docker mode's timeout envelope; a
//! running pod with an address is proxied to (no Job); a full set of Job slots answers 503; with
//! `--desired-state configmaps` the bots come from the desired-state ConfigMaps.
//! No assertion is on time: every wait is a bounded loop.

mod common;
mod kube_fake;
mod kube_record;
mod query_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kube_fake::FakeApi;
use kube_record::{env_of, record, record_with_query};
use query_common::{check_envelope, query};
use serde_json::{json, Value};
use the0_orchestrator::kube::cmstore::ConfigMapStore;
use the0_orchestrator::kube::{client, queryserve, KubeSettings};
use the0_orchestrator::metrics::Metrics;
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::query::result::Results;
use the0_orchestrator::query::QueryOptions;
use the0_orchestrator::shutdown::flag_set;
use the0_orchestrator::store::{Mode, Store};

const NS: &str = "the0";

struct Rig {
    api: FakeApi,
    addr: String,
    store: Store,
    objects: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn new(max: usize) -> Rig {
        Rig::with(max, false).await
    }

    /// With `configmaps`, the index comes from the desired-state ConfigMaps
    /// (`--desired-state configmaps`), listed by `follow_configmaps`.
    async fn with(max: usize, configmaps: bool) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = FakeApi::start().await;
        let kc = api.kubeconfig(dir.path(), NS);
        let client = client::connect(Some(&kc)).await.expect("client from the kubeconfig");
        let store = Store::open(&dir.path().join("data")).expect("store");
        let objects = dir.path().join("objects");
        std::fs::create_dir_all(&objects).expect("objects dir");
        let settings = KubeSettings { namespace: NS.into(), ..KubeSettings::default() };
        let store_objects = the0_objstore::Store::open(&the0_objstore::StoreSettings::Local { root: objects.clone() })
            .expect("local objects");
        let results = Results {
            objects: Arc::new(store_objects),
            bucket: settings.buckets.query_results.clone(),
            local_root: Some(objects.clone()),
        };
        let opts = QueryOptions { max_containers: max, ..QueryOptions::default() };
        let cm = configmaps.then(|| ConfigMapStore::new(client.clone(), NS));
        let metrics = Arc::new(Metrics::default());
        let server =
            queryserve::server(client, &settings, results, &opts, &store, cm.as_ref(), metrics).expect("query server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind :9477 stand-in");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, rx) = tokio::sync::watch::channel(false);
        if let Some(cm) = cm {
            let follow = queryserve::follow_configmaps(cm, server.index.clone(), flag_set(rx.clone()));
            tokio::spawn(follow);
        }
        tokio::spawn(Arc::new(server).run(listener, flag_set(rx)));
        Rig { api, addr, store, objects, stop, _dir: dir }
    }

    fn put(&self, rec: BotRecord) {
        self.store.apply(&Change::Upsert(rec), Mode::Put, None).expect("store put");
    }

    fn jobs(&self) -> std::collections::BTreeMap<String, Value> {
        self.api.objects("batch", "jobs", NS)
    }

    /// The one query Job, once the controller has created it (bounded wait).
    async fn wait_job(&self) -> (String, Value) {
        for _ in 0..400 {
            if let Some((name, job)) = self.jobs().into_iter().next() {
                return (name, job);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no query Job was created: {:?}", self.api.log());
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn result_file(objects: &Path, key: &str) -> PathBuf {
    objects.join("query-results").join(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_bots_and_bots_without_a_query_entrypoint_are_404() {
    let rig = Rig::new(4).await;
    rig.put(record("plain", json!({})));
    let (code, v) = query(&rig.addr, json!({"bot_id": "nobody", "query_path": "/status"})).await;
    assert_eq!(code, 404, "{v}");
    check_envelope(&v);
    assert_eq!(v["error"], "bot \"nobody\" not found");
    let (code, v) = query(&rig.addr, json!({"bot_id": "plain", "query_path": "/status"})).await;
    assert_eq!(code, 404, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("no query entrypoint")), "{v}");
    assert!(rig.api.log().is_empty(), "a refused query calls nothing: {:?}", rig.api.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realtime_bot_whose_pod_is_not_running_gets_a_job_and_a_failed_job_is_an_error() {
    let rig = Rig::new(4).await;
    rig.put(record_with_query("rt1", json!({}), true));
    // Its pod exists but is Pending (no kubelet): not proxied.
    rig.api.seed("", "pods", NS, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bot-rt1"}, "status": {"phase": "Pending", "podIP": "10.9.9.9"}}));
    let addr = rig.addr.clone();
    let asked = tokio::spawn(async move {
        query(&addr, json!({"bot_id": "rt1", "query_path": "/status", "timeout_sec": 60})).await
    });
    let (name, job) = rig.wait_job().await;
    assert!(name.starts_with("query-rt1-"), "{name}");
    assert_eq!(job["metadata"]["labels"]["the0.app/managed-by"], "the0-query-handler");
    assert_eq!(job["metadata"]["labels"]["the0.app/bot-id"], "rt1");
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 90, "the query's timeout + 30 s (D21)");
    assert_eq!(env_of(&job, "QUERY_PATH").as_deref(), Some("/status"));
    // The Job controller's pod of it, and what its bot container logged.
    let pod = format!("{name}-x7k2p");
    rig.api.seed(
        "",
        "pods",
        NS,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "labels": {"job-name": name}}}),
    );
    rig.api.set_log(NS, &pod, "Traceback (most recent call last):\nKeyError: 'price'\n");
    rig.api.set_status(
        "batch",
        "jobs",
        NS,
        &name,
        json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}),
    );
    let (code, v) = asked.await.expect("query task");
    assert_eq!(code, 500, "{v}");
    check_envelope(&v);
    assert_eq!(
        v["error"],
        format!(
            "query job {name} failed: BackoffLimitExceeded: Job has reached the specified backoff limit: \
             Traceback (most recent call last):\nKeyError: 'price'"
        ),
        "the error quotes the bot container's log, as Docker mode's does"
    );
    let asked_log: Vec<_> = rig.api.log().into_iter().filter(|(verb, r, _)| verb == "get" && r == "pods/log").collect();
    assert_eq!(asked_log, [("get".to_string(), "pods/log".to_string(), pod.clone())]);
    let looked: Vec<_> = rig.api.log().into_iter().filter(|(verb, r, _)| verb == "get" && r == "pods").collect();
    assert_eq!(looked.len(), 1, "the pod was read once: {looked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_bots_job_returns_the_result_object_which_is_then_deleted() {
    let rig = Rig::new(4).await;
    rig.put(record_with_query("sch1", json!({"schedule": "0 * * * *"}), true));
    let addr = rig.addr.clone();
    let asked = tokio::spawn(async move {
        query(&addr, json!({"bot_id": "sch1", "query_path": "/runs", "params": {"last": 2}})).await
    });
    let (name, job) = rig.wait_job().await;
    let key = env_of(&job, "QUERY_RESULT_KEY").expect("the Job names its result key");
    assert!(key.starts_with("sch1/") && key.ends_with("/result.json"), "{key}");
    assert_eq!(env_of(&job, "QUERY_PARAMS").as_deref(), Some(r#"{"last":2}"#));
    // What the bot's query program would write, then the Job controller's verdict.
    let file = result_file(&rig.objects, &key);
    std::fs::create_dir_all(file.parent().expect("parent")).expect("result dir");
    std::fs::write(&file, br#"{"status":"ok","data":{"runs":[1,2]}}"#).expect("write result");
    rig.api.complete_job(NS, &name);
    let (code, v) = asked.await.expect("query task");
    assert_eq!(code, 200, "{v}");
    check_envelope(&v);
    assert_eq!(v["data"], json!({"runs": [1, 2]}));
    assert!(!file.exists(), "the result object is deleted after it was read (D19)");
    assert!(
        !rig.api.log().iter().any(|(verb, r, _)| r == "pods" && verb == "get"),
        "a scheduled bot has no pod to read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_the_querys_timeout_is_deleted_in_the_background() {
    let rig = Rig::new(4).await;
    rig.put(record_with_query("slow", json!({"schedule": "0 * * * *"}), true));
    let (code, v) = query(&rig.addr, json!({"bot_id": "slow", "query_path": "/hang", "timeout_sec": 1})).await;
    assert_eq!(code, 500, "{v}");
    check_envelope(&v);
    assert_eq!(v["error"], "query timed out after 1s", "Docker mode's timeout envelope");
    assert!(rig.jobs().is_empty(), "the Job is gone: {:?}", rig.jobs());
    let deletes = rig.api.deletes();
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    let (resource, name, options) = &deletes[0];
    assert_eq!(resource, "jobs");
    assert!(name.starts_with("query-slow-"), "{name}");
    assert_eq!(options["propagationPolicy"], "Background", "D21: its pod goes too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pod_with_an_address_is_proxied_to_not_given_a_job() {
    let rig = Rig::new(4).await;
    rig.put(record_with_query("live", json!({}), true));
    // TEST-NET-1: routable nowhere, so the exchange cannot complete; the point is the route.
    rig.api.seed(
        "",
        "pods",
        NS,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bot-live"}, "status": {"phase": "Running", "podIP": "192.0.2.1",
            "containerStatuses": [{"name": "query-server", "ready": true, "restartCount": 0, "image": "i", "imageID": ""}]}}),
    );
    let (code, v) = query(&rig.addr, json!({"bot_id": "live", "query_path": "/status", "timeout_sec": 1})).await;
    assert_eq!(code, 500, "{v}");
    check_envelope(&v);
    assert!(rig.jobs().is_empty() && rig.api.deletes().is_empty(), "proxied, no Job: {:?}", rig.api.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_set_of_job_slots_answers_503() {
    let rig = Rig::new(1).await;
    rig.put(record_with_query("s1", json!({"schedule": "0 * * * *"}), true));
    let addr = rig.addr.clone();
    let first =
        tokio::spawn(async move { query(&addr, json!({"bot_id": "s1", "query_path": "/a", "timeout_sec": 60})).await });
    let (name, _) = rig.wait_job().await;
    let (code, v) = query(&rig.addr, json!({"bot_id": "s1", "query_path": "/b"})).await;
    assert_eq!(code, 503, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("--max-query-containers")), "{v}");
    rig.api.set_status("batch", "jobs", NS, &name, json!({"failed": 1}));
    let (code, v) = first.await.expect("first query");
    assert_eq!(code, 500, "{v}");
    assert_eq!(v["error"], format!("query job {name} failed: its pod failed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_configmaps_the_bots_come_from_the_desired_state_configmaps() {
    let rig = Rig::with(4, true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = client::connect(Some(&rig.api.kubeconfig(dir.path(), NS))).await.expect("client");
    let other_replica = ConfigMapStore::new(client, NS);
    let rec = record_with_query("cm1", json!({"schedule": "0 * * * *"}), true);
    other_replica.apply(&Change::Upsert(rec), Mode::Create, Some(1)).await.expect("ConfigMap written");
    // Listed into the index within one interval (5 s): until then the bot is unknown.
    let mut found = None;
    for _ in 0..100 {
        let addr = rig.addr.clone();
        let body = json!({"bot_id": "cm1", "query_path": "/x", "timeout_sec": 1});
        let (code, v) = query(&addr, body).await;
        if code != 404 {
            found = Some((code, v));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, v) = found.expect("the ConfigMap's bot was indexed");
    assert_eq!((code, v["error"].as_str()), (500, Some("query timed out after 1s")), "it got a query Job: {v}");
    assert!(rig.store.list().expect("store").is_empty(), "the SQLite store was never involved");
    let (code, v) = query(&rig.addr, json!({"bot_id": "nobody", "query_path": "/x"})).await;
    assert_eq!(code, 404, "{v}");
}
