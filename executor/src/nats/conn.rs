//! The connection side of the publisher: the background task that connects (rotating through the
//! servers, 1 s apart, forever), performs the `INFO`/`CONNECT`/`PING`-`PONG` handshake, writes
//! queued messages as `PUB` frames, answers server `PING`s, detects dead connections with its own
//! pings, and on drain confirms delivery with a final `PING`/`PONG`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{proto, tls, NatsError, ServerAddr, Shared, RECONNECT_FIRST, RECONNECT_MAX};
use crate::backoff::{jitter, jittered, Backoff};

/// The two halves of a connection, plain TCP or TLS.
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// The TLS client configuration, built on first need and kept for every later connection.
struct TlsState {
    source: tls::RootSource,
    config: Option<Arc<rustls::ClientConfig>>,
}

impl TlsState {
    fn config(&mut self) -> Result<Arc<rustls::ClientConfig>, NatsError> {
        if let Some(c) = &self.config {
            return Ok(c.clone());
        }
        let source = &self.source;
        let config = tls::client_config(source).map_err(|reason| NatsError::TlsConfig { reason })?;
        crate::info!("NATS TLS trusted roots", roots = source);
        self.config = Some(config.clone());
        Ok(config)
    }
}

/// Bound on TCP connect and the INFO/CONNECT/PONG handshake, and on each write.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Client pings detect a dead connection; two unanswered pings mean reconnect.
const PING_INTERVAL: Duration = Duration::from_secs(20);
/// Longest server line read (INFO can be a few KiB).
const MAX_LINE: u64 = 64 * 1024;

/// The background task: connect, publish until the connection fails, wait, next server.
pub(super) async fn run(shared: Arc<Shared>, servers: Vec<ServerAddr>, roots: tls::RootSource) {
    let mut usable = vec![true; servers.len()];
    let mut failures: u64 = 0;
    let mut waits = Backoff::new(RECONNECT_FIRST, RECONNECT_MAX);
    let mut last_warned: Option<Instant> = None;
    let mut next = 0;
    let mut tls_state = TlsState { source: roots, config: None };
    loop {
        {
            let mut st = shared.lock();
            if st.closing && st.queue.is_empty() {
                return;
            }
            if !usable.contains(&true) {
                st.disabled = true;
                st.clear_queue("NATS log publishing disabled");
                crate::error!("NATS log publishing disabled: no usable server (see the errors above)");
                return;
            }
        }
        let i = next;
        next = (next + 1) % servers.len();
        if !usable[i] {
            continue;
        }
        let result = session(&shared, &servers[i], &mut tls_state).await;
        {
            let mut st = shared.lock();
            if st.connected {
                st.connected = false;
                st.down_since = Instant::now();
                failures = 0;
                waits.reset();
                last_warned = None;
            }
        }
        match result {
            Ok(()) => return,
            Err(e @ (NatsError::TlsConfig { .. } | NatsError::TlsName { .. })) => {
                crate::error!("NATS server skipped", error = e);
                usable[i] = false;
                continue;
            }
            Err(e) => {
                // The first failure of a streak, then at most one a minute.
                failures += 1;
                if last_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    last_warned = Some(Instant::now());
                    crate::warn!("NATS connection failed or lost; retrying", error = e, attempts = failures);
                }
            }
        }
        let deadline = tokio::time::Instant::now() + jittered(waits.next_delay(), jitter());
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

async fn read_line<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
    buf: &mut Vec<u8>,
    server: &ServerAddr,
) -> Result<(), NatsError> {
    buf.clear();
    let n = (&mut *rd).take(MAX_LINE).read_until(b'\n', buf).await.map_err(|source| NatsError::Io {
        server: server.to_string(),
        what: "read",
        source,
    })?;
    match n {
        0 => Err(NatsError::Closed { server: server.to_string() }),
        _ if !buf.ends_with(b"\n") => {
            Err(NatsError::Protocol { server: server.to_string(), detail: "server line too long".into() })
        }
        _ => Ok(()),
    }
}

async fn with_timeout<T>(
    server: &ServerAddr,
    what: &'static str,
    fut: impl std::future::Future<Output = Result<T, NatsError>>,
) -> Result<T, NatsError> {
    tokio::time::timeout(IO_TIMEOUT, fut).await.map_err(|_| NatsError::Timeout { server: server.to_string(), what })?
}

async fn write(wr: &mut WriteHalf, server: &ServerAddr, bytes: &[u8]) -> Result<(), NatsError> {
    let io = |source| NatsError::Io { server: server.to_string(), what: "write", source };
    with_timeout(server, "write", async { wr.write_all(bytes).await.map_err(io) }).await
}

/// Connects and performs the handshake (upgrading to TLS after `INFO` when the URL is `tls://` or
/// the server requires it); returns the server's max payload.
async fn handshake(
    server: &ServerAddr,
    tls_state: &mut TlsState,
) -> Result<(BufReader<ReadHalf>, WriteHalf, usize), NatsError> {
    let name = server.to_string();
    let stream = with_timeout(server, "connect", async {
        TcpStream::connect((server.host.as_str(), server.port)).await.map_err(|source| NatsError::Io {
            server: name.clone(),
            what: "connect",
            source,
        })
    })
    .await?;
    let _ = stream.set_nodelay(true);
    let mut plain = BufReader::new(stream);
    let mut line = Vec::new();
    with_timeout(server, "INFO", read_line(&mut plain, &mut line, server)).await?;
    let info = match proto::parse_op(&line) {
        proto::ServerOp::Info(info) => info,
        _ => {
            let detail = format!("expected INFO, got {:?}", String::from_utf8_lossy(&line));
            return Err(NatsError::Protocol { server: name, detail });
        }
    };
    let use_tls = server.tls || info.tls_required;
    if server.tls && !info.tls_required && !info.tls_available {
        return Err(NatsError::Protocol {
            server: name,
            detail: "tls:// given but the server does not offer TLS".into(),
        });
    }
    // The server waits for the client after INFO: nothing may be buffered beyond it.
    if !plain.buffer().is_empty() {
        return Err(NatsError::Protocol { server: name, detail: "unexpected data after INFO".into() });
    }
    let stream = plain.into_inner();
    let (rd, mut wr): (ReadHalf, WriteHalf) = if use_tls {
        let config = tls_state.config()?;
        let server_name =
            tls::server_name(&server.host).map_err(|reason| NatsError::TlsName { server: name.clone(), reason })?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls_stream = with_timeout(server, "TLS handshake", async {
            connector
                .connect(server_name, stream)
                .await
                .map_err(|source| NatsError::Tls { server: name.clone(), source })
        })
        .await?;
        let (r, w) = tokio::io::split(tls_stream);
        (Box::new(r), Box::new(w))
    } else {
        let (r, w) = stream.into_split();
        (Box::new(r), Box::new(w))
    };
    let mut rd = BufReader::new(rd);
    let mut hello = proto::connect_line(&server.auth, use_tls);
    hello.extend_from_slice(proto::PING);
    write(&mut wr, server, &hello).await?;
    // The PONG to our PING confirms the CONNECT (bad credentials get -ERR and a close instead).
    loop {
        with_timeout(server, "CONNECT", read_line(&mut rd, &mut line, server)).await?;
        match proto::parse_op(&line) {
            proto::ServerOp::Pong => break,
            proto::ServerOp::Ping => write(&mut wr, server, proto::PONG).await?,
            proto::ServerOp::Err(message) => return Err(NatsError::Server { server: name, message }),
            _ => {}
        }
    }
    let max_payload = info.max_payload.map_or(1024 * 1024, |m| usize::try_from(m).unwrap_or(usize::MAX));
    Ok((rd, wr, max_payload))
}

/// Reads server lines until the connection ends, answering nothing itself.
async fn reader(mut rd: BufReader<ReadHalf>, server: ServerAddr, tx: mpsc::Sender<Event>) {
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
async fn session(shared: &Shared, server: &ServerAddr, tls_state: &mut TlsState) -> Result<(), NatsError> {
    let (rd, mut wr, max_payload) = handshake(server, tls_state).await?;
    let (tx, mut events) = mpsc::channel(16);
    let _reader = AbortOnDrop(tokio::spawn(reader(rd, server.clone(), tx)));
    {
        let mut st = shared.lock();
        st.connected = true;
        crate::info!("connected to NATS", server = server, dropped_so_far = st.dropped);
    }
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
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
                shared.lock().drop_msgs(batch, "connection lost while writing");
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
                    None => return Err(NatsError::Closed { server: server.to_string() }),
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
