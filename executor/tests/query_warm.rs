//! Warm query mode (`THE0_QUERY_WARM=1`, issue 15) as a real process, with the environment the
//! host gives a scheduled bot's warm query server (`BOT_TYPE=scheduled`, `IS_SCHEDULED=true`, no
//! `QUERY_PATH`): the state is restored as a run restores it and served by the query program in
//! server mode; the bot never runs; a handler's write to `/state` is never uploaded and no log is
//! shipped; SIGTERM stops the program and exits 0; a restore failure exits 1 before the front
//! listens.

mod common;
mod query_common;

use std::time::{Duration, Instant};

use common::*;
use query_common::*;
use the0_executor::state::{write_tar_gz, Manifest};

const READY: Duration = Duration::from_secs(30);

/// A warm sandbox (local storage) whose remote state is `archive`, or a valid one holding
/// `.the0-state/positions.json` when `None`. Returns the archive stored.
async fn warm_sandbox(archive: Option<Vec<u8>>) -> (Sandbox, u16, Vec<u8>) {
    let mut sb = Sandbox::local();
    let port = free_port();
    sb.set("RUNTIME", "python3.11")
        .set("ENTRYPOINT", "main.py")
        .set("QUERY_ENTRYPOINT", "query.py")
        .set("BOT_TYPE", "scheduled")
        .set("IS_SCHEDULED", "true")
        .set("THE0_QUERY_WARM", "1")
        .set("THE0_QUERY_PORT", &port.to_string());
    sb.upload_code(&[("main.py", IDLE_BOT, 0o644), ("query.py", FIXTURE, 0o644)]).await;
    let archive = match archive {
        Some(a) => a,
        None => {
            let src = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(src.path().join(".the0-state")).unwrap();
            std::fs::write(src.path().join(".the0-state/positions.json"), "[4,5,6]").unwrap();
            let manifest = Manifest::scan(src.path()).unwrap();
            let mut out = Vec::new();
            write_tar_gz(src.path(), &manifest, &mut out).unwrap();
            out
        }
    };
    let store = sb.store();
    let bucket = sb.backend.bucket("bot-state");
    store.ensure_bucket(&bucket).await.unwrap();
    let key = the0_contract::keys::state_key(&sb.bot_id);
    store.put_bytes(&bucket, &key, archive.clone().into(), "application/gzip").await.unwrap();
    (sb, port, archive)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warm_server_serves_the_restored_state_and_uploads_nothing() {
    let (sb, port, archive) = warm_sandbox(None).await;
    let mut rt = Running::start(&sb, &["execute"]);
    let r = until_ok(port, "/state?key=positions", READY, &rt);
    assert_eq!(r.json()["data"]["value"], serde_json::json!([4, 5, 6]), "the restored state is served");
    let pid = get(port, "/pid").json()["data"]["pid"].as_i64().unwrap() as i32;
    // A handler writing into the state tree: kept in this process's state directory only.
    assert_eq!(post(port, "/touch-state", "{}").status, 200);
    assert!(sb.path("state/written-by-query.txt").exists(), "the write happened locally");
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    assert_eq!(rt.stop(), Some(0), "{}", rt.output());
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(!alive(pid), "the query program is stopped");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the front is closed");
    let out = rt.output();
    assert!(!out.contains("bot running") && !out.contains("bot started"), "the bot never ran: {out}");
    let key = the0_contract::keys::state_key(&sb.bot_id);
    assert_eq!(sb.get_object("bot-state", &key).await, Some(archive), "the state object is untouched");
    assert!(sb.shipped_logs().await.is_empty(), "no log is shipped");
    assert!(!sb.path("the0/done").exists(), "no done file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_failure_exits_1_before_serving() {
    let (sb, port, _) = warm_sandbox(Some(b"not a tar.gz".to_vec())).await;
    let mut rt = Running::start(&sb, &["execute"]);
    let t0 = Instant::now();
    while rt.is_running() && t0.elapsed() < Duration::from_secs(60) {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the front never listens");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(rt.stop(), Some(1), "{}", rt.output());
    assert!(rt.output().contains("cannot restore state"), "{}", rt.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warm_server_needs_a_query_entrypoint() {
    let (mut sb, _, _) = warm_sandbox(None).await;
    sb.unset("QUERY_ENTRYPOINT");
    let child = sb.command(&["execute"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("QUERY_ENTRYPOINT"));
}
