//! Event ingest from the0's NATS (docs/contract.md §5.1, D22): one durable JetStream pull consumer per
//! [`Feed`] on `THE0_EVENTS` (`the0-runtime-bots` for `the0.bot.*`, `the0-runtime-schedules` for
//! `the0.bot-schedule.*`), each message acked only after the write to its [`Sink`] (the SQLite
//! store, or with `controller --desired-state configmaps` the ConfigMaps of `kube::cmstore`), with
//! bounded redelivery and backoff; a malformed message is logged (never its payload above DEBUG),
//! counted and terminated. Messages are applied one at a time, in stream order, and the stream
//! sequence is stored with each change so a redelivered one is applied once. If the stream does
//! not exist, core NATS with queue group `runtime`, as the original.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;

use crate::metrics::Metrics;
use crate::model::{parse_payload, Change};
use crate::store::{Mode, Store};

pub const STREAM: &str = "THE0_EVENTS";
pub const QUEUE_GROUP: &str = "runtime";

/// One kind of event: its durable consumer, subjects and payload rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feed {
    pub durable: &'static str,
    pub subjects: &'static str,
    prefix: &'static str,
    /// Key of this feed's stream-sequence cursor in the store (each consumer sees its own subset).
    cursor: &'static str,
    schedules: bool,
}

/// Live bots (`the0.bot.*`).
pub const BOTS: Feed = Feed {
    durable: "the0-runtime-bots",
    subjects: "the0.bot.*",
    prefix: "the0.bot.",
    cursor: STREAM,
    schedules: false,
};
/// Scheduled bots (`the0.bot-schedule.*`): direct payloads with a `config.schedule` only.
pub const SCHEDULES: Feed = Feed {
    durable: "the0-runtime-schedules",
    subjects: "the0.bot-schedule.*",
    prefix: "the0.bot-schedule.",
    cursor: "THE0_EVENTS/the0-runtime-schedules",
    schedules: true,
};
/// Deliveries before a message that keeps failing is given up (D22).
pub const MAX_DELIVER: i64 = 10;

/// What a subject of `feed` asks for: `(deleted, mode)`; `None` for subjects that are not its events.
pub fn kind(feed: &Feed, subject: &str) -> Option<(bool, Mode)> {
    match subject.strip_prefix(feed.prefix)? {
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
    /// The sink refused the change for good ([`SinkError::permanent`]): terminated, not retried.
    Refused(String),
    Failed(String),
}

/// Why a [`Sink`] did not apply a change.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    pub message: String,
    /// Redelivery cannot help (a bot id that cannot name a ConfigMap, a record too large for
    /// one): the message is terminated, not retried.
    pub permanent: bool,
}

/// Where ingested changes go: the SQLite store, or the ConfigMaps of Kubernetes mode
/// (`--desired-state configmaps`, `crate::kube::cmstore`). `apply` returns whether desired state
/// changed; `cursor` is the message's (cursor key, stream sequence), so that a redelivered or
/// older message is applied once at most. A message is acked only after `apply` returned `Ok`.
pub trait Sink: Clone + Send + Sync + 'static {
    fn apply(
        &self,
        change: &Change,
        mode: Mode,
        cursor: Option<(&'static str, u64)>,
    ) -> impl Future<Output = Result<bool, SinkError>> + Send;
}

impl Sink for Store {
    async fn apply(&self, change: &Change, mode: Mode, cursor: Option<(&'static str, u64)>) -> Result<bool, SinkError> {
        Store::apply(self, change, mode, cursor).map_err(|e| SinkError { message: e.to_string(), permanent: false })
    }
}

/// A message's change and mode, or why it is malformed.
fn parse(feed: &Feed, subject: &str, payload: &[u8]) -> Result<(Change, Mode), String> {
    let Some((deleted, mode)) = kind(feed, subject) else {
        return Err(format!("unexpected subject {subject}"));
    };
    let change = if feed.schedules {
        crate::schedule::payload::parse(payload, deleted).map_err(|e| e.to_string())
    } else {
        parse_payload(payload, deleted).map_err(|e| e.to_string())
    }?;
    Ok((change, mode))
}

fn outcome(subject: &str, change: &Change, applied: Result<bool, SinkError>) -> Outcome {
    let id = match change {
        Change::Upsert(r) => r.id.as_str(),
        Change::Delete(id) => id.as_str(),
    };
    match applied {
        Ok(true) => {
            tracing::info!(subject = %subject, bot_id = %id, "event applied");
            Outcome::Applied
        }
        Ok(false) => Outcome::Skipped,
        Err(e) if e.permanent => Outcome::Refused(format!("bot {id}: {e}")),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Parses one event and applies it to `sink`.
pub async fn handle<S: Sink>(sink: &S, feed: &Feed, subject: &str, payload: &[u8], seq: Option<u64>) -> Outcome {
    let (change, mode) = match parse(feed, subject, payload) {
        Ok(c) => c,
        Err(e) => return Outcome::Malformed(e),
    };
    let applied = Sink::apply(sink, &change, mode, seq.map(|s| (feed.cursor, s))).await;
    outcome(subject, &change, applied)
}

fn count(m: &Metrics, o: &Outcome, subject: &str, payload: &[u8]) {
    match o {
        Outcome::Applied => {
            m.ingest_applied.inc();
        }
        Outcome::Skipped => {
            m.ingest_skipped.inc();
        }
        Outcome::Malformed(e) => {
            m.ingest_malformed.inc();
            tracing::warn!(subject = %subject, error = %e, bytes = %payload.len(), "malformed event dropped");
            tracing::debug!(payload = %String::from_utf8_lossy(payload), "malformed event payload");
        }
        Outcome::Refused(e) => {
            m.ingest_errors.inc();
            tracing::error!(subject = %subject, error = %e, "event refused for good (terminated)");
        }
        Outcome::Failed(e) => {
            m.ingest_errors.inc();
            tracing::error!(subject = %subject, error = %e, "event not applied");
        }
    }
}

/// Consumes `feed` until `shutdown`, reconnecting by itself.
pub async fn run<S: Sink>(
    feed: Feed,
    url: String,
    store: S,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::select! {
        _ = shutdown => {}
        _ = consume(feed, url, store, metrics) => {}
    }
}

async fn consume<S: Sink>(feed: Feed, url: String, store: S, metrics: Arc<Metrics>) {
    let client = loop {
        let opts = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None);
        match opts.connect(url.as_str()).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "nats connect failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let js = jetstream::new(client.clone());
    loop {
        match js.get_stream(STREAM).await {
            Ok(stream) => {
                if let Err(e) = jetstream_loop(&feed, &stream, &store, &metrics).await {
                    tracing::warn!(error = %e, "jetstream consumer interrupted");
                }
            }
            Err(e) if is_not_found(&e) => {
                tracing::warn!(
                    "stream THE0_EVENTS not found: falling back to core NATS (events sent while down are lost)"
                );
                core_loop(&feed, &client, &store, &metrics).await;
            }
            Err(e) => tracing::warn!(error = %e, "jetstream unavailable"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(j)
        if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn consumer_config(feed: &Feed) -> pull::Config {
    pull::Config {
        durable_name: Some(feed.durable.into()),
        filter_subject: feed.subjects.into(),
        deliver_policy: jetstream::consumer::DeliverPolicy::All,
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(30),
        max_deliver: MAX_DELIVER,
        backoff: [1, 2, 5, 10, 30].map(Duration::from_secs).to_vec(),
        ..Default::default()
    }
}

/// Why a JetStream consumer loop stopped (it is then set up again).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Nats(Box<dyn std::error::Error + Send + Sync>),
    #[error("store write failed; will retry")]
    StoreWrite,
}

fn nats(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> IngestError {
    IngestError::Nats(e.into())
}

async fn jetstream_loop<S: Sink>(
    feed: &Feed,
    stream: &jetstream::stream::Stream,
    store: &S,
    metrics: &Metrics,
) -> Result<(), IngestError> {
    let consumer: jetstream::consumer::PullConsumer =
        stream.get_or_create_consumer(feed.durable, consumer_config(feed)).await.map_err(nats)?;
    let mut messages = consumer.messages().await.map_err(nats)?;
    tracing::info!(durable = %feed.durable, "consuming THE0_EVENTS");
    while let Some(msg) = messages.next().await {
        let msg = msg.map_err(nats)?;
        let (seq, delivered) = match msg.info() {
            Ok(i) => (i.stream_sequence, i.delivered),
            Err(e) => return Err(nats(e)),
        };
        let subject = msg.subject.to_string();
        let outcome = handle(store, feed, &subject, &msg.payload, Some(seq)).await;
        count(metrics, &outcome, &subject, &msg.payload);
        let ack = match &outcome {
            Outcome::Applied | Outcome::Skipped => msg.ack().await,
            Outcome::Malformed(_) | Outcome::Refused(_) => msg.ack_with(AckKind::Term).await,
            Outcome::Failed(_) if delivered >= MAX_DELIVER => msg.ack_with(AckKind::Term).await,
            Outcome::Failed(_) => {
                let delay = Duration::from_secs(1 << delivered.clamp(0, 5));
                let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
                // Stop here so later messages are not applied before this one (stream order).
                return Err(IngestError::StoreWrite);
            }
        };
        if let Err(e) = ack {
            tracing::warn!(error = %e, "ack failed (the event will be redelivered and skipped)");
        }
    }
    Ok(())
}

async fn core_loop<S: Sink>(feed: &Feed, client: &async_nats::Client, store: &S, metrics: &Metrics) {
    let mut sub = match client.queue_subscribe(feed.subjects, QUEUE_GROUP.into()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "subscribe failed");
            return;
        }
    };
    let _ = client.flush().await;
    while let Some(msg) = sub.next().await {
        let subject = msg.subject.to_string();
        let outcome = handle(store, feed, &subject, &msg.payload, None).await;
        count(metrics, &outcome, &subject, &msg.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(kind(&BOTS, "the0.bot.created"), Some((false, Mode::Create)));
        assert_eq!(kind(&BOTS, "the0.bot.updated"), Some((false, Mode::Update)));
        assert_eq!(kind(&BOTS, "the0.bot.deleted"), Some((true, Mode::Put)));
        assert_eq!(kind(&BOTS, "the0.bot-schedule.created"), None);
        assert_eq!(kind(&BOTS, "the0.bot.logs"), None);
        assert_eq!(kind(&SCHEDULES, "the0.bot-schedule.created"), Some((false, Mode::Create)));
        assert_eq!(kind(&SCHEDULES, "the0.bot-schedule.updated"), Some((false, Mode::Update)));
        assert_eq!(kind(&SCHEDULES, "the0.bot-schedule.deleted"), Some((true, Mode::Put)));
        assert_eq!(kind(&SCHEDULES, "the0.bot.created"), None);
    }

    #[tokio::test]
    async fn handle_applies_once_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let p = br#"{"id":"b1","config":{},"custom":{"filePath":"k"}}"#;
        assert_eq!(handle(&s, &BOTS, "the0.bot.created", p, Some(1)).await, Outcome::Applied);
        assert_eq!(handle(&s, &BOTS, "the0.bot.created", p, Some(1)).await, Outcome::Skipped);
        assert!(matches!(handle(&s, &BOTS, "the0.bot.updated", b"{oops", Some(2)).await, Outcome::Malformed(_)));
        assert!(
            matches!(handle(&s, &BOTS, "the0.bot.updated", br#"{"id":5}"#, Some(3)).await, Outcome::Malformed(e) if e.contains("`id`"))
        );
        assert_eq!(handle(&s, &BOTS, "the0.bot.deleted", br#"{"id":"b1"}"#, Some(4)).await, Outcome::Applied);
        assert!(s.get("b1").unwrap().is_none());
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::*;

    #[tokio::test]
    async fn schedule_events_have_their_own_cursor_and_rules() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let bot = br#"{"id":"b1","config":{},"custom":{"filePath":"k"}}"#;
        let sched = br#"{"id":"s1","config":{"schedule":"* * * * *"},"custom":{"filePath":"k"}}"#;
        // Stream sequences interleave across the two consumers: each keeps its own cursor.
        assert_eq!(handle(&s, &BOTS, "the0.bot.created", bot, Some(5)).await, Outcome::Applied);
        assert_eq!(handle(&s, &SCHEDULES, "the0.bot-schedule.created", sched, Some(3)).await, Outcome::Applied);
        assert_eq!(handle(&s, &SCHEDULES, "the0.bot-schedule.created", sched, Some(3)).await, Outcome::Skipped);
        assert!(matches!(
            handle(&s, &SCHEDULES, "the0.bot-schedule.created", br#"{"id":"s2","config":{}}"#, Some(4)).await,
            Outcome::Malformed(e) if e.contains("config.schedule")
        ));
        let upd = br#"{"id":"s1","config":{"schedule":"*/2 * * * *"},"custom":{"filePath":"k"}}"#;
        assert_eq!(handle(&s, &SCHEDULES, "the0.bot-schedule.updated", upd, Some(6)).await, Outcome::Applied);
        assert_eq!(s.get("s1").unwrap().unwrap().0.config["schedule"], "*/2 * * * *");
        assert_eq!(
            handle(&s, &SCHEDULES, "the0.bot-schedule.deleted", br#"{"id":"s1"}"#, Some(7)).await,
            Outcome::Applied
        );
        assert!(s.get("s1").unwrap().is_none() && s.get("b1").unwrap().is_some());
    }
}
