//! Bad input at the :9476 front, each one its own test: malformed HTTP, huge bodies, `..` and
//! control characters in the path, a slow client, and query programs that never answer, crash on
//! every request, or write non-JSON. The front stays up, answers every request with the
//! contract's envelope and a fitting status, and the bot is never affected.

mod common;
mod query_common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use query_common::*;

const READY: Duration = Duration::from_secs(20);

async fn healthy_front() -> (Sandbox, u16, Running) {
    let (sb, port) = realtime_sandbox(&[], true).await;
    let rt = Running::start(&sb, &["execute", "--skip-sync"]);
    until_ok(port, "/ping", READY, &rt);
    (sb, port, rt)
}

/// The bot still runs and stops with its own code.
fn bot_unaffected(mut rt: Running) {
    assert!(rt.is_running(), "the bot is not affected: {}", rt.output());
    rt.wait_for("bot running");
    assert_eq!(rt.stop(), Some(0), "{}", rt.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_http_gets_a_400_envelope() {
    let (_sb, port, rt) = healthy_front().await;
    for request in [
        &b"HELLO\r\n\r\n"[..],
        b"GET /a b c HTTP/1.1\r\n\r\n",
        b"GET /ping HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"GET /ping HTTP/7.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"POST /ping HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST /ping HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /ping HTTP/1.1\r\nHost: t\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.write_all(request).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut out);
        let r = parse_resp(&out).unwrap_or_else(|| panic!("no reply to {request:?}: {out:?}"));
        r.assert_envelope(400);
    }
    assert_eq!(get(port, "/ping").status, 200, "the front is still up");
    bot_unaffected(rt);
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_bodies_get_a_413_envelope() {
    let (_sb, port, rt) = healthy_front().await;
    // Declared too large: refused before the body is read.
    let r = raw(port, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n{");
    assert!(r.assert_envelope(413).contains("larger than 1048576"), "{r:?}");
    // The same with the whole body sent: the answer still arrives (the front drains, no reset).
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n".to_vec();
    req.extend(std::iter::repeat_n(b' ', 2_000_000));
    raw(port, &req).assert_envelope(413);
    // Chunked, growing past the limit.
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        req.extend_from_slice(format!("{:x}\r\n", 100_000).as_bytes());
        req.extend(std::iter::repeat_n(b'a', 100_000));
        req.extend_from_slice(b"\r\n");
    }
    raw(port, &req).assert_envelope(413);
    // Just under the limit is fine.
    let big = format!(r#"{{"k":"{}"}}"#, "x".repeat(1000));
    assert_eq!(post(port, "/echo", &big).status, 200);
    // Parameters too long for a request line once merged into the URL.
    let long = format!(r#"{{"k":"{}"}}"#, "x".repeat(9000));
    assert!(post(port, "/echo", &long).assert_envelope(414).contains("8192"));
    // Many headers.
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    raw(port, format!("GET /ping HTTP/1.1\r\n{many}\r\n").as_bytes()).assert_envelope(431);
    let long = "a".repeat(20_000);
    raw(port, format!("GET /ping HTTP/1.1\r\nX-Long: {long}\r\n\r\n").as_bytes()).assert_envelope(431);
    bot_unaffected(rt);
}

#[tokio::test(flavor = "multi_thread")]
async fn dot_dot_and_control_characters_get_a_400_envelope() {
    let (_sb, port, rt) = healthy_front().await;
    for target in ["/a/../ping", "/..", "/%2e%2e/etc/passwd", "/x/%2E%2e", "/a%00b", "/ping%0d%0aX-Evil:%201", "/a%zz"]
    {
        let msg = get(port, target).assert_envelope(400);
        assert!(msg.contains("invalid query path"), "{target}: {msg}");
    }
    for request in
        [&b"GET /a\x01b HTTP/1.1\r\n\r\n"[..], b"GET /a\x7fb HTTP/1.1\r\n\r\n", b"GET /a\tb HTTP/1.1\r\n\r\n"]
    {
        raw(port, request).assert_envelope(400);
    }
    assert_eq!(get(port, "/ping").status, 200);
    bot_unaffected(rt);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_client_does_not_hold_up_others() {
    let (_sb, port, rt) = healthy_front().await;
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"a\":").unwrap();
    let mut half = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(b"GET /ping HTTP/1.1\r\nHo").unwrap();
    let t0 = Instant::now();
    for _ in 0..5 {
        assert_eq!(get(port, "/ping").status, 200);
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    drop((stalled, half));
    bot_unaffected(rt);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_that_never_answers() {
    let (sb, port) = realtime_sandbox(&[("FIXTURE_MODE", "silent")], true).await;
    let rt = Running::start(&sb, &["execute", "--skip-sync"]);
    rt.wait_for("query program started");
    let t0 = Instant::now();
    for _ in 0..5 {
        let r = get(port, "/ping");
        assert!(r.assert_envelope(503).contains("starting"), "{r:?}");
    }
    assert!(t0.elapsed() < Duration::from_secs(3), "answered at once: {:?}", t0.elapsed());
    let h = get(port, "/health");
    assert_eq!((h.status, h.json()["data"]["query_program"].as_str()), (200, Some("starting")));
    bot_unaffected(rt);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_that_crashes_on_every_request() {
    let (sb, port) = realtime_sandbox(&[("FIXTURE_MODE", "crashy")], true).await;
    let rt = Running::start(&sb, &["execute", "--skip-sync"]);
    // Even the readiness probe kills it: it never counts as up, and is restarted with backoff.
    rt.wait_for("query program exited before answering");
    let t0 = Instant::now();
    for _ in 0..10 {
        let r = get(port, "/ping");
        let msg = r.assert_envelope(503);
        assert!(msg.contains("starting") || msg.contains("restarting"), "{msg}");
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(t0.elapsed() < Duration::from_secs(10));
    let h = get(port, "/health");
    assert_eq!(h.status, 200, "{h:?}");
    bot_unaffected(rt);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_program_that_writes_non_json() {
    let (sb, port) = realtime_sandbox(&[("FIXTURE_MODE", "garbage")], true).await;
    let rt = Running::start(&sb, &["execute", "--skip-sync"]);
    rt.wait_for("query program answering");
    let msg = get(port, "/ping").assert_envelope(502);
    assert!(msg.contains("not JSON") && msg.contains("<html>"), "{msg}");
    let msg = get(port, "/not-http").assert_envelope(502);
    assert!(msg.contains("not HTTP"), "{msg}");
    bot_unaffected(rt);
}
