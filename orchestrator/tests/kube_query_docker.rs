//! The controller's :9477 query API answered by real bots (issue #12): the fake API server plays
//! the cluster, the pod emulation (`podemu/`) plays the kubelet on the real Docker engine, moto
//! plays S3 (on the test network's gateway, where the containers reach it).
//!
//! 1. A realtime bot: its pod `kube::bot_pod` builds runs in Docker, the fake API reports it
//!    Running at the pause container's address; `POST /query` to the controller's query server
//!    is answered by the real query sidecar, parameters included (D20), and no Job is made.
//! 2. A scheduled bot: the query Job the controller creates in the fake API is run by the test
//!    (its pod template translated by podemu); once its container exits 0 the test marks the Job
//!    succeeded, the controller returns what the bot wrote to moto (from its stored state), and
//!    that object is gone.
//!
//! The bot is examples/python-ticker on `the0/runtime:python`. Needs Docker, that image
//! (`make images`) and the test image (a busybox pause); outside CI a missing image skips the
//! test with a message, in CI it fails it. Every container, volume and network is removed.

mod common;
mod kube_fake;
mod podemu;
mod query_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::e2e::{examples, have, ticker_state_archive, zip_files};
use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube_fake::FakeApi;
use podemu::docker::{exit_code, run, start, Scene};
use podemu::PodEnv;
use query_common::{check_envelope, query};
use serde_json::{json, Value};
use the0_objstore::Store as Objects;
use the0_orchestrator::images::RuntimeImages;
use the0_orchestrator::kube::{self, queryserve, KubeSettings};
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::query::result::Results;
use the0_orchestrator::query::QueryOptions;
use the0_orchestrator::store::{Mode, Store};

const BOT_IMAGE: &str = "the0/runtime:python";
const SECRET: &str = "the0-secrets";
const NS: &str = "the0";

fn pause_image() -> String {
    std::env::var("THE0_TEST_IMAGE").unwrap_or_else(|_| "the0-test/executor:dev".into())
}

fn record(id: &str, config: Value) -> BotRecord {
    BotRecord {
        id: id.into(),
        config,
        custom: json!({"version": "1.0.0", "filePath": format!("u/{id}/1"),
            "config": {"name": "python-ticker", "runtime": "python3.11",
                       "entrypoints": {"bot": "main.py", "query": "query.py"}}}),
        enabled: None,
    }
}

/// One test's world: its scene (network, moto on its gateway, cleanup), the fake API, the store
/// and the controller's query server. The query server stops first, the scene goes last.
struct World {
    inst: String,
    endpoint: String,
    objects: Arc<Objects>,
    secrets: BTreeMap<(String, String), String>,
    settings: KubeSettings,
    api: FakeApi,
    store: Store,
    addr: String,
    stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
    /// Last: its containers go before its network.
    scene: Scene,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl World {
    async fn new(prefix: &str) -> World {
        let scene = Scene::new(prefix);
        let (inst, endpoint) = (scene.inst.clone(), scene.endpoint.clone());
        let s3 = the0_test_support::s3_settings(&endpoint);
        let objects = Arc::new(Objects::s3(s3.clone()).expect("store"));
        for b in ["custom-bots", "bot-state", "bot-logs", "query-results"] {
            objects.ensure_bucket(b).await.expect("bucket");
        }
        let id = inst.clone();
        let files = ["main.py", "query.py", "state.py"]
            .map(|f| (f, std::fs::read(examples().join("python-ticker").join(f)).expect("examples/python-ticker")));
        let code = zip_files(&files.iter().map(|(f, b)| (*f, b.as_slice(), 0o644)).collect::<Vec<_>>());
        let code = Bytes::from(code);
        objects.put_bytes("custom-bots", &format!("u/{id}/1"), code, "application/zip").await.expect("code");

        let settings = KubeSettings {
            namespace: NS.into(),
            images: RuntimeImages { default: BOT_IMAGE.into(), by_runtime: BTreeMap::new() },
            pull_policy: "Never".into(),
            minio_endpoint: endpoint.clone(),
            minio_secret_name: Some(SECRET.into()),
            stop_timeout: Duration::from_secs(5),
            ..KubeSettings::default()
        };
        let secrets = BTreeMap::from([
            ((SECRET.into(), kube::env::SECRET_ACCESS_KEY.into()), s3.access_key.clone()),
            ((SECRET.into(), kube::env::SECRET_SECRET_KEY.into()), s3.secret_key.clone()),
        ]);
        let dir = tempfile::tempdir().expect("tempdir");
        let api = FakeApi::start().await;
        let client = kube::client::connect(Some(&api.kubeconfig(dir.path(), NS))).await.expect("client");
        let store = Store::open(&dir.path().join("data")).expect("store");
        let results = Results { objects: objects.clone(), bucket: "query-results".into(), local_root: None };
        let server =
            queryserve::server(client, &settings, results, &QueryOptions::default(), &store, None, Arc::default())
                .expect("query server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind :9477 stand-in");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::new(server).run(listener, the0_orchestrator::shutdown::flag_set(rx)));
        World { inst, endpoint, objects, secrets, settings, api, store, addr, stop, _dir: dir, scene }
    }

    fn pod_env(&self, prefix: &str) -> PodEnv {
        PodEnv {
            prefix: prefix.into(),
            label: self.scene.label.clone(),
            network: self.scene.net.0.clone(),
            pause_image: pause_image(),
            secrets: self.secrets.clone(),
            runtimes: BTreeMap::new(),
            pod_ip: None,
        }
    }

    fn put(&self, rec: BotRecord) {
        self.store.apply(&Change::Upsert(rec), Mode::Put, None).expect("store put");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_realtime_bots_pod_answers_through_the_controllers_query_api() {
    if !have(&[BOT_IMAGE, &pause_image()], &[]) {
        return;
    }
    let w = World::new("kq-rt").await;
    let id = w.inst.clone();
    let rec = record(&id, json!({"symbol": "BTC-USD", "interval_sec": 0.1}));
    w.put(rec.clone());
    let pod_obj: Pod = kube::bot_pod(&rec, &w.settings).expect("the bot's pod").object;
    let pod = start(&pod_obj, w.pod_env(&id)).await.unwrap_or_else(|e| panic!("the pod did not start: {e}"));
    // What the kubelet would report: Running, at the pause container's address, query-server ready.
    let mut reported = serde_json::to_value(&pod_obj).expect("pod JSON");
    reported["status"] = json!({"phase": "Running", "podIP": pod.ip, "containerStatuses": [
        {"name": "bot", "ready": true, "restartCount": 0, "image": BOT_IMAGE, "imageID": ""},
        {"name": "query-server", "ready": true, "restartCount": 0, "image": BOT_IMAGE, "imageID": ""}]});
    w.api.seed("", "pods", NS, reported);

    let answered = eventually_async(Duration::from_secs(90), || async {
        let (code, v) = query(&w.addr, json!({"bot_id": id, "query_path": "/status", "timeout_sec": 5})).await;
        (code == 200 && v["data"]["bot_id"] == id.as_str()).then_some(v)
    })
    .await;
    let v = answered.unwrap_or_else(|| panic!("the query sidecar never answered through :9477:\n{}", pod.logs()));
    check_envelope(&v);
    assert_eq!(v["status"], "ok");
    // Parameters reach the SDK's handler through the URL (D20).
    let (code, v) = query(&w.addr, json!({"bot_id": id, "query_path": "/prices", "params": {"last": 0}})).await;
    assert_eq!((code, v["error"].as_str()), (500, Some("last must be at least 1")), "{v}");
    assert!(w.api.objects("batch", "jobs", NS).is_empty(), "proxied: no query Job");
    eprintln!("pod {} answered: {v}", pod.ip);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_bots_query_job_result_comes_back_from_s3_and_is_deleted() {
    if !have(&[BOT_IMAGE, &pause_image()], &[]) {
        return;
    }
    let w = World::new("kq-job").await;
    let id = w.inst.clone();
    w.put(record(&id, json!({"schedule": "0 * * * *"})));
    // The state the bot's last run left: the query reads it (read-only).
    let state = Bytes::from(ticker_state_archive(41));
    w.objects.put_bytes("bot-state", &format!("{id}/state.tar.gz"), state, "application/gzip").await.expect("state");
    let addr = w.addr.clone();
    let qid = id.clone();
    let asked =
        tokio::spawn(
            async move { query(&addr, json!({"bot_id": qid, "query_path": "/status", "timeout_sec": 120})).await },
        );

    let created =
        eventually_async(Duration::from_secs(30), || async { w.api.objects("batch", "jobs", NS).into_iter().next() })
            .await;
    let (name, job) = created.expect("the controller created a query Job");
    let job: Job = serde_json::from_value(job).expect("a Job");
    let template = job.spec.expect("spec").template;
    let key = template
        .spec
        .as_ref()
        .and_then(|s| s.containers[0].env.as_ref())
        .and_then(|env| env.iter().find(|e| e.name == "QUERY_RESULT_KEY").and_then(|e| e.value.clone()));
    let key = key.expect("the Job names its result key");
    // The Job controller's and the kubelet's part: run the Job's pod to its end.
    let pod = Pod { metadata: template.metadata.unwrap_or_default(), spec: template.spec, status: None };
    let running = start(&pod, w.pod_env(&format!("{id}-job")))
        .await
        .unwrap_or_else(|e| panic!("the Job's pod did not start: {e}"));
    let bot = running.container("bot");
    let ended = eventually(Duration::from_secs(120), || {
        (run(&["inspect".into(), "-f".into(), "{{.State.Running}}".into(), bot.clone()]).ok()? == "false").then_some(())
    });
    assert!(ended.is_some(), "the query Job's container never ended:\n{}", running.logs());
    assert_eq!(exit_code(&bot), Ok(0), "{}", running.logs());
    w.api.complete_job(NS, &name);

    let (code, v) = asked.await.expect("query task");
    assert_eq!(code, 200, "{v}\n{}", running.logs());
    check_envelope(&v);
    assert_eq!(v["data"]["bot_id"], id.as_str(), "the bot's own query program answered: {v}");
    assert_eq!(v["data"]["ticks"], 41, "from the bot's stored state: {v}");
    let left = w.objects.head("query-results", &key).await.expect("head the result");
    assert!(left.is_none(), "the result object {key} is deleted after it was read (D19)");
    eprintln!("Job {name} answered {v} through {}", w.endpoint);
}
