//! A bot's own resources are bounded by what the orchestrator gives its container (issue #10,
//! item 4), checked on real containers: a fork bomb stops at the pids limit (counted by the
//! container's pids cgroup, which sees every process and thread, not `docker top`) while the
//! executor keeps running and still stops on request; a bot that fills `/state` ends with the
//! executor's reason shown in the bot's status, not an OOM kill of PID 1.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

/// A file of the pids cgroup of a container's PID 1 as the host sees it (cgroup v1 or v2).
fn pids_file(container: &str, file: &str) -> Option<String> {
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", container]);
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let v1 = cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        controllers.split(',').any(|c| c == "pids").then(|| format!("/sys/fs/cgroup/pids{path}"))
    });
    let dir = v1.or_else(|| Some(format!("/sys/fs/cgroup{}", cgroups.lines().find_map(|l| l.strip_prefix("0::"))?)))?;
    std::fs::read_to_string(format!("{dir}/{file}")).ok()
}

/// Processes and threads in the container now.
fn pids_current(container: &str) -> Option<u64> {
    pids_file(container, "pids.current")?.trim().parse().ok()
}

/// Forks the kernel refused because the limit was reached (`max` of `pids.events`).
fn forks_refused(container: &str) -> Option<u64> {
    let events = pids_file(container, "pids.events")?;
    events.lines().find_map(|l| l.strip_prefix("max ")?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_bomb_stops_at_the_pids_limit_and_the_executor_survives() {
    // Under gVisor the host pids cgroup counts the sandbox's own threads (8 to 10 per guest task):
    // 48 would not even start a sandbox, so the gVisor run uses the default 512.
    const LIMIT: u64 = 48;
    const GVISOR_LIMIT: u64 = 512;
    let limit_n = if under_gvisor() { GVISOR_LIMIT } else { LIMIT };
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("fb");
    let _guard = Cleanup(inst.clone());
    let limit = limit_n.to_string();
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
    if under_gvisor() {
        assert_eq!(docker(&["inspect", "-f", "{{.HostConfig.Runtime}}", &c[0]]), "runsc");
        // The host cgroup refusing a fork would kill the whole sandbox, so the orchestrator gives
        // the bot a limit inside it (RLIMIT_NPROC, enforced by gVisor's kernel) well below the
        // host's: the bot's own forks fail and the executor lives (docs/security/gvisor.md §4).
        let env = docker(&["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", &c[0]]);
        let want = format!("THE0_BOT_NPROC={}", the0_orchestrator::spec::gvisor_bot_nproc(GVISOR_LIMIT as i64));
        assert!(env.lines().any(|l| l == want), "{want} not in the container's environment:\n{env}");
        let refused = eventually(Duration::from_secs(90), || {
            if let Some(n) = pids_current(&c[0]) {
                assert!(n <= GVISOR_LIMIT, "{n} host pids past the limit of {GVISOR_LIMIT}");
            }
            // The shell reports a refused fork on stderr, which `docker logs` keeps apart.
            let out = std::process::Command::new("docker").args(["logs", &c[0]]).output().ok()?;
            let text = [out.stdout, out.stderr].concat();
            String::from_utf8_lossy(&text).contains("fork").then_some(())
        });
        assert!(refused.is_some(), "the bomb's forks were never refused inside the sandbox");
        for _ in 0..30 {
            if let Some(n) = pids_current(&c[0]) {
                assert!(n <= GVISOR_LIMIT, "{n} host pids past the limit of {GVISOR_LIMIT}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if docker(&["inspect", "-f", "{{.State.Running}}", &c[0]]) != "true" {
            panic!("the sandbox died; the bot's status: {}", o.status("fb").await);
        }
        assert_eq!(o.status("fb").await["state"], "running");
        disable_and_expect_removed(o, &inst).await;
        return;
    }
    // The bomb runs into the limit (the kernel refuses forks) and never passes it.
    let mut peak = 0;
    let refused = eventually(Duration::from_secs(60), || {
        peak = peak.max(pids_current(&c[0])?);
        forks_refused(&c[0]).filter(|n| *n > 0)
    });
    assert!(refused.is_some(), "no fork was refused at the limit of {LIMIT} (peak {peak} processes)");
    for _ in 0..30 {
        let n = pids_current(&c[0]).expect("pids.current");
        assert!(n <= LIMIT, "{n} processes past the limit of {LIMIT}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The executor (PID 1) is alive: the container still runs, and the bot is still "running".
    assert_eq!(docker(&["inspect", "-f", "{{.State.Running}}", &c[0]]), "true");
    assert_eq!(o.status("fb").await["state"], "running");
    // It still stops on request: disabling removes the container, bomb and all.
    disable_and_expect_removed(o, &inst).await;
}

/// Disables the fork bomb and expects its container, bomb and all, to be removed; stops `o`.
async fn disable_and_expect_removed(o: Orch, inst: &str) {
    let mut off = bot_payload("fb", "u/fb/1", json!({}));
    off["config"]["enabled"] = json!(false);
    o.put(off).await;
    let gone = eventually(Duration::from_secs(60), || containers(inst, None).is_empty().then_some(()));
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
    // Files of 1 MiB (each under the 10 MiB per-file cap, which would refuse the whole upload)
    // until the tmpfs is full.
    let fill = "#!/bin/sh\nmkdir -p \"$STATE_DIR\"\necho '{\"kept\":true}' > \"$STATE_DIR/mark.json\"\n\
                i=0\nwhile dd if=/dev/zero of=\"$STATE_DIR/fill-$i\" bs=1M count=1 2>/dev/null; do i=$((i+1)); done\n\
                echo \"filled after $i files\"\nexit 3\n";
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
    let objects = std::process::Command::new("find").arg(dir.path().join("objects")).output().expect("find");
    assert!(
        listing.lines().any(|l| l.ends_with("mark.json")),
        "{archive:?}: {listing}\n{st}\n{}\n{}",
        String::from_utf8_lossy(&objects.stdout),
        std::fs::read_dir(dir.path().join("objects/bot-logs/logs/fs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
    );
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_megabyte_config_is_failed_with_its_size_and_never_started() {
    // One environment string holds at most 128 KiB; a 1 MB config used to reach `docker create`
    // and crash-loop with "argument list too long".
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("big");
    let _guard = Cleanup(inst.clone());
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/big/1", LOOP_BOT);
    o.put(bot_payload("big", "u/big/1", json!({"blob": "x".repeat(1024 * 1024)}))).await;
    o.put_code("u/small/1", LOOP_BOT);
    o.put(bot_payload("small", "u/small/1", json!({}))).await;
    // A bot beside it starts: the reconcile passes ran, and the big one was not started by them.
    o.wait_state("small", "running", Duration::from_secs(60)).await;
    let st = o.status("big").await;
    assert_eq!(st["state"], "failed", "{st}");
    let reason = st["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("over the 120 KiB limit"), "{st}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(running_container(&inst, "big").is_empty(), "a container was made for the oversized config");
    assert_eq!(containers(&inst, None).len(), 1, "only the small bot has a container");
    o.stop().await;
}
