//! Bad input and failures: corrupt or unreachable state (D4), state over the caps, storage going
//! away during syncs, hostile code zips. Each ends in a clear outcome and loses nothing.

mod common;

use std::time::Duration;

use common::proxy::Proxy;
use common::*;

const MARKER_BOT: &str = "#!/bin/sh\ntouch \"$BOT_RAN\"\necho ran\n";

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_state_archive_blocks_the_bot_and_never_touches_the_remote() {
    let mut sb = Sandbox::s3();
    let ran = sb.path("ran");
    sb.set("BOT_RAN", &ran.display().to_string());
    sb.upload_code(&[("bot.sh", MARKER_BOT, 0o755)]).await;
    let garbage = b"this is not a gzip archive".to_vec();
    let store = sb.store();
    let bucket = sb.backend.bucket("bot-state");
    store.ensure_bucket(&bucket).await.unwrap();
    let key = the0_contract::keys::state_key(&sb.bot_id);
    store.put_bytes(&bucket, &key, garbage.clone().into(), "application/gzip").await.unwrap();

    let out = sb.execute();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!ran.exists(), "the bot must not start");
    assert!(sb.path("the0/state-restore-failed").exists(), "blocking marker");
    assert!(is_dir_empty(&sb.path("state")), "no partial state left");
    let log = std::fs::read_to_string(sb.path("the0/logs/bot.log")).unwrap();
    assert!(log.contains("State restore failed"), "{log}");
    assert_eq!(sb.get_object("bot-state", &key).await.unwrap(), garbage, "remote archive untouched");
}

#[test]
fn unreachable_storage_blocks_the_bot() {
    let mut sb = Sandbox::local();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    sb.unset("THE0_STORAGE_DIR")
        .set("MINIO_ENDPOINT", &closed)
        .set("MINIO_ACCESS_KEY", "a")
        .set("MINIO_SECRET_KEY", "s");
    let ran = sb.path("ran");
    sb.set("BOT_RAN", &ran.display().to_string());
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    std::fs::write(sb.path("bot/bot.sh"), MARKER_BOT).unwrap();
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!ran.exists(), "the bot must not start without its state");
    assert!(sb.path("the0/state-restore-failed").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn state_over_the_caps_is_refused_and_the_bot_keeps_running() {
    let mut sb = Sandbox::local();
    sb.set("MAX_STATE_FILE_SIZE_MB", "1");
    let script = "#!/bin/sh\nmkdir -p \"$STATE_DIR\"\nhead -c 2097152 /dev/zero > \"$STATE_DIR/big.bin\"\nsleep 0.5\necho still-running\n";
    sb.upload_code(&[("bot.sh", script, 0o755)]).await;
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(sb.shipped_state().await.is_none(), "nothing uploaded");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("still-running"));
    assert!(
        stdout.to_lowercase().contains("refused") && stdout.contains("big.bin"),
        "refusal logged, naming the file: {stdout}"
    );
    assert!(sb.shipped_logs().await.iter().any(|r| r["message"] == "still-running"), "logs still shipped");
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_down_during_syncs_is_retried_and_nothing_is_lost_or_partial() {
    let proxy = Proxy::start(&s3_endpoint());
    let mut sb = Sandbox::s3_via(proxy.endpoint.clone());
    let (go1, go2) = (sb.path("go1"), sb.path("go2"));
    sb.set("GO1", &go1.display().to_string()).set("GO2", &go2.display().to_string());
    let script = r#"#!/bin/sh
mkdir -p "$STATE_DIR"
echo ready
while [ ! -f "$GO1" ]; do sleep 0.05; done
echo '{"v":1}' > "$STATE_DIR/s.json"
echo during-outage
while [ ! -f "$GO2" ]; do sleep 0.05; done
echo '{"v":2}' > "$STATE_DIR/s.json"
echo after-outage
sleep 1
"#;
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    std::fs::write(sb.path("bot/bot.sh"), script).unwrap();
    let child = sb.spawn();
    let log = sb.path("the0/logs/bot.log");
    eventually(Duration::from_secs(20), || std::fs::read_to_string(&log).ok().filter(|s| s.contains("ready")))
        .expect("ready");
    let shipped_ready = eventually(Duration::from_secs(20), || {
        let rt = tokio::runtime::Handle::current();
        let logs = std::thread::scope(|s| s.spawn(|| rt.block_on(sb.shipped_logs())).join().expect("join"));
        logs.iter().any(|r| r["message"] == "ready").then_some(())
    });
    assert!(shipped_ready.is_some(), "the ready line is shipped before the outage");
    proxy.set_up(false);
    std::fs::write(&go1, "").unwrap();
    std::thread::sleep(Duration::from_secs(3)); // syncs fail meanwhile
    assert!(sb.shipped_state().await.is_none(), "nothing (partial) uploaded during the outage");
    proxy.set_up(true);
    std::fs::write(&go2, "").unwrap();
    let out = wait_output(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("will retry"), "failures were logged: {}", text(&out));
    let messages: Vec<String> =
        sb.shipped_logs().await.iter().map(|r| r["message"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(messages, vec!["ready", "during-outage", "after-outage"], "everything, once, in order");
    let state = sb.shipped_state().await.expect("state");
    assert_eq!(std::fs::read_to_string(state.path().join(".the0-state/s.json")).unwrap().trim(), r#"{"v":2}"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn zip_over_the_size_limit_exits_1() {
    let mut sb = Sandbox::local();
    sb.set("THE0_MAX_CODE_SIZE_MB", "1");
    let big = "x".repeat(2 * 1024 * 1024);
    sb.upload_code(&[("bot.sh", MARKER_BOT, 0o755), ("data.txt", &big, 0o644)]).await;
    let ran = sb.path("ran");
    sb.set("BOT_RAN", &ran.display().to_string());
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!ran.exists());
    assert!(text(&out).contains("code"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn zip_entries_escaping_code_path_are_skipped() {
    let mut sb = Sandbox::local();
    let ran = sb.path("ran");
    sb.set("BOT_RAN", &ran.display().to_string());
    sb.upload_code(&[
        ("bot.sh", MARKER_BOT, 0o755),
        ("../escaped.sh", "#!/bin/sh\n", 0o755),
        ("/abs.sh", "#!/bin/sh\n", 0o755),
    ])
    .await;
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(ran.exists(), "the bot ran");
    assert!(!sb.path("escaped.sh").exists(), "nothing written outside CODE_PATH");
    assert!(!std::path::Path::new("/abs.sh").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("escaped.sh"), "skip logged: {}", text(&out));
}
