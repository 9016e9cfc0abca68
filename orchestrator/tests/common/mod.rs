//! Harness of the orchestrator's integration tests: a real orchestrator (in this process, or the
//! built binary as a child for kill -9 tests) on ephemeral ports with its own `--instance` label,
//! a temp data dir, the scratch test image, and a guard that removes every container of that
//! instance whatever happens.
#![allow(dead_code)]

pub mod binary;
pub mod cli;
pub mod e2e;
pub mod moto;

#[allow(unused_imports)] // each test binary uses part of the harness
pub use binary::BinaryHost;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use the0_orchestrator::cmdline;
use the0_orchestrator::config::Cli;
use the0_orchestrator::server::Server;
pub use the0_test_support::names::unique;
use tokio::sync::watch;

pub fn image() -> String {
    std::env::var("THE0_TEST_IMAGE")
        .expect("THE0_TEST_IMAGE is not set: run the tests with `make test` (it builds the scratch test image)")
}

/// The OCI runtime of bot containers in these tests (`THE0_TEST_BOT_RUNTIME`, e.g. `runsc` in
/// scripts/test.sh's gVisor lane), passed as `--bot-runtime`; `None`: the engine's default.
pub fn bot_runtime() -> Option<String> {
    std::env::var("THE0_TEST_BOT_RUNTIME").ok().filter(|r| !r.trim().is_empty())
}

/// Whether bots run under gVisor: tests of a property gVisor provides differently assert its own
/// behaviour instead (docs/security/gvisor.md).
pub fn under_gvisor() -> bool {
    bot_runtime().is_some_and(|r| r.contains("runsc"))
}

pub fn nats_url() -> String {
    std::env::var("THE0_TEST_NATS_URL")
        .expect("THE0_TEST_NATS_URL is not set: run the tests with `make test` (scripts/test.sh starts nats-server)")
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker CLI");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Names of this instance's containers, by state filter (`None` = all).
pub fn containers(instance: &str, status: Option<&str>) -> Vec<String> {
    let label = format!("label=runtime.instance={instance}");
    let mut args = vec!["ps", "-a", "--filter", &label, "--format", "{{.ID}}"];
    let st;
    if let Some(s) = status {
        st = format!("status={s}");
        args.extend(["--filter", &st]);
    }
    docker(&args).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// A child process (the built orchestrator, a test server), SIGKILLed and reaped when dropped,
/// whatever happens; `.0.kill()` is the test's `kill -9`.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback address (`127.0.0.1:<port>`) for a child that cannot report the one it bound.
#[allow(unused_imports)] // each test binary uses part of the harness
pub use the0_test_support::free_addr;

/// The built orchestrator binary with a test's settings: its data dir and `--instance`, the given
/// admin and health addresses, the :9477 API on an ephemeral loopback port, the scratch image never
/// pulled, no network, and none of the host's NATS, MinIO, Docker or token variables.
pub fn orchestrator_cmd(data: &Path, instance: &str, admin: &str, health: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_orchestrator"));
    for v in ["NATS_URL", "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "THE0_ADMIN_TOKEN", "DOCKER_HOST"] {
        c.env_remove(v);
    }
    c.env("THE0_DATA_DIR", data)
        .env("THE0_ADMIN_ADDR", admin)
        .env("THE0_HEALTH_ADDR", health)
        .env("THE0_INSTANCE", instance)
        .env("RUNTIME_IMAGE", image())
        .env("RUNTIME_IMAGE_PULL_POLICY", "Never")
        .env("DOCKER_NETWORK", "none")
        .env("QUERY_SERVER_PORT", "0")
        .env("THE0_QUERY_BIND", "127.0.0.1")
        .env("BOT_STOP_TIMEOUT_SEC", "5");
    match bot_runtime() {
        Some(rt) => c.env("BOT_RUNTIME", rt),
        None => c.env_remove("BOT_RUNTIME"),
    };
    c
}

/// A Docker network made for one test (internal: nothing leaves the machine; the host still
/// reaches its containers and they reach the host at the gateway), removed on drop after the
/// containers (declare it before the container guard).
pub struct Network(pub String);

impl Network {
    pub fn create(name: &str) -> Network {
        let out = Command::new("docker").args(["network", "create", "--internal", name]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Network(name.to_string())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["network", "rm", &self.0]).output();
    }
}

/// Removes every container of an instance when dropped.
pub struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = containers(&self.0, None);
        // Eight at a time: removing many containers at once can deadlock dockerd 20.10.
        for chunk in ids.chunks(8) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
    }
}

#[allow(unused_imports)] // each test binary uses part of the harness
pub use the0_test_support::eventually;

pub async fn eventually_async<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> Option<T> {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if t0.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A code zip of one shell script `bot.sh` (0755).
pub fn zip_script(script: &str) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    z.start_file("bot.sh", opts).unwrap();
    z.write_all(script.as_bytes()).unwrap();
    z.finish().unwrap().into_inner()
}

/// An event-shaped payload of a shell bot whose code is `key`.
pub fn bot_payload(id: &str, key: &str, config: Value) -> Value {
    json!({
        "id": id,
        "config": config,
        "custom": {"filePath": key, "version": "1.0.0",
                   "config": {"name": "sh", "runtime": "gcc13", "entrypoints": {"bot": "bot.sh"}}}
    })
}

pub const LOOP_BOT: &str = "#!/bin/sh\necho \"hello from $BOT_ID\"\nwhile true; do sleep 1; done\n";

/// Settings of a test orchestrator: its own instance, data dir, ephemeral ports.
pub fn test_cli(data_dir: &Path, instance: &str, extra: &[&str], env: &[(&str, &str)]) -> Cli {
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--admin-addr".into(),
        "127.0.0.1:0".into(),
        "--health-addr".into(),
        "127.0.0.1:0".into(),
        "--instance".into(),
        instance.into(),
        "--runtime-image".into(),
        image(),
        "--crash-backoff".into(),
        "1s".into(),
        // No registry traffic from tests.
        "--runtime-image-pull-policy".into(),
        "Never".into(),
        // The query API on an ephemeral loopback port (tests run side by side).
        "--port".into(),
        "0".into(),
        "--query-bind".into(),
        "127.0.0.1".into(),
    ];
    if let Some(rt) = bot_runtime() {
        args.extend(["--bot-runtime".to_string(), rt]);
    }
    // Warm query servers (issue 15) only where a test asks for them: the others count containers.
    if !extra.contains(&"--query-warm-for") {
        args.extend(["--query-warm-for".to_string(), "0".to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut vars: HashMap<String, String> = [("BOT_STOP_TIMEOUT_SEC", "5"), ("DOCKER_NETWORK", "none")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    cmdline::parse(&args, &vars).expect("test flags")
}

/// An orchestrator running in this process.
pub struct Orch {
    pub cli: Cli,
    pub admin: String,
    pub health: String,
    pub query: String,
    pub instance: String,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Orch {
    pub async fn start(data_dir: &Path, instance: &str, extra: &[&str], env: &[(&str, &str)]) -> Orch {
        let mut cli = test_cli(data_dir, instance, extra, env);
        let server = Server::bind(cli.clone()).await.expect("orchestrator starts");
        let admin = server.admin_addr().expect("admin addr").to_string();
        let health = server.health_addr().expect("health addr").to_string();
        let query = server.query_addr().expect("query addr").to_string();
        cli.admin_addr = admin.clone();
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(server.run(the0_orchestrator::server::flag_set(rx)));
        Orch { cli, admin, health, query, instance: instance.into(), stop: Some(tx), task: Some(task) }
    }

    /// Stops the orchestrator (bots keep running) and waits for it, bounded.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
    }

    pub fn objects(&self) -> PathBuf {
        self.cli.data_dir.join("objects")
    }

    /// Stores `script` as the code object `key` in the local objects.
    pub fn put_code(&self, key: &str, script: &str) {
        let p = self.objects().join("custom-bots").join(key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, zip_script(script)).unwrap();
    }

    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = hyper::Method::from_bytes(method.as_bytes()).unwrap();
        let (s, b) = the0_orchestrator::client::admin_request(&self.cli, m, path, body).await.expect("admin api");
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub async fn put(&self, payload: Value) -> Value {
        let id = payload["id"].as_str().unwrap().to_string();
        let (s, v) = self.api("PUT", &format!("/bots/{id}"), Some(payload)).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    pub async fn status(&self, id: &str) -> Value {
        self.api("GET", &format!("/bots/{id}"), None).await.1["status"].clone()
    }

    pub async fn wait_state(&self, id: &str, state: &str, limit: Duration) -> Value {
        let t0 = Instant::now();
        loop {
            let s = self.status(id).await;
            if s["state"] == state {
                return s;
            }
            if t0.elapsed() > limit {
                panic!("bot {id} never reached {state:?} in {limit:?}; last status {s}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        http_get(&self.health, path).await
    }
}

/// A plain GET; (status, body).
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await else {
        return (0, String::new());
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}

/// The id of the running container of a bot, if exactly one runs.
pub fn running_container(instance: &str, bot: &str) -> Vec<String> {
    let f1 = format!("label=runtime.instance={instance}");
    let f2 = format!("label=runtime.id={bot}");
    docker(&["ps", "--filter", &f1, "--filter", &f2, "--format", "{{.ID}}"])
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}
