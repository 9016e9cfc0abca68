//! The controller's reconcile scenarios at the client level: a `kube::Client` over
//! `tower_test::mock::pair` (harness in `kube_mock`), each test asserting the exact requests one
//! pass sends (method, path, label selector, body) for a scripted API server's answers.
//!
//! Scenarios: a missing pod is created (the body is the built pod); a changed config-hash, or a
//! pod in phase Failed, Succeeded or Unknown, is replaced (deleted, to be created by the next
//! pass); an undesired pod is deleted and an undesired CronJob deleted in the foreground; an empty
//! store deletes nothing; AlreadyExists on create while the old pod terminates is pending, not an
//! error, and a terminating pod makes its bot wait without a create; a 409 Conflict on a CronJob
//! update at the listed resourceVersion is one failed call (not retried within the pass) and the
//! next pass's update lands; a 409 on a desired-state ConfigMap's replace makes the store read
//! again and write at the new resourceVersion.

mod kube_mock;
mod kube_record;

use kube_mock::{list, ok, script, status, Recorded};
use kube_record::record;
use serde_json::{json, Value};
use the0_orchestrator::kube::cmstore::{configmap, ConfigMapStore, Doc};
use the0_orchestrator::kube::controller::{Controller, Report};
use the0_orchestrator::kube::{bot_pod, schedule_cronjob, KubeSettings};
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::store::merge::StoredBot;
use the0_orchestrator::store::{Mode, Store};

const NS: &str = "the0";
const PODS: &str = "/api/v1/namespaces/the0/pods";
const CRONJOBS: &str = "/apis/batch/v1/namespaces/the0/cronjobs";
const POD_SELECTOR: &str = "&labelSelector=the0.app%2Fmanaged-by%3Dthe0-bot-controller";
const CRONJOB_SELECTOR: &str = "&labelSelector=the0.app%2Fmanaged-by%3Dthe0-schedule-controller";

fn settings() -> KubeSettings {
    KubeSettings { namespace: NS.into(), minio_endpoint: "minio:9000".into(), ..KubeSettings::default() }
}

/// A controller over a scripted server, with `records` in its SQLite store.
struct Rig {
    ctl: Controller,
    server: kube_mock::Server,
    _dir: tempfile::TempDir,
}

fn rig(records: &[BotRecord], replies: Vec<kube_mock::Reply>) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("data")).expect("store");
    for r in records {
        store.apply(&Change::Upsert(r.clone()), Mode::Put, None).expect("store put");
    }
    let (client, server) = kube_mock::client(NS, script(replies));
    Rig { ctl: Controller { client, settings: settings(), store, configmaps: None }, server, _dir: dir }
}

impl Rig {
    /// Runs one pass and returns its report and the requests it sent.
    async fn pass(&self) -> (Report, Vec<Recorded>) {
        let before = self.server.log.len();
        let r = self.ctl.reconcile_once().await.expect("pass");
        (r, self.server.log.all().split_off(before))
    }
}

/// The pod built for `rec`, as listed: in `phase`, with its own config-hash or `hash`.
fn listed_pod(rec: &BotRecord, phase: &str, hash: Option<&str>) -> Value {
    let mut p = serde_json::to_value(bot_pod(rec, &settings()).expect("builds").object).expect("JSON");
    p["metadata"]["resourceVersion"] = json!("7");
    p["status"] = json!({"phase": phase});
    if let Some(h) = hash {
        p["metadata"]["annotations"]["the0.app/config-hash"] = json!(h);
    }
    p
}

fn listed_cronjob(rec: &BotRecord, rv: &str, hash: Option<&str>) -> Value {
    let mut c = serde_json::to_value(schedule_cronjob(rec, &settings()).expect("builds").object).expect("JSON");
    c["metadata"]["resourceVersion"] = json!(rv);
    if let Some(h) = hash {
        c["metadata"]["annotations"]["the0.app/schedule-hash"] = json!(h);
    }
    c
}

fn pods(items: Vec<Value>) -> kube_mock::Reply {
    list("Pod", "v1", items)
}

fn cronjobs(items: Vec<Value>) -> kube_mock::Reply {
    list("CronJob", "batch/v1", items)
}

fn lines(log: &[Recorded]) -> Vec<String> {
    log.iter().map(Recorded::line).collect()
}

fn get(path: &str) -> String {
    format!("GET {path}")
}

#[tokio::test(start_paused = true)]
async fn a_missing_pod_is_created_with_the_built_spec() {
    let rec = record("b1", json!({"a": 1}));
    let rig = rig(std::slice::from_ref(&rec), vec![pods(vec![]), ok(201, json!({})), cronjobs(vec![])]);
    let (r, log) = rig.pass().await;
    assert_eq!(lines(&log), [get(PODS), format!("POST {PODS}"), get(CRONJOBS)]);
    assert_eq!((log[0].query.as_str(), log[2].query.as_str()), (POD_SELECTOR, CRONJOB_SELECTOR));
    let want = serde_json::to_value(bot_pod(&rec, &settings()).expect("builds").object).expect("JSON");
    assert_eq!(log[1].body, want, "the body is the built pod, unchanged");
    assert_eq!(r, Report { created: 1, ..Report::default() });
}

#[tokio::test(start_paused = true)]
async fn a_changed_hash_or_an_ended_phase_replaces_the_pod() {
    let rec = record("b1", json!({"a": 1}));
    let cases = [("Running", Some("0000000000000000")), ("Failed", None), ("Succeeded", None), ("Unknown", None)];
    for (phase, hash) in cases {
        let listed = listed_pod(&rec, phase, hash);
        let rig = rig(std::slice::from_ref(&rec), vec![pods(vec![listed.clone()]), ok(200, listed), cronjobs(vec![])]);
        let (r, log) = rig.pass().await;
        assert_eq!(lines(&log), [get(PODS), format!("DELETE {PODS}/bot-b1"), get(CRONJOBS)], "{phase}");
        assert_eq!(r, Report { replaced: 1, ..Report::default() }, "{phase}");
    }
    // Same hash, Running (and Pending): no write at all.
    for phase in ["Running", "Pending"] {
        let rig = rig(std::slice::from_ref(&rec), vec![pods(vec![listed_pod(&rec, phase, None)]), cronjobs(vec![])]);
        let (r, log) = rig.pass().await;
        assert_eq!(lines(&log), [get(PODS), get(CRONJOBS)], "{phase}");
        assert_eq!(r, Report::default(), "{phase}");
    }
}

#[tokio::test(start_paused = true)]
async fn undesired_objects_are_deleted() {
    let (rec, gone, sched) = (
        record("b1", json!({"a": 1})),
        record("old", json!({"a": 1})),
        record("s-old", json!({"schedule": "0 * * * *"})),
    );
    let replies = vec![
        pods(vec![listed_pod(&rec, "Running", None), listed_pod(&gone, "Running", None)]),
        ok(200, json!({})),
        cronjobs(vec![listed_cronjob(&sched, "3", None)]),
        ok(200, json!({})),
    ];
    let rig = rig(std::slice::from_ref(&rec), replies);
    let (r, log) = rig.pass().await;
    assert_eq!(
        lines(&log),
        [get(PODS), format!("DELETE {PODS}/bot-old"), get(CRONJOBS), format!("DELETE {CRONJOBS}/schedule-s-old")]
    );
    assert_eq!(log[3].body["propagationPolicy"], "Foreground", "a CronJob goes with its Jobs");
    assert_eq!(r, Report { deleted: 2, ..Report::default() });
}

#[tokio::test(start_paused = true)]
async fn an_empty_store_deletes_nothing() {
    let (gone, sched) = (record("old", json!({"a": 1})), record("s-old", json!({"schedule": "0 * * * *"})));
    let rig = rig(
        &[],
        vec![pods(vec![listed_pod(&gone, "Running", None)]), cronjobs(vec![listed_cronjob(&sched, "3", None)])],
    );
    let (r, log) = rig.pass().await;
    assert_eq!(lines(&log), [get(PODS), get(CRONJOBS)], "lists only (D33)");
    assert_eq!(r, Report { held_back: 2, ..Report::default() });
}

#[tokio::test(start_paused = true)]
async fn already_exists_while_the_old_pod_terminates_is_pending() {
    let rec = record("b1", json!({"a": 1}));
    // The old pod is no longer listed, but its name is still taken.
    let replies = vec![pods(vec![]), status(409, "AlreadyExists", "pods \"bot-b1\" already exists"), cronjobs(vec![])];
    let rig = rig(std::slice::from_ref(&rec), replies);
    let (r, log) = rig.pass().await;
    assert_eq!(lines(&log), [get(PODS), format!("POST {PODS}"), get(CRONJOBS)]);
    assert_eq!(r, Report { pending: 1, ..Report::default() }, "pending, not failed");

    // Listed as terminating: the bot waits, no create is sent.
    let mut old = listed_pod(&rec, "Running", Some("0000000000000000"));
    old["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let rig = self::rig(std::slice::from_ref(&rec), vec![pods(vec![old]), cronjobs(vec![])]);
    let (r, log) = rig.pass().await;
    assert_eq!(lines(&log), [get(PODS), get(CRONJOBS)]);
    assert_eq!(r, Report { pending: 1, ..Report::default() });
}

#[tokio::test(start_paused = true)]
async fn a_conflict_on_a_cronjob_update_fails_that_call_and_the_next_pass_updates() {
    let rec = record("s1", json!({"schedule": "0 * * * *"}));
    let listed = listed_cronjob(&rec, "41", Some("0000000000000000"));
    let replies = vec![
        pods(vec![]),
        cronjobs(vec![listed.clone()]),
        status(409, "Conflict", "the object has been modified"),
        pods(vec![]),
        cronjobs(vec![listed.clone()]),
        ok(200, listed),
    ];
    let rig = rig(std::slice::from_ref(&rec), replies);
    let (r, log) = rig.pass().await;
    let put = format!("PUT {CRONJOBS}/schedule-s1");
    assert_eq!(lines(&log), [get(PODS), get(CRONJOBS), put.clone()], "one try per pass");
    assert_eq!(log[2].body["metadata"]["resourceVersion"], "41", "at the resourceVersion listed");
    let want = listed_cronjob(&rec, "41", None);
    assert_eq!(log[2].body["metadata"]["annotations"], want["metadata"]["annotations"], "with the new hash");
    assert_eq!(r, Report { failed: 1, ..Report::default() });
    let (r, log) = rig.pass().await;
    assert_eq!(lines(&log), [get(PODS), get(CRONJOBS), put]);
    assert_eq!(r, Report { replaced: 1, ..Report::default() });
}

#[tokio::test(start_paused = true)]
async fn a_conflict_on_a_configmap_write_reads_again_and_writes_at_the_new_version() {
    let doc = |config: Value, seq: u64| Doc {
        id: "b1".into(),
        seq: Some(seq),
        updated_ms: 1,
        deleted: false,
        bot: StoredBot { config, custom: json!({"filePath": "k"}), enabled: None, local_enabled: None },
    };
    let stored = |rv: &str, config: Value, seq: u64| {
        let mut cm = serde_json::to_value(configmap(&doc(config, seq)).expect("fits")).expect("JSON");
        cm["metadata"]["resourceVersion"] = json!(rv);
        cm
    };
    let replies = vec![
        ok(200, stored("5", json!({"a": 1}), 1)),
        status(409, "Conflict", "the object has been modified"),
        ok(200, stored("6", json!({"a": 2}), 2)),
        ok(200, stored("7", json!({"a": 3}), 3)),
    ];
    let (client, server) = kube_mock::client(NS, script(replies));
    let cm = ConfigMapStore::new(client, NS);
    let rec = BotRecord { id: "b1".into(), config: json!({"a": 3}), custom: json!({"filePath": "k"}), enabled: None };
    assert!(cm.apply(&Change::Upsert(rec), Mode::Put, Some(3)).await.expect("written on the second try"));
    let log = server.log.all();
    let one = "/api/v1/namespaces/the0/configmaps/desired-b1";
    assert_eq!(lines(&log), [get(one), format!("PUT {one}"), get(one), format!("PUT {one}")]);
    let rv = |r: &Recorded| r.body["metadata"]["resourceVersion"].clone();
    assert_eq!((rv(&log[1]), rv(&log[3])), (json!("5"), json!("6")), "each write at the version just read");
}
