//! A hostile bot against its own executor, inside a real container hardened as the orchestrator
//! runs it (read-only rootfs, uid 1000, no capabilities): it must not read the executor's
//! environment or memory through /proc (issue #10 item 2), and bot code carries the highest
//! `oom_score_adj` so the cgroup's OOM killer takes it before PID 1.

mod common;

use common::*;

/// Starts a shell bot running `script` with `extra_args` before the image (limits).
async fn start(script: &str, extra_env: &[(&str, &str)], extra_args: &[&str]) -> BotContainer {
    start_sized(script, extra_env, extra_args, None).await
}

/// As [`start`], with `/state` sized (`size=8m`) when `state_size` is given.
async fn start_sized(
    script: &str,
    extra_env: &[(&str, &str)],
    extra_args: &[&str],
    state_size: Option<&str>,
) -> BotContainer {
    let args = [&["--network", "none"][..], extra_args].concat();
    let files = [("bot.sh", script, 0o755)];
    start_bot(BotRun { prefix: "the0-exec-harden", files: &files, env: extra_env, args: &args, state_size }).await
}

/// Opens (only opens: `/proc/<pid>/mem` at offset 0 fails to read even when allowed) each file and
/// prints `open:<what>` or `denied:<what>`; then dumps whatever it can read to stdout.
const PROBE: &str = r#"#!/bin/sh
probe() { if ( exec 3<"$1" ) 2>/dev/null; then echo "open:$2"; else echo "denied:$2"; fi; }
for f in environ mem maps cmdline; do probe /proc/1/$f "$f"; done
for t in /proc/1/task/*; do
  [ "$t" = /proc/1/task/1 ] && continue
  probe "$t/environ" thread-environ; probe "$t/mem" thread-mem
done
cat /proc/1/environ /proc/1/task/*/environ 2>/dev/null | tr '\0' '\n'
echo "oom_score_adj=$(cat /proc/self/oom_score_adj)"
(echo 0 > /proc/self/oom_score_adj) 2>/dev/null && echo lower-to-0:ok || echo lower-to-0:denied
(echo -1 > /proc/self/oom_score_adj) 2>/dev/null && echo lower-below-0:ok || echo lower-below-0:denied
echo probe-done
while true; do sleep 1; done
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_cannot_read_the_executors_environment_or_memory() {
    let secret_key = format!("SeCrEt{}", unique("k"));
    let access_key = format!("AcCeSs{}", unique("a"));
    let nats_pass = format!("NaTsPw{}", unique("n"));
    let nats_url = format!("nats://u:{nats_pass}@127.0.0.1:1");
    let env = [
        ("MINIO_SECRET_KEY", secret_key.as_str()),
        ("MINIO_ACCESS_KEY", access_key.as_str()),
        ("NATS_URL", nats_url.as_str()),
    ];
    let c = start(PROBE, &env, &[]).await;
    c.wait_for_log("probe-done");
    let logs = c.logs();
    for secret in [&secret_key, &access_key, &nats_pass] {
        assert!(!logs.contains(secret.as_str()), "a secret of the executor reached the bot:\n{logs}");
    }
    if under_gvisor() {
        // gVisor's /proc (runsc 20221219) ignores non-dumpable for environ and maps: the files
        // open, but the executor blanked its environment block (the check above: no secret came
        // through). mem stays refused (docs/security/gvisor.md §3).
        for expected in ["open:environ", "denied:mem", "open:thread-environ"] {
            assert!(logs.contains(expected), "{expected} expected under gVisor:\n{logs}");
        }
        assert!(!logs.contains("open:mem") && !logs.contains("open:thread-mem"), "{logs}");
    } else {
        for denied in ["denied:environ", "denied:mem", "denied:maps"] {
            assert!(logs.contains(denied), "{denied} expected:\n{logs}");
        }
        // The executor has tokio threads: their /proc entries are guarded the same way.
        assert!(logs.contains("denied:thread-environ"), "the executor's threads are probed:\n{logs}");
        assert!(!logs.contains("open:thread-environ") && !logs.contains("open:thread-mem"), "{logs}");
    }
    // cmdline stays readable (it holds no secret): ps and the docker tests rely on it.
    assert!(logs.contains("open:cmdline"), "{logs}");
    // Bot code dies first under memory pressure; it may lower its score back to the executor's
    // (0, the minimum Docker gave PID 1) but not below without CAP_SYS_RESOURCE.
    assert!(logs.contains("oom_score_adj=1000"), "{logs}");
    assert!(logs.contains("lower-to-0:ok"), "{logs}");
    if under_gvisor() {
        // gVisor lets it go below 0; it has no OOM killer of its own, the host's kills the
        // whole sandbox (the next test), so the score orders nothing there.
        assert!(logs.contains("lower-below-0:ok"), "{logs}");
    } else {
        assert!(logs.contains("lower-below-0:denied"), "{logs}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_past_its_memory_limit_is_oom_killed_and_the_executor_reports_it() {
    // The bot writes state, then allocates far past the container's memory limit (busybox dd
    // touches its whole block). The OOM killer must take the bot; the executor reports the end by
    // signal 9 and syncs the state.
    let script = r#"#!/bin/sh
mkdir -p "$STATE_DIR"
echo '{"before":"oom"}' > "$STATE_DIR/mark.json"
echo allocating
exec dd if=/dev/zero of=/dev/null bs=400M count=1
"#;
    let c = start(script, &[("IS_SCHEDULED", "true")], &["--memory", "96m", "--memory-swap", "96m"]).await;
    c.wait_for_log("allocating");
    let code = c.wait_exited();
    let logs = c.logs();
    assert_eq!(code, 137, "{logs}");
    if under_gvisor() {
        // The bot lives in gVisor's kernel, which has no OOM killer of its own: the host's kills
        // the whole sandbox, executor included. Docker reports the OOM kill of the container
        // (the orchestrator's "out of memory" reason); the executor cannot report or sync
        // (docs/security/gvisor.md §4: state since the last periodic sync is lost).
        let oom = docker(&["inspect", "-f", "{{.State.OOMKilled}}", &c.name]);
        assert_eq!(String::from_utf8_lossy(&oom.stdout).trim(), "true", "{logs}");
        assert!(!logs.contains("bot ended"), "the executor survived an OOM under gVisor?\n{logs}");
        return;
    }
    assert!(
        logs.contains("\"bot ended\"") || logs.contains("bot ended"),
        "the executor reported the bot's end:\n{logs}"
    );
    assert!(logs.contains("signal") || logs.contains("SIGKILL") || logs.contains("137"), "{logs}");
    assert!(c.state_file(".the0-state/mark.json").is_some(), "the state was synced after the bot's OOM kill:\n{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_filling_a_sized_state_dir_leaves_the_executor_alive_with_a_reason() {
    // /state is an 8 MiB tmpfs in a 64 MiB container; the bot writes a mark, fills /state until
    // ENOSPC and ends. The executor must not be OOM-killed, must sync what /state holds, and must
    // end with an exit_reason line naming the full state directory.
    let script = r#"#!/bin/sh
mkdir -p "$STATE_DIR"
echo '{"kept":true}' > "$STATE_DIR/mark.json"
dd if=/dev/zero of="$STATE_DIR/fill" bs=1M count=64 2>&1 | tail -n 1
echo filled
exit 3
"#;
    let c = start_sized(script, &[("IS_SCHEDULED", "true")], &["--memory", "64m", "--memory-swap", "64m"], Some("8m"))
        .await;
    c.wait_for_log("filled");
    let code = c.wait_exited();
    let logs = c.logs();
    assert_eq!(code, 3, "the bot's own code, not an OOM kill of PID 1:\n{logs}");
    let oom =
        String::from_utf8_lossy(&docker(&["inspect", "-f", "{{.State.OOMKilled}}", &c.name]).stdout).trim().to_string();
    assert_eq!(oom, "false", "{logs}");
    assert_eq!(c.state_file(".the0-state/mark.json").as_deref().map(str::trim), Some(r#"{"kept":true}"#), "{logs}");
    let stdout = c.stdout();
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).expect("a last stdout line");
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("last line {last:?}: {e}\n{logs}"));
    let reason = v["exit_reason"].as_str().unwrap_or_else(|| panic!("no exit_reason in {last:?}\n{logs}"));
    assert!(reason.contains("/state is full (8.0 MiB)"), "{reason}");
}
