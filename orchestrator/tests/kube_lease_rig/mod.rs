//! What the leader-election tests with real sockets share (`kube_leader.rs`, `kube_failover.rs`):
//! the short Lease timings, a bounded wait for a condition, and a `GET` on a replica's health or
//! query listener.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::time::Duration;

use the0_orchestrator::config::LeaseTimings;
use tokio::time::Instant;

/// Lease 4 s, renew deadline 2 s, retry 400 ms (client-go's are 15 s, 10 s, 2 s): short enough for
/// a test, long enough that a loaded CI machine does not miss a renewal.
pub const T: LeaseTimings = LeaseTimings {
    lease_duration: Duration::from_secs(4),
    renew_deadline: Duration::from_secs(2),
    retry_period: Duration::from_millis(400),
};

/// Waits (at most `within`) until `cond` holds; returns how long it took.
pub async fn until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

/// `GET path` on `addr`: (status, body), if it answers.
pub fn get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}
