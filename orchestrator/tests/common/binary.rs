//! The built orchestrator as a child process, for the tests that `kill -9` it and start it again
//! on the same data: one data directory with local objects, one instance whose containers are
//! removed at the end, one admin address, and the admin client's settings for it.

use serde_json::Value;
use the0_orchestrator::config::Cli;

use super::{free_addr, orchestrator_cmd, test_cli, unique, zip_script, Cleanup, KillOnDrop};

/// Declare it before the children it spawns: they are killed first, then the containers removed.
pub struct BinaryHost {
    pub inst: String,
    pub dir: tempfile::TempDir,
    pub admin: String,
    /// Settings that reach this host's admin API ([`BinaryHost::api`]).
    pub cli: Cli,
    _cleanup: Cleanup,
}

impl BinaryHost {
    /// A fresh data directory and an instance named `<prefix>-…`.
    pub fn new(prefix: &str) -> BinaryHost {
        let inst = unique(prefix);
        let dir = tempfile::tempdir().expect("tempdir");
        let admin = free_addr();
        let mut cli = test_cli(dir.path(), &inst, &[], &[]);
        cli.admin_addr = admin.clone();
        BinaryHost { _cleanup: Cleanup(inst.clone()), inst, dir, admin, cli }
    }

    /// Stores `script` zipped as the code object `custom-bots/<key>` in the local objects.
    pub fn put_code(&self, key: &str, script: &str) {
        let code = self.dir.path().join("objects/custom-bots").join(key);
        std::fs::create_dir_all(code.parent().expect("a parent")).expect("objects directory");
        std::fs::write(&code, zip_script(script)).expect("code object");
    }

    /// `orchestrator serve` on this data and instance, with `env` added (stdout dropped).
    pub fn spawn(&self, env: &[(&str, &str)]) -> KillOnDrop {
        let mut cmd = orchestrator_cmd(self.dir.path(), &self.inst, &self.admin, "127.0.0.1:0");
        cmd.arg("serve").envs(env.iter().copied()).stdout(std::process::Stdio::null());
        KillOnDrop(cmd.spawn().expect("spawn orchestrator"))
    }

    /// An admin API call; the JSON body of a 200, else `None` (also while the host is down).
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let m = hyper::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let (s, b) = the0_orchestrator::client::admin_request(&self.cli, m, path, body).await.ok()?;
        (s == 200).then(|| serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}
