//! Restart safety of scheduled runs, through the built binary: `kill -9` of the orchestrator in
//! the middle of a run, then a restart: the run keeps going, is adopted (awaited, recorded from
//! its own exit code and logs, removed) and is not started a second time.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};

fn spawn(data: &std::path::Path, inst: &str, admin: &str) -> KillOnDrop {
    let mut cmd = orchestrator_cmd(data, inst, admin, "127.0.0.1:0");
    cmd.arg("serve").stdout(std::process::Stdio::null());
    KillOnDrop(cmd.spawn().expect("spawn orchestrator"))
}

async fn api(cli: &the0_orchestrator::config::Cli, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
    let m = hyper::Method::from_bytes(method.as_bytes()).unwrap();
    let (s, b) = the0_orchestrator::client::admin_request(cli, m, path, body).await.ok()?;
    (s == 200).then(|| serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_run_then_restart_adopts_the_run_and_never_repeats_it() {
    let inst = unique("sr");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let admin = free_addr();
    let mut cli = test_cli(dir.path(), &inst, &[], &[]);
    cli.admin_addr = admin.clone();
    let code = dir.path().join("objects/custom-bots/u/r/1");
    std::fs::create_dir_all(code.parent().unwrap()).unwrap();
    std::fs::write(&code, zip_script("#!/bin/sh\necho run-start\nsleep 8\necho run-end\nexit 7\n")).unwrap();
    let mut child = spawn(dir.path(), &inst, &admin);
    eventually_async(Duration::from_secs(15), || api(&cli, "GET", "/bots", None)).await.expect("admin API up");
    // Fires once a minute, 3 s from now.
    let sec = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3) % 60;
    let payload = bot_payload("r1", "u/r/1", json!({"schedule": format!("TZ=UTC {sec} * * * * *")}));
    api(&cli, "PUT", "/bots/r1", Some(payload)).await.expect("put");
    let running = eventually(Duration::from_secs(15), || {
        let c = containers(&inst, Some("running"));
        (c.len() == 1).then_some(c)
    })
    .expect("the run started");
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    assert_eq!(containers(&inst, Some("running")), running, "the run outlives the orchestrator");

    let _child = spawn(dir.path(), &inst, &admin);
    let runs = eventually_async(Duration::from_secs(30), || async {
        let v = api(&cli, "GET", "/bots/r1/runs", None).await?;
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
    let st = api(&cli, "GET", "/bots/r1", None).await.unwrap();
    let next = the0_orchestrator::docker::parse_rfc3339_ms(st["status"]["next_due_at"].as_str().unwrap()).unwrap();
    let due = the0_orchestrator::docker::parse_rfc3339_ms(r["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(next - due, 60_000, "the next due time was saved at dispatch: {st}");
}
