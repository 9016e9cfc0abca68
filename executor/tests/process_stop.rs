//! Stopping (D1): SIGTERM reaches the bot's group, nothing written before the signal is lost, a
//! bot that ignores SIGTERM is killed after the grace period (137), orphans are reaped.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Writes a numbered line and the same number to state every few ms until TERM; then one more.
/// Its stderr is closed: the shell reports the `sleep` that TERM killed ("Terminated") on stderr,
/// a second pipe whose order against stdout's "final" line the tee cannot know (seen under load).
const WRITER_BOT: &str = r#"#!/bin/sh
exec 2>/dev/null
mkdir -p "$STATE_DIR"
trap 'echo "{\"final\":$i}" > "$STATE_DIR/n.json"; echo "final $i"; exit 0' TERM
i=0
while true; do
  i=$((i + 1))
  echo "{\"n\":$i}" > "$STATE_DIR/n.json"
  echo "line $i"
  sleep 0.005
done
"#;

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_write_loses_nothing() {
    let mut sb = Sandbox::s3();
    sb.upload_code(&[("bot.sh", WRITER_BOT, 0o755)]).await;
    let child = sb.spawn();
    let log = sb.path("the0/logs/bot.log");
    eventually(Duration::from_secs(20), || std::fs::read_to_string(&log).ok().filter(|s| s.contains("line 50")))
        .expect("bot writing");
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "the bot's own exit code after TERM: {}", text(&out));

    let local = std::fs::read_to_string(&log).unwrap();
    let last = local.lines().last().unwrap().to_string();
    assert!(last.starts_with("final "), "the bot saw TERM and wrote a last line: {last}");
    let shipped: Vec<String> =
        sb.shipped_logs().await.iter().map(|r| r["message"].as_str().unwrap_or_default().to_string()).collect();
    let local_lines: Vec<&str> = local.lines().collect();
    assert_eq!(shipped, local_lines, "every line, in order, exactly once");
    let state = sb.shipped_state().await.expect("state");
    let n = std::fs::read_to_string(state.path().join(".the0-state/n.json")).unwrap();
    let want = std::fs::read_to_string(sb.path("state/.the0-state/n.json")).unwrap();
    assert_eq!(n, want, "the state written in the TERM handler is in storage");
    assert!(n.contains("final"), "{n}");
}

#[test]
fn bot_ignoring_sigterm_is_killed_after_grace_with_137() {
    let mut sb = Sandbox::local();
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    std::fs::write(sb.path("bot/bot.sh"), "#!/bin/sh\ntrap '' TERM\necho ready\nwhile true; do sleep 0.05; done\n")
        .unwrap();
    sb.set("THE0_STOP_GRACE_SEC", "2").set("IS_SCHEDULED", "true");
    let child = sb.spawn();
    let log = sb.path("the0/logs/bot.log");
    eventually(Duration::from_secs(10), || std::fs::read_to_string(&log).ok().filter(|s| s.contains("ready")))
        .expect("ready");
    let t0 = Instant::now();
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(30));
    let took = t0.elapsed();
    assert_eq!(out.status.code(), Some(137), "{}", text(&out));
    assert!(took >= Duration::from_secs(2), "waited the grace period: {took:?}");
    assert!(took < Duration::from_secs(10), "did not wait much longer: {took:?}");
    assert_eq!(std::fs::read_to_string(sb.path("the0/done")).unwrap(), "137", "done file written after the kill");
}

fn zombie_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim().to_string()) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == pid.to_string() {
            out.push(p);
        }
    }
    out
}

#[test]
fn orphaned_grandchildren_are_reaped() {
    let mut sb = Sandbox::local();
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    // Double fork: the grandchildren are orphaned at once and re-parented to the (sub)reaper.
    let script = "#!/bin/sh\nfor i in 1 2 3 4 5; do (sleep 0.1 &) ; done\necho spawned\nsleep 1.5\necho done\n";
    std::fs::write(sb.path("bot/bot.sh"), script).unwrap();
    sb.set("THE0_STOP_GRACE_SEC", "2");
    let child = sb.spawn();
    let pid = child.id();
    let log = sb.path("the0/logs/bot.log");
    eventually(Duration::from_secs(10), || std::fs::read_to_string(&log).ok().filter(|s| s.contains("spawned")))
        .expect("spawned");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(zombie_children(pid), Vec::<u32>::new(), "orphans were reaped by the executor");
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
