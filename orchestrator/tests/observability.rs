//! The built orchestrator's logs and metrics as an operator's tools read them: its stdout is JSON
//! lines with the keys log pipelines have always read (`time`, `level`, `msg`, the event's fields,
//! every value a string), and `/metrics` of the running process shows the latency histograms'
//! `_bucket` lines, the bot's own series (gone once the bot is removed) and the process figures.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn bucket_count(m: &str, name: &str, le: &str) -> Option<u64> {
    let head = format!("{name}_bucket{{le=\"{le}\"}} ");
    m.lines().find_map(|l| l.strip_prefix(&head)).and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_and_metrics_of_a_running_orchestrator() {
    let host = BinaryHost::new("obs");
    host.put_code("u/obs/1", "#!/bin/sh\nexec sleep 100000\n");
    let health = free_addr();
    let out = host.dir.path().join("stdout.log");
    let mut cmd = orchestrator_cmd(host.dir.path(), &host.inst, &host.admin, &health);
    cmd.arg("serve").env_remove("RUST_LOG").env("LOG_LEVEL", "INFO");
    cmd.stdout(std::fs::File::create(&out).expect("stdout file"));
    let _child = KillOnDrop(cmd.spawn().expect("spawn orchestrator"));
    eventually_async(Duration::from_secs(30), || host.api("GET", "/bots", None)).await.expect("admin API up");

    host.api("PUT", "/bots/ob1", Some(bot_payload("ob1", "u/obs/1", json!({})))).await.expect("bot stored");
    eventually_async(Duration::from_secs(30), || async {
        host.api("GET", "/bots/ob1", None).await.filter(|v| v["status"]["state"] == "running")
    })
    .await
    .expect("bot running");

    // The start is counted once the reconciler has recorded it.
    let m = eventually_async(Duration::from_secs(10), || async {
        let (s, m) = http_get(&health, "/metrics").await;
        (s == 200 && m.contains("the0_bot_state{bot_id=\"ob1\",state=\"running\"} 1")).then_some(m)
    })
    .await
    .expect("the bot's state series says running");
    for h in [
        "the0_container_start_duration_seconds",
        "the0_event_to_running_seconds",
        "the0_reconcile_duration_seconds",
        "the0_docker_call_duration_seconds",
    ] {
        assert!(bucket_count(&m, h, "+Inf").is_some_and(|n| n >= 1), "{h} has no observation:\n{m}");
    }
    assert_eq!(bucket_count(&m, "the0_container_start_duration_seconds", "+Inf"), Some(1), "{m}");
    assert_eq!(bucket_count(&m, "the0_event_to_running_seconds", "+Inf"), Some(1), "{m}");
    assert!(bucket_count(&m, "the0_container_start_duration_seconds", "0.05").is_some(), "{m}");
    assert!(m.contains("\nthe0_bot_recorded_restarts{bot_id=\"ob1\"} 0\n"), "{m}");
    for p in ["process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds "] {
        assert!(m.lines().any(|l| l.starts_with(p)), "{p}missing:\n{m}");
    }
    assert!(m.ends_with("# EOF\n"));

    // Removed: its series go with it.
    host.api("DELETE", "/bots/ob1", None).await.expect("bot removed");
    let m = eventually_async(Duration::from_secs(30), || async {
        let (_, m) = http_get(&health, "/metrics").await;
        (!m.contains("bot_id=\"ob1\"") && m.contains("\nthe0_container_stops_total 1\n")).then_some(m)
    })
    .await
    .expect("the bot's series are removed");
    assert_eq!(bucket_count(&m, "the0_event_to_running_seconds", "+Inf"), Some(1), "a delete starts nothing: {m}");

    // Logs: one JSON object a line, every value a string; "bot started" has exactly the keys it had
    // before tracing.
    let text = std::fs::read_to_string(&out).expect("stdout");
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    for l in &lines {
        let o = l.as_object().expect("an object");
        assert!(o.values().all(Value::is_string), "{l}");
        assert!(["INFO", "WARN", "ERROR"].contains(&o["level"].as_str().unwrap_or("")), "{l}");
        assert!(o.contains_key("time") && o.contains_key("msg"), "{l}");
    }
    let started = lines.iter().find(|l| l["msg"] == "bot started").unwrap_or_else(|| panic!("no start line:\n{text}"));
    let keys: BTreeSet<&str> = started.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["time", "level", "msg", "bot_id", "container"]), "{started}");
    assert_eq!(started["bot_id"], "ob1");
}
