//! `execute --query-server-only` (the Kubernetes query sidecar, D16) as a real process: it waits
//! for the `state-restored` marker of the bot container instead of restoring state itself (the
//! front answers 503 meanwhile), fetches the code itself when the bot container does not extract
//! it in time, needs a query entrypoint, and stops on SIGTERM with its program.

mod common;
mod query_common;

use std::time::{Duration, Instant};

use common::*;
use query_common::*;

const READY: Duration = Duration::from_secs(20);

/// A sidecar sandbox: realtime env as the controller sets it, code written straight into
/// CODE_PATH as the bot container would have extracted it.
fn sidecar_sandbox(extra: &[(&str, &str)]) -> (Sandbox, u16) {
    let mut sb = Sandbox::local();
    let port = free_port();
    sb.set("RUNTIME", "python3.11")
        .set("ENTRYPOINT", "main.py")
        .set("QUERY_ENTRYPOINT", "query.py")
        .set("BOT_TYPE", "realtime")
        .set("THE0_QUERY_PORT", &port.to_string());
    for (k, v) in extra {
        sb.set(k, v);
    }
    (sb, port)
}

fn extract_code_locally(sb: &Sandbox) {
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    std::fs::write(sb.path("bot/query.py"), FIXTURE).unwrap();
    std::fs::write(sb.path("bot/main.py"), IDLE_BOT).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecar_waits_for_the_state_restored_marker() {
    let (sb, port) = sidecar_sandbox(&[]);
    extract_code_locally(&sb);
    let rt = Running::start(&sb, &["execute", "--query-server-only"]);
    let up = eventually(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    assert!(up.is_some(), "{}", rt.output());
    // No marker: the front answers, the program is not started.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(2500) {
        get(port, "/ping").assert_envelope(503);
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(!rt.output().contains("query program started"), "{}", rt.output());
    assert_eq!(get(port, "/health").json()["data"]["query_program"], "starting");
    // The bot container restores state, then marks it.
    std::fs::create_dir_all(sb.path("state/.the0-state")).unwrap();
    std::fs::write(sb.path("state/.the0-state/positions.json"), "[1,2,3]").unwrap();
    std::fs::create_dir_all(sb.path("the0")).unwrap();
    std::fs::write(sb.path("the0/state-restored"), "").unwrap();
    let r = until_ok(port, "/state?key=positions", READY, &rt);
    assert_eq!(r.json()["data"]["value"], serde_json::json!([1, 2, 3]), "the restored state is visible");
    assert!(!rt.output().contains("state restored"), "no own restore: {}", rt.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecar_fetches_the_code_itself_when_it_does_not_come() {
    let (mut sb, port) = sidecar_sandbox(&[("THE0_QUERY_WAIT_SEC", "1")]);
    sb.upload_code(&[("main.py", IDLE_BOT, 0o644), ("query.py", FIXTURE, 0o644)]).await;
    std::fs::create_dir_all(sb.path("the0")).unwrap();
    std::fs::write(sb.path("the0/state-restored"), "").unwrap();
    let rt = Running::start(&sb, &["execute", "--query-server-only"]);
    until_ok(port, "/ping", READY, &rt);
    assert!(rt.output().contains("fetching it"), "{}", rt.output());
    assert!(sb.path("bot/query.py").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecar_serves_after_the_marker_wait_runs_out() {
    let (sb, port) = sidecar_sandbox(&[("THE0_QUERY_WAIT_SEC", "1")]);
    extract_code_locally(&sb);
    let rt = Running::start(&sb, &["execute", "--query-server-only"]);
    until_ok(port, "/ping", READY, &rt);
    assert!(rt.output().contains("state-restored never appeared"), "{}", rt.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sidecar_needs_a_query_entrypoint() {
    let (mut sb, _) = sidecar_sandbox(&[]);
    sb.unset("QUERY_ENTRYPOINT");
    let child = sb.command(&["execute", "--query-server-only"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("QUERY_ENTRYPOINT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_sidecar_and_its_program() {
    let (sb, port) = sidecar_sandbox(&[]);
    extract_code_locally(&sb);
    std::fs::create_dir_all(sb.path("the0")).unwrap();
    std::fs::write(sb.path("the0/state-restored"), "").unwrap();
    let mut rt = Running::start(&sb, &["execute", "--query-server-only"]);
    let pid = until_ok(port, "/pid", READY, &rt).json()["data"]["pid"].as_i64().unwrap() as i32;
    let t0 = Instant::now();
    assert_eq!(rt.stop(), Some(0), "{}", rt.output());
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(!alive(pid), "the query program is stopped");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_waiting_exits_at_once() {
    let (sb, port) = sidecar_sandbox(&[]);
    let mut rt = Running::start(&sb, &["execute", "--query-server-only"]);
    eventually(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).ok()).expect("front up");
    let t0 = Instant::now();
    assert_eq!(rt.stop(), Some(0), "{}", rt.output());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}
