//! The executor as PID 1 of a real container (scratch image with busybox, built by
//! `scripts/build-test-image.sh`), hardened as the orchestrator runs it: read-only rootfs, the
//! contract's tmpfs mounts, uid 1000, no capabilities. Storage is a bind-mounted local directory.

mod common;

use std::time::Duration;

use common::*;

/// Starts a bot container running `script` as a shell bot.
async fn start(script: &str, extra_env: &[(&str, &str)]) -> BotContainer {
    start_bot(BotRun {
        prefix: "the0-exec-test",
        files: &[("bot.sh", script, 0o755)],
        env: extra_env,
        args: &["--network", "none", "--stop-signal", "SIGTERM"],
        state_size: None,
    })
    .await
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
