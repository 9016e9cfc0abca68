//! A minimal core-NATS publisher for log chunks (CONTRACT §2.8 "NATS", D10).
//!
//! The executor only ever publishes, so instead of a full client crate (too large for the static
//! binary's size budget) this speaks the text protocol over Tokio TCP: `INFO`, `CONNECT`, `PUB`,
//! `PING`/`PONG`, `-ERR`. [`Publisher::publish`] never blocks: it queues into a bounded buffer
//! that a background task writes out. That task connects, and reconnects forever with a 1 s wait,
//! rotating through the servers, so a first connect failure no longer disables publishing (the
//! original's defect). TLS is not supported: a `tls://` URL is refused and a server requiring TLS
//! disables publishing, each with a clear error log. Delivery is at most once, as core NATS.

mod proto;
mod servers;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

pub use servers::{parse_servers, Auth, ServerAddr};

/// Wait between connection attempts.
pub const RECONNECT_WAIT: Duration = Duration::from_secs(1);
/// Bound on TCP connect and the INFO/CONNECT/PONG handshake, and on each write.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Client pings detect a dead connection; two unanswered pings mean reconnect.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// Queue bounds: beyond these, new messages are dropped (and counted).
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
pub const MAX_QUEUED_MSGS: usize = 4096;
/// Disconnected this long, the queue is discarded and new messages are dropped until reconnected:
/// a live tail of stale chunks is worth less than the memory (the store has every line).
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// Longest server line read (INFO can be a few KiB).
const MAX_LINE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("NATS_URL holds no NATS server")]
    NoServers,
    #[error("NATS server {server:?} in NATS_URL: {reason}")]
    BadServer { server: String, reason: String },
    #[error(
        "NATS server {server:?}: TLS is not supported by this runtime; log publishing disabled"
    )]
    TlsUnsupported { server: String },
    #[error("the NATS publisher needs a Tokio runtime")]
    NoRuntime,
    #[error("NATS {server}: {what}: {source}")]
    Io {
        server: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("NATS {server}: {what} timed out")]
    Timeout { server: String, what: &'static str },
    #[error("NATS {server}: protocol error: {detail}")]
    Protocol { server: String, detail: String },
    #[error("NATS {server}: server error: {message}")]
    Server { server: String, message: String },
    #[error("NATS {server} requires TLS, which this runtime does not support")]
    TlsRequired { server: String },
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
            crate::warn!(
                "dropping NATS log chunks",
                reason = why,
                dropped_total = self.dropped
            );
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
        f.debug_struct("Publisher")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Publisher {
    /// Parses `url_list` (`NATS_URL`) and starts connecting in the background; never waits for a
    /// server. Fails only on an unusable list (including `tls://`, logged as an error here), or
    /// outside a Tokio runtime.
    pub fn start(url_list: &str) -> Result<Publisher, NatsError> {
        let servers = parse_servers(url_list).inspect_err(|e| {
            if matches!(e, NatsError::TlsUnsupported { .. }) {
                crate::error!("NATS log publishing disabled", error = e);
            }
        })?;
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
        let task = rt.spawn(run(shared.clone(), servers));
        Ok(Publisher {
            inner: Arc::new(Inner {
                shared,
                task: Mutex::new(Some(task)),
            }),
        })
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
        st.queue.push_back(Msg {
            subject: subject.to_string(),
            payload,
        });
        drop(st);
        shared.wake.notify_one();
    }

    pub fn stats(&self) -> PublisherStats {
        let st = self.inner.shared.lock();
        PublisherStats {
            published: st.published,
            dropped: st.dropped,
            queued: st.queue.len(),
            connected: st.connected,
        }
    }

    /// Writes out what is queued (connecting if needed) and waits for the server to confirm it
    /// with a PONG, then closes; gives up at `timeout`, counting what is left as dropped. Stops
    /// publishing for every clone.
    pub async fn drain(self, timeout: Duration) {
        let shared = self.inner.shared.clone();
        shared.lock().closing = true;
        shared.wake.notify_one();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut task) = task {
            if tokio::time::timeout(timeout, &mut task).await.is_err() {
                task.abort();
                crate::warn!("NATS drain timed out", after = format!("{timeout:?}"));
            }
        }
        let mut st = shared.lock();
        st.clear_queue("left over at drain");
        crate::info!(
            "NATS publisher closed",
            published = st.published,
            dropped = st.dropped
        );
    }
}

/// The background task: connect, publish until the connection fails, wait, next server.
async fn run(shared: Arc<Shared>, servers: Vec<ServerAddr>) {
    let mut usable = vec![true; servers.len()];
    let mut failures: u64 = 0;
    let mut last_warned: Option<Instant> = None;
    let mut next = 0;
    loop {
        {
            let mut st = shared.lock();
            if st.closing && st.queue.is_empty() {
                return;
            }
            if !usable.contains(&true) {
                st.disabled = true;
                st.clear_queue("NATS log publishing disabled");
                crate::error!(
                    "NATS log publishing disabled: no usable server (TLS is not supported)"
                );
                return;
            }
        }
        let i = next;
        next = (next + 1) % servers.len();
        if !usable[i] {
            continue;
        }
        let result = session(&shared, &servers[i]).await;
        {
            let mut st = shared.lock();
            if st.connected {
                st.connected = false;
                st.down_since = Instant::now();
                failures = 0;
                last_warned = None;
            }
        }
        match result {
            Ok(()) => return,
            Err(e @ NatsError::TlsRequired { .. }) => {
                crate::error!("NATS server skipped", error = e);
                usable[i] = false;
                continue;
            }
            Err(e) => {
                // The first failure of a streak, then at most one a minute.
                failures += 1;
                if last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    last_warned = Some(Instant::now());
                    crate::warn!(
                        "NATS connection failed or lost; retrying",
                        error = e,
                        attempts = failures
                    );
                }
            }
        }
        let deadline = tokio::time::Instant::now() + RECONNECT_WAIT;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                // New messages do not cut the wait short; a drain with nothing queued does.
                _ = shared.wake.notified() => {
                    let st = shared.lock();
                    if st.closing && st.queue.is_empty() {
                        return;
                    }
                }
            }
        }
    }
}

/// Events the reader task reports to the writer.
enum Event {
    Ping,
    Pong,
    Closed(NatsError),
}

async fn read_line(
    rd: &mut BufReader<OwnedReadHalf>,
    buf: &mut Vec<u8>,
    server: &ServerAddr,
) -> Result<(), NatsError> {
    buf.clear();
    let n = (&mut *rd)
        .take(MAX_LINE)
        .read_until(b'\n', buf)
        .await
        .map_err(|source| NatsError::Io {
            server: server.to_string(),
            what: "read",
            source,
        })?;
    match n {
        0 => Err(NatsError::Closed {
            server: server.to_string(),
        }),
        _ if !buf.ends_with(b"\n") => Err(NatsError::Protocol {
            server: server.to_string(),
            detail: "server line too long".into(),
        }),
        _ => Ok(()),
    }
}

async fn with_timeout<T>(
    server: &ServerAddr,
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, NatsError>>,
) -> Result<T, NatsError> {
    tokio::time::timeout(IO_TIMEOUT, fut)
        .await
        .map_err(|_| NatsError::Timeout {
            server: server.to_string(),
            what,
        })?
}

async fn write(
    wr: &mut OwnedWriteHalf,
    server: &ServerAddr,
    bytes: &[u8],
) -> Result<(), NatsError> {
    let io = |source| NatsError::Io {
        server: server.to_string(),
        what: "write",
        source,
    };
    with_timeout(server, "write", async {
        wr.write_all(bytes).await.map_err(io)
    })
    .await
}

/// Connects and performs the handshake; returns the server's max payload.
async fn handshake(
    server: &ServerAddr,
) -> Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf, usize), NatsError> {
    let name = server.to_string();
    let stream = with_timeout(server, "connect", async {
        TcpStream::connect((server.host.as_str(), server.port))
            .await
            .map_err(|source| NatsError::Io {
                server: name.clone(),
                what: "connect",
                source,
            })
    })
    .await?;
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = Vec::new();
    with_timeout(server, "INFO", read_line(&mut rd, &mut line, server)).await?;
    let info = match proto::parse_op(&line) {
        proto::ServerOp::Info(info) => info,
        _ => {
            let detail = format!("expected INFO, got {:?}", String::from_utf8_lossy(&line));
            return Err(NatsError::Protocol {
                server: name,
                detail,
            });
        }
    };
    if info.tls_required {
        return Err(NatsError::TlsRequired { server: name });
    }
    let mut hello = proto::connect_line(&server.auth);
    hello.extend_from_slice(proto::PING);
    write(&mut wr, server, &hello).await?;
    // The PONG to our PING confirms the CONNECT (bad credentials get -ERR and a close instead).
    loop {
        with_timeout(server, "CONNECT", read_line(&mut rd, &mut line, server)).await?;
        match proto::parse_op(&line) {
            proto::ServerOp::Pong => break,
            proto::ServerOp::Ping => write(&mut wr, server, proto::PONG).await?,
            proto::ServerOp::Err(message) => {
                return Err(NatsError::Server {
                    server: name,
                    message,
                })
            }
            _ => {}
        }
    }
    let max_payload = info
        .max_payload
        .map_or(1024 * 1024, |m| usize::try_from(m).unwrap_or(usize::MAX));
    Ok((rd, wr, max_payload))
}

/// Reads server lines until the connection ends, answering nothing itself.
async fn reader(mut rd: BufReader<OwnedReadHalf>, server: ServerAddr, tx: mpsc::Sender<Event>) {
    let mut line = Vec::new();
    loop {
        let event = match read_line(&mut rd, &mut line, &server).await {
            Err(e) => Event::Closed(e),
            Ok(()) => match proto::parse_op(&line) {
                proto::ServerOp::Ping => Event::Ping,
                proto::ServerOp::Pong => Event::Pong,
                proto::ServerOp::Err(message) => {
                    crate::warn!("NATS server error", server = server, message = message);
                    continue;
                }
                _ => continue,
            },
        };
        let closed = matches!(event, Event::Closed(_));
        if tx.send(event).await.is_err() || closed {
            return;
        }
    }
}

/// Aborts the reader task when the session ends, however it ends.
struct AbortOnDrop(JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One connection: returns `Ok` after a completed drain, `Err` when the connection is lost.
async fn session(shared: &Shared, server: &ServerAddr) -> Result<(), NatsError> {
    let (rd, mut wr, max_payload) = handshake(server).await?;
    let (tx, mut events) = mpsc::channel(16);
    let _reader = AbortOnDrop(tokio::spawn(reader(rd, server.clone(), tx)));
    {
        let mut st = shared.lock();
        st.connected = true;
        crate::info!(
            "connected to NATS",
            server = server,
            dropped_so_far = st.dropped
        );
    }
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    let mut unanswered = 0u32;
    let mut buf = Vec::new();
    loop {
        // Write out everything queued, in batches of about 1 MiB.
        let (batch, closing) = {
            let mut st = shared.lock();
            let mut n = 0u64;
            buf.clear();
            while buf.len() < 1024 * 1024 {
                let Some(m) = st.pop() else { break };
                if m.payload.len() > max_payload {
                    st.drop_msgs(1, "payload larger than the server's max_payload");
                    continue;
                }
                proto::push_pub(&mut buf, &m.subject, &m.payload);
                n += 1;
            }
            (n, st.closing)
        };
        if batch > 0 {
            if let Err(e) = write(&mut wr, server, &buf).await {
                shared
                    .lock()
                    .drop_msgs(batch, "connection lost while writing");
                return Err(e);
            }
            let mut st = shared.lock();
            st.published += batch;
            st.drop_logged = false;
            continue;
        }
        if closing {
            // Everything is written: a PONG to this PING means the server has processed it.
            write(&mut wr, server, proto::PING).await?;
            loop {
                match events.recv().await {
                    Some(Event::Pong) => break,
                    Some(Event::Ping) => write(&mut wr, server, proto::PONG).await?,
                    Some(Event::Closed(e)) => return Err(e),
                    None => {
                        return Err(NatsError::Closed {
                            server: server.to_string(),
                        })
                    }
                }
            }
            let _ = wr.shutdown().await;
            return Ok(());
        }
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Ping) => write(&mut wr, server, proto::PONG).await?,
                Some(Event::Pong) => unanswered = 0,
                Some(Event::Closed(e)) => return Err(e),
                None => return Err(NatsError::Closed { server: server.to_string() }),
            },
            _ = shared.wake.notified() => {}
            _ = ping.tick() => {
                if unanswered >= 2 {
                    return Err(NatsError::Timeout { server: server.to_string(), what: "PING" });
                }
                unanswered += 1;
                write(&mut wr, server, proto::PING).await?;
            }
        }
    }
}
