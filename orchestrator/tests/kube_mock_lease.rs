//! Leader election at the client level: the elector and the controller loop each over a
//! `kube::Client` on `tower_test::mock::pair` (harness in `kube_mock`), under paused tokio time
//! (`start_paused`: timers fire as the runtime idles, in order, so no test waits in real time).
//!
//! Scenario: the elector creates the Lease and leads; the controller's first pass creates the
//! bot's pod; then every Lease write fails (500). The elector keeps reading and trying to renew,
//! steps down (publishes `Following`) once its renew deadline has passed since the last renewal,
//! before the lease duration (so before another replica could take the Lease), and from then on
//! the controller sends no request at all over many reconcile intervals; on shutdown the elector,
//! no longer leading, does not release the Lease.

mod kube_mock;
mod kube_record;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kube_mock::{list, ok, status, Recorded, Reply};
use kube_record::record;
use serde_json::{json, Value};
use the0_orchestrator::config::LeaseTimings;
use the0_orchestrator::kube::controller::Controller;
use the0_orchestrator::kube::elector::{Elector, Leadership};
use the0_orchestrator::kube::KubeSettings;
use the0_orchestrator::metrics::ControllerGauges;
use the0_orchestrator::model::Change;
use the0_orchestrator::store::{Mode, Store};
use tokio::sync::watch;
use tokio::time::Instant;

const NS: &str = "the0";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/the0/leases/ctl";

/// A Lease server with one Lease: get, create, and update while `failing` is off (500 while on).
fn lease_server(failing: Arc<AtomicBool>) -> impl FnMut(&Recorded) -> Reply + Send + 'static {
    let mut stored: Option<Value> = None;
    let mut rv = 0u64;
    move |req| match req.method.as_str() {
        "GET" => stored.clone().map_or_else(|| status(404, "NotFound", "leases \"ctl\" not found"), |l| ok(200, l)),
        "POST" | "PUT" if req.method == "POST" || !failing.load(Ordering::SeqCst) => {
            rv += 1;
            let mut l = req.body.clone();
            l["metadata"]["resourceVersion"] = json!(rv.to_string());
            stored = Some(l.clone());
            ok(if req.method == "POST" { 201 } else { 200 }, l)
        }
        _ => status(500, "InternalError", "etcdserver: request timed out"),
    }
}

/// The controller's server: no pods or CronJobs listed, creates accepted.
fn cluster_server(req: &Recorded) -> Reply {
    match (req.method.as_str(), req.path.ends_with("/cronjobs")) {
        ("GET", false) => list("Pod", "v1", vec![]),
        ("GET", true) => list("CronJob", "batch/v1", vec![]),
        _ => ok(201, req.body.clone()),
    }
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_steps_down_and_its_controller_stops_writing() {
    let timings = LeaseTimings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };
    let failing = Arc::new(AtomicBool::new(false));
    let (lease_client, lease) = kube_mock::client(NS, lease_server(failing.clone()));
    let (cluster_client, cluster) = kube_mock::client(NS, cluster_server);

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("data")).expect("store");
    store.apply(&Change::Upsert(record("b1", json!({"a": 1}))), Mode::Put, None).expect("store put");
    let settings =
        KubeSettings { namespace: NS.into(), minio_endpoint: "minio:9000".into(), ..KubeSettings::default() };
    let ctl = Controller { client: cluster_client, settings, store, configmaps: None };

    let (leader_tx, mut leader_rx) = watch::channel(Leadership::Undecided);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let elector = Elector::new(lease_client, NS, "ctl", "ctl-a".into(), timings);
    let elector = tokio::spawn(elector.run(leader_tx, stopped(stop_rx.clone())));
    let (ready_tx, mut ready_rx) = watch::channel(false);
    let ctl_rx = leader_rx.clone();
    let loop_stop = stopped(stop_rx.clone());
    let looping = tokio::spawn(async move {
        ctl.run(Duration::from_secs(30), &ready_tx, ctl_rx, &ControllerGauges::default(), loop_stop).await;
    });

    // Leading: the Lease is created, and the first pass creates the pod.
    leader_rx.wait_for(|l| l.is_leader()).await.expect("the elector runs");
    ready_rx.wait_for(|r| *r).await.expect("the loop runs");
    let first: Vec<String> = cluster.log.lines();
    assert_eq!(
        first,
        [
            "GET /api/v1/namespaces/the0/pods",
            "POST /api/v1/namespaces/the0/pods",
            "GET /apis/batch/v1/namespaces/the0/cronjobs"
        ]
    );
    assert_eq!(
        lease.log.lines(),
        [format!("GET {LEASE}"), "POST /apis/coordination.k8s.io/v1/namespaces/the0/leases".to_string()]
    );
    let created = lease.log.all()[1].body.clone();
    assert_eq!(created["spec"]["holderIdentity"], "ctl-a");

    // From now on every renewal fails.
    failing.store(true, Ordering::SeqCst);
    let failing_since = Instant::now();
    leader_rx.wait_for(|l| !l.is_leader()).await.expect("the elector runs");
    let after = failing_since.elapsed();
    assert_eq!(*leader_rx.borrow(), Leadership::Following);
    assert!(after <= timings.renew_deadline, "stepped down by the renew deadline: {after:?}");
    assert!(after < timings.lease_duration, "before the Lease could expire for another replica");
    let renewals: Vec<Recorded> = lease.log.all().into_iter().filter(|r| r.method == "PUT").collect();
    assert!(!renewals.is_empty(), "it tried to renew");
    assert!(renewals
        .iter()
        .all(|r| r.body["spec"]["holderIdentity"] == "ctl-a" && r.body["metadata"]["resourceVersion"] == "1"));

    // Ten reconcile intervals of paused time later: not one more request from the controller.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(cluster.log.lines(), first, "no call at all once it stopped leading");
    assert_eq!(*leader_rx.borrow(), Leadership::Following, "still failing: still following");

    stop_tx.send_replace(true);
    looping.await.expect("loop");
    elector.await.expect("elector");
    let released = lease.log.all().into_iter().any(|r| r.method == "PUT" && r.body["spec"]["holderIdentity"] == "");
    assert!(!released, "no release: it was not leading");
}
