//! The :9476 front (docs/contract.md §4.1): accepts every connection, reads each request within bounds,
//! answers by itself when it must (bad request, no program, program starting, too slow) and
//! otherwise proxies the request to the query program, a few at a time and in arrival order (SDK
//! servers are single-threaded), with the JSON-body parameters added to the URL query string.
//! Nothing a client or the program does can hang it: every read, write and query has a deadline.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore, SemaphorePermit};
use tokio::time::{timeout, timeout_at, Instant};

use super::http::{consume, decode_chunked, parse_head, write_response, Chunked, Framing, Head};
use super::program::Phase;
use super::reply::{Refusal, Reply};
use super::upstream;
use the0_contract::querytarget::{merge_target, path_of, validate_target};

/// Bounds of the front.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body (413 above).
    pub max_body: usize,
    /// Largest request head (431 above).
    pub max_head: usize,
    /// A started request head must be complete within this (408).
    pub head_timeout: Duration,
    /// A request body must arrive within this (408).
    pub body_timeout: Duration,
    /// An idle kept-alive connection is closed after this.
    pub idle_timeout: Duration,
    /// Each query, from the moment it is read (queueing included) to the program's reply (504).
    pub query_timeout: Duration,
    /// Open connections beyond this are answered 503 and closed.
    pub max_connections: usize,
    /// Queries waiting for the program beyond this are answered 503.
    pub max_queued: usize,
    /// Queries handed to the program at once. SDK servers are serial: the extra ones wait in its
    /// listen backlog (Python's is 5), so the next query is there the moment one is answered.
    pub max_in_flight: usize,
    /// Longest request target sent to the program, body parameters included (414 above): SDK
    /// servers refuse long request lines (Node's whole head is limited to 16 KiB).
    pub max_target: usize,
    /// Request bodies held in memory at once, in bytes, over all connections (503 above): the
    /// front lives in the bot's memory limit and must not take the bot down with it.
    pub body_budget: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1024 * 1024,
            max_head: 16 * 1024,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            query_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_queued: 256,
            max_in_flight: 4,
            max_target: 8 * 1024,
            body_budget: 32 * 1024 * 1024,
        }
    }
}

/// What every connection shares.
pub struct Shared {
    pub limits: Limits,
    pub phase: watch::Receiver<Phase>,
    /// Generations seen hanging, for the lifecycle to restart.
    pub hung: mpsc::UnboundedSender<u64>,
    pub shutdown: watch::Receiver<bool>,
    /// [`Limits::max_in_flight`] queries toward the program; tokio's semaphore is FIFO, so
    /// queueing is fair.
    gate: Semaphore,
    queued: AtomicUsize,
    connections: Arc<Semaphore>,
    /// [`Limits::body_budget`] in KiB.
    body_kib: Semaphore,
}

impl Shared {
    pub fn new(
        limits: Limits,
        phase: watch::Receiver<Phase>,
        hung: mpsc::UnboundedSender<u64>,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        Shared {
            limits,
            phase,
            hung,
            shutdown,
            gate: Semaphore::new(limits.max_in_flight.max(1)),
            queued: AtomicUsize::new(0),
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            body_kib: Semaphore::new(limits.body_budget / 1024),
        }
    }
}

/// Accepts connections until the task is aborted.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                crate::warn!("query front cannot accept", error = e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        match shared.connections.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    connection(stream, &shared).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(async move { refuse(stream, Refusal::Busy.into(), shared.limits.body_timeout).await });
            }
        }
    }
}

/// Answers and closes. The client may still be sending (a refused body): what it sends is read
/// and dropped for a moment, since closing with unread bytes resets the connection and the
/// client could lose the answer.
async fn refuse(mut stream: TcpStream, reply: Reply, bound: Duration) {
    let mut out = BytesMut::new();
    write_response(&reply, false, false, &mut out);
    if timeout(bound, stream.write_all(&out)).await.is_err() {
        return;
    }
    let _ = timeout(bound, stream.shutdown()).await;
    let linger = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < LINGER_BYTES {
        match timeout_at(linger, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// How long, and how much, a refused client's remaining bytes are drained before closing.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// Reads more bytes into `buf`, bounded by `deadline`. `Ok(false)` at EOF.
async fn fill(stream: &mut TcpStream, buf: &mut BytesMut, deadline: Instant) -> Result<bool, ()> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(buf.len().max(2048));
    }
    match timeout_at(deadline, stream.read_buf(buf)).await {
        Ok(Ok(0)) => Ok(false),
        Ok(Ok(_)) => Ok(true),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

enum HeadRead {
    Got(Head),
    /// The client went away or stayed idle: close without a word.
    Close,
    Refuse(Reply),
}

async fn read_head(stream: &mut TcpStream, buf: &mut BytesMut, shared: &Shared, first: bool) -> HeadRead {
    let limits = &shared.limits;
    if buf.is_empty() {
        // Idle between requests (or before the first): wait for a byte, or for shutdown.
        let idle = if first { limits.head_timeout } else { limits.idle_timeout };
        let mut shutdown = shared.shutdown.clone();
        tokio::select! {
            r = fill(stream, buf, Instant::now() + idle) => if r != Ok(true) { return HeadRead::Close },
            _ = shutdown.wait_for(|s| *s) => return HeadRead::Close,
        }
    }
    let deadline = Instant::now() + limits.head_timeout;
    loop {
        match parse_head(buf) {
            Ok(Some((_, n))) if n > limits.max_head => return HeadRead::Refuse(Refusal::HeadersTooLarge.into()),
            Ok(Some((head, n))) => {
                consume(buf, n);
                return HeadRead::Got(head);
            }
            Ok(None) if buf.len() > limits.max_head => return HeadRead::Refuse(Refusal::HeadersTooLarge.into()),
            Ok(None) => {}
            Err(reply) => return HeadRead::Refuse(reply),
        }
        match fill(stream, buf, deadline).await {
            Ok(true) => {}
            Ok(false) => return HeadRead::Refuse(Reply::bad_request("incomplete HTTP request")),
            Err(()) if Instant::now() >= deadline => return HeadRead::Refuse(Refusal::ClientTimeout.into()),
            Err(()) => return HeadRead::Close,
        }
    }
}

async fn read_body<'a>(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    head: &Head,
    shared: &'a Shared,
) -> Result<(Vec<u8>, Option<SemaphorePermit<'a>>), Reply> {
    let limits = &shared.limits;
    let framing = head.framing()?;
    let reserve = match framing {
        Framing::None => return Ok((Vec::new(), None)),
        Framing::Length(n) if n > limits.max_body as u64 => return Err(Refusal::BodyTooLarge(limits.max_body).into()),
        Framing::Length(n) => n as usize,
        Framing::Chunked => limits.max_body,
    };
    let kib = u32::try_from(reserve.div_ceil(1024)).unwrap_or(u32::MAX);
    let permit = match timeout(limits.body_timeout, shared.body_kib.acquire_many(kib)).await {
        Ok(Ok(p)) => p,
        _ => return Err(Refusal::Busy.into()),
    };
    let body = read_body_bytes(stream, buf, head, framing, limits).await?;
    Ok((body, Some(permit)))
}

async fn read_body_bytes(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    head: &Head,
    framing: Framing,
    limits: &Limits,
) -> Result<Vec<u8>, Reply> {
    if head.expects_continue() {
        let _ = timeout(limits.body_timeout, stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")).await;
    }
    let deadline = Instant::now() + limits.body_timeout;
    let mut body = Vec::new();
    loop {
        match framing {
            Framing::Length(n) if buf.len() as u64 >= n => {
                let body = buf.split_to(n as usize).to_vec();
                return Ok(body);
            }
            Framing::Chunked => match decode_chunked(buf, &mut body, limits.max_body)? {
                Chunked::Done(used) => {
                    consume(buf, used);
                    return Ok(body);
                }
                // Chunk framing is small; far more buffered than the payload limit is abuse.
                Chunked::Partial if buf.len() > limits.max_body * 2 + 64 * 1024 => {
                    return Err(Refusal::BodyTooLarge(limits.max_body).into())
                }
                Chunked::Partial => {}
            },
            _ => {}
        }
        match fill(stream, buf, deadline).await {
            Ok(true) => {}
            Ok(false) => return Err(Reply::bad_request("request body cut short")),
            Err(()) => return Err(Refusal::ClientTimeout.into()),
        }
    }
}

async fn connection(mut stream: TcpStream, shared: &Shared) {
    let mut buf = BytesMut::with_capacity(2048);
    let mut out = BytesMut::with_capacity(1024);
    let mut first = true;
    loop {
        let head = match read_head(&mut stream, &mut buf, shared, first).await {
            HeadRead::Got(h) => h,
            HeadRead::Close => return,
            HeadRead::Refuse(reply) => return refuse(stream, reply, shared.limits.body_timeout).await,
        };
        first = false;
        let head_only = head.method.eq_ignore_ascii_case("HEAD");
        let (body, _budget) = match read_body(&mut stream, &mut buf, &head, shared).await {
            Ok(b) => b,
            Err(reply) => return refuse(stream, reply, shared.limits.body_timeout).await,
        };
        let reply = answer(shared, &head, &body).await;
        let keep = head.keep_alive() && !*shared.shutdown.borrow();
        out.clear();
        write_response(&reply, keep, head_only, &mut out);
        match timeout(shared.limits.body_timeout, stream.write_all(&out)).await {
            Ok(Ok(())) if keep => {}
            _ => return,
        }
    }
}

/// Decrements the queue count however the wait ends.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The reply to one complete request.
pub async fn answer(shared: &Shared, head: &Head, body: &[u8]) -> Reply {
    let target = match validate_target(&head.target) {
        Ok(t) => t,
        Err(e) => return Refusal::BadPath(e.to_string()).into(),
    };
    let health = path_of(&target) == "/health";
    let target = merge_target(&target, body);
    if target.len() > shared.limits.max_target {
        return Refusal::TargetTooLong(shared.limits.max_target).into();
    }
    // While the program cannot answer, the front answers: /health for itself, the rest refused.
    let not_ready = |phase: &Phase| -> Reply {
        if health {
            return Reply::own_health(phase.name());
        }
        match phase {
            Phase::Absent => Refusal::NoEntrypoint,
            Phase::Starting => Refusal::Starting,
            Phase::Stopped => Refusal::ShuttingDown,
            Phase::Restarting | Phase::Ready { .. } => Refusal::Restarting,
        }
        .into()
    };
    if !matches!(*shared.phase.borrow(), Phase::Ready { .. }) {
        return not_ready(&shared.phase.borrow().clone());
    }

    let limits = &shared.limits;
    let deadline = Instant::now() + limits.query_timeout;
    if shared.queued.fetch_add(1, Ordering::AcqRel) >= limits.max_queued {
        shared.queued.fetch_sub(1, Ordering::AcqRel);
        return Refusal::Busy.into();
    }
    let queued = Queued(&shared.queued);
    let Ok(Ok(_permit)) = timeout_at(deadline, shared.gate.acquire()).await else {
        return Refusal::Timeout(limits.query_timeout).into();
    };
    drop(queued);
    // The program may have died while this query waited.
    let phase = shared.phase.borrow().clone();
    let Phase::Ready { port, generation } = phase else { return not_ready(&phase) };

    let req = upstream::Request { method: &head.method, target: &target, headers: &head.headers, body };
    let sent = Instant::now();
    match timeout_at(deadline, upstream::exchange(port, &req)).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(upstream::UpstreamError::Connect(_))) if health => Reply::own_health(Phase::Restarting.name()),
        Ok(Err(e)) => {
            crate::warn!("query failed", path = path_of(&target), error = e);
            e.refusal().into()
        }
        Err(_) => {
            // A single-threaded program stuck on a query can answer no other: have it restarted,
            // once it held this one for half the timeout (not merely the tail of a long queue wait).
            let held = sent.elapsed();
            crate::warn!("query timed out", path = path_of(&target), program_held_it = format!("{held:?}"));
            if held >= limits.query_timeout / 2 {
                let _ = shared.hung.send(generation);
            }
            Refusal::Timeout(limits.query_timeout).into()
        }
    }
}
