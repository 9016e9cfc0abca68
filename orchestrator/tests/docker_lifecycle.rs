//! The orchestrator against the real Docker engine, standalone (admin API, local storage): a bot
//! is started with the contract's hardened spec, replaced once on a config change,
//! stopped and removed when disabled or deleted, and each container sees only its own objects.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn inspect(id: &str) -> Value {
    let out = docker(&["inspect", id]);
    let v: Value = serde_json::from_str(&out).expect("docker inspect json");
    v[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_bot_runs_with_the_contract_spec() {
    let inst = unique("lc");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/b/1", LOOP_BOT);
    // How fast is a benchmark's question (`make bench-orchestrator`: publish → running), not a
    // test's: a loaded CI machine once took longer than the 2 s this test used to demand.
    o.put(bot_payload("b1", "u/b/1", json!({"symbol": "BTC"}))).await;
    let st = o.wait_state("b1", "running", Duration::from_secs(60)).await;
    let cs = running_container(&inst, "b1");
    assert_eq!(cs.len(), 1);
    let c = inspect(&cs[0]);
    assert_eq!(c["Name"], format!("/the0-bot-b1-{inst}"));
    assert_eq!(st["container"], format!("the0-bot-b1-{inst}"));
    let cfg = &c["Config"];
    let hc = &c["HostConfig"];
    assert_eq!(cfg["User"], "1000:1000");
    assert_eq!(cfg["WorkingDir"], "/tmp");
    assert_eq!(cfg["StopSignal"], "SIGTERM");
    assert_eq!(cfg["Labels"]["runtime.managed"], "true");
    assert_eq!(cfg["Labels"]["runtime.id"], "b1");
    assert_eq!(cfg["Labels"]["runtime.type"], "realtime");
    assert_eq!(cfg["Labels"]["runtime.entrypoint"], "bot.sh");
    assert_eq!(cfg["Labels"]["runtime.instance"], inst.as_str());
    assert_eq!(cfg["Labels"]["runtime.config-hash"].as_str().map(str::len), Some(16));
    assert_eq!(hc["ReadonlyRootfs"], true);
    assert_eq!(hc["CapDrop"], json!(["ALL"]));
    assert_eq!(hc["SecurityOpt"], json!(["no-new-privileges:true"]));
    assert_eq!(hc["Memory"], 512 * 1024 * 1024);
    assert_eq!(hc["CpuShares"], 512);
    assert_eq!(hc["ExtraHosts"], json!(["host.docker.internal:host-gateway"]));
    // Every tmpfs is sized (issue #10); the figures' formula has its table in limits_tests.rs.
    let sizes = the0_orchestrator::limits::tmpfs_sizes(512, None);
    assert_eq!(hc["Tmpfs"]["/bot"], format!("rw,exec,nosuid,nodev,uid=1000,gid=1000,size={}m", sizes.bot));
    for dir in ["/state", "/query", "/var/the0", "/tmp"] {
        assert!(hc["Tmpfs"][dir].as_str().is_some_and(|o| o.contains(",size=")), "{dir}: {}", hc["Tmpfs"]);
    }
    assert_eq!(hc["PidsLimit"], 512);
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    for want in [
        "BOT_ID=b1",
        "RUNTIME=gcc13",
        "ENTRYPOINT=bot.sh",
        "CODE_FILE=u/b/1",
        "BOT_TYPE=realtime",
        "THE0_STORAGE_DIR=/objects",
    ] {
        assert!(env.contains(&want.to_string()), "{want} in {env:?}");
    }
    assert!(env.contains(&r#"BOT_CONFIG={"symbol":"BTC"}"#.to_string()));
    // The bot really runs: its output is in the container log.
    let name = format!("the0-bot-b1-{inst}");
    eventually(Duration::from_secs(10), || docker(&["logs", &name]).contains("hello from b1").then_some(()))
        .unwrap_or_else(|| panic!("bot output missing: {}", docker(&["logs", &name])));
    assert_eq!(st["restarts"], 0);
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn config_change_replaces_once_disable_and_delete_remove() {
    let inst = unique("lc");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/b/1", LOOP_BOT);
    o.put(bot_payload("b2", "u/b/1", json!({"v": 1}))).await;
    o.wait_state("b2", "running", Duration::from_secs(10)).await;
    let first = running_container(&inst, "b2");
    assert_eq!(first.len(), 1);
    // Same payload again: nothing happens.
    o.put(bot_payload("b2", "u/b/1", json!({"v": 1}))).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(running_container(&inst, "b2"), first);
    // Changed config: replaced exactly once.
    o.put(bot_payload("b2", "u/b/1", json!({"v": 2}))).await;
    let second = eventually(Duration::from_secs(15), || {
        let now = running_container(&inst, "b2");
        (now.len() == 1 && now != first).then_some(now)
    })
    .expect("replaced");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(running_container(&inst, "b2"), second, "replaced once, not again");
    assert_eq!(containers(&inst, None).len(), 1, "the old container is removed");
    assert_eq!(o.status("b2").await["restarts"], 0, "a replacement is not a crash");
    // config.enabled = false: stopped and removed.
    o.put(bot_payload("b2", "u/b/1", json!({"v": 2, "enabled": false}))).await;
    eventually(Duration::from_secs(15), || containers(&inst, None).is_empty().then_some(())).expect("removed");
    assert_eq!(o.status("b2").await["state"], "disabled");
    // Enabled again, then deleted: removed.
    o.put(bot_payload("b2", "u/b/1", json!({"v": 2}))).await;
    o.wait_state("b2", "running", Duration::from_secs(10)).await;
    let (s, _) = o.api("DELETE", "/bots/b2", None).await;
    assert_eq!(s, 200);
    eventually(Duration::from_secs(15), || containers(&inst, None).is_empty().then_some(()))
        .expect("deleted bot removed");
    assert_eq!(o.api("GET", "/bots/b2", None).await.0, 404);
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_container_sees_only_its_own_objects() {
    let inst = unique("lc");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    let script = "#!/bin/sh\nmkdir -p \"$STATE_DIR\"\necho '{\"n\":1}' > \"$STATE_DIR/k.json\"\necho up\nwhile true; do sleep 1; done\n";
    o.put_code("u/x/1", script);
    o.put_code("u/y/1", script);
    o.put(bot_payload("bx", "u/x/1", json!({}))).await;
    o.put(bot_payload("by", "u/y/1", json!({}))).await;
    o.wait_state("bx", "running", Duration::from_secs(10)).await;
    o.wait_state("by", "running", Duration::from_secs(10)).await;
    let name = format!("the0-bot-bx-{inst}");
    let ls = docker(&["exec", &name, "sh", "-c", "find /objects 2>&1"]);
    assert!(ls.contains("/objects/custom-bots/u/x/1"), "{ls}");
    assert!(ls.contains("/objects/bot-state/bx"), "{ls}");
    assert!(!ls.contains("/by") && !ls.contains("u/y"), "another bot's objects are visible:\n{ls}");
    let w = docker(&["exec", &name, "sh", "-c", "echo x > /objects/custom-bots/u/x/1 2>&1 || echo denied"]);
    assert!(w.contains("denied") || w.contains("Read-only"), "code object is read-only: {w}");
    // Stopping syncs state into this bot's own directory.
    let (s, _) = o.api("DELETE", "/bots/bx", None).await;
    assert_eq!(s, 200);
    let archive = o.objects().join("bot-state/bx/state.tar.gz");
    eventually(Duration::from_secs(20), || archive.exists().then_some(())).expect("state archive written by the bot");
    o.stop().await;
}
