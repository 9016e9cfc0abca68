//! `orchestrator import-running` in Docker mode on the real engine: three long-running containers
//! (a busybox `sleep` in the scratch test image `THE0_TEST_IMAGE`, which `make test` builds)
//! labelled and configured as bot containers, under a test `--instance` so no other test's
//! containers are read:
//!
//! - one as the original Go runtime starts a realtime bot (`runtime/internal/docker/runner.go`
//!   and `container_builder.go` in the0: labels `runtime.managed`, `runtime.id`, `runtime.type`,
//!   `runtime.entrypoint`, the record in `CONFIG`, `CODE_FILE`, `RUNTIME`, `ENTRYPOINT`,
//!   `QUERY_ENTRYPOINT`; no hash label);
//! - one as this orchestrator starts one (`spec::build`, with its `runtime.config-hash`);
//! - one that lacks `CODE_FILE`.
//!
//! The binary imports the first two into a temporary SQLite store and names the third with what
//! it lacks; the records are what the containers were started from; a reconcile pass planned
//! from the store and the engine's view keeps both containers as they are (no stop, no start:
//! D24) and stops only the third (no record); a second run imports nothing. Containers are
//! removed at the end whatever happens.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use the0_orchestrator::docker::Docker;
use the0_orchestrator::images::RuntimeImages;
use the0_orchestrator::metrics::Metrics;
use the0_orchestrator::model::{self, BotRecord};
use the0_orchestrator::observed::BotStatus;
use the0_orchestrator::reconcile::plan::{plan, Desired};
use the0_orchestrator::spec::{self, HostSettings};
use the0_orchestrator::store::Store;

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker CLI")
}

/// The scratch test image (busybox and the executor) `scripts/test.sh` builds and names.
fn image() -> String {
    std::env::var("THE0_TEST_IMAGE")
        .expect("THE0_TEST_IMAGE is not set: run the tests with `make test` (it builds the scratch test image)")
}

/// Removes the named containers when dropped (fewer than 8, one `docker rm` call).
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.0.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}

fn start(all: &mut Containers, name: &str, labels: &BTreeMap<String, String>, env: &[String]) {
    all.0.push(name.to_string());
    let mut args: Vec<String> = ["run", "-d", "--name", name, "--network", "none"].map(String::from).to_vec();
    for (k, v) in labels {
        args.extend(["--label".into(), format!("{k}={v}")]);
    }
    for kv in env {
        args.extend(["--env".into(), kv.clone()]);
    }
    args.extend([image(), "/bin/busybox".into(), "sleep".into(), "3600".into()]);
    let out = docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "docker run {name}: {}", String::from_utf8_lossy(&out.stderr));
}

fn labels(inst: &str, id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("runtime.managed".into(), "true".into()),
        ("runtime.id".into(), id.into()),
        ("runtime.type".into(), "realtime".into()),
        ("runtime.entrypoint".into(), "main.py".into()),
        ("runtime.instance".into(), inst.into()),
    ])
}

/// The environment the original's bot-runner gives a realtime bot (storage keys included).
fn original_env(id: &str, config: &Value, with_code: bool) -> Vec<String> {
    let mut e = vec![
        "PYTHONDONTWRITEBYTECODE=1".to_string(),
        format!("ID={id}"),
        format!("CONFIG={config}"),
        "ENTRYPOINT_TYPE=bot".into(),
        "CODE_MOUNT_DIR=bot".into(),
        "STATE_DIR=/state/.the0-state".into(),
        "MINIO_ENDPOINT=minio:9000".into(),
        "MINIO_ACCESS_KEY=k".into(),
        "MINIO_SECRET_KEY=s".into(),
        "MINIO_USE_SSL=false".into(),
        format!("BOT_ID={id}"),
        "RUNTIME=python3.11".into(),
        "ENTRYPOINT=main.py".into(),
        format!("BOT_CONFIG={config}"),
        "IS_SCHEDULED=false".into(),
        "QUERY_ENTRYPOINT=query.py".into(),
        "BOT_TYPE=realtime".into(),
    ];
    if with_code {
        e.push("CODE_FILE=user-1/price-alerts/1.2.0".into());
    }
    e
}

fn import(data: &Path, inst: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .args(["import-running", "--instance", inst, "-o", "json", "--data-dir"])
        .arg(data)
        .env_remove("DESIRED_STATE")
        .output()
        .expect("run the orchestrator");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("-o json")
}

#[tokio::test]
async fn running_containers_become_records_the_reconciler_adopts() {
    let inst = format!("tk{}", std::process::id());
    let (orig, ours, lacking) = (format!("{inst}-orig"), format!("{inst}-ours"), format!("{inst}-lacking"));
    let mut all = Containers(Vec::new());
    let config = json!({"name": "price-alerts", "symbol": "BTC", "threshold": 0.05});
    start(&mut all, &format!("the0-bot-{orig}"), &labels(&inst, &orig), &original_env(&orig, &config, true));
    start(&mut all, &format!("the0-bot-{lacking}"), &labels(&inst, &lacking), &original_env(&lacking, &config, false));
    let our_rec = BotRecord {
        id: ours.clone(),
        config: json!({"symbol": "ETH", "n": 2}),
        custom: json!({"version": "0.1.0", "filePath": "user-2/ticker/0.1.0",
            "config": {"name": "ticker", "runtime": "nodejs20", "entrypoints": {"bot": "main.js"}}}),
        enabled: None,
    };
    let images = RuntimeImages { default: image(), by_runtime: BTreeMap::new() };
    let launch = model::validate(&our_rec, &images).expect("valid");
    let host = HostSettings { instance: Some(inst.clone()), ..HostSettings::default() };
    let s = spec::build(&launch, &host);
    start(&mut all, &s.name, &s.labels, &s.env);

    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let report = import(&data, &inst);
    let outcome = |id: &str| {
        report["bots"].as_array().and_then(|b| b.iter().find(|x| x["id"] == id)).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(outcome(&orig)["outcome"], "imported", "{report}");
    assert_eq!(outcome(&ours)["outcome"], "imported", "{report}");
    assert_eq!(outcome(&lacking)["outcome"], "skipped", "{report}");
    assert!(outcome(&lacking)["reason"].as_str().is_some_and(|r| r.contains("no CODE_FILE variable")), "{report}");
    assert_eq!(report["bots"].as_array().map(Vec::len), Some(3), "only this instance's containers: {report}");

    let store = Store::open(&data).expect("store");
    let records: Vec<BotRecord> = store.list().expect("list").into_iter().map(|(r, _)| r).collect();
    assert_eq!(records.len(), 2, "the skipped bot has no record");
    let got = |id: &str| records.iter().find(|r| r.id == id).cloned().expect("stored");
    assert_eq!(got(&orig).config, config);
    assert_eq!(
        got(&orig).custom,
        json!({"filePath": "user-1/price-alerts/1.2.0", "config": {"runtime": "python3.11",
            "entrypoints": {"bot": "main.py", "query": "query.py"}}})
    );
    assert_eq!(got(&ours).config, our_rec.config);

    // The reconcile pass of an orchestrator on this instance, images and store.
    let vars: HashMap<String, String> = std::env::vars().collect();
    let cli = the0_orchestrator::cmdline::parse(&["list".to_string()], &vars).expect("settings");
    let engine =
        Docker::connect(&cli.docker_host, Some(inst.clone()), std::sync::Arc::new(Metrics::default())).expect("docker");
    let observed = engine.observe().await.expect("observe");
    assert_eq!(observed.len(), 3);
    let desired: Vec<Desired> = records
        .iter()
        .map(|r| Desired {
            id: r.id.clone(),
            enabled: model::is_enabled(r.enabled.as_ref(), &r.config),
            launch: model::validate(r, &images),
            status: BotStatus::default(),
            handover: true,
        })
        .collect();
    let p = plan(&desired, &observed, &HashSet::new(), the0_orchestrator::store::now_ms(), 10_000);
    let acted: Vec<&str> = p.actions.iter().map(|a| a.bot_id.as_str()).collect();
    assert_eq!(acted, [lacking.as_str()], "both imported containers are kept as they are: {p:#?}");
    assert!(p.actions[0].start.is_none() && p.actions[0].stop.len() == 1, "the bot without a record is stopped");

    drop(store);
    let again = import(&data, &inst);
    assert_eq!(again["summary"]["imported"], 0, "{again}");
    assert_eq!(again["summary"]["present"], 2, "{again}");
}
