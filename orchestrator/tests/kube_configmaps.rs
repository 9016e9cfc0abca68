//! `--desired-state configmaps` end to end: the ConfigMap store (`kube::cmstore`) and the
//! controller reading it, with the real `kube` client against the stateful fake API server of
//! `kube_fake`, two "replicas" each reaching it through its own address ([`FakeApi::door`]).
//!
//! Scenarios: an event creates the bot's ConfigMap (name, labels, JSON), a later one updates it,
//! an older one is skipped, a delete leaves a tombstone that a late create (or one handled before
//! the delete arrived first) cannot bring back, while a newer create does; a 409 on replace is retried and the final state
//! is right, and endless 409s end in an error after a bounded number of tries; a 500 makes the
//! write fail, so ingest does not ack; a bad id and a record over 1 MiB are refused for good,
//! writing nothing; two replicas writing different bots, or racing on one, all land; the
//! controller in configmaps mode creates the pod of a ConfigMap another replica wrote, deletes
//! the pod of a removed one, holds back when none is left (D33), deletes expired tombstones, and
//! changes nothing when the list fails.

mod kube_fake;
mod kube_record;

use kube_fake::FakeApi;
use kube_record::record;
use serde_json::{json, Value};
use the0_orchestrator::ingest::{self, Outcome};
use the0_orchestrator::kube::client;
use the0_orchestrator::kube::cmstore::{
    configmap, CmError, ConfigMapStore, Doc, DATA_KEY, MAX_TRIES, TOMBSTONE_TTL_MS,
};
use the0_orchestrator::kube::controller::Controller;
use the0_orchestrator::kube::KubeSettings;
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::store::merge::StoredBot;
use the0_orchestrator::store::{Mode, Store};

const NS: &str = "the0";

/// One replica: its own address into the fake, its own client and ConfigMap store.
struct Replica {
    api: FakeApi,
    client: ::kube::Client,
    cm: ConfigMapStore,
}

async fn replica(api: &FakeApi, dir: &std::path::Path, name: &str) -> Replica {
    let door = api.door().await;
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).expect("dir");
    let kc = door.kubeconfig(&sub, NS);
    let client = client::connect(Some(&kc)).await.expect("client from the kubeconfig");
    Replica { cm: ConfigMapStore::new(client.clone(), NS), client, api: door }
}

fn configmaps(api: &FakeApi) -> std::collections::BTreeMap<String, Value> {
    api.objects("", "configmaps", NS)
}

fn data(cm: &Value) -> Value {
    serde_json::from_str(cm["data"][DATA_KEY].as_str().expect("the data key")).expect("JSON")
}

async fn upsert(r: &Replica, rec: BotRecord, mode: Mode, seq: Option<u64>) -> Result<bool, CmError> {
    r.cm.apply(&Change::Upsert(rec), mode, seq).await
}

#[tokio::test]
async fn events_create_update_and_delete_the_configmap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let a = replica(&api, dir.path(), "a").await;

    assert!(upsert(&a, record("b1", json!({"a": 1})), Mode::Create, Some(5)).await.expect("created"));
    let cms = configmaps(&api);
    let cm = cms.get("desired-b1").expect("the ConfigMap is named after the bot");
    assert_eq!(
        cm["metadata"]["labels"],
        json!({"the0.app/managed-by": "the0-runtime-controller", "the0.app/desired": "bot", "the0.app/bot-id": "b1"})
    );
    let d = data(cm);
    assert_eq!((d["id"].clone(), d["seq"].clone(), d["config"].clone()), (json!("b1"), json!(5), json!({"a": 1})));
    assert_eq!(d["custom"]["filePath"], "user-1/price-alerts/1.2.0");

    // A redelivered create, an older update: nothing written.
    api.clear_log();
    assert!(!upsert(&a, record("b1", json!({"a": 9})), Mode::Create, Some(6)).await.expect("create of a known id"));
    assert!(!upsert(&a, record("b1", json!({"a": 9})), Mode::Update, Some(4)).await.expect("older"));
    assert_eq!(api.writes(), 0, "{:?}", api.log());

    assert!(upsert(&a, record("b1", json!({"a": 2})), Mode::Update, Some(7)).await.expect("updated"));
    let d = data(&configmaps(&api)["desired-b1"]);
    assert_eq!((d["seq"].clone(), d["config"].clone()), (json!(7), json!({"a": 2})));
    assert_eq!(a.cm.list().await.expect("list")[0].config, json!({"a": 2}));

    // A delete leaves a tombstone: out of the desired set, and a late create is older than it.
    assert!(a.cm.apply(&Change::Delete("b1".into()), Mode::Put, Some(8)).await.expect("deleted"));
    let d = data(&configmaps(&api)["desired-b1"]);
    assert_eq!((d["deleted"].clone(), d["seq"].clone()), (json!(true), json!(8)));
    assert!(a.cm.list().await.expect("list").is_empty());
    assert!(!a.cm.apply(&Change::Delete("b1".into()), Mode::Put, Some(9)).await.expect("already gone"));
    assert!(!upsert(&a, record("b1", json!({"a": 1})), Mode::Create, Some(5)).await.expect("late create"));
    assert!(a.cm.list().await.expect("list").is_empty(), "the late create did not bring the bot back");
    // A newer create (the bot made again) does.
    assert!(upsert(&a, record("b1", json!({"a": 3})), Mode::Create, Some(10)).await.expect("made again"));
    assert_eq!(a.cm.list().await.expect("list")[0].config, json!({"a": 3}));

    // A delete handled before its create (another replica was slower): the create is skipped.
    assert!(!a.cm.apply(&Change::Delete("b5".into()), Mode::Put, Some(12)).await.expect("tombstone first"));
    assert_eq!(data(&configmaps(&api)["desired-b5"])["deleted"], json!(true));
    assert!(!upsert(&a, record("b5", json!({})), Mode::Create, Some(11)).await.expect("older create"));
    let ids: Vec<String> = a.cm.list().await.expect("list").into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["b1"]);
}

#[tokio::test]
async fn a_conflict_on_replace_is_retried_and_endless_ones_end_in_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let a = replica(&api, dir.path(), "a").await;
    upsert(&a, record("b1", json!({"a": 1})), Mode::Put, None).await.expect("created");

    api.conflict_times("configmaps", "update", 2);
    assert!(upsert(&a, record("b1", json!({"a": 2})), Mode::Put, None).await.expect("written on the third try"));
    assert_eq!(data(&configmaps(&api)["desired-b1"])["config"], json!({"a": 2}));
    let updates = api.log().iter().filter(|(v, r, _)| r == "configmaps" && v == "update").count();
    assert_eq!(updates, 3, "{:?}", api.log());

    api.conflict(Some(("configmaps", "update")));
    let e = upsert(&a, record("b1", json!({"a": 3})), Mode::Put, None).await.expect_err("gives up");
    assert!(matches!(e, CmError::Conflicts { tries: MAX_TRIES, .. }), "{e}");
    api.conflict(None);
    assert_eq!(data(&configmaps(&api)["desired-b1"])["config"], json!({"a": 2}), "nothing else written");
}

#[tokio::test]
async fn a_failed_write_is_not_acked_and_a_hopeless_one_is_terminated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let a = replica(&api, dir.path(), "a").await;
    let p = br#"{"id":"b1","config":{},"custom":{"filePath":"k"}}"#;

    api.fail(Some(("configmaps", "create")));
    let o = ingest::handle(&a.cm, &ingest::BOTS, "the0.bot.created", p, Some(1)).await;
    assert!(matches!(o, Outcome::Failed(_)), "a 500 fails the write: not acked, redelivered: {o:?}");
    api.fail(None);
    assert!(configmaps(&api).is_empty());
    let o = ingest::handle(&a.cm, &ingest::BOTS, "the0.bot.created", p, Some(1)).await;
    assert_eq!(o, Outcome::Applied, "the redelivery lands");

    api.fail(Some(("configmaps", "get")));
    let o = ingest::handle(&a.cm, &ingest::BOTS, "the0.bot.deleted", br#"{"id":"b1"}"#, Some(2)).await;
    assert!(matches!(o, Outcome::Failed(_)), "{o:?}");
    api.fail(None);
    assert_eq!(configmaps(&api).len(), 1, "the delete did not happen");

    // An id no ConfigMap can be named after; a record over 1 MiB: refused for good, nothing written.
    api.clear_log();
    let bad = br#"{"id":"Not_A_Name","config":{},"custom":{"filePath":"k"}}"#;
    let o = ingest::handle(&a.cm, &ingest::BOTS, "the0.bot.created", bad, Some(3)).await;
    assert!(matches!(&o, Outcome::Refused(e) if e.contains("Not_A_Name") && e.contains("DNS-1123")), "{o:?}");
    let big = record("big", json!({"blob": "x".repeat(1024 * 1024)}));
    let e = upsert(&a, big, Mode::Put, None).await.expect_err("too large");
    assert!(matches!(e, CmError::TooLarge { .. }) && e.to_string().contains("bot big"), "{e}");
    assert_eq!(api.writes(), 0, "{:?}", api.log());
}

#[tokio::test]
async fn two_replicas_writing_different_bots_or_racing_on_one_all_land() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let (a, b) = (replica(&api, dir.path(), "a").await, replica(&api, dir.path(), "b").await);
    let (ra, rb) = tokio::join!(
        upsert(&a, record("b1", json!({"a": 1})), Mode::Create, Some(1)),
        upsert(&b, record("b2", json!({"b": 1})), Mode::Create, Some(2)),
    );
    assert!(ra.expect("a") && rb.expect("b"));
    let ids: Vec<String> = b.cm.list().await.expect("list").into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["b1", "b2"], "each replica sees both");

    // Both create b3 at once (one gets AlreadyExists and starts over), then update it at once.
    let (ra, rb) = tokio::join!(
        upsert(&a, record("b3", json!({"v": 1})), Mode::Create, Some(3)),
        upsert(&b, record("b3", json!({"v": 1})), Mode::Create, Some(3)),
    );
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert!(ra ^ rb, "one created it, the other found it there: {ra} {rb}");
    let (ra, rb) = tokio::join!(
        upsert(&a, record("b3", json!({"v": 2})), Mode::Update, Some(4)),
        upsert(&b, record("b3", json!({"v": 3})), Mode::Update, Some(5)),
    );
    ra.expect("a");
    rb.expect("b");
    let d = data(&configmaps(&api)["desired-b3"]);
    assert_eq!((d["seq"].clone(), d["config"].clone()), (json!(5), json!({"v": 3})), "the newer event wins");
}

fn controller(r: &Replica, dir: &std::path::Path) -> Controller {
    let settings =
        KubeSettings { namespace: NS.into(), minio_endpoint: "minio:9000".into(), ..KubeSettings::default() };
    let store = Store::open(&dir.join("data")).expect("store");
    Controller { client: r.client.clone(), settings, store, configmaps: Some(r.cm.clone()) }
}

#[tokio::test]
async fn the_controller_reconciles_what_another_replica_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let (writer, leader) = (replica(&api, dir.path(), "a").await, replica(&api, dir.path(), "b").await);
    let ctl = controller(&leader, dir.path());

    upsert(&writer, record("b1", json!({"a": 1})), Mode::Create, Some(1)).await.expect("written");
    upsert(&writer, record("b2", json!({"a": 1})), Mode::Create, Some(2)).await.expect("written");
    let r = ctl.reconcile_once().await.expect("pass");
    assert_eq!((r.created, r.failed), (2, 0), "{r:?}");
    assert!(api.objects("", "pods", NS).contains_key("bot-b1"));

    // The SQLite store of the leader is not read: it stays empty.
    assert!(ctl.store.list().expect("sqlite").is_empty());

    // A removed bot's pod goes; with no bot left at all, nothing is deleted (D33).
    writer.cm.apply(&Change::Delete("b2".into()), Mode::Put, Some(3)).await.expect("deleted");
    let r = ctl.reconcile_once().await.expect("pass");
    assert_eq!((r.deleted, r.held_back), (1, 0), "{r:?}");
    writer.cm.apply(&Change::Delete("b1".into()), Mode::Put, Some(4)).await.expect("deleted");
    let r = ctl.reconcile_once().await.expect("pass");
    assert_eq!((r.deleted, r.held_back), (0, 1), "{r:?}");
    assert!(api.objects("", "pods", NS).contains_key("bot-b1"));

    // Tombstones older than an hour are deleted by the pass (at the resourceVersion listed);
    // fresh ones stay.
    let old = Doc {
        id: "old".into(),
        seq: Some(1),
        updated_ms: the0_orchestrator::store::now_ms() - TOMBSTONE_TTL_MS - 1000,
        deleted: true,
        bot: StoredBot { config: json!(null), custom: json!(null), enabled: None, local_enabled: None },
    };
    api.seed("", "configmaps", NS, serde_json::to_value(configmap(&old).expect("fits")).expect("JSON"));
    assert!(configmaps(&api).contains_key("desired-old"));
    ctl.reconcile_once().await.expect("pass");
    let names: Vec<String> = configmaps(&api).into_keys().collect();
    assert_eq!(names, ["desired-b1", "desired-b2"], "the expired tombstone went, the fresh ones stay");

    // The list fails: the pass fails before any pod is listed, created or deleted.
    upsert(&writer, record("b4", json!({"a": 1})), Mode::Create, Some(5)).await.expect("written");
    api.clear_log();
    leader.api.fail(Some(("configmaps", "list")));
    let e = ctl.reconcile_once().await.expect_err("unreadable");
    assert!(e.to_string().contains("desired state unreadable"), "{e}");
    leader.api.fail(None);
    let pod_calls: Vec<_> = api.log().into_iter().filter(|(_, r, _)| r != "configmaps").collect();
    assert!(pod_calls.is_empty(), "{pod_calls:?}");
    assert!(!api.objects("", "pods", NS).contains_key("bot-b4"));
}
