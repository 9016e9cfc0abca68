//! The :9476 front of a realtime bot, run as the real `runtime` with a Python query program that
//! follows the SDK protocol: parameters from the JSON body reach the handler (D20), replies pass
//! through, 50 concurrent clients are all answered, a crash is followed by a restart, a query
//! that outlives the timeout gets 504 and the program is restarted, the front answers while the
//! program starts, and a bot without a query entrypoint gets 404 envelopes.

mod common;
mod query_common;

use std::time::{Duration, Instant};

use common::*;
use query_common::*;

const READY: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn body_params_reach_the_handler_and_replies_pass_through() {
    let (sb, port) = realtime_sandbox(&[], true).await;
    let mut rt = Running::start(&sb, &["execute"]);
    let r = until_ok(port, "/ping", READY, &rt);
    assert_eq!(r.json(), serde_json::json!({"status":"ok","data":{"pong":true}}));
    assert_eq!(r.header("content-type"), Some("application/json"), "program headers pass through");

    let body = r#"{"b":"x y&z=1","n":5,"deep":{"k":[1,"é"]},"a":"from-body","sym":"BTC/USD"}"#;
    let r = post(port, "/echo?a=1", body);
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(
        v["data"]["params"],
        serde_json::json!({"a":"1","b":"x y&z=1","n":"5","deep":"{\"k\":[1,\"é\"]}","sym":"BTC/USD"}),
        "URL parameters first, body parameters appended: {v}"
    );
    assert_eq!(v["data"]["method"], "POST");
    assert_eq!(v["data"]["content_length"], body.len().to_string(), "the body is forwarded too");

    // Chunked request body, kept-alive connection: two requests on one socket.
    let chunked =
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"k\":\"v\"\r\n1\r\n}\r\n0\r\n\r\n\
                   GET /echo?z=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(chunked.as_bytes()).unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert!(text.contains(r#""params": {"k": "v"}"#) && text.contains(r#""params": {"z": "2"}"#), "{text}");

    // The program's own errors pass through unchanged.
    let r = get(port, "/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), serde_json::json!({"status":"error","error":"No handler for path: /nope"}));
    let r = get(port, "/fail");
    assert_eq!(r.status, 500);
    assert_eq!(r.json(), serde_json::json!({"status":"error","error":"boom"}));
    assert!(rt.output().contains("Query server started on port"), "program output reaches the container log");
    rt.wait_for("bot running");
    assert_eq!(rt.stop(), Some(0), "{}", rt.output());
    let botlog = std::fs::read_to_string(sb.path("the0/logs/bot.log")).unwrap_or_default();
    assert!(botlog.contains("bot running"), "{botlog}");
    assert!(!botlog.contains("Query server started"), "query program output stays out of bot.log: {botlog}");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_requests_are_all_answered() {
    let (sb, port) = realtime_sandbox(&[], true).await;
    let rt = Running::start(&sb, &["execute", "--skip-sync"]);
    until_ok(port, "/ping", READY, &rt);
    let t0 = Instant::now();
    let threads: Vec<_> =
        (0..50).map(|i| std::thread::spawn(move || (i, post(port, "/echo", &format!(r#"{{"i":{i}}}"#))))).collect();
    for t in threads {
        let (i, r) = t.join().unwrap();
        assert_eq!(r.status, 200, "request {i}: {r:?}");
        assert_eq!(r.json()["data"]["params"]["i"], i.to_string(), "request {i} got its own answer");
    }
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_is_followed_by_a_restart_and_answers_resume() {
    let (sb, port) = realtime_sandbox(&[], true).await;
    let mut rt = Running::start(&sb, &["execute", "--skip-sync"]);
    let first = until_ok(port, "/pid", READY, &rt).json()["data"]["pid"].as_i64().unwrap() as i32;
    let r = get(port, "/crash");
    let msg = r.assert_envelope(502);
    assert!(msg.contains("closed the connection"), "{msg}");
    // Restarting: envelopes until the program answers again (backoff starts at 1 s). Right after
    // the crash a query may still reach the dying process's listen backlog (502).
    let r = get(port, "/ping");
    assert!(matches!(r.status, 200 | 502 | 503), "{r:?}");
    if r.status != 200 {
        r.assert_envelope(r.status);
    }
    if r.status == 503 {
        assert!(r.body.contains("restarting") || r.body.contains("starting"), "{r:?}");
        let h = get(port, "/health");
        assert_eq!(h.status, 200, "the front answers /health while the program is down: {h:?}");
    }
    let t0 = Instant::now();
    let second = until_ok(port, "/pid", READY, &rt).json()["data"]["pid"].as_i64().unwrap() as i32;
    assert_ne!(first, second, "a new process answers");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(!alive(first), "the crashed program is gone");
    assert!(rt.is_running(), "the bot is not affected by the crash");
    assert!(rt.output().contains("query program exited"), "{}", rt.output());
    rt.wait_for("bot running");
    assert_eq!(rt.stop(), Some(0), "the bot's own exit code: {}", rt.output());
    assert!(!alive(second), "the query program is stopped with the bot");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_that_outlives_the_timeout_gets_504_and_the_program_is_restarted() {
    let (sb, port) = realtime_sandbox(&[("THE0_QUERY_TIMEOUT_SEC", "2")], true).await;
    let rt = Running::start(&sb, &["execute", "--skip-sync"]);
    let first = until_ok(port, "/pid", READY, &rt).json()["data"]["pid"].as_i64().unwrap();
    let t0 = Instant::now();
    // A second client queued behind the stuck one times out too, within the same bound.
    let queued = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        (get(port, "/ping"), Instant::now())
    });
    let r = get(port, "/slow?s=600");
    let took = t0.elapsed();
    let msg = r.assert_envelope(504);
    assert!(msg.contains("timed out after 2s"), "{msg}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(8), "{took:?}");
    // It was either still queued in the front (504), or already waiting in the program's listen
    // backlog when the hung program was killed (502), or arrived during the restart (503).
    let (q, at) = queued.join().unwrap();
    assert!(matches!(q.status, 502..=504), "{q:?}");
    q.assert_envelope(q.status);
    assert!(at - t0 < Duration::from_secs(10));
    let second = until_ok(port, "/pid", READY, &rt).json()["data"]["pid"].as_i64().unwrap();
    assert_ne!(first, second, "the hung program was replaced");
    assert!(rt.output().contains("hangs on a query"), "{}", rt.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn while_the_program_starts_the_front_answers_503_and_health() {
    let (sb, port) = realtime_sandbox(&[("FIXTURE_MODE", "slow_start"), ("FIXTURE_START_DELAY", "3")], true).await;
    let rt = Running::start(&sb, &["execute", "--skip-sync"]);
    let up = eventually(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    assert!(up.is_some(), "the front listens at once: {}", rt.output());
    let r = get(port, "/ping");
    assert!(r.assert_envelope(503).contains("starting"), "{r:?}");
    let h = get(port, "/health");
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["data"]["query_program"], "starting");
    until_ok(port, "/ping", READY, &rt);
    // Once up, /health is the program's own.
    assert_eq!(get(port, "/health").json(), serde_json::json!({"status":"ok","data":{"status":"ok"}}));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_query_entrypoint_every_query_is_a_404_envelope() {
    let (sb, port) = realtime_sandbox(&[], false).await;
    let mut rt = Running::start(&sb, &["execute", "--skip-sync"]);
    let h = until_ok(port, "/health", READY, &rt);
    assert_eq!(h.json()["data"]["query_program"], "none");
    let msg = get(port, "/portfolio").assert_envelope(404);
    assert!(msg.contains("no query entrypoint"), "{msg}");
    post(port, "/portfolio", "{}").assert_envelope(404);
    rt.wait_for("bot running");
    assert_eq!(rt.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn skip_query_server_and_scheduled_bots_have_no_front() {
    for extra in [&[("BOT_TYPE", "scheduled")][..], &[][..]] {
        let (sb, port) = realtime_sandbox(extra, true).await;
        let args: &[&str] = if extra.is_empty() { &["execute", "--skip-query-server"] } else { &["execute"] };
        let mut rt = Running::start(&sb, args);
        rt.wait_for("bot running");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "no front: {}", rt.output());
        assert_eq!(rt.stop(), Some(0));
    }
}
