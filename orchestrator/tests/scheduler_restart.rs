//! Restart safety of scheduled runs, through the built binary: `kill -9` of the orchestrator in
//! the middle of a run, then a restart: the run keeps going, is adopted (awaited, recorded from
//! its own exit code and logs, removed) and is not started a second time.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_run_then_restart_adopts_the_run_and_never_repeats_it() {
    let host = BinaryHost::new("sr");
    let inst = host.inst.clone();
    host.put_code("u/r/1", "#!/bin/sh\necho run-start\nsleep 8\necho run-end\nexit 7\n");
    let mut child = host.spawn(&[]);
    eventually_async(Duration::from_secs(15), || host.api("GET", "/bots", None)).await.expect("admin API up");
    // Fires once a minute, 3 s from now.
    let sec = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3) % 60;
    let payload = bot_payload("r1", "u/r/1", json!({"schedule": format!("TZ=UTC {sec} * * * * *")}));
    host.api("PUT", "/bots/r1", Some(payload)).await.expect("put");
    let running = eventually(Duration::from_secs(15), || {
        let c = containers(&inst, Some("running"));
        (c.len() == 1).then_some(c)
    })
    .expect("the run started");
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    assert_eq!(containers(&inst, Some("running")), running, "the run outlives the orchestrator");

    let _child = host.spawn(&[]);
    let runs = eventually_async(Duration::from_secs(30), || async {
        let v = host.api("GET", "/bots/r1/runs", None).await?;
        let runs = v.as_array()?.clone();
        runs.iter().all(|r| r["outcome"] != "running").then_some(runs)
    })
    .await
    .expect("the adopted run is recorded");
    assert_eq!(runs.len(), 1, "one run, not repeated: {runs:?}");
    let r = &runs[0];
    assert_eq!((r["outcome"].as_str(), r["exit_code"].as_i64()), (Some("failed"), Some(7)), "{r}");
    assert!(running[0].starts_with(&r["container_id"].as_str().unwrap()[..12]), "{r} vs {running:?}");
    // The bot's own lines, among the executor's JSON lines.
    let logs: Vec<&str> =
        r["logs"].as_array().unwrap().iter().filter_map(Value::as_str).filter(|l| l.starts_with("run-")).collect();
    assert_eq!(logs, vec!["run-start", "run-end"]);
    assert!(containers(&inst, None).is_empty(), "the adopted run's container is removed");
    let st = host.api("GET", "/bots/r1", None).await.unwrap();
    let next = the0_orchestrator::docker::parse_rfc3339_ms(st["status"]["next_due_at"].as_str().unwrap()).unwrap();
    let due = the0_orchestrator::docker::parse_rfc3339_ms(r["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(next - due, 60_000, "the next due time was saved at dispatch: {st}");
}
