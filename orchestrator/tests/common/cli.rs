//! The built binary as a user runs it: `serve` in a temp data dir with its own instance label,
//! and each command (`deploy`, `list`, `state`, …) as a child process against it.

use std::path::Path;
use std::process::{Command, Output};

use std::time::Duration;

use super::{eventually_async, free_addr, http_get, orchestrator_cmd, unique, KillOnDrop};

/// One orchestrator's settings, shared by its `serve` and every command run against it.
pub struct Env {
    pub data: tempfile::TempDir,
    pub admin: String,
    pub health: String,
    pub instance: String,
    /// The :9477 query API's port, the same for `serve` and the commands that ask it.
    pub query_port: String,
}

impl Env {
    /// A fresh data dir, ephemeral ports and a unique instance label (`prefix-…`).
    pub fn new(prefix: &str) -> Env {
        let query_port = free_addr().rsplit(':').next().unwrap_or_default().to_string();
        Env {
            data: tempfile::tempdir().expect("temp data dir"),
            admin: free_addr(),
            health: free_addr(),
            instance: unique(prefix),
            query_port,
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = orchestrator_cmd(self.data.path(), &self.instance, &self.admin, &self.health);
        c.args(args).env("BOT_STOP_TIMEOUT_SEC", "10").env("QUERY_SERVER_PORT", &self.query_port);
        c
    }

    /// `orchestrator serve`, once its health server answers; killed when dropped.
    pub async fn serve(&self) -> KillOnDrop {
        let serve = KillOnDrop(self.cmd(&["serve"]).stdout(std::process::Stdio::null()).spawn().expect("serve"));
        eventually_async(Duration::from_secs(15), || async {
            (http_get(&self.health, "/healthz").await.0 == 200).then_some(())
        })
        .await
        .expect("server up");
        serve
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run orchestrator")
    }
}

/// What a command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Copies a bot directory (flat).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A copy of the bot in `tests/fixtures/NAME`, in a temp dir the test may change.
pub fn fixture_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp bot dir");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name), dir.path());
    dir
}

/// What a command that must succeed printed as JSON (`-o json`).
pub fn json_of(env: &Env, args: &[&str]) -> serde_json::Value {
    let out = env.run(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?} prints JSON ({e}): {}", text(&out)))
}
