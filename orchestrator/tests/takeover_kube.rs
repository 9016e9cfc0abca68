//! `orchestrator import-running --kubernetes` against the stateful fake API server
//! (`tests/kube_fake`), the built binary end to end, into each desired-state store. The namespace
//! holds a bot pod and a schedule CronJob built by our own `kube::bot_pod` / `schedule_cronjob`
//! (one of a record with a root `enabled: true`, which only the hash shows), a pod shaped like the
//! original controller's (`runtime/internal/k8s/podgen/pod_builder.go` in the0: `BOT_CONFIG`, no
//! `CONFIG`, its own image and command), a CronJob shaped like its schedules
//! (`botschedule_controller.go`: no version label) and a pod that lacks `CODE_FILE`.
//!
//! Each run imports the first five and names the last with what it lacks; the records hash as
//! their objects' annotations, so the controller's next pass from that store creates, replaces
//! and updates nothing (D24) and deletes only the pod without a record; a second run imports
//! nothing. With `--desired-state configmaps` the records are the ConfigMaps the controller reads.

mod kube_fake;
mod kube_record;

use std::path::Path;
use std::process::Command;

use kube_fake::FakeApi;
use kube_record::record_with_query;
use serde_json::{json, Value};
use the0_orchestrator::kube::cmstore::ConfigMapStore;
use the0_orchestrator::kube::controller::Controller;
use the0_orchestrator::kube::{self as k, client, KubeSettings};
use the0_orchestrator::model::BotRecord;
use the0_orchestrator::store::Store;

const NS: &str = "the0";

fn settings() -> KubeSettings {
    KubeSettings { namespace: NS.into(), ..KubeSettings::default() }
}

fn ours_live() -> BotRecord {
    record_with_query("live", json!({"symbol": "BTC-USD", "threshold": 0.5}), true)
}

fn ours_on() -> BotRecord {
    BotRecord { enabled: Some(json!(true)), ..record_with_query("on", json!({"symbol": "ETH-USD"}), false) }
}

fn ours_cron() -> BotRecord {
    record_with_query("cron", json!({"schedule": "0 */6 * * *", "email": "ops@example.com"}), false)
}

/// The original's realtime bot `orig`: config and version as its record had them.
fn original_pod(id: &str, with_code: bool) -> Value {
    let config = json!({"symbol": "SOL-USD", "window": 60});
    let hash = k::hash::config_hash(&config, "3.0.0", None);
    let mut env = vec![
        json!({"name": "MINIO_ENDPOINT", "value": "minio:9000"}),
        json!({"name": "MINIO_ACCESS_KEY", "value": "k"}),
        json!({"name": "MINIO_SECRET_KEY", "value": "s"}),
        json!({"name": "BOT_ID", "value": id}),
        json!({"name": "RUNTIME", "value": "python3.11"}),
        json!({"name": "ENTRYPOINT", "value": "main.py"}),
        json!({"name": "BOT_CONFIG", "value": config.to_string()}),
        json!({"name": "CODE_PATH", "value": "/bot"}),
        json!({"name": "STATE_PATH", "value": "/state"}),
        json!({"name": "LOGS_PATH", "value": "/var/the0/logs"}),
        json!({"name": "STATE_DIR", "value": "/state/.the0-state"}),
        json!({"name": "BOT_TYPE", "value": "realtime"}),
    ];
    if with_code {
        env.push(json!({"name": "CODE_FILE", "value": "user-3/sol/3.0.0"}));
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("bot-{id}"),
            "labels": {"the0.app/bot-id": id, "the0.app/custom-bot-id": "sol", "the0.app/custom-bot-version": "3.0.0",
                "the0.app/runtime": "python3.11", "the0.app/managed-by": "the0-bot-controller"},
            "annotations": {"the0.app/config-hash": hash}},
        "spec": {"restartPolicy": "Always",
            "initContainers": [{"name": "sync", "image": "ghcr.io/alexanderwanyoike/the0/runtime:latest",
                "command": ["/app/runtime", "daemon", "sync"], "restartPolicy": "Always"}],
            "containers": [{"name": "bot", "image": "ghcr.io/alexanderwanyoike/the0/runtime:latest",
                "command": ["/app/runtime", "execute", "--skip-sync", "--skip-query-server"],
                "workingDir": "/bot", "env": env}]},
        "status": {"phase": "Running"}
    })
}

/// The original's schedule `orig-cron` (`botschedule_controller.go` in the0: no version label,
/// so the version comes from `CODE_FILE`, checked by the hash).
fn original_cronjob() -> Value {
    let config = json!({"schedule": "0 0 * * * *", "report": "daily"});
    let hash = k::hash::config_hash(&config, "2.1.0", None);
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "schedule-orig-cron",
            "labels": {"the0.app/schedule-id": "orig-cron", "the0.app/custom-bot-id": "report",
                "the0.app/runtime": "nodejs20", "the0.app/managed-by": "the0-schedule-controller"},
            "annotations": {"the0.app/schedule-hash": hash}},
        "spec": {"schedule": "0 * * * *", "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {
                "metadata": {"labels": {"the0.app/schedule-id": "orig-cron", "the0.app/bot-id": "orig-cron"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "bot",
                    "image": "ghcr.io/alexanderwanyoike/the0/runtime:latest",
                    "command": ["/app/runtime", "execute", "--skip-query-server"],
                    "env": [{"name": "BOT_ID", "value": "orig-cron"},
                        {"name": "CODE_FILE", "value": "user-4/report/2.1.0"},
                        {"name": "RUNTIME", "value": "nodejs20"}, {"name": "ENTRYPOINT", "value": "index.js"},
                        {"name": "BOT_CONFIG", "value": config.to_string()},
                        {"name": "BOT_TYPE", "value": "scheduled"}, {"name": "IS_SCHEDULED", "value": "true"}]}]}}}}}
    })
}

fn seed(api: &FakeApi) {
    let s = settings();
    for rec in [ours_live(), ours_on()] {
        let mut pod = serde_json::to_value(k::bot_pod(&rec, &s).expect("pod").object).expect("JSON");
        pod["status"] = json!({"phase": "Running"});
        api.seed("", "pods", NS, pod);
    }
    let cj = serde_json::to_value(k::schedule_cronjob(&ours_cron(), &s).expect("cronjob").object).expect("JSON");
    api.seed("batch", "cronjobs", NS, cj);
    api.seed("batch", "cronjobs", NS, original_cronjob());
    api.seed("", "pods", NS, original_pod("orig", true));
    api.seed("", "pods", NS, original_pod("lacking", false));
}

fn import(kc: &Path, data: &Path, store: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .args(["import-running", "--kubernetes", "--namespace", NS, "--desired-state", store, "-o", "json"])
        .arg("--kubeconfig")
        .arg(kc)
        .arg("--data-dir")
        .arg(data)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run the orchestrator");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("-o json")
}

fn check_report(r: &Value) {
    let outcome = |id: &str| r["bots"].as_array().and_then(|b| b.iter().find(|x| x["id"] == id)).cloned();
    for id in ["live", "on", "cron", "orig", "orig-cron"] {
        assert_eq!(outcome(id).map(|o| o["outcome"].clone()), Some(json!("imported")), "{id}: {r}");
    }
    let lacking = outcome("lacking").expect("lacking is reported");
    assert_eq!(lacking["outcome"], "skipped");
    assert!(lacking["reason"].as_str().is_some_and(|w| w.contains("no CODE_FILE variable")), "{lacking}");
    assert_eq!(lacking["source"], "pod bot-lacking");
}

fn check_records(records: &[BotRecord]) {
    let got = |id: &str| records.iter().find(|r| r.id == id).cloned().unwrap_or_else(|| panic!("{id} stored"));
    assert_eq!(records.len(), 5, "{records:?}");
    assert_eq!(got("live").config, ours_live().config);
    assert_eq!(got("live").custom["config"]["entrypoints"], json!({"bot": "main.py", "query": "query.py"}));
    assert_eq!(got("on").enabled, Some(json!(true)), "the root enabled, recovered from the hash");
    assert_eq!(got("cron").config, ours_cron().config);
    assert_eq!(got("orig").config, json!({"symbol": "SOL-USD", "window": 60}));
    assert_eq!(got("orig").custom["version"], "3.0.0");
    assert_eq!(got("orig-cron").custom["version"], "2.1.0", "from CODE_FILE, checked by the hash");
    assert_eq!(got("orig-cron").config["schedule"], "0 0 * * * *", "the stored six-field cron, not the CronJob's");
}

/// The controller's next pass adopts every imported object and deletes only the unrecorded pod.
async fn check_adopted(api: &FakeApi, ctl: Controller) {
    let before = api.objects("", "pods", NS);
    let r = ctl.reconcile_once().await.expect("a pass");
    assert_eq!((r.created, r.replaced, r.failed, r.skipped), (0, 0, 0, 0), "{r:?}");
    assert_eq!(r.deleted, 1, "only the pod without a record: {r:?}");
    let after = api.objects("", "pods", NS);
    for name in ["bot-live", "bot-on", "bot-orig"] {
        assert_eq!(after.get(name), before.get(name), "{name} adopted as it is");
    }
    let cronjobs = api.objects("batch", "cronjobs", NS);
    assert!(cronjobs.contains_key("schedule-cron") && cronjobs.contains_key("schedule-orig-cron"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_and_cronjobs_become_sqlite_records_the_controller_adopts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    seed(&api);
    let kc = api.kubeconfig(dir.path(), NS);
    let data = dir.path().join("data");
    check_report(&import(&kc, &data, "sqlite"));
    let store = Store::open(&data).expect("store");
    check_records(&store.list().expect("list").into_iter().map(|(r, _)| r).collect::<Vec<_>>());
    let again = import(&kc, &data, "sqlite");
    assert_eq!((again["summary"]["imported"].clone(), again["summary"]["present"].clone()), (json!(0), json!(5)));
    let client = client::connect(Some(&kc)).await.expect("client");
    check_adopted(&api, Controller { client, settings: settings(), store, configmaps: None }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_and_cronjobs_become_configmaps_the_controller_adopts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    seed(&api);
    let kc = api.kubeconfig(dir.path(), NS);
    let data = dir.path().join("data");
    check_report(&import(&kc, &data, "configmaps"));
    let client = client::connect(Some(&kc)).await.expect("client");
    let cm = ConfigMapStore::new(client.clone(), NS);
    check_records(&cm.list().await.expect("the ConfigMaps"));
    assert!(Store::open(&data).expect("store").list().expect("list").is_empty(), "nothing went to SQLite");
    let again = import(&kc, &data, "configmaps");
    assert_eq!(again["summary"]["imported"], 0, "{again}");
    let store = Store::open(&dir.path().join("unused")).expect("store");
    check_adopted(&api, Controller { client, settings: settings(), store, configmaps: Some(cm) }).await;
}
