//! Shared harness of the executor's integration tests: a sandbox of directories standing in for a
//! container's `/bot`, `/state` and `/var/the0`, real storage (a local object directory, or the real
//! S3 server that `make test` starts), code zips, and the built `runtime` binary run as a process.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub mod nats_sub;
pub mod proxy;

use the0_objstore::Store;

pub fn runtime_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runtime"))
}

// Each test binary uses part of the harness (as `dead_code` is allowed above).
#[allow(unused_imports)]
pub use the0_test_support::container::{chmod_tree, docker, test_image, BotContainer};
pub use the0_test_support::names::unique;
#[allow(unused_imports)]
pub use the0_test_support::{eventually, free_port, s3_endpoint, s3_key, s3_settings};

/// The executor's variables that point it at the test S3 server at `endpoint`.
pub fn s3_env(endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("MINIO_ENDPOINT".into(), endpoint.to_owned()),
        ("MINIO_ACCESS_KEY".into(), s3_key("THE0_TEST_S3_ACCESS_KEY")),
        ("MINIO_SECRET_KEY".into(), s3_key("THE0_TEST_S3_SECRET_KEY")),
        ("MINIO_REGION".into(), s3_key("THE0_TEST_S3_REGION")),
    ]
}

pub fn wrappers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../runtime-images/wrappers")
}

/// Where the sandbox's objects live.
#[derive(Debug, Clone)]
pub enum Backend {
    Local(PathBuf),
    /// `endpoint` is what the executor uses; `direct` is what the test itself reads through.
    S3 {
        endpoint: String,
        direct: String,
        suffix: String,
    },
}

impl Backend {
    pub fn store(&self) -> Store {
        match self {
            Backend::Local(root) => Store::local(root.clone()),
            Backend::S3 { direct, .. } => Store::s3(s3_settings(direct)).expect("s3 store"),
        }
    }

    /// Bucket names: the defaults locally, unique ones on the shared S3 server.
    pub fn bucket(&self, default: &str) -> String {
        match self {
            Backend::Local(_) => default.to_string(),
            Backend::S3 { suffix, .. } => format!("{default}-{suffix}"),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        match self {
            Backend::Local(root) => vec![("THE0_STORAGE_DIR".into(), root.display().to_string())],
            Backend::S3 { endpoint, .. } => [
                s3_env(endpoint),
                vec![
                    ("MINIO_CODE_BUCKET".into(), self.bucket("custom-bots")),
                    ("MINIO_STATE_BUCKET".into(), self.bucket("bot-state")),
                    ("MINIO_LOGS_BUCKET".into(), self.bucket("bot-logs")),
                    ("MINIO_QUERY_RESULTS_BUCKET".into(), self.bucket("query-results")),
                ],
            ]
            .concat(),
        }
    }
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub bot_id: String,
    pub backend: Backend,
    pub env: BTreeMap<String, String>,
}

impl Sandbox {
    pub fn local() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = Backend::Local(dir.path().join("objects"));
        Sandbox::with(dir, backend)
    }

    pub fn s3() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = Backend::S3 { endpoint: s3_endpoint(), direct: s3_endpoint(), suffix: unique("t") };
        Sandbox::with(dir, backend)
    }

    /// A sandbox whose storage is reached through `endpoint` (e.g. a fault-injecting proxy).
    pub fn s3_via(endpoint: String) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        Sandbox::with(dir, Backend::S3 { endpoint, direct: s3_endpoint(), suffix: unique("t") })
    }

    fn with(dir: tempfile::TempDir, backend: Backend) -> Sandbox {
        let bot_id = unique("bot");
        let mut sb = Sandbox { dir, bot_id, backend, env: BTreeMap::new() };
        let p = |s: &str| sb.dir.path().join(s).display().to_string();
        let base = [
            ("BOT_ID", sb.bot_id.clone()),
            ("RUNTIME", "gcc13".to_string()),
            ("ENTRYPOINT", "bot.sh".to_string()),
            ("CODE_PATH", p("bot")),
            ("STATE_PATH", p("state")),
            ("LOGS_PATH", p("the0/logs")),
            ("THE0_DONE_FILE", p("the0/done")),
            ("THE0_QUERY_DIR", p("query")),
            ("THE0_WRAPPERS_DIR", wrappers_dir().display().to_string()),
            ("THE0_STOP_GRACE_SEC", "3".to_string()),
            ("LOG_LEVEL", "DEBUG".to_string()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ];
        for (k, v) in base {
            sb.env.insert(k.into(), v);
        }
        for (k, v) in sb.backend.env() {
            sb.env.insert(k, v);
        }
        sb
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.env.remove(k);
        self
    }

    pub fn store(&self) -> Store {
        self.backend.store()
    }

    /// Zips `files` (name, content, mode) and stores it as the bot's code object; sets CODE_FILE.
    pub async fn upload_code(&mut self, files: &[(&str, &str, u32)]) {
        let bytes = zip_bytes(files);
        let key = format!("user/{}/1.0.0", self.bot_id);
        let bucket = self.backend.bucket("custom-bots");
        let store = self.store();
        store.ensure_bucket(&bucket).await.expect("code bucket");
        store.put_bytes(&bucket, &key, bytes.into(), "application/zip").await.expect("upload code");
        self.set("CODE_FILE", &key);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(runtime_bin());
        cmd.args(args).env_clear().envs(&self.env).stdin(Stdio::null());
        cmd
    }

    /// Runs `execute` to completion (bounded) and returns its output.
    pub fn execute(&self) -> Output {
        let child =
            self.command(&["execute"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn runtime");
        wait_output(child, Duration::from_secs(60))
    }

    pub fn spawn(&self) -> Child {
        self.command(&["execute"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn runtime")
    }

    pub async fn get_object(&self, bucket_default: &str, key: &str) -> Option<Vec<u8>> {
        let store = self.store();
        let bucket = self.backend.bucket(bucket_default);
        let mut obj = store.get(&bucket, key).await.expect("get")?;
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut obj.body, &mut out).await.expect("read body");
        Some(out)
    }

    /// The NDJSON records shipped today for this bot.
    pub async fn shipped_logs(&self) -> Vec<serde_json::Value> {
        let day = the0_contract::timefmt::yyyymmdd(std::time::SystemTime::now());
        let key = the0_contract::keys::log_key(&self.bot_id, &day);
        let Some(bytes) = self.get_object("bot-logs", &key).await else { return Vec::new() };
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not NDJSON: {l:?}: {e}")))
            .collect()
    }

    /// The shipped state archive, extracted into a fresh directory.
    pub async fn shipped_state(&self) -> Option<tempfile::TempDir> {
        let bytes = self.get_object("bot-state", &the0_contract::keys::state_key(&self.bot_id)).await?;
        let out = tempfile::tempdir().expect("tempdir");
        let status = Command::new("tar")
            .arg("-xzf")
            .arg("-")
            .arg("-C")
            .arg(out.path())
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().expect("stdin").write_all(&bytes)?;
                c.wait()
            })
            .expect("tar");
        assert!(status.success(), "shipped state is not a valid tar.gz");
        Some(out)
    }
}

/// A `Config` for library-level tests: a bot `b1` whose code, state, run dir and local objects
/// live under `root` (`bot/`, `state/`, `run/logs`, `objects/`), plus `extra` variables.
pub fn local_config(root: &Path, extra: &[(&str, &str)]) -> the0_executor::config::Config {
    let r = root.display().to_string();
    let mut v: std::collections::HashMap<String, String> = [
        ("BOT_ID", "b1".to_string()),
        ("RUNTIME", "python3.11".into()),
        ("ENTRYPOINT", "main.py".into()),
        ("CODE_PATH", format!("{r}/bot")),
        ("STATE_PATH", format!("{r}/state")),
        ("LOGS_PATH", format!("{r}/run/logs")),
        ("THE0_STORAGE_DIR", format!("{r}/objects")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    the0_executor::config::Config::from_vars(&v, true).expect("test config")
}

/// The OCI runtime the Docker tests run bot containers under (`THE0_TEST_BOT_RUNTIME`, e.g.
/// `runsc` in scripts/test.sh's gVisor lane); `None`: the engine's default.
pub fn bot_runtime() -> Option<String> {
    std::env::var("THE0_TEST_BOT_RUNTIME").ok().filter(|r| !r.trim().is_empty())
}

/// Whether the tests run under gVisor (`THE0_TEST_BOT_RUNTIME=runsc`): tests of a property that
/// gVisor's own kernel provides differently assert its behaviour instead (docs/security/gvisor.md).
pub fn under_gvisor() -> bool {
    bot_runtime().is_some_and(|r| r.contains("runsc"))
}

/// `docker run -d --name <name>` with the contract's hardening (§5.4): read-only root, uid 1000,
/// no capabilities, no new privileges, and the five tmpfs mounts, under [`bot_runtime`] when set.
/// Callers add the rest.
pub fn hardened_run_args(name: &str) -> Vec<String> {
    let uid = "nosuid,nodev,uid=1000,gid=1000";
    let mut args: Vec<String> = ["run", "-d", "--name", name, "--read-only", "--user", "1000:1000"]
        .into_iter()
        .chain(["--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"])
        .map(str::to_string)
        .collect();
    for (dir, opts) in [
        ("/bot", format!("rw,exec,{uid}")),
        ("/state", format!("rw,{uid}")),
        ("/query", format!("rw,{uid}")),
        ("/var/the0", format!("rw,{uid}")),
        ("/tmp", format!("rw,{uid},mode=1777")),
    ] {
        args.push("--tmpfs".into());
        args.push(format!("{dir}:{opts}"));
    }
    if let Some(rt) = bot_runtime() {
        args.extend(["--runtime".to_string(), rt]);
    }
    args
}

/// What [`start_bot`] runs.
pub struct BotRun<'a> {
    /// The container is named `<prefix>-…`.
    pub prefix: &'a str,
    /// The code zip's files (name, content, mode); `bot.sh` is the entrypoint.
    pub files: &'a [(&'a str, &'a str, u32)],
    /// Variables after the bot's own (`BOT_ID`, `RUNTIME`, `ENTRYPOINT`, …).
    pub env: &'a [(&'a str, &'a str)],
    /// `docker run` arguments before the image (network, limits, published ports).
    pub args: &'a [&'a str],
    /// Size of the `/state` tmpfs (`8m`), if limited.
    pub state_size: Option<&'a str>,
}

/// A shell bot (runtime gcc13, entrypoint `bot.sh`) in a container hardened as
/// [`hardened_run_args`], its objects in a bind-mounted local directory (the code zip stored,
/// `bot-state` and `bot-logs` writable by uid 1000).
pub async fn start_bot(run: BotRun<'_>) -> BotContainer {
    let objects = tempfile::tempdir().expect("tempdir");
    let bot_id = unique("bot");
    let store = Store::local(objects.path().to_path_buf());
    let key = format!("user/{bot_id}/1");
    store.put_bytes("custom-bots", &key, zip_bytes(run.files).into(), "application/zip").await.expect("store the code");
    for d in ["bot-state", "bot-logs"] {
        std::fs::create_dir_all(objects.path().join(d)).expect("objects directory");
    }
    chmod_tree(objects.path());
    let name = unique(run.prefix);
    let mut args = hardened_run_args(&name);
    if let Some(size) = run.state_size {
        let state = args.iter_mut().find(|a| a.starts_with("/state:")).expect("a /state tmpfs");
        state.push_str(&format!(",size={size}"));
    }
    args.extend(["-v".to_string(), format!("{}:/objects", objects.path().display())]);
    args.extend(run.args.iter().map(|s| s.to_string()));
    let mut env = vec![
        ("BOT_ID".to_string(), bot_id.clone()),
        ("RUNTIME".into(), "gcc13".into()),
        ("ENTRYPOINT".into(), "bot.sh".into()),
        ("CODE_FILE".into(), key),
        ("THE0_STORAGE_DIR".into(), "/objects".into()),
        ("BOT_TYPE".into(), "realtime".into()),
    ];
    env.extend(run.env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    for (k, v) in env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push(test_image());
    let out = Command::new("docker").args(&args).output().expect("docker run");
    assert!(out.status.success(), "docker run failed: {}", String::from_utf8_lossy(&out.stderr));
    BotContainer { name, objects, bot_id }
}

pub fn zip_bytes(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content, mode) in files {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        w.start_file(*name, opts).expect("zip entry");
        w.write_all(content.as_bytes()).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// Waits for a child with a bound, reading its output all along (a full pipe must not stall it),
/// killing it if the bound passes.
pub fn wait_output(child: Child, bound: Duration) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(bound) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let out = rx.recv().expect("child reaped").expect("output");
            panic!("runtime did not exit within {bound:?}\n{}", text(&out));
        }
    }
}

pub fn text(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn send_signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

pub fn is_dir_empty(p: &Path) -> bool {
    std::fs::read_dir(p).map(|mut d| d.next().is_none()).unwrap_or(true)
}

/// Issue #10, conditional state writes: a pod (`pod`) restores the state archive (or finds none
/// when `first_run`), uploads twice (each write conditional on the version it saw last), then
/// another writer (a second container of the same bot) replaces the archive; the pod's next sync
/// must refuse to overwrite it, keep refusing (sticky), say why in its outcome, its `not_saved`
/// and `bot.log`, and leave the other writer's bytes in place. `seed` is another pod's config
/// (same bot, same store) used to put a first archive in place when not `first_run`.
pub async fn conflict_scenario(
    store: &Store,
    seed: &the0_executor::config::Config,
    pod: &the0_executor::config::Config,
    first_run: bool,
) {
    use the0_executor::state::{restore_with, RestoreOutcome, RetryPolicy, StateSyncOutcome, StateSyncer};
    let (bucket, key) = (pod.buckets.state.clone(), the0_contract::keys::state_key(&pod.bot_id));
    let write = |cfg: &the0_executor::config::Config, name: &str, data: &[u8]| {
        std::fs::create_dir_all(&cfg.state_path).unwrap();
        std::fs::write(cfg.state_path.join(name), data).unwrap();
    };
    if !first_run {
        write(seed, "seed.txt", b"from an earlier pod");
        let mut s = StateSyncer::new(seed, None);
        assert!(matches!(s.sync(store).await.unwrap(), StateSyncOutcome::Uploaded { .. }));
    }
    let restored = restore_with(store, pod, &RetryPolicy { delays: vec![] }).await.unwrap();
    assert_eq!(matches!(restored, RestoreOutcome::FirstRun), first_run, "{restored:?}");
    let mut s = StateSyncer::new(pod, None);
    for round in 0..2 {
        write(pod, "n.txt", format!("round {round}").as_bytes());
        let outcome = s.sync(store).await.unwrap();
        assert!(matches!(outcome, StateSyncOutcome::Uploaded { .. }), "round {round}: {outcome:?}");
    }
    assert_eq!(s.not_saved(), None);

    let other = bytes::Bytes::from_static(b"the newer archive of another writer");
    store.put_bytes(&bucket, &key, other.clone(), "application/gzip").await.unwrap();
    let read_remote = || async {
        let mut obj = store.get(&bucket, &key).await.unwrap().expect("object");
        let mut v = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut obj.body, &mut v).await.unwrap();
        v
    };
    write(pod, "n.txt", b"round 2, after the other writer");
    let outcome = s.sync(store).await.unwrap();
    let StateSyncOutcome::NotSaved { reason } = outcome else { panic!("not refused: {outcome:?}") };
    for part in ["another writer", &key, "not uploaded"] {
        assert!(reason.contains(part), "{part:?} missing in {reason}");
    }
    assert_eq!(read_remote().await, other, "the other writer's archive is kept");
    assert_eq!(s.not_saved(), Some(reason.as_str()));
    let log = std::fs::read_to_string(pod.bot_log_path()).expect("bot.log");
    assert!(log.contains("another writer") && log.contains(&key), "{log}");
    assert_eq!(std::fs::read(pod.state_path.join("n.txt")).unwrap(), b"round 2, after the other writer");
    // Sticky: more changes, still nothing written.
    write(pod, "m.txt", b"more");
    assert!(matches!(s.sync(store).await.unwrap(), StateSyncOutcome::NotSaved { .. }));
    assert_eq!(read_remote().await, other);
    // A container restarted in the same pod skips the restore but still knows the version it
    // last wrote, so it refuses too.
    let mut again = StateSyncer::new(pod, None);
    let outcome = again.sync(store).await.unwrap();
    assert!(matches!(outcome, StateSyncOutcome::NotSaved { .. }), "{outcome:?}");
    assert_eq!(read_remote().await, other);
}
