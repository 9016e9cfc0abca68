//! Opt-in end to end against a real cluster: runs only when `KUBECONFIG` is set and
//! `THE0_REAL_CLUSTER=1`; otherwise it prints why it is skipped and passes (so `cargo test` and CI,
//! which have no cluster, stay green without proving anything here).
//!
//! When enabled it does real work: it creates a namespace of its own (`the0-e2e-<pid>-<time>`),
//! binds the controller in-process (`kube::run::Running::bind`, the same code the binary runs,
//! with the cluster from `KUBECONFIG`) with one realtime bot in its store (and one disabled bot,
//! so that removing the first does not empty the store, which D33 would hold back), waits
//! (bounded, `THE0_REAL_CLUSTER_TIMEOUT` seconds, 300 by default) for the bot's pod to be
//! `Running`, checks the pod's labels, config-hash annotation, containers, images and security
//! context against the pod the builder makes, removes the bot and waits (bounded) for the pod to
//! go, then deletes the namespace, also when a step failed.
//!
//! What it needs from the cluster and the environment: the runtime image (`RUNTIME_IMAGE`,
//! pullable by the nodes) and an object store the pods reach (`MINIO_ENDPOINT`,
//! `MINIO_ACCESS_KEY`, `MINIO_SECRET_KEY`, ... as for `orchestrator controller`; every variable of
//! this process is passed to the controller, `NATS_URL` excepted) holding the bot's code at
//! `user-1/price-alerts/1.2.0` for the pod to keep running; permission to create and delete
//! namespaces, pods and CronJobs.

mod kube_record;

use std::collections::HashMap;
use std::time::Duration;

use ::kube::api::{DeleteParams, PostParams};
use ::kube::Api;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_record::record;
use serde_json::json;
use the0_orchestrator::cmdline;
use the0_orchestrator::config::Command;
use the0_orchestrator::kube::run::{settings, Running};
use the0_orchestrator::kube::{bot_pod, client};
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::store::Mode;
use tokio::sync::watch;

const ID: &str = "e2e-price-alerts";

/// Why the test does not run here, if it does not.
fn skip_reason() -> Option<String> {
    let kubeconfig = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty());
    let on = std::env::var("THE0_REAL_CLUSTER").is_ok_and(|v| v == "1");
    match (kubeconfig.is_some(), on) {
        (true, true) => None,
        (false, _) => Some("KUBECONFIG is not set".into()),
        (true, false) => Some("THE0_REAL_CLUSTER=1 is not set".into()),
    }
}

fn timeout() -> Duration {
    let secs = std::env::var("THE0_REAL_CLUSTER_TIMEOUT").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    Duration::from_secs(secs)
}

/// Polls `pods` for `name` every 2 s until `done` says so, at most `within`; the last pod seen.
async fn wait_pod(
    pods: &Api<Pod>,
    name: &str,
    within: Duration,
    done: impl Fn(Option<&Pod>) -> bool,
) -> Result<Option<Pod>, String> {
    let rounds = within.as_secs().div_ceil(2).max(1);
    let mut last = None;
    for _ in 0..rounds {
        last = pods.get_opt(name).await.map_err(|e| format!("get pod {name}: {e}"))?;
        if done(last.as_ref()) {
            return Ok(last);
        }
        if last.as_ref().and_then(|p| p.status.as_ref()).and_then(|s| s.phase.as_deref()) == Some("Failed") {
            return Err(format!("pod {name} failed: {:?}", last.and_then(|p| p.status)));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(format!("pod {name}: not there within {within:?}; last seen: {:?}", last.and_then(|p| p.status)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_gets_a_running_pod_in_a_real_cluster_and_loses_it_when_removed() {
    if let Some(why) = skip_reason() {
        eprintln!("kube_real_cluster: skipped ({why}); set KUBECONFIG and THE0_REAL_CLUSTER=1 to run it");
        return;
    }
    let client = client::connect(None).await.expect("a client for the cluster of KUBECONFIG");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let ns = format!("the0-e2e-{}-{stamp}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let meta = ObjectMeta { name: Some(ns.clone()), ..ObjectMeta::default() };
    namespaces
        .create(&PostParams::default(), &Namespace { metadata: meta, ..Namespace::default() })
        .await
        .expect("create the test's namespace");

    let outcome = run_in(&ns, client.clone()).await;

    // The namespace goes whatever happened (its pods with it).
    if let Err(e) = namespaces.delete(&ns, &DeleteParams::foreground()).await {
        eprintln!("kube_real_cluster: cannot delete namespace {ns}: {e}");
    }
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

async fn run_in(ns: &str, client: ::kube::Client) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut vars: HashMap<String, String> = std::env::vars().filter(|(k, _)| k != "NATS_URL").collect();
    vars.insert("THE0_DATA_DIR".into(), dir.path().join("data").display().to_string());
    vars.insert("THE0_HEALTH_ADDR".into(), "127.0.0.1:0".into());
    let args: Vec<String> =
        ["controller", &format!("--namespace={ns}"), "--reconcile-interval=2s"].iter().map(|s| s.to_string()).collect();
    let cli = cmdline::parse(&args, &vars).map_err(|e| format!("arguments: {e}"))?;
    let Command::Controller(f) = cli.command.clone() else { return Err("not the controller command".into()) };
    let running = Running::bind(&cli, &f, None).await.map_err(|e| format!("bind: {e}"))?;
    let rec = record(ID, json!({"symbol": "BTC", "threshold": 1}));
    let off = BotRecord { enabled: Some(json!(false)), ..record("e2e-disabled", json!({})) };
    for r in [&rec, &off] {
        running.store().apply(&Change::Upsert(r.clone()), Mode::Put, None).map_err(|e| e.to_string())?;
    }
    let store = running.store().clone();
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(running.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));

    let result = check(ns, client, &cli, &f, &rec, &store).await;
    stop_tx.send_replace(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    result
}

async fn check(
    ns: &str,
    client: ::kube::Client,
    cli: &the0_orchestrator::config::Cli,
    f: &the0_orchestrator::config::ControllerFlags,
    rec: &BotRecord,
    store: &the0_orchestrator::store::Store,
) -> Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(client, ns);
    let name = format!("bot-{ID}");
    let running =
        |p: Option<&Pod>| p.and_then(|p| p.status.as_ref()).and_then(|s| s.phase.as_deref()) == Some("Running");
    let live = wait_pod(&pods, &name, timeout(), running).await?.ok_or("no pod")?;

    // The pod is the one the builder makes (the API server adds defaults, so field by field).
    let want = bot_pod(rec, &settings(cli, f)).map_err(|e| e.to_string())?.object;
    let eq = |what: &str, a: String, b: String| if a == b { Ok(()) } else { Err(format!("{what}: {a} != {b}")) };
    let meta = |m: &ObjectMeta| {
        (m.labels.clone(), m.annotations.clone().unwrap_or_default().get("the0.app/config-hash").cloned())
    };
    eq("labels and config-hash", format!("{:?}", meta(&live.metadata)), format!("{:?}", meta(&want.metadata)))?;
    let (ls, ws) = (live.spec.clone().unwrap_or_default(), want.spec.clone().unwrap_or_default());
    let shape = |s: &k8s_openapi::api::core::v1::PodSpec| {
        let c = |cs: &[k8s_openapi::api::core::v1::Container]| {
            cs.iter().map(|c| (c.name.clone(), c.image.clone(), c.command.clone(), c.args.clone())).collect::<Vec<_>>()
        };
        (c(&s.containers), c(s.init_containers.as_deref().unwrap_or_default()), s.restart_policy.clone())
    };
    eq("containers", format!("{:?}", shape(&ls)), format!("{:?}", shape(&ws)))?;
    let sec = |s: &k8s_openapi::api::core::v1::PodSpec| {
        s.security_context.as_ref().map(|c| (c.run_as_user, c.run_as_group, c.fs_group, c.run_as_non_root))
    };
    eq("pod security context", format!("{:?}", sec(&ls)), format!("{:?}", sec(&ws)))?;

    // Removed (the disabled bot keeps the store non-empty): the pod goes.
    store.apply(&Change::Delete(ID.into()), Mode::Put, None).map_err(|e| e.to_string())?;
    wait_pod(&pods, &name, timeout(), |p| p.is_none()).await?;
    Ok(())
}
