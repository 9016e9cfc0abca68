//! `orchestrator controller`'s reconcile loop end to end: the real `kube` client, through a
//! kubeconfig, against the stateful fake API server of `kube_fake` (what it does not emulate is
//! listed there and in docs/kubernetes.md), with the real SQLite store as desired state.
//!
//! Scenarios: a desired bot gets a pod of the golden's shape; a changed config replaces it; a
//! failed pod is replaced; a removed bot's pod is deleted; an empty store deletes nothing (D33);
//! an unreadable store makes no call at all; a pod the original made (same config-hash) is adopted
//! unchanged; a terminating pod makes its bot wait, and AlreadyExists is pending; CronJobs are
//! created, updated in place and deleted. Last, the Role in deploy/kubernetes/rbac.yaml must grant
//! exactly the (verb, resource) pairs the client sent, the leader election's Lease calls included
//! (`--leader-elect`; its scenarios are in kube_leader.rs), the ConfigMap calls of
//! `--desired-state configmaps` (its scenarios are in kube_configmaps.rs), those of the :9477
//! query API (its scenarios are in kube_query.rs) and those of `import-running --kubernetes` (its
//! scenarios are in takeover_kube.rs).

mod common;
mod kube_fake;
mod kube_record;
mod query_common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::eventually_async;
use kube_fake::{Call, FakeApi};
use kube_record::{record, record_with_query};
use serde_json::{json, Value};
use the0_orchestrator::config::LeaseTimings;
use the0_orchestrator::kube::client;
use the0_orchestrator::kube::cmstore::{self, ConfigMapStore};
use the0_orchestrator::kube::controller::{Controller, Report};
use the0_orchestrator::kube::elector::{Elector, Outcome};
use the0_orchestrator::kube::{self as k, KubeSettings};
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::store::merge::StoredBot;
use the0_orchestrator::store::{Mode, Store};

const NS: &str = "the0";
const ID: &str = "0b6e8f2a-4c1d-4e5f-9a7b-3c2d1e0f9a8b";

/// The settings and record of the golden `pod-realtime.json` (tests/kube_golden.rs).
fn settings() -> KubeSettings {
    KubeSettings {
        namespace: NS.into(),
        minio_endpoint: "minio:9000".into(),
        minio_access_key: "golden-access".into(),
        minio_secret_key: "golden-secret".into(),
        ..KubeSettings::default()
    }
}

struct Rig {
    api: FakeApi,
    ctl: Controller,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn new() -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let api = FakeApi::start().await;
        let kc = api.kubeconfig(dir.path(), NS);
        let client = client::connect(Some(&kc)).await.expect("client from the kubeconfig");
        let store = Store::open(&dir.path().join("data")).expect("store");
        Rig { api, ctl: Controller { client, settings: settings(), store, configmaps: None }, _dir: dir }
    }

    fn put(&self, rec: BotRecord) {
        self.ctl.store.apply(&Change::Upsert(rec), Mode::Put, None).expect("store put");
    }

    fn remove(&self, id: &str) {
        self.ctl.store.apply(&Change::Delete(id.into()), Mode::Put, None).expect("store delete");
    }

    async fn pass(&self) -> Report {
        self.ctl.reconcile_once().await.expect("reconcile pass")
    }

    fn pods(&self) -> std::collections::BTreeMap<String, Value> {
        self.api.objects("", "pods", NS)
    }

    fn cronjobs(&self) -> std::collections::BTreeMap<String, Value> {
        self.api.objects("batch", "cronjobs", NS)
    }
}

fn golden(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kubernetes").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).expect("read golden")).expect("golden JSON")
}

fn pod_name(id: &str) -> String {
    format!("bot-{id}")
}

#[tokio::test]
async fn a_desired_bot_gets_the_golden_pod_and_a_second_pass_changes_nothing() {
    let rig = Rig::new().await;
    rig.put(record(ID, json!({"symbol": "BTC-USD", "threshold": 0.5})));
    let r = rig.pass().await;
    assert_eq!((r.created, r.failed), (1, 0), "{r:?}");
    let pods = rig.pods();
    let pod = pods.get(&pod_name(ID)).expect("the pod was created");
    let want = golden("pod-realtime.json");
    assert_eq!(pod["spec"], want["spec"], "the created pod's spec is the golden's");
    assert_eq!(pod["metadata"]["labels"], want["metadata"]["labels"]);
    assert_eq!(pod["metadata"]["annotations"], want["metadata"]["annotations"]);

    rig.api.clear_log();
    let r = rig.pass().await;
    assert_eq!(r, Report::default(), "a converged cluster needs nothing");
    assert_eq!(rig.api.writes(), 0, "{:?}", rig.api.log());
}

#[tokio::test]
async fn a_changed_config_or_a_failed_pod_is_replaced() {
    let rig = Rig::new().await;
    rig.put(record("b1", json!({"a": 1})));
    rig.pass().await;
    let first = rig.pods()[&pod_name("b1")]["metadata"]["annotations"]["the0.app/config-hash"].clone();

    rig.put(record("b1", json!({"a": 2})));
    let r = rig.pass().await;
    assert_eq!((r.replaced, r.created), (1, 0), "a pod is deleted first: {r:?}");
    assert!(rig.pods().is_empty());
    let r = rig.pass().await;
    assert_eq!(r.created, 1, "{r:?}");
    let second = rig.pods()[&pod_name("b1")]["metadata"]["annotations"]["the0.app/config-hash"].clone();
    assert_ne!(first, second, "the new pod carries the new config's hash");

    rig.api.set_phase(NS, &pod_name("b1"), "Failed");
    let r = rig.pass().await;
    assert_eq!(r.replaced, 1, "{r:?}");
    rig.pass().await;
    assert_eq!(rig.pods()[&pod_name("b1")]["status"]["phase"], "Pending", "a fresh pod replaced the failed one");
}

#[tokio::test]
async fn a_removed_bot_is_deleted_but_an_empty_store_deletes_nothing() {
    let rig = Rig::new().await;
    rig.put(record("b1", json!({})));
    rig.put(record("b2", json!({})));
    rig.pass().await;
    assert_eq!(rig.pods().len(), 2);

    rig.remove("b1");
    let r = rig.pass().await;
    assert_eq!(r.deleted, 1, "{r:?}");
    assert_eq!(rig.pods().keys().cloned().collect::<Vec<_>>(), [pod_name("b2")]);

    rig.remove("b2");
    rig.api.clear_log();
    let r = rig.pass().await;
    assert_eq!((r.deleted, r.held_back), (0, 1), "{r:?}");
    assert_eq!(rig.pods().len(), 1, "the last pod is kept while the store is empty (D33)");
    assert_eq!(rig.api.writes(), 0);
}

#[tokio::test]
async fn the_last_bot_s_pod_is_deleted_while_schedules_remain() {
    let rig = Rig::new().await;
    rig.put(record("b1", json!({})));
    rig.put(record("s1", json!({"schedule": "0 9 * * *"})));
    rig.pass().await;
    rig.remove("b1");
    let r = rig.pass().await;
    assert_eq!((r.deleted, r.held_back), (1, 0), "the store is not empty: {r:?}");
    assert!(rig.pods().is_empty());
    assert_eq!(rig.cronjobs().len(), 1);
}

#[tokio::test]
async fn an_unreadable_store_makes_no_call_at_all() {
    let rig = Rig::new().await;
    rig.put(record("b1", json!({})));
    rig.pass().await;
    let db = rig._dir.path().join("data/orchestrator.db");
    let conn = rusqlite::Connection::open(&db).expect("open the store's file");
    conn.execute("UPDATE bots SET config = '{not json'", []).expect("corrupt the record");
    rig.api.clear_log();
    let err = rig.ctl.reconcile_once().await.expect_err("an unreadable store fails the pass");
    assert!(err.to_string().contains("desired state unreadable"), "{err}");
    assert!(rig.api.log().is_empty(), "nothing listed, created or deleted: {:?}", rig.api.log());
    assert_eq!(rig.pods().len(), 1);
}

#[tokio::test]
async fn a_pod_the_original_made_is_adopted_unchanged() {
    let rig = Rig::new().await;
    let rec = record("b1", json!({"symbol": "BTC-USD"}));
    let hash = k::bot_pod(&rec, &settings()).expect("pod").object.metadata.annotations.expect("annotations")
        ["the0.app/config-hash"]
        .clone();
    // The original's pod: its own image and shape, the managed-by label and the same hash.
    let original = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "bot-b1",
            "labels": {"the0.app/bot-id": "b1", "the0.app/managed-by": "the0-bot-controller"},
            "annotations": {"the0.app/config-hash": hash}},
        "spec": {"containers": [{"name": "bot", "image": "the0/original-runtime:1"}]},
        "status": {"phase": "Running"}
    });
    rig.api.seed("", "pods", NS, original);
    let before = rig.pods()["bot-b1"].clone();
    rig.put(rec);
    rig.api.clear_log();
    let r = rig.pass().await;
    assert_eq!(r, Report::default(), "{r:?}");
    assert_eq!(rig.api.writes(), 0, "{:?}", rig.api.log());
    assert_eq!(rig.pods()["bot-b1"], before, "adopted as it is (D24)");
}

#[tokio::test]
async fn a_terminating_pod_or_already_exists_is_pending_not_an_error() {
    let rig = Rig::new().await;
    rig.put(record("b1", json!({"a": 1})));
    rig.pass().await;
    rig.api.hold_deletes(true);
    rig.put(record("b1", json!({"a": 2})));
    assert_eq!(rig.pass().await.replaced, 1);
    let r = rig.pass().await;
    assert_eq!((r.pending, r.created, r.failed), (1, 0, 0), "waits for the old pod: {r:?}");
    rig.api.finish_deletes();
    rig.api.hold_deletes(false);
    assert_eq!(rig.pass().await.created, 1);

    // A pod of that name the listing does not show (not labelled as ours): create meets
    // AlreadyExists, which is pending.
    rig.api.seed("", "pods", NS, json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bot-b2"}}));
    rig.put(record("b2", json!({})));
    let r = rig.pass().await;
    assert_eq!((r.pending, r.failed), (1, 0), "{r:?}");
}

#[tokio::test]
async fn cronjobs_are_created_updated_in_place_and_deleted() {
    let rig = Rig::new().await;
    rig.put(record("s1", json!({"schedule": "0 */15 * * * *"})));
    rig.put(record("s2", json!({"schedule": "0 9 * * *"})));
    let r = rig.pass().await;
    assert_eq!(r.created, 2, "{r:?}");
    let cj = rig.cronjobs()["schedule-s1"].clone();
    assert_eq!(cj["spec"]["schedule"], "*/15 * * * *");
    let uid = cj["metadata"]["uid"].clone();

    rig.put(record("s1", json!({"schedule": "0 */5 * * * *"})));
    rig.api.clear_log();
    let r = rig.pass().await;
    assert_eq!(r.replaced, 1, "{r:?}");
    let cj = rig.cronjobs()["schedule-s1"].clone();
    assert_eq!(cj["spec"]["schedule"], "*/5 * * * *");
    assert_eq!(cj["metadata"]["uid"], uid, "updated in place, not recreated");
    assert!(rig.api.log().iter().any(|(verb, res, _)| verb == "update" && res == "cronjobs"));

    rig.remove("s2");
    let r = rig.pass().await;
    assert_eq!(r.deleted, 1, "{r:?}");
    assert_eq!(rig.cronjobs().keys().cloned().collect::<Vec<_>>(), ["schedule-s1"]);
}

#[tokio::test]
async fn a_failed_call_is_retried_by_the_next_pass_and_a_failed_list_writes_nothing() {
    let rig = Rig::new().await;
    rig.put(record("b1", json!({})));
    rig.put(record("b2", json!({})));
    rig.api.fail(Some(("pods", "create")));
    let r = rig.pass().await;
    assert_eq!((r.created, r.failed), (0, 2), "{r:?}");
    rig.api.fail(None);
    assert_eq!(rig.pass().await.created, 2, "the next pass retries");

    rig.remove("b1");
    rig.api.fail(Some(("pods", "list")));
    rig.api.clear_log();
    let err = rig.ctl.reconcile_once().await.expect_err("a failed list fails the pass");
    assert!(err.to_string().contains("cannot list pods"), "{err}");
    assert_eq!(rig.api.writes(), 0, "nothing written without a listing: {:?}", rig.api.log());
    assert_eq!(rig.pods().len(), 2);
}

/// The Role's rules as (group, resource, verb).
fn role_grants() -> BTreeSet<Call> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/rbac.yaml");
    let text = std::fs::read_to_string(&p).expect("read rbac.yaml");
    let mut out = BTreeSet::new();
    for doc in serde_norway::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc).expect("rbac.yaml is YAML");
        if v["kind"] != "Role" {
            continue;
        }
        for rule in v["rules"].as_array().expect("a Role has rules") {
            let strings = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                    .unwrap_or_default()
            };
            for g in strings("apiGroups") {
                for r in strings("resources") {
                    for verb in strings("verbs") {
                        out.insert(Call { group: g.clone(), resource: r.clone(), verb });
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_role_grants_exactly_what_the_controller_calls() {
    let rig = Rig::new().await;
    // Every path of the loop: create, replace (pod delete, CronJob update), delete, list.
    rig.put(record("b1", json!({"a": 1})));
    rig.put(record("s1", json!({"schedule": "0 9 * * *"})));
    rig.put(record("gone", json!({})));
    rig.put(record("sgone", json!({"schedule": "0 9 * * *"})));
    rig.pass().await;
    rig.put(record("b1", json!({"a": 2})));
    rig.put(record("s1", json!({"schedule": "0 10 * * *"})));
    rig.remove("gone");
    rig.remove("sgone");
    let r = rig.pass().await;
    assert_eq!((r.replaced, r.deleted, r.failed), (2, 2, 0), "{r:?}");
    rig.pass().await;
    // And every path of --leader-elect: create the Lease, renew it, release it.
    let client = rig.ctl.client.clone();
    let mut e = Elector::new(client, NS, "the0-runtime-controller", "pod-a".into(), LeaseTimings::default());
    assert_eq!(e.step().await.expect("the Lease is created"), Outcome::Leading);
    assert_eq!(e.step().await.expect("the Lease is renewed"), Outcome::Leading);
    assert!(e.release().await.expect("the Lease is released"));
    // And every path of the :9477 query API: a realtime bot's pod read (not running), a query Job
    // created and polled, and deleted once the query's timeout passed.
    rig.put(record_with_query("q1", json!({}), true));
    let objects = tempfile::tempdir().expect("objects dir");
    let results = the0_orchestrator::query::result::Results {
        objects: std::sync::Arc::new(
            the0_objstore::Store::open(&the0_objstore::StoreSettings::Local { root: objects.path().into() })
                .expect("local objects"),
        ),
        bucket: "query-results".into(),
        local_root: Some(objects.path().into()),
    };
    let server = k::queryserve::server(
        rig.ctl.client.clone(),
        &settings(),
        results,
        &the0_orchestrator::query::QueryOptions::default(),
        &rig.ctl.store,
        None,
        std::sync::Arc::new(the0_orchestrator::metrics::Metrics::default()),
    )
    .expect("query server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let serving =
        tokio::spawn(std::sync::Arc::new(server).run(listener, the0_orchestrator::shutdown::flag_set(stop_rx)));
    let (code, v) = query_common::query(&addr, json!({"bot_id": "q1", "query_path": "/x", "timeout_sec": 1})).await;
    assert_eq!((code, v["error"].as_str()), (500, Some("query timed out after 1s")), "{v}");
    // A failed Job's error quotes its pod's log (pods list by job-name, pods/log get).
    let asked = tokio::spawn({
        let addr = addr.clone();
        async move { query_common::query(&addr, json!({"bot_id": "q1", "query_path": "/y", "timeout_sec": 60})).await }
    });
    let job = eventually_async(std::time::Duration::from_secs(10), || async {
        rig.api.objects("batch", "jobs", NS).into_keys().next()
    })
    .await
    .expect("a second query Job");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "qpod", "labels": {"job-name": job}}});
    rig.api.seed("", "pods", NS, pod);
    rig.api.set_log(NS, "qpod", "boom");
    rig.api.set_status("batch", "jobs", NS, &job, json!({"failed": 1}));
    let (code, v) = asked.await.expect("query task");
    assert_eq!(
        (code, v["error"].as_str()),
        (500, Some(format!("query job {job} failed: its pod failed: boom").as_str()))
    );
    stop.send_replace(true);
    serving.await.expect("query server stopped");
    // And every path of --desired-state configmaps: ingest creates and replaces a bot's ConfigMap
    // (each read first; a delete is a replace to a tombstone), the controller lists them and
    // deletes an expired tombstone.
    let cm = ConfigMapStore::new(rig.ctl.client.clone(), NS);
    assert!(cm.apply(&Change::Upsert(record("c1", json!({"a": 1}))), Mode::Put, None).await.expect("create"));
    assert!(cm.apply(&Change::Upsert(record("c1", json!({"a": 2}))), Mode::Put, None).await.expect("replace"));
    assert!(cm.apply(&Change::Delete("c1".into()), Mode::Put, None).await.expect("tombstone"));
    // An expired tombstone, which the pass deletes.
    let old = cmstore::Doc {
        id: "old".into(),
        seq: Some(1),
        updated_ms: 0,
        deleted: true,
        bot: StoredBot { config: json!(null), custom: json!(null), enabled: None, local_enabled: None },
    };
    let seeded = serde_json::to_value(cmstore::configmap(&old).expect("fits")).expect("JSON");
    rig.api.seed("", "configmaps", NS, seeded);
    let ctl = Controller { configmaps: Some(cm.clone()), ..rig.ctl };
    assert_eq!(ctl.reconcile_once().await.expect("a pass from the ConfigMaps").failed, 0);
    assert!(!rig.api.objects("", "configmaps", NS).contains_key("desired-old"), "swept");
    // And `import-running --kubernetes --desired-state configmaps`: it lists pods and CronJobs
    // and writes ConfigMaps as ingest does.
    let tmp = tempfile::tempdir().expect("tempdir");
    let kc = rig.api.kubeconfig(tmp.path(), NS);
    let args: Vec<String> = ["import-running", "--kubernetes", "--desired-state", "configmaps", "--kubeconfig"]
        .iter()
        .map(|s| s.to_string())
        .chain([kc.display().to_string(), "--data-dir".into(), tmp.path().join("data").display().to_string()])
        .collect();
    let cli = the0_orchestrator::cmdline::parse(&args, &std::collections::HashMap::new()).expect("import-running");
    let the0_orchestrator::config::Command::ImportRunning { target, .. } = &cli.command else {
        panic!("parsed as import-running")
    };
    let report = the0_orchestrator::takeover::run::import_running(&cli, target, true).await.expect("import");
    assert!(!report.failed(), "{}", report.text());

    let called = rig.api.calls();
    let granted = role_grants();
    let missing: Vec<_> = called.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(missing.is_empty(), "the Role lacks what the controller calls: {missing:?}");
    assert!(unused.is_empty(), "the Role grants what the controller never calls: {unused:?}");
}
