//! `--leader-elect` end to end: electors with the real `kube` client, each through a kubeconfig of
//! its own door into one stateful fake API server (`kube_fake`), on one Lease, with short timings
//! (lease 4 s, renew deadline 2 s, retry 400 ms; client-go's are 15 s, 10 s, 2 s: short enough for
//! a test, long enough that a loaded CI machine does not miss a renewal).
//!
//! Proven here: of two electors exactly one leads; when it shuts down it releases the Lease and
//! the other leads within about a retry period (well before the lease would expire); a leader cut
//! off from the API server steps down at its renew deadline and the other takes over only once
//! the lease has expired, never while the first still leads (both watch channels are sampled
//! throughout every scenario); a 409 on a write is following, not an error; a release whose held
//! version a lost renewal answer made stale is still made; and a controller that
//! follows makes no pod or CronJob call at all, and reconciles as soon as it leads.
//! Not proven: a real API server's timing, clock skew between nodes (the expiry counts from when
//! a follower first saw a renewal, as client-go does, which bounds it), network partitions that
//! delay rather than fail requests.

mod kube_fake;
mod kube_lease_rig;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube_fake::FakeApi;
use kube_lease_rig::{get, until, T};
use serde_json::{json, Value};
use the0_orchestrator::cmdline;
use the0_orchestrator::config::Command;
use the0_orchestrator::kube::client;
use the0_orchestrator::kube::elector::{Elector, Leadership, Outcome};
use the0_orchestrator::kube::run::Running;
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::store::Mode;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const NS: &str = "the0";
const LEASE: &str = "the0-runtime-controller";

/// One running elector: its leadership channel and how to stop it.
struct Candidate {
    id: &'static str,
    leadership: watch::Receiver<Leadership>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn elector(door: &FakeApi, id: &str) -> (Elector, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = door.kubeconfig(dir.path(), NS);
    let client = client::connect(Some(&kc)).await.expect("client from the kubeconfig");
    (Elector::new(client, NS, LEASE, id.to_string(), T), dir)
}

async fn candidate(door: &FakeApi, id: &'static str) -> Candidate {
    let (e, dir) = elector(door, id).await;
    let (tx, leadership) = watch::channel(Leadership::Undecided);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(e.run(tx, async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    Candidate { id, leadership, stop, task, _dir: dir }
}

impl Candidate {
    fn leads(&self) -> bool {
        self.leadership.borrow().is_leader()
    }

    /// Stops it and waits (bounded) for its release.
    async fn shut_down(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the elector stops within 5 s")
            .expect("the elector task did not panic");
    }
}

/// Samples every 5 ms whether more than one of the channels says Leading, until dropped.
struct Sampler {
    both: Arc<AtomicBool>,
    samples: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Sampler {
    fn start(channels: Vec<watch::Receiver<Leadership>>) -> Sampler {
        let (both, samples) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let (b, s) = (both.clone(), samples.clone());
        let task = tokio::spawn(async move {
            loop {
                if channels.iter().filter(|c| c.borrow().is_leader()).count() > 1 {
                    b.store(true, Ordering::SeqCst);
                }
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Sampler { both, samples, task }
    }

    fn check(&self) {
        let n = self.samples.load(Ordering::SeqCst);
        assert!(n > 10, "the sampler ran ({n} samples)");
        assert!(!self.both.load(Ordering::SeqCst), "two leaders at once in one of {n} samples");
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lease(api: &FakeApi) -> Value {
    api.objects("coordination.k8s.io", "leases", NS).remove(LEASE).expect("the Lease exists")
}

fn seed_lease(api: &FakeApi, holder: &str, duration_s: i64) {
    let now = Timestamp::now().to_string();
    api.seed(
        "coordination.k8s.io",
        "leases",
        NS,
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": LEASE},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration_s,
                "acquireTime": now, "renewTime": now, "leaseTransitions": 0}}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_leads_and_a_release_hands_over_within_a_retry_period() {
    let api = FakeApi::start().await;
    let a = candidate(&api.door().await, "pod-a").await;
    let b = candidate(&api.door().await, "pod-b").await;
    let sampler = Sampler::start(vec![a.leadership.clone(), b.leadership.clone()]);

    until(Duration::from_secs(3), "someone leads", || a.leads() || b.leads()).await;
    // Several renewals later the same one leads and the other follows.
    tokio::time::sleep(T.retry_period * 4).await;
    let (leader, other) = if a.leads() { (a, b) } else { (b, a) };
    assert!(leader.leads() && !other.leads());
    assert_eq!(*other.leadership.borrow(), Leadership::Following);
    let l = lease(&api);
    assert_eq!(l["spec"]["holderIdentity"], leader.id);
    assert_eq!(l["spec"]["leaseDurationSeconds"], 4);
    assert_eq!(l["spec"]["leaseTransitions"], 0);

    let (other_rx, other_id) = (other.leadership.clone(), other.id);
    leader.shut_down().await;
    let took =
        until(Duration::from_secs(3), "the other leads after the release", || other_rx.borrow().is_leader()).await;
    // About a retry period (400 ms); an unreleased Lease would take its 4 s to expire.
    assert!(took < T.lease_duration / 2, "a released Lease is taken over at the next retry, not after {took:?}");
    let l = lease(&api);
    assert_eq!(l["spec"]["holderIdentity"], other_id);
    assert_eq!(l["spec"]["leaseTransitions"], 1, "one change of holder");
    sampler.check();
    other.shut_down().await;
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "", "released on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_steps_down_at_its_deadline_and_the_other_waits_for_expiry() {
    let api = FakeApi::start().await;
    let (door_a, door_b) = (api.door().await, api.door().await);
    let a = candidate(&door_a, "pod-a").await;
    until(Duration::from_secs(3), "a leads", || a.leads()).await;
    let b = candidate(&door_b, "pod-b").await;
    until(Duration::from_secs(3), "b follows", || *b.leadership.borrow() == Leadership::Following).await;
    let sampler = Sampler::start(vec![a.leadership.clone(), b.leadership.clone()]);
    tokio::time::sleep(T.retry_period * 3).await;
    assert!(a.leads() && !b.leads());

    // a's last renewal was at most a retry period before this.
    door_a.cut(true);
    // a's last renewal, as the Lease holds it (wall clock, like the instants below).
    let renewed: Timestamp =
        lease(&api)["spec"]["renewTime"].as_str().and_then(|t| t.parse().ok()).expect("a renew time");
    let since = |t: Timestamp| Duration::try_from(t.duration_since(renewed)).unwrap_or_default();
    until(T.renew_deadline + Duration::from_secs(1), "a steps down", || !a.leads()).await;
    let a_down = since(Timestamp::now());
    // The renew time is taken a moment after the attempt started, which the deadline counts from.
    assert!(
        a_down + Duration::from_millis(50) >= T.renew_deadline,
        "a stepped down at its renew deadline, not before ({a_down:?} after its last renewal)"
    );
    assert!(!b.leads(), "b waits for the lease to expire");
    until(T.lease_duration + Duration::from_secs(2), "b takes over", || b.leads()).await;
    let b_up = since(Timestamp::now());
    assert!(b_up >= T.lease_duration, "b took over only once the lease had expired ({b_up:?} after a's renewal)");
    assert!(b_up > a_down);
    let l = lease(&api);
    assert_eq!(
        (l["spec"]["holderIdentity"].as_str(), l["spec"]["leaseTransitions"].as_i64()),
        (Some("pod-b"), Some(1))
    );

    // a gets the API server back: it follows b.
    door_a.cut(false);
    tokio::time::sleep(T.retry_period * 4).await;
    assert_eq!(*a.leadership.borrow(), Leadership::Following);
    assert!(b.leads());
    sampler.check();
    a.shut_down().await;
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "pod-b", "a follower releases nothing");
    b.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_following_not_an_error() {
    let api = FakeApi::start().await;
    // Two at once on no Lease: both may read none and create; the second create meets
    // AlreadyExists. Either way exactly one leads.
    let (mut a, _da) = elector(&api, "pod-a").await;
    let (mut b, _db) = elector(&api, "pod-b").await;
    let (ra, rb) = tokio::join!(a.step(), b.step());
    let (ra, rb) = (ra.expect("a: no error"), rb.expect("b: no error"));
    assert_eq!([&ra, &rb].iter().filter(|o| ***o == Outcome::Leading).count(), 1, "exactly one leads: {ra:?} {rb:?}");
    let (mut leader, mut other) = if ra == Outcome::Leading { (a, b) } else { (b, a) };

    // The race's loser, made certain: a 409 AlreadyExists on create is following.
    let api2 = FakeApi::start().await;
    let (mut c, _dc) = elector(&api2, "pod-c").await;
    api2.conflict(Some(("leases", "create")));
    assert_eq!(c.step().await.expect("AlreadyExists is no error"), Outcome::Following { holder: None, until: None });

    // The leader releases; a 409 on the other's takeover (someone wrote first) is following.
    assert!(leader.release().await.expect("released"));
    assert!(!leader.release().await.expect("nothing left to release"));
    api.conflict(Some(("leases", "update")));
    let o = other.step().await.expect("a 409 is no error");
    assert_eq!(o, Outcome::Following { holder: None, until: None });
    api.conflict(None);
    assert_eq!(other.step().await.expect("taken over"), Outcome::Leading);

    // A release at a stale resourceVersion (the Lease changed since: a real 409) leaves the
    // Lease to whoever wrote it.
    seed_lease(&api, "pod-c", 30);
    assert!(!other.release().await.expect("a 409 on release is no error"), "not released: not ours");
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "pod-c");
    let o = leader.step().await.expect("no error");
    assert!(
        matches!(&o, Outcome::Following { holder: Some(h), until: Some(_) } if h == "pod-c"),
        "pod-c holds it: {o:?}"
    );
}

/// The status and body of `GET path` on `addr`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_controller_makes_no_pod_or_cronjob_call_until_it_leads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let kc = api.kubeconfig(dir.path(), NS);
    // The old replica holds the Lease for 30 s.
    seed_lease(&api, "pod-old", 30);
    let vars: HashMap<String, String> = [
        ("THE0_DATA_DIR", dir.path().join("data").display().to_string()),
        ("THE0_HEALTH_ADDR", "127.0.0.1:0".to_string()),
        ("THE0_QUERY_BIND", "127.0.0.1".to_string()),
        ("QUERY_SERVER_PORT", "0".to_string()),
        ("POD_NAME", "pod-new".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let args: Vec<String> =
        ["controller", "--leader-elect", "--reconcile-interval=200ms"].iter().map(|s| s.to_string()).collect();
    let cli = cmdline::parse(&args, &vars).expect("parses");
    let Command::Controller(mut f) = cli.command.clone() else { panic!("not the controller") };
    let le = f.leader_elect.as_mut().expect("--leader-elect is on");
    assert_eq!((le.lease_name.as_str(), le.pod_name.as_deref()), (LEASE, Some("pod-new")));
    le.timings = T;
    let running = Running::bind(&cli, &f, Some(kc)).await.expect("bind");
    let health = running.health_addr().expect("health address");
    let queries = running.query_addr().expect("query address");
    let rec = BotRecord {
        id: "b1".into(),
        config: json!({}),
        custom: json!({"version": "1.0.0", "filePath": "u/b/1.0.0",
            "config": {"name": "b", "runtime": "python3.11", "entrypoints": {"bot": "main.py"}}}),
        enabled: None,
    };
    running.store().apply(&Change::Upsert(rec), Mode::Put, None).expect("store put");
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(running.run(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));

    // Several retry periods and reconcile intervals as a follower.
    tokio::time::sleep(T.retry_period * 8).await;
    let touched: Vec<_> = api.log().into_iter().filter(|(_, res, _)| res == "pods" || res == "cronjobs").collect();
    assert!(touched.is_empty(), "a follower calls nothing on pods or CronJobs: {touched:?}");
    assert!(api.log().iter().any(|(verb, res, _)| verb == "get" && res == "leases"), "it reads the Lease");
    assert!(api.objects("", "pods", NS).is_empty());
    assert_eq!(get(health, "/readyz").map(|r| r.0), Some(200), "a standby is ready");
    // A standby answers :9477 too (the Service sends queries to every ready replica).
    assert_eq!(get(queries, "/health").map(|r| r.0), Some(200), "a standby serves the query API");
    let metrics = get(health, "/metrics").expect("/metrics answers").1;
    assert!(metrics.contains("the0_controller_leader 0"), "{metrics}");
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "pod-old");

    // The old replica releases: the new one leads and reconciles at once.
    seed_lease(&api, "", 1);
    until(T.retry_period * 5, "the bot's pod is created once leading", || {
        api.objects("", "pods", NS).contains_key("bot-b1")
    })
    .await;
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "pod-new");
    let metrics = get(health, "/metrics").expect("/metrics answers").1;
    assert!(metrics.contains("the0_controller_leader 1"), "{metrics}");

    stop_tx.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("stops within 10 s").expect("no panic");
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "", "released after the loop stopped");
}

/// A shutdown during an attempt drops the renewal's answer, but the API server may have written
/// it: the Lease is then newer than the one the leader holds, and a release at the held version
/// gets a 409. It is released all the same while it still names this replica, and left alone
/// once it names another.
#[tokio::test]
async fn a_release_after_a_renewal_whose_answer_was_lost_still_releases() {
    let api = FakeApi::start().await;
    let (mut e, _dir) = elector(&api.door().await, "pod-a").await;
    assert_eq!(e.step().await.expect("first attempt"), Outcome::Leading);
    // The renewal that landed unseen: same holder, a newer resourceVersion.
    seed_lease(&api, "pod-a", 4);
    assert!(e.release().await.expect("release"), "released at the Lease's current version");
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "");

    let (mut e, _dir) = elector(&api.door().await, "pod-a").await;
    assert_eq!(e.step().await.expect("attempt"), Outcome::Leading);
    // Meanwhile another replica took it over: not ours to release.
    seed_lease(&api, "pod-b", 4);
    assert!(!e.release().await.expect("release"), "another replica's Lease is left alone");
    assert_eq!(lease(&api)["spec"]["holderIdentity"], "pod-b");
}
