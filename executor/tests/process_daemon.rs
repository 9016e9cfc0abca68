//! The sidecar commands as processes: `daemon sync` (readiness port, waiting for the bot
//! container's `state-restored`, `--watch-done`, SIGTERM) and `daemon init` (code and state).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn sync_daemon(sb: &Sandbox, extra: &[&str]) -> Child {
    let (state, logs) = (sb.path("state").display().to_string(), sb.path("the0/logs").display().to_string());
    let mut args = vec!["daemon", "sync", "--bot-id", &sb.bot_id, "--state-path", &state, "--logs-path", &logs];
    args.extend_from_slice(extra);
    sb.command(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn daemon sync")
}

#[test]
fn daemon_sync_without_storage_names_minio_endpoint() {
    let mut sb = Sandbox::local();
    sb.unset("THE0_STORAGE_DIR");
    let child = sync_daemon(&sb, &[]);
    let out = wait_output(child, Duration::from_secs(20));
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("MINIO_ENDPOINT"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_sync_waits_for_the_restore_then_syncs_and_stops_on_the_done_file() {
    let sb = Sandbox::s3();
    let port = free_port();
    let done = sb.path("the0/done").display().to_string();
    std::fs::create_dir_all(sb.path("state/.the0-state")).unwrap();
    std::fs::create_dir_all(sb.path("the0/logs")).unwrap();
    let child = sync_daemon(&sb, &["--readiness-port", &port.to_string(), "--watch-done", &done, "--interval", "1h"]);
    let ready =
        eventually(Duration::from_secs(15), || http_get(port, "/readyz").filter(|r| r.starts_with("HTTP/1.1 200")));
    assert!(ready.is_some(), "readyz turns 200");
    assert!(http_get(port, "/healthz").unwrap().starts_with("HTTP/1.1 200"));

    // The bot container is still restoring: nothing may be uploaded yet.
    std::fs::write(sb.path("state/.the0-state/k.json"), "{\"half\":true}").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(sb.shipped_state().await.is_none(), "no upload before state-restored");

    std::fs::write(sb.path("the0/state-restored"), "").unwrap();
    std::thread::sleep(Duration::from_millis(800)); // the sidecar notices the marker (500 ms poll)
    std::fs::write(sb.path("state/.the0-state/k.json"), "{\"v\":2}").unwrap();
    std::fs::write(sb.path("the0/logs/bot.log"), "line one\nline two\n").unwrap();
    let uploaded = eventually(Duration::from_secs(15), || {
        let rt = tokio::runtime::Handle::current();
        std::thread::scope(|s| s.spawn(|| rt.block_on(sb.shipped_state())).join().unwrap())
    });
    let dir = uploaded.expect("state uploaded after a change once restored");
    assert_eq!(std::fs::read_to_string(dir.path().join(".the0-state/k.json")).unwrap(), "{\"v\":2}");

    std::fs::write(sb.path("the0/logs/bot.log"), "line one\nline two\nlast words").unwrap();
    std::fs::write(&done, "0").unwrap();
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let messages: Vec<String> =
        sb.shipped_logs().await.iter().map(|r| r["message"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(messages, vec!["line one", "line two", "last words"], "final sync ships the unterminated tail");
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_sync_final_sync_on_sigterm() {
    let sb = Sandbox::local();
    std::fs::create_dir_all(sb.path("state")).unwrap();
    std::fs::create_dir_all(sb.path("the0/logs")).unwrap();
    std::fs::write(sb.path("the0/state-restored"), "").unwrap();
    let child = sync_daemon(&sb, &["--interval", "1h"]);
    std::thread::sleep(Duration::from_millis(700));
    std::fs::write(sb.path("state/s.json"), "{\"x\":1}").unwrap();
    std::fs::write(sb.path("the0/logs/bot.log"), "bye\n").unwrap();
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = sb.shipped_state().await.expect("final sync uploaded state");
    assert_eq!(std::fs::read_to_string(dir.path().join("s.json")).unwrap(), "{\"x\":1}");
    assert_eq!(sb.shipped_logs().await[0]["message"], "bye");
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_init_fetches_code_and_restores_state() {
    let mut sb = Sandbox::s3();
    sb.upload_code(&[("bot.sh", "#!/bin/sh\n", 0o755)]).await;
    let code_file = sb.env["CODE_FILE"].clone();
    // A first run leaves state behind...
    let store = sb.store();
    let bucket = sb.backend.bucket("bot-state");
    store.ensure_bucket(&bucket).await.unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join(".the0-state")).unwrap();
    std::fs::write(src.path().join(".the0-state/k.json"), "{\"k\":1}").unwrap();
    let tgz =
        std::process::Command::new("tar").arg("-czf").arg("-").arg("-C").arg(src.path()).arg(".").output().unwrap();
    store
        .put_bytes(&bucket, &the0_contract::keys::state_key(&sb.bot_id), tgz.stdout.into(), "application/gzip")
        .await
        .unwrap();

    let (code, state) = (sb.path("bot").display().to_string(), sb.path("state").display().to_string());
    let args = [
        "daemon",
        "init",
        "--bot-id",
        &sb.bot_id,
        "--code-path",
        &code,
        "--state-path",
        &state,
        "--code-file",
        &code_file,
    ];
    let out = wait_output(
        sb.command(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(sb.path("bot/bot.sh").exists(), "code extracted");
    assert_eq!(std::fs::read_to_string(sb.path("state/.the0-state/k.json")).unwrap(), "{\"k\":1}");

    // ...and a corrupt archive fails init with the blocking marker (D4).
    store
        .put_bytes(&bucket, &the0_contract::keys::state_key(&sb.bot_id), b"garbage".to_vec().into(), "application/gzip")
        .await
        .unwrap();
    std::fs::remove_dir_all(sb.path("state")).unwrap();
    std::fs::remove_dir_all(sb.path("the0")).unwrap();
    let out = wait_output(
        sb.command(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(sb.path("the0/state-restore-failed").exists());
}

#[test]
fn executor_publishes_log_chunks_to_nats() {
    let url =
        std::env::var("THE0_TEST_NATS_URL").expect("THE0_TEST_NATS_URL is not set: run the tests with `make test`");
    let mut sb = Sandbox::local();
    sb.bot_id = format!("{}.with.dots", sb.bot_id);
    let id = sb.bot_id.clone();
    sb.set("BOT_ID", &id).set("NATS_URL", &url);
    let subject = the0_contract::keys::log_subject(&id);
    assert!(!subject.trim_start_matches("the0.bot.logs.").contains('.'), "sanitised subject {subject}");
    let mut sub = common::nats_sub::Subscriber::subscribe(&url, &subject);
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    std::fs::write(
        sb.path("bot/bot.sh"),
        "#!/bin/sh\necho '{\"level\":\"info\",\"message\":\"to nats\"}'\necho plain\n",
    )
    .unwrap();
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let got = sub.collect(Duration::from_secs(10), |all| all.iter().map(|p| p.len()).sum::<usize>() >= 40);
    let raw: Vec<u8> = got.concat();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.contains("to nats") && raw.contains("plain"), "raw chunks published: {raw:?}");
    // The child never sees NATS_URL (D12).
    assert!(!raw.contains(&url));
}
