//! A bot container a test runs with the Docker CLI (the executor's image as PID 1, objects in a
//! bind-mounted local directory), removed in every outcome; and the reads the tests make of it
//! (logs, exit code, the state archive the executor synced).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::eventually;

/// `THE0_TEST_IMAGE`: the scratch test image with the executor (`make test` builds it).
pub fn test_image() -> String {
    std::env::var("THE0_TEST_IMAGE")
        .expect("THE0_TEST_IMAGE is not set: run the tests with `make test` (it builds the scratch test image)")
}

/// The Docker CLI with `args`.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("docker CLI")
}

/// Makes `p` and every directory below it writable by anyone (the container runs as uid 1000).
pub fn chmod_tree(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777));
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                chmod_tree(&e.path());
            }
        }
    }
}

/// A started container, removed (`docker rm -f`) when dropped. `objects` is the directory
/// mounted as the bot's local object storage.
pub struct BotContainer {
    pub name: String,
    pub objects: tempfile::TempDir,
    pub bot_id: String,
}

impl Drop for BotContainer {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

impl BotContainer {
    /// stdout and stderr.
    pub fn logs(&self) -> String {
        let out = docker(&["logs", &self.name]);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&docker(&["logs", &self.name]).stdout).into_owned()
    }

    /// Waits (up to a minute) for `needle` in the logs; panics with them otherwise.
    pub fn wait_for_log(&self, needle: &str) {
        eventually(Duration::from_secs(60), || self.logs().contains(needle).then_some(()))
            .unwrap_or_else(|| panic!("{needle:?} never appeared in the container log:\n{}", self.logs()));
    }

    /// Waits (up to a minute) for the container to exit; its exit code.
    pub fn wait_exited(&self) -> i32 {
        eventually(Duration::from_secs(60), || {
            let out =
                docker(&["inspect", "-f", "{{.State.Running}} {{.State.ExitCode}} {{.State.OOMKilled}}", &self.name]);
            let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
            s.strip_prefix("false ").and_then(|r| r.split(' ').next()).and_then(|c| c.parse::<i32>().ok())
        })
        .unwrap_or_else(|| panic!("the container never exited:\n{}", self.logs()))
    }

    /// `docker stop -t <timeout_secs>`; how long it took.
    pub fn stop(&self, timeout_secs: u32) -> Duration {
        let t0 = std::time::Instant::now();
        let out = docker(&["stop", "-t", &timeout_secs.to_string(), &self.name]);
        assert!(out.status.success(), "docker stop: {}", String::from_utf8_lossy(&out.stderr));
        t0.elapsed()
    }

    pub fn exit_code(&self) -> i32 {
        let out = docker(&["inspect", "-f", "{{.State.ExitCode}}", &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("exit code")
    }

    /// The file `rel` inside the state archive the executor synced, if there is one.
    pub fn state_file(&self, rel: &str) -> Option<String> {
        let archive = self.objects.path().join("bot-state").join(&self.bot_id).join("state.tar.gz");
        if !archive.exists() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let st = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(dir.path()).status().expect("tar");
        assert!(st.success());
        std::fs::read_to_string(dir.path().join(rel)).ok()
    }

    pub fn objects_path(&self) -> PathBuf {
        self.objects.path().to_path_buf()
    }
}
