//! The leader dies and its successor changes nothing (issue #12 item 4): two whole controllers
//! (`kube::run::Running`, as the binary runs them) with `--desired-state configmaps` and
//! `--leader-elect` on one stateful fake API server (`kube_fake`), each through its own door.
//!
//! Replica A leads and creates the pods and the CronJob of the desired state another writer put in
//! ConfigMaps; replica B follows and is ready. Then A dies without releasing the Lease (its task is
//! aborted and its door cut, as a crashed pod or a lost node would leave it). B takes over once the
//! Lease has expired, reconciles (it lists pods and CronJobs), and makes no create, update or delete
//! on any of them: every object keeps its `resourceVersion`. This is what a rolling update or a node
//! loss of the controller must not cost: a restart of every bot.
//!
//! Not proven: a real API server's watch caches and timing; the bot pods themselves are not run.

mod kube_fake;
mod kube_lease_rig;
mod kube_record;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use kube_fake::FakeApi;
use kube_lease_rig::{get, until, T};
use kube_record::{record, record_with_query};
use serde_json::{json, Value};
use the0_orchestrator::cmdline;
use the0_orchestrator::config::Command;
use the0_orchestrator::kube::client;
use the0_orchestrator::kube::cmstore::ConfigMapStore;
use the0_orchestrator::kube::run::Running;
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::store::Mode;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const NS: &str = "the0";
const LEASE: &str = "the0-runtime-controller";

/// One controller replica running in this process.
struct Replica {
    health: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn replica(door: &FakeApi, dir: &Path, pod: &str) -> Replica {
    let sub = dir.join(pod);
    std::fs::create_dir_all(&sub).expect("replica dir");
    let kc = door.kubeconfig(&sub, NS);
    let vars: HashMap<String, String> = [
        ("THE0_DATA_DIR", sub.join("data").display().to_string()),
        ("THE0_HEALTH_ADDR", "127.0.0.1:0".to_string()),
        ("POD_NAME", pod.to_string()),
        ("THE0_QUERY_BIND", "127.0.0.1".to_string()),
        ("QUERY_SERVER_PORT", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let args: Vec<String> = [
        "controller",
        "--namespace=the0",
        "--leader-elect",
        "--desired-state=configmaps",
        "--reconcile-interval=300ms",
        "--minio-endpoint=minio:9000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cli = cmdline::parse(&args, &vars).expect("the controller's arguments parse");
    let Command::Controller(mut f) = cli.command.clone() else { panic!("not the controller command") };
    f.leader_elect.as_mut().expect("--leader-elect is on").timings = T;
    let running = Running::bind(&cli, &f, Some(kc)).await.expect("the replica binds");
    let health = running.health_addr().expect("health address");
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(running.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    Replica { health, stop, task }
}

/// Name → resourceVersion of the pods and CronJobs.
fn versions(api: &FakeApi) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (group, resource) in [("", "pods"), ("batch", "cronjobs")] {
        for (name, obj) in api.objects(group, resource, NS) {
            out.insert(format!("{resource}/{name}"), obj["metadata"]["resourceVersion"].clone());
        }
    }
    out
}

fn holder(api: &FakeApi) -> Value {
    api.objects("coordination.k8s.io", "leases", NS)
        .get(LEASE)
        .map_or(Value::Null, |l| l["spec"]["holderIdentity"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_after_the_old_one_dies_deletes_and_recreates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;

    // The desired state, written as ingest on any replica writes it.
    let writer_door = api.door().await;
    let kc = writer_door.kubeconfig(dir.path(), NS);
    let writer = ConfigMapStore::new(client::connect(Some(&kc)).await.expect("client"), NS);
    let scheduled = BotRecord { config: json!({"schedule": "*/5 * * * *"}), ..record("s1", json!({})) };
    let bots = [record("b1", json!({"a": 1})), record_with_query("b2", json!({"b": 2}), true), scheduled];
    for (seq, rec) in bots.into_iter().enumerate() {
        writer.apply(&Change::Upsert(rec), Mode::Create, Some(seq as u64 + 1)).await.expect("ConfigMap written");
    }
    let want = ["cronjobs/schedule-s1", "pods/bot-b1", "pods/bot-b2"];

    let (door_a, door_b) = (api.door().await, api.door().await);
    let a = replica(&door_a, dir.path(), "pod-a").await;
    until(Duration::from_secs(10), "A leads and creates every object", || {
        holder(&api) == json!("pod-a") && versions(&api).keys().eq(want.iter())
    })
    .await;
    let b = replica(&door_b, dir.path(), "pod-b").await;
    until(Duration::from_secs(10), "B is a ready standby", || {
        get(b.health, "/readyz").is_some_and(|r| r.0 == 200)
            && get(b.health, "/metrics").is_some_and(|r| r.1.contains("the0_controller_leader 0"))
    })
    .await;
    // A few more passes of A: still nothing to change.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let before = versions(&api);
    assert_eq!(before.keys().collect::<Vec<_>>(), want.iter().collect::<Vec<_>>());

    // A dies holding the Lease: no release, no further request.
    door_a.cut(true);
    a.task.abort();
    let _ = a.task.await;
    api.clear_log();

    until(T.lease_duration + Duration::from_secs(6), "B takes over once the Lease expired", || {
        holder(&api) == json!("pod-b")
    })
    .await;
    until(Duration::from_secs(10), "B reconciles as the leader", || {
        let lists =
            api.log().into_iter().filter(|(verb, res, _)| verb == "list" && (res == "pods" || res == "cronjobs"));
        lists.count() >= 4
    })
    .await;

    let writes: Vec<_> = api
        .log()
        .into_iter()
        .filter(|(verb, res, _)| (res == "pods" || res == "cronjobs") && verb != "list" && verb != "get")
        .collect();
    assert!(writes.is_empty(), "the new leader wrote to pods or CronJobs: {writes:?}");
    assert_eq!(versions(&api), before, "every pod and CronJob is the one A made");
    assert_eq!(get(b.health, "/readyz").map(|r| r.0), Some(200));

    b.stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), b.task).await.expect("B stops within 10 s").expect("no panic");
    drop(a.stop);
    assert_eq!(holder(&api), json!(""), "B released the Lease on shutdown");
}
