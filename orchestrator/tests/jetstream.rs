//! Ingest from a real nats-server with JetStream, the stream created exactly as the0's API creates
//! it (`THE0_EVENTS`: six subjects, limits retention, file storage, 7 days). The stream and its
//! durable consumer have fixed names, so the tests of this file take turns (one lock) and each
//! starts from a fresh stream.

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use common::*;
use serde_json::{json, Value};
use tokio::sync::Mutex;

static TURN: Mutex<()> = Mutex::const_new(());

const SUBJECTS: [&str; 6] = [
    "the0.bot.created",
    "the0.bot.updated",
    "the0.bot.deleted",
    "the0.bot-schedule.created",
    "the0.bot-schedule.updated",
    "the0.bot-schedule.deleted",
];

async fn js() -> (async_nats::Client, jetstream::Context) {
    let c = async_nats::connect(nats_url()).await.expect("connect to the test nats-server");
    let js = jetstream::new(c.clone());
    (c, js)
}

/// Deletes and re-creates `THE0_EVENTS` the way the0's API does.
async fn fresh_stream(js: &jetstream::Context) {
    let _ = js.delete_stream("THE0_EVENTS").await;
    js.create_stream(stream::Config {
        name: "THE0_EVENTS".into(),
        subjects: SUBJECTS.iter().map(|s| s.to_string()).collect(),
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(7 * 24 * 3600),
        ..Default::default()
    })
    .await
    .expect("create THE0_EVENTS");
}

async fn publish(js: &jetstream::Context, subject: &str, payload: &Value) {
    js.publish(subject.to_string(), payload.to_string().into()).await.expect("publish").await.expect("stream ack");
}

fn metric(m: &str, name: &str) -> u64 {
    m.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn events_drive_containers() {
    let _turn = TURN.lock().await;
    let (_c, js) = js().await;
    fresh_stream(&js).await;
    let inst = unique("js");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = nats_url();
    let o = Orch::start(dir.path(), &inst, &["--nats-url", &url], &[]).await;
    o.put_code("u/j/1", LOOP_BOT);

    // Publish → running is timed by `make bench-orchestrator`, not here (a timed test fails on a
    // loaded machine and proves nothing the benchmark does not).
    publish(&js, "the0.bot.created", &bot_payload("j1", "u/j/1", json!({"v": 1}))).await;
    o.wait_state("j1", "running", Duration::from_secs(60)).await;
    let first = running_container(&inst, "j1");

    // A redelivered/duplicate `created` is a no-op; `updated` with a new config replaces once.
    publish(&js, "the0.bot.created", &bot_payload("j1", "u/j/1", json!({"v": 9}))).await;
    publish(&js, "the0.bot.updated", &bot_payload("j1", "u/j/1", json!({"v": 2}))).await;
    let second = eventually(Duration::from_secs(15), || {
        let c = running_container(&inst, "j1");
        (c.len() == 1 && c != first).then_some(c)
    })
    .expect("replaced");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(running_container(&inst, "j1"), second, "replaced once");
    assert_eq!(o.api("GET", "/bots/j1", None).await.1["config"]["v"], 2);

    // Wrapped legacy payload, then config.enabled=false, then deleted.
    let wrapped = json!({"type": "bot.updated", "entity_id": "j1",
        "data": bot_payload("j1", "u/j/1", json!({"v": 2, "enabled": false})), "timestamp": "2026-01-01T00:00:00Z"});
    publish(&js, "the0.bot.updated", &wrapped).await;
    eventually(Duration::from_secs(15), || containers(&inst, None).is_empty().then_some(()))
        .expect("disabled -> removed");
    publish(&js, "the0.bot.updated", &bot_payload("j1", "u/j/1", json!({"v": 3}))).await;
    o.wait_state("j1", "running", Duration::from_secs(10)).await;
    // A local `disable` lasts until the0 speaks again: its next `updated`, even with the same
    // config, drops the local layer (the0 is the source of truth when connected).
    assert_eq!(o.api("POST", "/bots/j1/disable", None).await.0, 200);
    eventually(Duration::from_secs(15), || containers(&inst, None).is_empty().then_some(()))
        .expect("disabled here -> removed");
    publish(&js, "the0.bot.updated", &bot_payload("j1", "u/j/1", json!({"v": 3}))).await;
    o.wait_state("j1", "running", Duration::from_secs(10)).await;
    publish(&js, "the0.bot.deleted", &json!({"id": "j1", "config": {}})).await;
    eventually(Duration::from_secs(15), || containers(&inst, None).is_empty().then_some(()))
        .expect("deleted -> removed");

    // A malformed message is counted and terminated, and does not block the next one.
    js.publish("the0.bot.created", "{not json".into()).await.unwrap().await.unwrap();
    publish(&js, "the0.bot.created", &json!({"id": 12})).await;
    publish(&js, "the0.bot.created", &bot_payload("j2", "u/j/1", json!({}))).await;
    o.wait_state("j2", "running", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, m) = o.get_text("/metrics").await;
    assert_eq!(metric(&m, "the0_ingest_malformed_total"), 2, "{m}");
    let mut consumer: jetstream::consumer::PullConsumer =
        js.get_stream("THE0_EVENTS").await.unwrap().get_consumer("the0-runtime-bots").await.unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0), "everything acked or terminated");

    // An id that is not a safe name can only arrive by event: stored (nothing is lost), marked
    // failed with the reason, never turned into a container name or a path.
    publish(&js, "the0.bot.created", &bot_payload("../evil id", "u/j/1", json!({}))).await;
    let failed = eventually_async(Duration::from_secs(10), || async {
        let (_, all) = o.api("GET", "/bots", None).await;
        all.as_array()?.iter().find(|b| b["id"] == "../evil id" && b["status"]["state"] == "failed").cloned()
    })
    .await
    .expect("the unsafe id is listed as failed");
    assert!(failed["status"]["failure_reason"].as_str().unwrap_or_default().contains("not a safe name"), "{failed}");
    assert_eq!(containers(&inst, None).len(), 1, "only j2 runs");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_published_while_down_are_applied_at_start() {
    let _turn = TURN.lock().await;
    let (_c, js) = js().await;
    fresh_stream(&js).await;
    let inst = unique("jd");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    // Published before any orchestrator exists.
    publish(&js, "the0.bot.created", &bot_payload("d1", "u/d/1", json!({}))).await;
    publish(&js, "the0.bot.created", &bot_payload("d2", "u/d/1", json!({}))).await;
    publish(&js, "the0.bot.deleted", &json!({"id": "d2"})).await;
    let url = nats_url();
    let o = Orch::start(dir.path(), &inst, &["--nats-url", &url], &[]).await;
    o.put_code("u/d/1", LOOP_BOT);
    o.wait_state("d1", "running", Duration::from_secs(15)).await;
    assert_eq!(o.api("GET", "/bots/d2", None).await.0, 404);
    o.stop().await;
    // Down again: an update is waiting when it comes back.
    publish(&js, "the0.bot.updated", &bot_payload("d1", "u/d/1", json!({"v": 2}))).await;
    let before = running_container(&inst, "d1");
    let o = Orch::start(dir.path(), &inst, &["--nats-url", &url], &[]).await;
    eventually(Duration::from_secs(15), || {
        let c = running_container(&inst, "d1");
        (c.len() == 1 && c != before).then_some(())
    })
    .expect("update applied after start");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_stream_core_nats_queue_group_is_used() {
    let _turn = TURN.lock().await;
    let (c, js) = js().await;
    let _ = js.delete_stream("THE0_EVENTS").await;
    let inst = unique("jc");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let url = nats_url();
    let o = Orch::start(dir.path(), &inst, &["--nats-url", &url], &[]).await;
    o.put_code("u/c/1", LOOP_BOT);
    let payload = bot_payload("c1", "u/c/1", json!({})).to_string();
    // Core subscriptions only see what is sent after they exist: publish until it lands.
    eventually_async(Duration::from_secs(15), || {
        let (c, p) = (c.clone(), payload.clone());
        let o = &o;
        async move {
            let _ = c.publish("the0.bot.created", p.into()).await;
            let _ = c.flush().await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            (o.api("GET", "/bots/c1", None).await.0 == 200).then_some(())
        }
    })
    .await
    .expect("core NATS event applied");
    o.wait_state("c1", "running", Duration::from_secs(10)).await;
    o.stop().await;
}

fn spawn_orchestrator(data: &std::path::Path, inst: &str) -> KillOnDrop {
    let mut cmd = orchestrator_cmd(data, inst, "127.0.0.1:0", "127.0.0.1:0");
    cmd.arg("serve").env("NATS_URL", nats_url()).stdout(std::process::Stdio::null());
    KillOnDrop(cmd.spawn().expect("spawn orchestrator"))
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_converging_50_bots_then_restart_gives_exactly_50() {
    let _turn = TURN.lock().await;
    let (_c, js) = js().await;
    fresh_stream(&js).await;
    let inst = unique("k9");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("objects/custom-bots/u/k/1");
    std::fs::create_dir_all(code.parent().unwrap()).unwrap();
    std::fs::write(&code, zip_script(LOOP_BOT)).unwrap();
    for i in 0..50 {
        publish(&js, "the0.bot.created", &bot_payload(&format!("k{i:02}"), "u/k/1", json!({"i": i}))).await;
    }
    let mut child = spawn_orchestrator(dir.path(), &inst);
    let partial = eventually(Duration::from_secs(60), || {
        let n = containers(&inst, Some("running")).len();
        (n >= 10).then_some(n)
    })
    .expect("converging");
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    let running_before: Vec<String> = containers(&inst, Some("running"));
    assert!(running_before.len() < 50, "killed in the middle ({partial} running then)");
    let _child = spawn_orchestrator(dir.path(), &inst);
    eventually(Duration::from_secs(90), || (containers(&inst, Some("running")).len() == 50).then_some(()))
        .unwrap_or_else(|| panic!("{} running", containers(&inst, Some("running")).len()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = containers(&inst, None);
    let running = containers(&inst, Some("running"));
    assert_eq!((all.len(), running.len()), (50, 50), "exactly 50, none duplicated, no leftovers");
    let ids = docker(
        &[&["ps", "--filter", &format!("label=runtime.instance={inst}"), "--format", "{{.Label \"runtime.id\"}}"][..]]
            .concat(),
    );
    let mut bots: Vec<&str> = ids.lines().collect();
    bots.sort();
    bots.dedup();
    assert_eq!(bots.len(), 50, "one container per bot");
    for c in &running_before {
        assert!(running.contains(c), "container {c} running before the kill was restarted needlessly");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schedule_events_published_while_down_are_applied() {
    let _turn = TURN.lock().await;
    let (_c, js) = js().await;
    fresh_stream(&js).await;
    let inst = unique("js");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let every2 = json!({"schedule": "*/2 * * * * *"});
    // Published before any orchestrator exists: one good, one without a schedule, one wrapped.
    publish(&js, "the0.bot-schedule.created", &bot_payload("s1", "u/s/1", every2.clone())).await;
    publish(&js, "the0.bot-schedule.created", &bot_payload("s2", "u/s/1", json!({}))).await;
    let wrapped = json!({"type": "x", "entity_id": "s3", "data": bot_payload("s3", "u/s/1", every2.clone())});
    publish(&js, "the0.bot-schedule.created", &wrapped).await;
    // A realtime event in between: the two consumers keep separate cursors.
    publish(&js, "the0.bot.created", &bot_payload("r1", "u/s/1", json!({}))).await;
    let url = nats_url();
    let o = Orch::start(dir.path(), &inst, &["--nats-url", &url], &[]).await;
    o.put_code("u/s/1", "#!/bin/sh\necho scheduled-run\n");
    eventually_async(Duration::from_secs(20), || async {
        let (_, v) = o.api("GET", "/bots/s1/runs", None).await;
        v.as_array().is_some_and(|r| r.iter().any(|r| r["outcome"] == "succeeded")).then_some(())
    })
    .await
    .expect("the schedule published while down runs");
    assert_eq!(o.api("GET", "/bots/s2", None).await.0, 404, "no schedule: dropped");
    assert_eq!(o.api("GET", "/bots/s3", None).await.0, 404, "schedules are direct only");
    o.wait_state("r1", "running", Duration::from_secs(10)).await;
    let (_, m) = o.get_text("/metrics").await;
    assert_eq!(metric(&m, "the0_ingest_malformed_total"), 2, "{m}");
    // Deleted: no more runs, no containers.
    publish(&js, "the0.bot-schedule.deleted", &json!({"id": "s1", "config": {}})).await;
    eventually_async(Duration::from_secs(10), || async {
        (o.api("GET", "/bots/s1", None).await.0 == 404).then_some(())
    })
    .await
    .expect("deleted");
    let mut consumer: jetstream::consumer::PullConsumer =
        js.get_stream("THE0_EVENTS").await.unwrap().get_consumer("the0-runtime-schedules").await.unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0), "everything acked or terminated");
    o.stop().await;
}
