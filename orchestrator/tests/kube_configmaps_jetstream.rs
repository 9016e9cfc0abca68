//! `--desired-state configmaps` ingest from a real nats-server with JetStream (`THE0_TEST_NATS_URL`,
//! as `jetstream.rs`; no Docker) into the fake API server of `kube_fake`: two replicas, each with
//! its own client (door) and its own `ingest::run` on the shared durable consumer, land every
//! event as published, deletes published right behind their creates included (tombstones); a write that fails (injected 500s) is not acked and lands on
//! redelivery once the API server answers again.

mod common;
mod kube_fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use common::nats_url;
use kube_fake::FakeApi;
use serde_json::{json, Value};
use the0_orchestrator::ingest;
use the0_orchestrator::kube::client;
use the0_orchestrator::kube::cmstore::{ConfigMapStore, DATA_KEY};
use the0_orchestrator::metrics::Metrics;
use tokio::sync::watch;

const NS: &str = "the0";

async fn fresh_stream(js: &jetstream::Context) {
    let _ = js.delete_stream("THE0_EVENTS").await;
    js.create_stream(stream::Config {
        name: "THE0_EVENTS".into(),
        subjects: ["the0.bot.created", "the0.bot.updated", "the0.bot.deleted"].map(String::from).to_vec(),
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .expect("create THE0_EVENTS");
}

async fn publish(js: &jetstream::Context, subject: &str, payload: &Value) {
    js.publish(subject.to_string(), payload.to_string().into()).await.expect("publish").await.expect("stream ack");
}

fn payload(id: &str, v: i64) -> Value {
    json!({"id": id, "config": {"v": v}, "custom": {"filePath": "u/b/1.0.0"}})
}

fn config_of(api: &FakeApi, id: &str) -> Option<Value> {
    let cm = api.objects("", "configmaps", NS).remove(&format!("desired-{id}"))?;
    let d: Value = serde_json::from_str(cm["data"][DATA_KEY].as_str()?).ok()?;
    Some(d["config"].clone())
}

fn deleted(api: &FakeApi, id: &str) -> Option<bool> {
    let cm = api.objects("", "configmaps", NS).remove(&format!("desired-{id}"))?;
    let d: Value = serde_json::from_str(cm["data"][DATA_KEY].as_str()?).ok()?;
    Some(d["deleted"] == json!(true))
}

async fn until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ingest_every_event_and_a_failed_write_is_redelivered() {
    let c = async_nats::connect(nats_url()).await.expect("connect to the test nats-server");
    let js = jetstream::new(c.clone());
    fresh_stream(&js).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let api = FakeApi::start().await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for name in ["a", "b"] {
        let door = api.door().await;
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).expect("dir");
        let client = client::connect(Some(&door.kubeconfig(&sub, NS))).await.expect("client");
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(ingest::run(
            ingest::BOTS,
            nats_url(),
            ConfigMapStore::new(client, NS),
            Arc::new(Metrics::default()),
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
    }

    for i in 0..20 {
        publish(&js, "the0.bot.created", &payload(&format!("b{i}"), 1)).await;
    }
    // Published right behind the creates: the other replica may handle them first.
    publish(&js, "the0.bot.updated", &payload("b0", 2)).await;
    publish(&js, "the0.bot.deleted", &json!({"id": "b19"})).await;
    publish(&js, "the0.bot.deleted", &json!({"id": "b18"})).await;
    until("every event to land", 30, || {
        let live = (0..20).filter(|i| deleted(&api, &format!("b{i}")) == Some(false)).count();
        live == 18
            && deleted(&api, "b19") == Some(true)
            && deleted(&api, "b18") == Some(true)
            && config_of(&api, "b0") == Some(json!({"v": 2}))
    })
    .await;
    // Nothing more changes afterwards (no late create brings a deleted bot back).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((deleted(&api, "b19"), deleted(&api, "b18")), (Some(true), Some(true)));

    // The API server fails every ConfigMap create: the event is not acked, so it comes back.
    api.fail(Some(("configmaps", "create")));
    publish(&js, "the0.bot.created", &payload("late", 1)).await;
    until("the failed write to be tried", 10, || api.log().iter().any(|(v, _, n)| v == "create" && n.is_empty())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(config_of(&api, "late"), None);
    api.fail(None);
    until("the redelivery to land", 30, || config_of(&api, "late") == Some(json!({"v": 1}))).await;

    stop_tx.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
}
