//! A bot's own resources are bounded by what the orchestrator gives its container (issue #10,
//! item 4), checked on real containers: a fork bomb stops at the pids limit (counted by the
//! container's pids cgroup, which sees every process and thread, not `docker top`) while the
//! executor keeps running and still stops on request; a bot that fills `/state` ends with the
//! executor's reason shown in the bot's status, not an OOM kill of PID 1.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// The pids cgroup of a container's PID 1 as the host sees it (cgroup v1 or v2).
fn pids_current(container: &str) -> Option<u64> {
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", container]);
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        controllers.split(',').any(|c| c == "pids").then(|| format!("/sys/fs/cgroup/pids{path}"))
    });
    let path = path.or_else(|| {
        let v2 = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
        Some(format!("/sys/fs/cgroup{v2}"))
    })?;
    std::fs::read_to_string(format!("{path}/pids.current")).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_bomb_stops_at_the_pids_limit_and_the_executor_survives() {
    const LIMIT: u64 = 48;
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("fb");
    let _guard = Cleanup(inst.clone());
    let limit = LIMIT.to_string();
    let o = Orch::start(dir.path(), &inst, &["--pids-limit", &limit], &[]).await;
    // Each process starts two more in the background and lives on: without a limit this grows
    // until memory runs out.
    let bomb = "#!/bin/sh\necho bomb-start\nbomb() { bomb & bomb & sleep 600; }\nbomb\n";
    o.put_code("u/fb/1", bomb);
    o.put(bot_payload("fb", "u/fb/1", json!({}))).await;
    o.wait_state("fb", "running", Duration::from_secs(60)).await;
    let c = running_container(&inst, "fb");
    assert_eq!(c.len(), 1);
    assert_eq!(docker(&["inspect", "-f", "{{.HostConfig.PidsLimit}}", &c[0]]), limit);
    // The bomb reaches the limit and never passes it.
    let mut peak = 0;
    let reached = eventually(Duration::from_secs(60), || {
        let n = pids_current(&c[0])?;
        peak = peak.max(n);
        (n + 4 >= LIMIT).then_some(n)
    });
    assert!(reached.is_some(), "the bomb never came near the limit of {LIMIT} (peak {peak})");
    for _ in 0..20 {
        let n = pids_current(&c[0]).expect("pids.current");
        assert!(n <= LIMIT, "{n} processes past the limit of {LIMIT}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The executor (PID 1) is alive: the container still runs, and the bot is still "running".
    assert_eq!(docker(&["inspect", "-f", "{{.State.Running}}", &c[0]]), "true");
    assert_eq!(o.status("fb").await["state"], "running");
    // It still stops on request: disabling removes the container, bomb and all.
    let mut off = bot_payload("fb", "u/fb/1", json!({}));
    off["config"]["enabled"] = json!(false);
    o.put(off).await;
    let gone = eventually(Duration::from_secs(60), || containers(&inst, None).is_empty().then_some(()));
    assert!(gone.is_some(), "the container of a disabled fork bomb is still there");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_filling_state_ends_with_the_executors_reason_in_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("fs");
    let _guard = Cleanup(inst.clone());
    // 256 MiB: tmpfs budget 256 - 128 = 128 MiB, of which /state gets 40 %.
    let o = Orch::start(dir.path(), &inst, &[], &[("BOT_MEMORY_LIMIT_MB", "256")]).await;
    let fill = "#!/bin/sh\nmkdir -p \"$STATE_DIR\"\necho '{\"kept\":true}' > \"$STATE_DIR/mark.json\"\n\
                dd if=/dev/zero of=\"$STATE_DIR/fill\" bs=1M count=1024 2>&1 | tail -n 1\necho filled\nexit 3\n";
    o.put_code("u/fs/1", fill);
    o.put(bot_payload("fs", "u/fs/1", json!({}))).await;
    let st = eventually_async(Duration::from_secs(90), || async {
        let st = o.status("fs").await;
        (st["last_exit_code"] == 3).then_some(st)
    })
    .await
    .expect("the bot's exit is recorded");
    let reason = st["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("bot exited with code 3: "), "{st}");
    assert!(reason.contains("/state is full"), "{st}");
    assert!(!reason.contains("out of memory"), "PID 1 must not be OOM-killed: {st}");
    // What the bot wrote before the disk filled was synced: the archive holds the mark.
    let archive = dir.path().join("objects/bot-state/fs/state.tar.gz");
    let out = std::process::Command::new("tar").arg("-tzf").arg(&archive).output().expect("tar");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.lines().any(|l| l.ends_with("mark.json")), "{archive:?}: {listing}");
    o.stop().await;
}
