//! Update handovers (issue #15) against the real Docker engine and the built executor: a bot that
//! writes its state every 100 ms is updated and loses no write made before its old container
//! stopped, and its two processes never overlap (from the pids and start times it records in its
//! state, and from Docker's own clock: the old container's `die` before the new bot's start line);
//! an update whose new code cannot be fetched leaves the old bot running and says why.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::json;

/// Appends `w <pid> <start ticks> <n> <uptime>` to its state every 100 ms; on TERM, it finishes
/// the write under way (the trap only sets a flag: a trap run between the count and its write
/// would record an `n` never written), appends `end …` with its last `n`, and exits.
/// `/proc/uptime` and a process's start time (field 22 of its stat, in 1/100 s since boot) are the
/// host's clock in every container. The uptime is read with the
/// shell's own `read`: a child (`cut`) would be killed by the stop's TERM to the bot's group.
const WRITER: &str = r#"#!/bin/sh
mkdir -p "$STATE_DIR"
f="$STATE_DIR/writes.txt"
me="$$ $(cut -d' ' -f22 /proc/$$/stat)"
n=0
stop=0
trap 'stop=1' TERM
echo "writer $me up"
while [ "$stop" = 0 ]; do
  n=$((n + 1))
  read up _ < /proc/uptime
  echo "w $me $n $up" >> "$f"
  sleep 0.1
done
read up _ < /proc/uptime
echo "end $me $n $up" >> "$f"
"#;

/// One line of `writes.txt`.
#[derive(Debug, Clone, PartialEq)]
struct Write {
    end: bool,
    /// (pid, start ticks): which process wrote it.
    who: (u64, u64),
    n: u64,
    /// Host uptime in 1/100 s.
    at: u64,
}

fn parse_writes(text: &str) -> Vec<Write> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "line {l:?}");
            let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{s:?} in {l:?}"));
            let centis = |s: &str| {
                let (a, b) = s.split_once('.').unwrap_or((s, "0"));
                num(a) * 100 + num(&format!("{b:0<2}")[..2])
            };
            Write { end: f[0] == "end", who: (num(f[1]), num(f[2])), n: num(f[3]), at: centis(f[4]) }
        })
        .collect()
}

/// The bot's stored state archive, extracted: its `writes.txt`.
fn stored_writes(objects: &std::path::Path, bot: &str) -> String {
    let archive = objects.join("bot-state").join(bot).join("state.tar.gz");
    let out = tempfile::tempdir().unwrap();
    let st = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(out.path()).status().expect("tar");
    assert!(st.success(), "{} is a tar.gz", archive.display());
    std::fs::read_to_string(out.path().join(".the0-state/writes.txt")).expect("writes.txt in the state")
}

/// Nanoseconds since the epoch of an RFC 3339 time as Docker prints it.
fn rfc3339_ns(s: &str) -> i128 {
    let t = the0_contract::timefmt::parse_rfc3339(s).unwrap_or_else(|| panic!("not a time: {s:?}"));
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i128
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_loses_no_write_and_never_runs_two_bots() {
    let inst = unique("ho");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/w/1", WRITER);
    o.put(bot_payload("w", "u/w/1", json!({"v": 1}))).await;
    o.wait_state("w", "running", Duration::from_secs(60)).await;
    let old = running_container(&inst, "w");
    assert_eq!(old.len(), 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 1;

    o.put(bot_payload("w", "u/w/1", json!({"v": 2}))).await;
    let new = eventually(Duration::from_secs(60), || {
        let now = running_container(&inst, "w");
        (now.len() == 1 && now != old).then_some(now)
    })
    .expect("handed over")
    .remove(0);
    let want_name = format!("/the0-bot-w-{inst}");
    eventually(Duration::from_secs(10), || (docker(&["inspect", "-f", "{{.Name}}", &new]) == want_name).then_some(()))
        .expect("the successor took the bot's name");
    eventually(Duration::from_secs(20), || docker(&["logs", &new]).contains("writer ").then_some(()))
        .expect("the new bot runs");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Docker's log of the new container, read before it is removed.
    let out = Command::new("docker").args(["logs", "-t", &new]).output().expect("docker logs");
    // Stop it (final sync) to read everything both processes wrote.
    let (s, _) = o.api("POST", "/bots/w/disable", None).await;
    assert_eq!(s, 200);
    eventually(Duration::from_secs(30), || containers(&inst, None).is_empty().then_some(())).expect("stopped");

    let writes = parse_writes(&stored_writes(&o.objects(), "w"));
    let mut procs: Vec<(u64, u64)> = Vec::new();
    for w in &writes {
        if procs.last() != Some(&w.who) {
            assert!(!procs.contains(&w.who), "one process's writes are contiguous: {writes:#?}");
            procs.push(w.who);
        }
    }
    assert_eq!(procs.len(), 2, "two bot processes, one after the other: {procs:?}");
    for p in &procs {
        let mine: Vec<&Write> = writes.iter().filter(|w| w.who == *p).collect();
        let ns: Vec<u64> = mine.iter().filter(|w| !w.end).map(|w| w.n).collect();
        assert_eq!(ns, (1..=ns.len() as u64).collect::<Vec<_>>(), "no write lost of {p:?}");
        let end = mine.last().expect("writes");
        assert!(end.end && end.n == ns.len() as u64, "each stop was recorded after its last write: {end:?}");
    }
    let old_end = writes.iter().find(|w| w.who == procs[0] && w.end).unwrap().at;
    let new_start = procs[1].1;
    // Start times and uptime are the host's under runc; gVisor's kernel has its own clock.
    if !under_gvisor() {
        assert!(new_start >= old_end, "the new bot started ({new_start}) after the old one ended ({old_end})");
    }

    // Docker's view: the old container died before the new container's bot started.
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        &format!("container={}", old[0]),
        "--filter",
        "event=die",
        "--format",
        "{{.TimeNano}}",
    ]);
    let died: i128 = events.lines().next().and_then(|l| l.trim().parse().ok()).expect("the old container's die event");
    let logs = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let started = logs.lines().find(|l| l.contains("bot started")).expect("the executor's `bot started` line");
    let started_ns = rfc3339_ns(started.split_whitespace().next().unwrap());
    assert!(died < started_ns, "old died at {died}, new bot started at {started_ns}");
    let evs = o.api("GET", "/events?bot=w", None).await.1;
    assert!(evs.to_string().contains("released successor"), "{evs}");
    assert!(!evs.to_string().contains("plain exec"), "released through `runtime release --stdin`: {evs}");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_whose_code_cannot_be_fetched_leaves_the_old_bot_running() {
    let inst = unique("hf");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/f/1", LOOP_BOT);
    o.put(bot_payload("f", "u/f/1", json!({}))).await;
    o.wait_state("f", "running", Duration::from_secs(60)).await;
    let old = running_container(&inst, "f");
    // The new version's code object exists but is not a zip: the successor cannot fetch it.
    let broken = o.objects().join("custom-bots/u/f/2");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::fs::write(&broken, b"not a zip").unwrap();
    o.put(bot_payload("f", "u/f/2", json!({}))).await;
    let status = eventually_async(Duration::from_secs(60), || async {
        let s = o.status("f").await;
        s["failure_reason"].as_str().is_some_and(|r| r.contains("update failed")).then_some(s)
    })
    .await
    .expect("the failure is reported");
    let reason = status["failure_reason"].as_str().unwrap();
    assert!(reason.contains("old container keeps running") && reason.contains("code"), "{reason}");
    // The failed successor is removed (later tries back off and fail the same way).
    let next_name = format!("the0-bot-f-{inst}-next");
    eventually(Duration::from_secs(20), || {
        docker(&["ps", "-aq", "--filter", &format!("name=^{next_name}$")]).is_empty().then_some(())
    })
    .expect("the successor is removed");
    assert_eq!(docker(&["inspect", "-f", "{{.State.Running}}", &old[0]]), "true", "the old bot still runs");
    let st = o.status("f").await;
    assert_eq!(st["state"], "running", "{st}");
    assert!(
        st["container_id"].as_str().is_some_and(|c| c.starts_with(&old[0])),
        "the old container is the bot's: {st}"
    );
    let evs = o.api("GET", "/events?bot=f", None).await.1;
    assert!(evs.to_string().contains("start-failed"), "{evs}");
    o.stop().await;
}
