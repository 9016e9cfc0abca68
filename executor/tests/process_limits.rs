//! `THE0_BOT_NPROC` (set by the orchestrator under gVisor only, docs/security/gvisor.md §4) becomes
//! the `RLIMIT_NPROC` of the bot, while the executor keeps its own limit, so a bot at its limit
//! cannot stop the executor from starting threads, syncing or stopping it. Unset, the bot inherits
//! the executor's limit unchanged.

mod common;

use std::time::Duration;

use common::*;

/// Soft and hard limit, as `/proc/<pid>/limits` spells them.
type Limit = Option<(String, String)>;

/// The "Max processes" soft and hard limits in a `/proc/<pid>/limits` text.
fn max_processes(limits: &str) -> Limit {
    let line = limits.lines().find(|l| l.starts_with("Max processes"))?;
    let mut f = line["Max processes".len()..].split_whitespace();
    Some((f.next()?.to_string(), f.next()?.to_string()))
}

/// Runs a bot that copies its own `/proc/self/limits`; returns (the bot's, the executor's) limits.
fn limits_seen(nproc: Option<&str>) -> (Limit, Limit) {
    let mut sb = Sandbox::local();
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    let out_file = sb.path("limits");
    let script = format!(
        "#!/bin/sh\ncat /proc/self/limits > {0}.tmp && mv {0}.tmp {0}\nwhile true; do sleep 0.05; done\n",
        out_file.display()
    );
    std::fs::write(sb.path("bot/bot.sh"), script).unwrap();
    sb.set("THE0_STOP_GRACE_SEC", "2");
    if let Some(n) = nproc {
        sb.set("THE0_BOT_NPROC", n);
    }
    let child = sb.spawn();
    let bot = eventually(Duration::from_secs(30), || std::fs::read_to_string(&out_file).ok());
    let executor = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).ok();
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(30));
    assert!(bot.is_some(), "the bot never ran:\n{}", text(&out));
    (bot.as_deref().and_then(max_processes), executor.as_deref().and_then(max_processes))
}

#[test]
fn the_bot_gets_the_process_limit_and_the_executor_keeps_its_own() {
    let ours = max_processes(&std::fs::read_to_string("/proc/self/limits").unwrap());
    let (bot, executor) = limits_seen(Some("77"));
    assert_eq!(bot, Some(("77".to_string(), "77".to_string())));
    assert_eq!(executor, ours, "the executor's own limit changed");
}

#[test]
fn without_the_variable_the_bot_inherits_the_executors_limit() {
    let ours = max_processes(&std::fs::read_to_string("/proc/self/limits").unwrap());
    let (bot, executor) = limits_seen(None);
    assert_eq!(bot, ours);
    assert_eq!(executor, ours);
}
