//! Event ingest from the0's NATS (CONTRACT §5.1, D22): a durable JetStream pull consumer
//! `the0-runtime-bots` on `THE0_EVENTS` for `the0.bot.*`, acked only after the store commit, with
//! bounded redelivery and backoff; a malformed message is logged (never its payload above DEBUG),
//! counted and terminated. Messages are applied one at a time, in stream order, and the stream
//! sequence is stored with each change so a redelivered one is applied once. If the stream does
//! not exist, core NATS with queue group `runtime`, as the original.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;

use crate::log;
use crate::metrics::Metrics;
use crate::model::{parse_payload, Change};
use crate::store::{Mode, Store};

pub const STREAM: &str = "THE0_EVENTS";
pub const DURABLE: &str = "the0-runtime-bots";
pub const SUBJECTS: &str = "the0.bot.*";
pub const QUEUE_GROUP: &str = "runtime";
/// Deliveries before a message that keeps failing is given up (D22).
pub const MAX_DELIVER: i64 = 10;

/// What a subject asks for: `(deleted, mode)`; `None` for subjects that are not bot events.
pub fn kind(subject: &str) -> Option<(bool, Mode)> {
    match subject.strip_prefix("the0.bot.")? {
        "created" => Some((false, Mode::Create)),
        "updated" => Some((false, Mode::Update)),
        "deleted" => Some((true, Mode::Put)),
        _ => None,
    }
}

/// Outcome of one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Skipped,
    Malformed(String),
    Failed(String),
}

/// Parses and applies one event; pure apart from the store.
pub fn handle(store: &Store, subject: &str, payload: &[u8], seq: Option<u64>) -> Outcome {
    let Some((deleted, mode)) = kind(subject) else {
        return Outcome::Malformed(format!("unexpected subject {subject}"));
    };
    let change = match parse_payload(payload, deleted) {
        Ok(c) => c,
        Err(e) => return Outcome::Malformed(e.to_string()),
    };
    let id = match &change {
        Change::Upsert(r) => r.id.clone(),
        Change::Delete(id) => id.clone(),
    };
    match store.apply(&change, mode, seq.map(|s| (STREAM, s))) {
        Ok(true) => {
            log::info("event applied", &[("subject", &subject), ("bot_id", &id)]);
            Outcome::Applied
        }
        Ok(false) => Outcome::Skipped,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn count(m: &Metrics, o: &Outcome, subject: &str, payload: &[u8]) {
    match o {
        Outcome::Applied => Metrics::inc(&m.ingest_applied),
        Outcome::Skipped => Metrics::inc(&m.ingest_skipped),
        Outcome::Malformed(e) => {
            Metrics::inc(&m.ingest_malformed);
            log::warn("malformed event dropped", &[("subject", &subject), ("error", e), ("bytes", &payload.len())]);
            log::debug("malformed event payload", &[("payload", &String::from_utf8_lossy(payload))]);
        }
        Outcome::Failed(e) => {
            Metrics::inc(&m.ingest_errors);
            log::error("event not applied", &[("subject", &subject), ("error", e)]);
        }
    }
}

/// Runs until `shutdown`, reconnecting by itself.
pub async fn run(url: String, store: Store, metrics: Arc<Metrics>, shutdown: impl Future<Output = ()>) {
    tokio::select! {
        _ = shutdown => {}
        _ = consume(url, store, metrics) => {}
    }
}

async fn consume(url: String, store: Store, metrics: Arc<Metrics>) {
    let client = loop {
        let opts = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None);
        match opts.connect(url.as_str()).await {
            Ok(c) => break c,
            Err(e) => {
                log::warn("nats connect failed", &[("error", &e)]);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let js = jetstream::new(client.clone());
    loop {
        match js.get_stream(STREAM).await {
            Ok(stream) => {
                if let Err(e) = jetstream_loop(&stream, &store, &metrics).await {
                    log::warn("jetstream consumer interrupted", &[("error", &e)]);
                }
            }
            Err(e) if is_not_found(&e) => {
                log::warn(
                    "stream THE0_EVENTS not found: falling back to core NATS (events sent while down are lost)",
                    &[],
                );
                core_loop(&client, &store, &metrics).await;
            }
            Err(e) => log::warn("jetstream unavailable", &[("error", &e)]),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn consumer_config() -> pull::Config {
    pull::Config {
        durable_name: Some(DURABLE.into()),
        filter_subject: SUBJECTS.into(),
        deliver_policy: jetstream::consumer::DeliverPolicy::All,
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_deliver: MAX_DELIVER,
        backoff: [1, 2, 5, 10, 30].map(Duration::from_secs).to_vec(),
        ..Default::default()
    }
}

async fn jetstream_loop(stream: &jetstream::stream::Stream, store: &Store, metrics: &Metrics) -> Result<(), String> {
    let consumer: jetstream::consumer::PullConsumer =
        stream.get_or_create_consumer(DURABLE, consumer_config()).await.map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    log::info("consuming THE0_EVENTS", &[("durable", &DURABLE)]);
    while let Some(msg) = messages.next().await {
        let msg = msg.map_err(|e| e.to_string())?;
        let (seq, delivered) = match msg.info() {
            Ok(i) => (i.stream_sequence, i.delivered),
            Err(e) => return Err(e.to_string()),
        };
        let subject = msg.subject.to_string();
        let outcome = handle(store, &subject, &msg.payload, Some(seq));
        count(metrics, &outcome, &subject, &msg.payload);
        let ack = match &outcome {
            Outcome::Applied | Outcome::Skipped => msg.ack().await,
            Outcome::Malformed(_) => msg.ack_with(AckKind::Term).await,
            Outcome::Failed(_) if delivered >= MAX_DELIVER => msg.ack_with(AckKind::Term).await,
            Outcome::Failed(_) => {
                let delay = Duration::from_secs(1 << delivered.clamp(0, 5));
                let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
                // Stop here so later messages are not applied before this one (stream order).
                return Err("store write failed; will retry".into());
            }
        };
        if let Err(e) = ack {
            log::warn("ack failed (the event will be redelivered and skipped)", &[("error", &e)]);
        }
    }
    Ok(())
}

async fn core_loop(client: &async_nats::Client, store: &Store, metrics: &Metrics) {
    let mut sub = match client.queue_subscribe(SUBJECTS, QUEUE_GROUP.into()).await {
        Ok(s) => s,
        Err(e) => {
            log::warn("subscribe failed", &[("error", &e)]);
            return;
        }
    };
    let _ = client.flush().await;
    while let Some(msg) = sub.next().await {
        let subject = msg.subject.to_string();
        let outcome = handle(store, &subject, &msg.payload, None);
        count(metrics, &outcome, &subject, &msg.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(kind("the0.bot.created"), Some((false, Mode::Create)));
        assert_eq!(kind("the0.bot.updated"), Some((false, Mode::Update)));
        assert_eq!(kind("the0.bot.deleted"), Some((true, Mode::Put)));
        assert_eq!(kind("the0.bot-schedule.created"), None);
        assert_eq!(kind("the0.bot.logs"), None);
    }

    #[test]
    fn handle_applies_once_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let p = br#"{"id":"b1","config":{},"custom":{"filePath":"k"}}"#;
        assert_eq!(handle(&s, "the0.bot.created", p, Some(1)), Outcome::Applied);
        assert_eq!(handle(&s, "the0.bot.created", p, Some(1)), Outcome::Skipped);
        assert!(matches!(handle(&s, "the0.bot.updated", b"{oops", Some(2)), Outcome::Malformed(_)));
        assert!(
            matches!(handle(&s, "the0.bot.updated", br#"{"id":5}"#, Some(3)), Outcome::Malformed(e) if e.contains("`id`"))
        );
        assert_eq!(handle(&s, "the0.bot.deleted", br#"{"id":"b1"}"#, Some(4)), Outcome::Applied);
        assert!(s.get("b1").unwrap().is_none());
    }
}
