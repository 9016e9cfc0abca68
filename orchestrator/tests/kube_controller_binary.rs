//! The `orchestrator` binary started exactly as the0's Helm chart starts its controller
//! (`k8s/templates/bot-controller.yaml`: `/app/runtime controller` with `--flag=value` arguments and
//! the `NAMESPACE`, `MINIO_ENDPOINT`, `MINIO_BUCKET` variables), against the fake API server through
//! `KUBECONFIG`: it answers `/healthz`, creates the stored bot's pod with the chart's runtime image,
//! turns ready after that pass, and stops on SIGTERM. The one deviation from the chart: the health
//! address is an ephemeral loopback port (`THE0_HEALTH_ADDR`) instead of :8080, so tests can run
//! side by side. Then the same arguments and variables, parsed: what each flag becomes.

mod kube_fake;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::collections::HashMap;
use std::path::PathBuf;

use kube_fake::FakeApi;
use serde_json::json;
use the0_orchestrator::cmdline;
use the0_orchestrator::config::{Cli, Command as Cmd, ControllerFlags, LeaseTimings};
use the0_orchestrator::kube::run::settings;
use the0_orchestrator::model::{BotRecord, Change};
use the0_orchestrator::store::{Mode, Store};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The status code of `GET path` on `addr`, if it answers.
fn get(addr: &str, path: &str) -> Option<u16> {
    get_text(addr, path)?.split_whitespace().nth(1)?.parse().ok()
}

/// The whole answer (status line, headers, body) to `GET path` on `addr`, if it answers.
fn get_text(addr: &str, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The bot both binary tests start.
fn bot_b1() -> BotRecord {
    BotRecord {
        id: "b1".into(),
        config: json!({"symbol": "BTC-USD"}),
        custom: json!({"version": "1.0.0", "filePath": "u/b/1.0.0",
            "config": {"name": "b", "runtime": "python3.11", "entrypoints": {"bot": "main.py"}}}),
        enabled: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_as_the_charts_controller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let kubeconfig = api.kubeconfig(dir.path(), "the0");
    let data = dir.path().join("data");
    let store = Store::open(&data).expect("store");
    let rec = bot_b1();
    store.apply(&Change::Upsert(rec), Mode::Put, None).expect("store put");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let health = format!("127.0.0.1:{port}");
    // :9477 on an ephemeral port too (the controller binds all interfaces by default).
    let qport = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
    for v in ["NATS_URL", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "RUNTIME_IMAGE", "THE0_DATA_DIR"] {
        cmd.env_remove(v);
    }
    cmd.args([
        "controller",
        "--namespace=the0",
        "--reconcile-interval=1s",
        "--minio-endpoint=minio:9000",
        "--minio-bucket=the0-custom-bots",
        "--runtime-image=example.invalid/the0-runtime:chart",
        "--runtime-image-pull-policy=IfNotPresent",
    ])
    .env("NAMESPACE", "the0")
    .env("MINIO_ENDPOINT", "minio:9000")
    .env("MINIO_BUCKET", "the0-custom-bots")
    .env("KUBECONFIG", &kubeconfig)
    .env("THE0_HEALTH_ADDR", &health)
    .env("QUERY_SERVER_PORT", qport.to_string())
    .env("THE0_DATA_DIR", &data)
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    let mut child = KillOnDrop(cmd.spawn().expect("start the orchestrator binary"));

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut healthy = false;
    let mut pod = None;
    while Instant::now() < deadline {
        healthy = healthy || get(&health, "/healthz") == Some(200);
        pod = api.objects("", "pods", "the0").remove("bot-b1");
        if healthy && pod.is_some() && get(&health, "/readyz") == Some(200) {
            break;
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("the controller exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "/healthz never answered 200");
    let pod = pod.expect("the stored bot's pod was created");
    assert_eq!(pod["spec"]["containers"][0]["image"], "example.invalid/the0-runtime:chart");
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(get(&health, "/readyz"), Some(200), "ready after a good pass");
    assert_eq!(get(&format!("127.0.0.1:{qport}"), "/health"), Some(200), "the query API answers :9477");

    // SAFETY: kill(2) on the child's own pid; no memory is involved.
    let rc = unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let stop_deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(s)) = child.0.try_wait() {
            break s;
        }
        assert!(Instant::now() < stop_deadline, "the controller did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

/// `--desired-state configmaps --leader-elect`, as deploy/kubernetes runs two replicas: the binary
/// takes the Lease and creates the pod of a bot whose ConfigMap another replica wrote, with its own
/// SQLite store empty; beside it a corrupt ConfigMap and a bot with a schedule Kubernetes cannot
/// run show on `/metrics` (`the0_controller_corrupt_desired`, `the0_controller_skipped_bots`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reconciles_the_configmaps_with_leader_election() {
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let kubeconfig = api.kubeconfig(dir.path(), "the0");
    let client = the0_orchestrator::kube::client::connect(Some(&kubeconfig)).await.expect("client");
    let other_replica = the0_orchestrator::kube::cmstore::ConfigMapStore::new(client, "the0");
    let rec = bot_b1();
    other_replica.apply(&Change::Upsert(rec), Mode::Create, Some(1)).await.expect("ConfigMap written");
    let bad = BotRecord { id: "b3".into(), config: json!({"schedule": "not a cron"}), ..bot_b1() };
    other_replica.apply(&Change::Upsert(bad), Mode::Create, Some(2)).await.expect("ConfigMap written");
    api.seed(
        "",
        "configmaps",
        "the0",
        json!({"metadata": {"name": "desired-b2", "labels": {"the0.app/managed-by": "the0-runtime-controller",
            "the0.app/desired": "bot", "the0.app/bot-id": "b2"}}, "data": {"bot.json": "{cut"}}),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let health = format!("127.0.0.1:{port}");
    // :9477 on an ephemeral port too (the controller binds all interfaces by default).
    let qport = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
    for v in ["NATS_URL", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "RUNTIME_IMAGE", "THE0_DATA_DIR", "DESIRED_STATE"] {
        cmd.env_remove(v);
    }
    cmd.args([
        "controller",
        "--namespace=the0",
        "--reconcile-interval=1s",
        "--desired-state=configmaps",
        "--leader-elect",
    ])
    .env("POD_NAME", "ctl-0")
    .env("KUBECONFIG", &kubeconfig)
    .env("THE0_HEALTH_ADDR", &health)
    .env("QUERY_SERVER_PORT", qport.to_string())
    .env("THE0_DATA_DIR", dir.path().join("data"))
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    let mut child = KillOnDrop(cmd.spawn().expect("start the orchestrator binary"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !api.objects("", "pods", "the0").contains_key("bot-b1") {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("the controller exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(api.objects("", "pods", "the0").contains_key("bot-b1"), "the ConfigMap's bot got its pod");
    let want = ["the0_controller_corrupt_desired 1", "the0_controller_skipped_bots 1"];
    let mut metrics = String::new();
    while Instant::now() < deadline && !want.iter().all(|w| metrics.contains(w)) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = get_text(&health, "/metrics").unwrap_or_default();
    }
    assert!(want.iter().all(|w| metrics.contains(w)), "{metrics}");
    // Kubernetes mode's families and the process's; none of Docker mode's, which nothing here sets.
    for name in ["the0_ingest_applied", "the0_queries_proxied", "the0_controller_leader", "process_resident_memory"] {
        assert!(metrics.contains(name), "{name} is exported: {metrics}");
    }
    for name in
        ["the0_bots_running", "the0_container_starts", "the0_runs_started", "the0_docker_call", "the0_bot_state"]
    {
        assert!(!metrics.contains(name), "{name} is Docker mode's, not exported here: {metrics}");
    }
    let lease = api.objects("coordination.k8s.io", "leases", "the0");
    assert_eq!(lease["the0-runtime-controller"]["spec"]["holderIdentity"], "ctl-0");
    let sqlite = Store::open(&dir.path().join("data")).expect("store");
    assert!(sqlite.list().expect("list").is_empty(), "the replica's own store is not where the bot is");
}

/// deploy/kubernetes/deployment.yaml's command line, parsed as the binary parses it: two replicas,
/// each with the shared desired state and leader election.
#[test]
fn the_manifests_deployment_runs_two_replicas_on_configmaps_under_a_lease() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/deployment.yaml");
    let text = std::fs::read_to_string(&p).expect("read deployment.yaml");
    let v: serde_json::Value = serde_norway::from_str(&text).expect("deployment.yaml is YAML");
    assert_eq!(v["spec"]["replicas"], 2);
    let c = &v["spec"]["template"]["spec"]["containers"][0];
    let mut args: Vec<String> = c["command"]
        .as_array()
        .expect("command")
        .iter()
        .skip(1)
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect();
    // $(VAR) references are expanded by the kubelet; any value does for parsing.
    args.extend(c["args"].as_array().expect("args").iter().map(|a| {
        let a = a.as_str().unwrap_or_default();
        match a.split_once("=$(") {
            Some((flag, _)) if flag == "--runtime-image-pull-policy" => format!("{flag}=IfNotPresent"),
            Some((flag, _)) => format!("{flag}=x"),
            None => a.to_string(),
        }
    }));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let f = flags(&parse(&refs, &[("POD_NAME", "ctl-0")]).expect("the Deployment's arguments parse"));
    assert_eq!(f.desired_state, the0_orchestrator::config::DesiredState::ConfigMaps);
    assert!(f.leader_elect.is_some(), "two replicas without leader election would both reconcile");
}

// The command line the chart gives, parsed (no process).
fn parse(args: &[&str], vars: &[(&str, &str)]) -> Result<Cli, cmdline::CliError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    cmdline::parse(&args, &vars)
}

fn flags(cli: &Cli) -> ControllerFlags {
    match &cli.command {
        Cmd::Controller(f) => f.clone(),
        other => panic!("not the controller: {other:?}"),
    }
}

#[test]
fn the_charts_arguments_become_the_settings() {
    let cli = parse(
        &[
            "controller",
            "--namespace=bots",
            "--reconcile-interval=45s",
            "--minio-endpoint=minio.the0:9000",
            "--minio-bucket=custom",
            "--runtime-image=rt:1",
            "--runtime-image-pull-policy=Always",
        ],
        &[("MINIO_ENDPOINT", "ignored:1"), ("MINIO_ACCESS_KEY", "ak"), ("MINIO_SECRET_KEY", "sk")],
    )
    .expect("the chart's arguments parse");
    let f = flags(&cli);
    assert_eq!(cli.reconcile.interval, Duration::from_secs(45));
    assert_eq!(cli.health_addr, "0.0.0.0:8080", "the chart probes :8080 from outside the pod");
    assert_eq!(cli.query.addr(), "0.0.0.0:9477", "the chart's Service reaches :9477 from the0's API");
    assert_eq!(cli.data_dir, PathBuf::from("/tmp/the0-data"), "the chart's only writable path");
    let s = settings(&cli, &f);
    assert_eq!(s.namespace, "bots");
    assert_eq!(s.minio_endpoint, "minio.the0:9000", "the flag beats MINIO_ENDPOINT");
    assert_eq!((s.minio_access_key.as_str(), s.minio_secret_key.as_str()), ("ak", "sk"));
    assert_eq!(s.pull_policy, "Always");
    assert_eq!(f.minio_bucket, "custom");
}

#[test]
fn variables_and_defaults_fill_what_flags_do_not() {
    let cli = parse(&["controller"], &[("NAMESPACE", "ns1"), ("MINIO_BUCKET", "b")]).expect("parses");
    let f = flags(&cli);
    assert_eq!((f.namespace.as_str(), f.minio_bucket.as_str()), ("ns1", "b"));
    assert_eq!((f.minio_endpoint.as_str(), f.pull_policy.as_str()), ("minio:9000", "IfNotPresent"));
    let f = flags(&parse(&["controller"], &[]).expect("parses"));
    assert_eq!((f.namespace.as_str(), f.minio_bucket.as_str()), ("the0", "the0-custom-bots"));
    let serve = parse(&["serve"], &[]).expect("parses");
    assert_eq!(serve.health_addr, "127.0.0.1:8080", "Docker mode keeps its loopback default");
    assert_eq!(serve.data_dir, PathBuf::from("./the0-data"));
}

#[test]
fn bad_controller_flags_are_refused_by_name() {
    for (args, want) in [
        (vec!["controller", "--namespace=Not_A_Label"], "--namespace"),
        (vec!["controller", "--runtime-image-pull-policy=Sometimes"], "--runtime-image-pull-policy"),
        (vec!["controller", "--leader-elect=maybe"], "--leader-elect"),
        (vec!["controller", "--leader-elect", "--leader-elect-lease-name=Not_A_Name"], "--leader-elect-lease-name"),
        (vec!["controller", "--desired-state=etcd"], "--desired-state \"etcd\": sqlite or configmaps"),
    ] {
        let err = parse(&args, &[]).expect_err("refused").to_string();
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let err = parse(&["controller"], &[("LEADER_ELECT", "maybe")]).expect_err("refused").to_string();
    assert!(err.contains("LEADER_ELECT"), "{err}");
}

#[test]
fn leader_election_is_opt_in_by_flag_or_variable() {
    assert_eq!(
        flags(&parse(&["controller"], &[("POD_NAME", "p")]).expect("parses")).leader_elect,
        None,
        "off by default"
    );
    let f = flags(&parse(&["controller", "--leader-elect"], &[("POD_NAME", "ctl-0")]).expect("parses"));
    let le = f.leader_elect.expect("on with the flag");
    assert_eq!((le.lease_name.as_str(), le.pod_name.as_deref()), ("the0-runtime-controller", Some("ctl-0")));
    assert_eq!(
        le.timings,
        LeaseTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        },
        "client-go's defaults"
    );
    let f =
        flags(&parse(&["controller", "--leader-elect-lease-name=other"], &[("LEADER_ELECT", "true")]).expect("parses"));
    let le = f.leader_elect.expect("on with the variable");
    assert_eq!((le.lease_name.as_str(), le.pod_name), ("other", None), "no POD_NAME: the host name, at start");
    let f = flags(&parse(&["controller", "--leader-elect=false"], &[("LEADER_ELECT", "true")]).expect("parses"));
    assert_eq!(f.leader_elect, None, "the flag beats the variable");
}

#[test]
fn desired_state_is_sqlite_unless_configmaps_is_asked_for() {
    use the0_orchestrator::config::DesiredState;
    assert_eq!(flags(&parse(&["controller"], &[]).expect("parses")).desired_state, DesiredState::Sqlite);
    let f = flags(&parse(&["controller", "--desired-state=configmaps"], &[]).expect("parses"));
    assert_eq!(f.desired_state, DesiredState::ConfigMaps);
    let f = flags(&parse(&["controller"], &[("DESIRED_STATE", "configmaps")]).expect("parses"));
    assert_eq!(f.desired_state, DesiredState::ConfigMaps, "the variable");
    let f =
        flags(&parse(&["controller", "--desired-state=sqlite"], &[("DESIRED_STATE", "configmaps")]).expect("parses"));
    assert_eq!(f.desired_state, DesiredState::Sqlite, "the flag beats the variable");
    let err = parse(&["controller"], &[("DESIRED_STATE", "etcd")]).expect_err("refused").to_string();
    assert!(err.contains("--desired-state") && err.contains("etcd"), "{err}");
}

#[test]
fn the_controllers_query_api_binds_all_interfaces_unless_told() {
    assert_eq!(parse(&["controller"], &[]).expect("parses").query.addr(), "0.0.0.0:9477");
    let told = parse(&["controller", "--query-bind=127.0.0.1", "--port=9999"], &[]).expect("parses");
    assert_eq!(told.query.addr(), "127.0.0.1:9999");
    let by_variable = parse(&["controller"], &[("THE0_QUERY_BIND", "10.0.0.5")]).expect("parses");
    assert_eq!(by_variable.query.addr(), "10.0.0.5:9477");
    assert_eq!(parse(&["serve"], &[]).expect("parses").query.addr(), "127.0.0.1:9477", "Docker mode keeps loopback");
}

/// §5.7: outside a cluster (no `KUBECONFIG`, no `~/.kube/config`, no service account) the
/// controller exits 1 at once, saying what it lacks, instead of running without a cluster.
#[test]
fn outside_a_cluster_the_controller_exits_1_naming_what_is_missing() {
    let home = tempfile::tempdir().expect("an empty HOME");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
    for v in ["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "NATS_URL", "THE0_DATA_DIR"] {
        cmd.env_remove(v);
    }
    let out = cmd
        .args(["controller", "--namespace=the0"])
        .env("HOME", home.path())
        .env("THE0_DATA_DIR", home.path().join("data"))
        .env("THE0_HEALTH_ADDR", "127.0.0.1:0")
        .env("QUERY_SERVER_PORT", "0")
        .env("THE0_QUERY_BIND", "127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .expect("run the orchestrator binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("no Kubernetes configuration"), "the error names what is missing: {stderr}");
}
