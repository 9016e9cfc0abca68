//! A minimal core-NATS publisher for log chunks (docs/contract.md §2.8 "NATS", D10).
//!
//! The executor only ever publishes, so instead of a full client crate (too large for the static
//! binary's size budget) this speaks the text protocol over Tokio TCP: `INFO`, `CONNECT`, `PUB`,
//! `PING`/`PONG`, `-ERR`. [`Publisher::publish`] never blocks: it queues into a bounded buffer
//! that a background task writes out. That task connects, and reconnects forever with a wait that
//! doubles from 1 s to 8 s over a streak of failures ([`crate::backoff`]), rotating through the servers,
//! so a first connect failure no longer disables publishing (the original's defect). `tls://` URLs and servers that require TLS are spoken to over rustls (see
//! [`tls`] for the trusted roots); a certificate that does not verify is an error that is logged
//! and retried like any failed connection. Delivery is at most once, as core NATS.

mod conn;
mod proto;
mod servers;
pub mod tls;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use servers::{parse_servers, Auth, ServerAddr};

/// First wait between connection attempts; a connection that was up and broke is retried after it.
pub const RECONNECT_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between connection attempts (doubling from [`RECONNECT_FIRST`]): how late an
/// executor may notice that NATS is back. A fixed 1 s retry cost each bot whose NATS is
/// unreachable about 20 ms of CPU a minute (a third of a core at 1,000 bots, issue #17).
pub const RECONNECT_MAX: Duration = Duration::from_secs(8);
/// Queue bounds: beyond these, new messages are dropped (and counted).
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
pub const MAX_QUEUED_MSGS: usize = 4096;
/// Disconnected this long, the queue is discarded and new messages are dropped until reconnected:
/// a live tail of stale chunks is worth less than the memory (the store has every line).
pub const STALE_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("NATS_URL holds no NATS server")]
    NoServers,
    #[error("NATS server {server:?} in NATS_URL: {reason}")]
    BadServer { server: String, reason: String },
    #[error("the NATS publisher needs a Tokio runtime")]
    NoRuntime,
    #[error("NATS {server}: {what}: {source}")]
    Io { server: String, what: &'static str, source: std::io::Error },
    #[error("NATS {server}: {what} timed out")]
    Timeout { server: String, what: &'static str },
    #[error("NATS {server}: protocol error: {detail}")]
    Protocol { server: String, detail: String },
    #[error("NATS {server}: server error: {message}")]
    Server { server: String, message: String },
    #[error("NATS TLS: {reason}")]
    TlsConfig { reason: String },
    #[error("NATS {server}: {reason}")]
    TlsName { server: String, reason: String },
    #[error("NATS {server}: TLS handshake failed: {source}")]
    Tls { server: String, source: std::io::Error },
    #[error("NATS {server}: connection closed by the server")]
    Closed { server: String },
}

/// Counters of a [`Publisher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublisherStats {
    /// Messages written to a server.
    pub published: u64,
    /// Messages dropped: queue full, disconnected too long, too large, invalid subject, or left
    /// over at drain.
    pub dropped: u64,
    /// Messages waiting in the queue.
    pub queued: usize,
    pub connected: bool,
}

struct Msg {
    subject: String,
    payload: Bytes,
}

struct State {
    queue: VecDeque<Msg>,
    queued_bytes: usize,
    connected: bool,
    /// Since when no connection is up (start counts as a disconnection).
    down_since: Instant,
    closing: bool,
    disabled: bool,
    published: u64,
    dropped: u64,
    /// Whether the current run of drops was logged (reset when a message goes out).
    drop_logged: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn drop_msgs(&mut self, n: u64, why: &str) {
        self.dropped += n;
        if !self.drop_logged && n > 0 {
            self.drop_logged = true;
            crate::warn!("dropping NATS log chunks", reason = why, dropped_total = self.dropped);
        }
    }

    fn clear_queue(&mut self, why: &str) {
        let n = self.queue.len() as u64;
        self.queue.clear();
        self.queued_bytes = 0;
        self.drop_msgs(n, why);
    }

    fn pop(&mut self) -> Option<Msg> {
        let m = self.queue.pop_front()?;
        self.queued_bytes -= m.payload.len();
        Some(m)
    }
}

struct Inner {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

/// Publishes to core NATS from a background task; cheap to clone (clones share one connection).
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("stats", &self.stats()).finish()
    }
}

impl Publisher {
    /// Parses `url_list` (`NATS_URL`) and starts connecting in the background; never waits for a
    /// server. Fails only on an unusable list, or outside a Tokio runtime.
    pub fn start(url_list: &str) -> Result<Publisher, NatsError> {
        Self::start_with_roots(url_list, tls::RootSource::from_env())
    }

    /// As [`Publisher::start`], trusting `roots` for TLS instead of the environment's.
    pub fn start_with_roots(url_list: &str, roots: tls::RootSource) -> Result<Publisher, NatsError> {
        let servers = parse_servers(url_list)?;
        let rt = tokio::runtime::Handle::try_current().map_err(|_| NatsError::NoRuntime)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued_bytes: 0,
                connected: false,
                down_since: Instant::now(),
                closing: false,
                disabled: false,
                published: 0,
                dropped: 0,
                drop_logged: false,
            }),
            wake: Notify::new(),
        });
        let task = rt.spawn(conn::run(shared.clone(), servers, roots));
        Ok(Publisher { inner: Arc::new(Inner { shared, task: Mutex::new(Some(task)) }) })
    }

    /// Queues one message without blocking. Dropped (and counted) when the queue is full, when no
    /// server has been reachable for [`STALE_AFTER`], after [`Publisher::drain`], or when the
    /// subject is not a valid NATS subject.
    pub fn publish(&self, subject: &str, payload: Bytes) {
        let shared = &self.inner.shared;
        let mut st = shared.lock();
        if st.disabled || st.closing {
            return st.drop_msgs(1, "publishing is disabled or draining");
        }
        if !proto::valid_subject(subject) {
            return st.drop_msgs(1, "invalid subject");
        }
        if !st.connected && st.down_since.elapsed() >= STALE_AFTER {
            st.clear_queue("no NATS server reachable");
            return st.drop_msgs(1, "no NATS server reachable");
        }
        if st.queue.len() >= MAX_QUEUED_MSGS || st.queued_bytes + payload.len() > MAX_QUEUED_BYTES {
            return st.drop_msgs(1, "publish queue full");
        }
        st.queued_bytes += payload.len();
        st.queue.push_back(Msg { subject: subject.to_string(), payload });
        drop(st);
        shared.wake.notify_one();
    }

    pub fn stats(&self) -> PublisherStats {
        let st = self.inner.shared.lock();
        PublisherStats { published: st.published, dropped: st.dropped, queued: st.queue.len(), connected: st.connected }
    }

    /// Writes out what is queued (connecting if needed) and waits for the server to confirm it
    /// with a PONG, then closes; gives up at `timeout`, counting what is left as dropped. Stops
    /// publishing for every clone.
    pub async fn drain(self, timeout: Duration) {
        let shared = self.inner.shared.clone();
        shared.lock().closing = true;
        shared.wake.notify_one();
        let task = self.inner.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut task) = task {
            if tokio::time::timeout(timeout, &mut task).await.is_err() {
                task.abort();
                crate::warn!("NATS drain timed out", after = format!("{timeout:?}"));
            }
        }
        let mut st = shared.lock();
        st.clear_queue("left over at drain");
        crate::info!("NATS publisher closed", published = st.published, dropped = st.dropped);
    }
}
