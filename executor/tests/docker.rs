//! The executor as PID 1 of a real container (scratch image with busybox, built by
//! `scripts/build-test-image.sh`), hardened as the orchestrator runs it: read-only rootfs, the
//! contract's tmpfs mounts, uid 1000, no capabilities. Storage is a bind-mounted local directory.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn image() -> String {
    std::env::var("THE0_TEST_IMAGE")
        .expect("THE0_TEST_IMAGE is not set: run the tests with `make test` (it builds the scratch test image)")
}

/// A container removed in every outcome.
struct Container {
    name: String,
    objects: tempfile::TempDir,
    bot_id: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.name]).output();
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker CLI")
}

fn chmod_tree(p: &Path) {
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777));
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                chmod_tree(&e.path());
            }
        }
    }
}

/// Starts a bot container running `script` as a shell bot.
async fn start(script: &str, extra_env: &[(&str, &str)]) -> Container {
    let objects = tempfile::tempdir().unwrap();
    let bot_id = unique("dock");
    let store = the0_objstore::Store::local(objects.path().to_path_buf());
    let key = format!("user/{bot_id}/1");
    store
        .put_bytes("custom-bots", &key, zip_bytes(&[("bot.sh", script, 0o755)]).into(), "application/zip")
        .await
        .unwrap();
    for d in ["bot-state", "bot-logs"] {
        std::fs::create_dir_all(objects.path().join(d)).unwrap();
    }
    chmod_tree(objects.path());
    let name = unique("the0-exec-test");
    let mut args = hardened_run_args(&name);
    args.extend(["--stop-signal", "SIGTERM", "--network", "none", "-v"].map(String::from));
    args.push(format!("{}:/objects", objects.path().display()));
    let mut env = vec![
        ("BOT_ID".to_string(), bot_id.clone()),
        ("RUNTIME".into(), "gcc13".into()),
        ("ENTRYPOINT".into(), "bot.sh".into()),
        ("CODE_FILE".into(), key),
        ("THE0_STORAGE_DIR".into(), "/objects".into()),
        ("BOT_TYPE".into(), "realtime".into()),
    ];
    env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    for (k, v) in env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push(image());
    let out = Command::new("docker").args(&args).output().expect("docker run");
    assert!(out.status.success(), "docker run failed: {}", String::from_utf8_lossy(&out.stderr));
    Container { name, objects, bot_id }
}

impl Container {
    fn logs(&self) -> String {
        let out = docker(&["logs", &self.name]);
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    }

    fn wait_for_log(&self, needle: &str) {
        eventually(Duration::from_secs(30), || self.logs().contains(needle).then_some(()))
            .unwrap_or_else(|| panic!("{needle:?} never appeared in the container log:\n{}", self.logs()));
    }

    fn exit_code(&self) -> i32 {
        let out = docker(&["inspect", "-f", "{{.State.ExitCode}}", &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("exit code")
    }

    fn stop(&self, timeout_secs: u32) -> Duration {
        let t0 = Instant::now();
        let out = docker(&["stop", "-t", &timeout_secs.to_string(), &self.name]);
        assert!(out.status.success(), "docker stop: {}", String::from_utf8_lossy(&out.stderr));
        t0.elapsed()
    }

    fn state_file(&self, rel: &str) -> Option<String> {
        let archive = self.objects.path().join("bot-state").join(&self.bot_id).join("state.tar.gz");
        if !archive.exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(dir.path()).status().unwrap();
        assert!(st.success());
        std::fs::read_to_string(dir.path().join(rel)).ok()
    }

    fn objects_path(&self) -> PathBuf {
        self.objects.path().to_path_buf()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_stop_of_a_bot_handling_sigterm_is_prompt_and_keeps_its_code() {
    let c = start("#!/bin/sh\ntrap 'echo bye; exit 42' TERM\necho ready\nwhile true; do sleep 0.05; done\n", &[]).await;
    c.wait_for_log("ready");
    let took = c.stop(10);
    assert_eq!(c.exit_code(), 42, "{}", c.logs());
    assert!(took < Duration::from_secs(5), "stop did not wait for Docker's timeout: {took:?}\n{}", c.logs());
    assert!(c.logs().contains("bye"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bot_ignoring_sigterm_is_killed_after_the_grace_period() {
    let c = start(
        "#!/bin/sh\ntrap '' TERM\necho ready\nwhile true; do sleep 0.05; done\n",
        &[("THE0_STOP_GRACE_SEC", "2")],
    )
    .await;
    c.wait_for_log("ready");
    let took = c.stop(30);
    assert_eq!(c.exit_code(), 137, "{}", c.logs());
    assert!(took >= Duration::from_secs(2), "grace period honoured: {took:?}");
    assert!(took < Duration::from_secs(25), "killed by the executor, not by Docker's timeout: {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn orphans_are_reaped_by_pid_1() {
    let script =
        "#!/bin/sh\nfor i in 1 2 3 4 5 6 7 8; do (sleep 0.2 &); done\necho spawned\nwhile true; do sleep 0.1; done\n";
    let c = start(script, &[]).await;
    c.wait_for_log("spawned");
    std::thread::sleep(Duration::from_secs(1));
    let out = docker(&["exec", &c.name, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ' || true"]);
    let zombies = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(zombies, "0", "zombies in the container:\n{}", String::from_utf8_lossy(&out.stderr));
    let out = docker(&["exec", &c.name, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("/app/runtime execute"), "the executor is PID 1");
    c.stop(10);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_written_during_the_grace_period_is_stored() {
    let script = r#"#!/bin/sh
mkdir -p "$STATE_DIR"
echo '{"phase":"running"}' > "$STATE_DIR/phase.json"
trap 'sleep 1; echo "{\"phase\":\"graceful\"}" > "$STATE_DIR/phase.json"; exit 0' TERM
echo ready
while true; do sleep 0.05; done
"#;
    let c = start(script, &[("THE0_STOP_GRACE_SEC", "5"), ("IS_SCHEDULED", "true")]).await;
    c.wait_for_log("ready");
    c.stop(20);
    assert_eq!(c.exit_code(), 0, "{}", c.logs());
    assert_eq!(
        c.state_file(".the0-state/phase.json").as_deref().map(str::trim),
        Some(r#"{"phase":"graceful"}"#),
        "{}",
        c.logs()
    );
    let logs_dir = c.objects_path().join("bot-logs/logs").join(&c.bot_id);
    let shipped = std::fs::read_dir(&logs_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(shipped, 1, "one daily log object in {}", logs_dir.display());
}
