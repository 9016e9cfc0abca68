//! `--desired-state configmaps` when a ConfigMap holds no readable record, and where a skipped
//! bot's reason is shown, with the real `kube` client against the stateful fake API server
//! (`kube_fake`).
//!
//! Scenarios: one corrupt ConfigMap does not stop the fleet (every other bot is reconciled; the
//! corrupt one's pod is left exactly as it is, not replaced, not deleted; the pass reports it and
//! its ConfigMap is annotated with the reason); an event repairs a corrupt ConfigMap (a create or
//! update replaces it at the resourceVersion read, the merge treating it as absent; a delete writes
//! a tombstone over it; through ingest it is applied, not failed); a skipped bot's reason is
//! annotated on its ConfigMap only when it changes, kept by ingest's writes, cleared once the bot
//! is no longer skipped, and a 409 on that write is retried by the next pass.

mod kube_fake;
mod kube_record;

use kube_fake::FakeApi;
use kube_record::record;
use serde_json::{json, Value};
use the0_orchestrator::ingest::{self, Outcome};
use the0_orchestrator::kube::client;
use the0_orchestrator::kube::cmstore::{configmap, ConfigMapStore, Doc, DATA_KEY};
use the0_orchestrator::kube::controller::Controller;
use the0_orchestrator::kube::labels::SKIP_REASON;
use the0_orchestrator::kube::KubeSettings;
use the0_orchestrator::model::Change;
use the0_orchestrator::store::merge::StoredBot;
use the0_orchestrator::store::{Mode, Store};

const NS: &str = "the0";

struct Rig {
    api: FakeApi,
    cm: ConfigMapStore,
    ctl: Controller,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let kc = api.kubeconfig(dir.path(), NS);
    let client = client::connect(Some(&kc)).await.expect("client from the kubeconfig");
    let cm = ConfigMapStore::new(client.clone(), NS);
    let settings =
        KubeSettings { namespace: NS.into(), minio_endpoint: "minio:9000".into(), ..KubeSettings::default() };
    let store = Store::open(&dir.path().join("data")).expect("store");
    let ctl = Controller { client, settings, store, configmaps: Some(cm.clone()) };
    Rig { api, cm, ctl, _dir: dir }
}

fn configmaps(api: &FakeApi) -> std::collections::BTreeMap<String, Value> {
    api.objects("", "configmaps", NS)
}

fn data(cm: &Value) -> Value {
    serde_json::from_str(cm["data"][DATA_KEY].as_str().expect("the data key")).expect("JSON")
}

fn skip_reason(api: &FakeApi, name: &str) -> Option<String> {
    configmaps(api)[name]["metadata"]["annotations"][SKIP_REASON].as_str().map(str::to_string)
}

/// Overwrites ConfigMap `desired-<id>` with one whose `bot.json` is `text` (or absent), as a hand
/// edit would, labels kept; `annotations` as given.
fn corrupt(api: &FakeApi, id: &str, text: Option<&str>, annotations: Value) {
    let mut obj = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("desired-{id}"), "annotations": annotations, "labels": {
            "the0.app/managed-by": "the0-runtime-controller", "the0.app/desired": "bot", "the0.app/bot-id": id}},
    });
    if let Some(t) = text {
        obj["data"] = json!({ DATA_KEY: t });
    }
    api.seed("", "configmaps", NS, obj);
}

/// Calls that name `name` other than reads.
fn writes_to(api: &FakeApi, name: &str) -> Vec<(String, String, String)> {
    api.log().into_iter().filter(|(v, _, n)| n == name && v != "get" && v != "list").collect()
}

#[tokio::test]
async fn one_corrupt_configmap_does_not_stop_the_fleet() {
    let r = rig().await;
    for (id, seq) in [("b1", 1), ("b2", 2)] {
        r.cm.apply(&Change::Upsert(record(id, json!({"a": 1}))), Mode::Create, Some(seq)).await.expect("written");
    }
    let rep = r.ctl.reconcile_once().await.expect("pass");
    assert_eq!((rep.created, rep.corrupt), (2, 0), "{rep:?}");
    // b2's pod is Failed: with its record readable it would be replaced.
    r.api.set_phase(NS, "bot-b2", "Failed");
    let pod_b2 = r.api.objects("", "pods", NS)["bot-b2"].clone();

    corrupt(&r.api, "b2", Some("{cut sho"), json!({}));
    r.cm.apply(&Change::Upsert(record("b1", json!({"a": 2}))), Mode::Update, Some(3)).await.expect("written");
    r.cm.apply(&Change::Upsert(record("b3", json!({"a": 1}))), Mode::Create, Some(4)).await.expect("written");
    r.api.clear_log();
    let rep = r.ctl.reconcile_once().await.expect("the pass goes on past the corrupt ConfigMap");
    assert_eq!((rep.created, rep.replaced, rep.deleted), (1, 1, 0), "b3 created, b1 replaced: {rep:?}");
    assert_eq!((rep.corrupt, rep.kept_unknown, rep.failed), (1, 1, 0), "{rep:?}");
    assert!(writes_to(&r.api, "bot-b2").is_empty(), "b2's pod is left alone: {:?}", r.api.log());
    assert_eq!(r.api.objects("", "pods", NS)["bot-b2"], pod_b2, "exactly as it was");
    let why = skip_reason(&r.api, "desired-b2").expect("the corrupt ConfigMap is annotated");
    assert!(why.starts_with("desired state unreadable") && why.contains("bot.json is not a record"), "{why}");

    // Next pass: nothing new to write on the ConfigMap, b2's pod still untouched.
    r.api.clear_log();
    let rep = r.ctl.reconcile_once().await.expect("pass");
    assert_eq!((rep.corrupt, rep.kept_unknown), (1, 1), "{rep:?}");
    assert!(writes_to(&r.api, "desired-b2").is_empty(), "annotated only when it changes: {:?}", r.api.log());
    assert!(writes_to(&r.api, "bot-b2").is_empty(), "{:?}", r.api.log());

    // The only other bots deleted: b2's pod still stays (its desired state is unknown).
    for (id, seq) in [("b1", 5), ("b3", 6)] {
        r.cm.apply(&Change::Delete(id.into()), Mode::Put, Some(seq)).await.expect("deleted");
    }
    r.api.finish_deletes();
    let rep = r.ctl.reconcile_once().await.expect("pass");
    assert!(r.api.objects("", "pods", NS).contains_key("bot-b2"), "{rep:?}");
}

#[tokio::test]
async fn an_event_repairs_a_corrupt_configmap() {
    let r = rig().await;
    let note = json!({ SKIP_REASON: "desired state unreadable: old", "ops/owner": "kept" });
    corrupt(&r.api, "b1", None, note.clone());
    assert!(r.cm.list().await.expect("the list reads past it").is_empty());

    // A create replaces it (an update at the resourceVersion read, not a create), merged as absent.
    r.api.clear_log();
    let mut rec = record("b1", json!({"a": 1}));
    rec.enabled = Some(json!(false));
    assert!(r.cm.apply(&Change::Upsert(rec), Mode::Update, Some(7)).await.expect("repaired"));
    let verbs: Vec<String> = r.api.log().into_iter().map(|(v, _, _)| v).collect();
    assert_eq!(verbs, ["get", "update"]);
    let cm = &configmaps(&r.api)["desired-b1"];
    let d = data(cm);
    assert_eq!((d["seq"].clone(), d["config"].clone()), (json!(7), json!({"a": 1})));
    assert_eq!(d["enabled"], json!(false), "an update over nothing keeps the event's enabled");
    assert_eq!(cm["metadata"]["annotations"], json!({"ops/owner": "kept"}), "the stale reason went, others stay");
    assert_eq!(r.cm.list().await.expect("list")[0].id, "b1");

    // A conflict while repairing: read again, and it still lands.
    corrupt(&r.api, "b1", Some("[]"), json!({}));
    r.api.conflict_times("configmaps", "update", 1);
    let p = br#"{"id":"b1","config":{"a":2},"custom":{"filePath":"k"}}"#;
    let o = ingest::handle(&r.cm, &ingest::BOTS, "the0.bot.created", p, Some(8)).await;
    assert_eq!(o, Outcome::Applied, "through ingest: applied, not retried until redelivery runs out");
    assert_eq!(data(&configmaps(&r.api)["desired-b1"])["config"], json!({"a": 2}));

    // A delete writes a tombstone over a corrupt one, with or without a sequence.
    for (seq, id) in [(Some(9), "b1"), (None, "b2")] {
        corrupt(&r.api, id, Some("{"), json!({}));
        assert!(r.cm.apply(&Change::Delete(id.into()), Mode::Put, seq).await.expect("deleted"));
        let d = data(&configmaps(&r.api)[&format!("desired-{id}")]);
        assert_eq!((d["deleted"].clone(), d["seq"].clone()), (json!(true), json!(seq)), "{id}");
    }
    assert!(r.cm.list().await.expect("list").is_empty());
    assert!(r.cm.read(i64::MIN).await.expect("read").corrupt.is_empty(), "nothing corrupt is left");
}

#[tokio::test]
async fn a_skip_reason_is_annotated_on_the_bots_configmap_while_it_lasts() {
    let r = rig().await;
    let bad = record("b1", json!({"schedule": "not a cron"}));
    r.cm.apply(&Change::Upsert(bad.clone()), Mode::Create, Some(1)).await.expect("written");
    r.cm.apply(&Change::Upsert(record("b2", json!({"a": 1}))), Mode::Create, Some(2)).await.expect("written");

    // A 409 on the annotation (ingest wrote first): not an error, the next pass writes it.
    r.api.conflict_times("configmaps", "update", 1);
    let rep = r.ctl.reconcile_once().await.expect("pass");
    assert_eq!((rep.skipped, rep.failed), (1, 0), "{rep:?}");
    assert_eq!(skip_reason(&r.api, "desired-b1"), None);
    r.ctl.reconcile_once().await.expect("pass");
    let why = skip_reason(&r.api, "desired-b1").expect("annotated");
    assert!(why.contains("not a cron"), "{why}");
    assert_eq!(skip_reason(&r.api, "desired-b2"), None, "a bot with its pod has none");

    // Written only when it changes.
    r.api.clear_log();
    r.ctl.reconcile_once().await.expect("pass");
    assert!(writes_to(&r.api, "desired-b1").is_empty(), "{:?}", r.api.log());

    // Ingest's write keeps it (the leader's to change), and the data stays the leader's to read.
    let mut still_bad = bad.clone();
    still_bad.config = json!({"schedule": "still not a cron"});
    r.cm.apply(&Change::Upsert(still_bad), Mode::Put, Some(3)).await.expect("written");
    assert_eq!(skip_reason(&r.api, "desired-b1").as_deref(), Some(why.as_str()));
    r.ctl.reconcile_once().await.expect("pass");
    let now = skip_reason(&r.api, "desired-b1").expect("annotated");
    assert!(now.contains("still not a cron"), "the new reason replaces the old: {now}");
    assert_eq!(data(&configmaps(&r.api)["desired-b1"])["seq"], json!(3), "the annotation did not touch the data");

    // Fixed: the CronJob is created and the annotation cleared.
    let mut good = bad;
    good.config = json!({"schedule": "0 * * * *"});
    r.cm.apply(&Change::Upsert(good), Mode::Put, Some(4)).await.expect("written");
    let rep = r.ctl.reconcile_once().await.expect("pass");
    assert_eq!((rep.skipped, rep.created), (0, 1), "{rep:?}");
    assert_eq!(skip_reason(&r.api, "desired-b1"), None);
    assert!(r.api.objects("batch", "cronjobs", NS).contains_key("schedule-b1"));
}

/// A tombstone is neither desired nor corrupt: it gets no annotation.
#[tokio::test]
async fn tombstones_get_no_annotation() {
    let r = rig().await;
    let tomb = Doc {
        id: "gone".into(),
        seq: Some(1),
        updated_ms: the0_orchestrator::store::now_ms(),
        deleted: true,
        bot: StoredBot { config: json!(null), custom: json!(null), enabled: None, local_enabled: None },
    };
    r.api.seed("", "configmaps", NS, serde_json::to_value(configmap(&tomb).expect("fits")).expect("JSON"));
    r.cm.apply(&Change::Upsert(record("b1", json!({"a": 1}))), Mode::Create, Some(2)).await.expect("written");
    r.ctl.reconcile_once().await.expect("pass");
    assert!(writes_to(&r.api, "desired-gone").is_empty(), "{:?}", r.api.log());
}
