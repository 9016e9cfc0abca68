//! The waiting mode of an update's successor (`THE0_WAIT_FOR_RELEASE=1`, issue #15) as a real
//! process against a local object directory: the code is fetched but nothing else happens until
//! `runtime release`; the release's ETag decides which state archive is restored (never another);
//! a stop while waiting syncs nothing; a code that cannot be fetched fails before the wait.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Bumps a counter kept in state and says which value it saw; exits 0.
const COUNTER_BOT: &str = r#"#!/bin/sh
set -e
mkdir -p "$STATE_DIR"
n=0
[ -f "$STATE_DIR/counter.json" ] && n=$(cat "$STATE_DIR/counter.json")
n=$((n + 1))
echo "$n" > "$STATE_DIR/counter.json"
echo "counter is $n"
"#;

/// A sandbox whose bot already ran once (state archive with counter 1), with fresh local
/// directories, as a new container of the same bot would have; returns it and the archive's ETag.
async fn after_one_run() -> (Sandbox, String) {
    let mut sb = Sandbox::local();
    sb.upload_code(&[("bot.sh", COUNTER_BOT, 0o644)]).await;
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for d in ["state", "the0", "bot"] {
        std::fs::remove_dir_all(sb.path(d)).unwrap();
    }
    let key = the0_contract::keys::state_key(&sb.bot_id);
    let meta = sb.store().head("bot-state", &key).await.unwrap().expect("first run left a state archive");
    sb.set("THE0_WAIT_FOR_RELEASE", "1");
    (sb, meta.etag)
}

fn release(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let mut all = vec!["release"];
    all.extend_from_slice(args);
    let child = sb.command(&all).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    wait_output(child.expect("spawn release"), Duration::from_secs(10))
}

fn wait_prepared(sb: &Sandbox) {
    eventually(Duration::from_secs(20), || {
        let out = release(sb, &["--check"]);
        (out.status.code() == Some(0)).then_some(())
    })
    .expect("the successor reports prepared");
}

fn last_exit_reason(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).expect("a last line");
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}\n{}", text(out)));
    v["exit_reason"].as_str().unwrap_or_else(|| panic!("no exit_reason in {last:?}\n{}", text(out))).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_with_the_code_then_restores_the_released_version_and_runs() {
    let (sb, etag) = after_one_run().await;
    let before = release(&sb, &["--check"]);
    assert_eq!(before.status.code(), Some(2), "nothing runs yet: {}", text(&before));
    assert_eq!(String::from_utf8_lossy(&before.stdout).trim(), "preparing");
    let child = sb.spawn();
    wait_prepared(&sb);
    assert!(sb.path("bot/bot.sh").exists(), "the code is in place");
    // Waiting: no state restored, no bot started, no log written.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(is_dir_empty(&sb.path("state")), "no state restored before the release");
    assert!(!sb.path("the0/logs/bot.log").exists(), "the bot has not started");
    let out = release(&sb, &["--state-etag", &etag]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("counter is 2"), "restored, then ran: {}", text(&out));
    let checked = release(&sb, &["--check"]);
    assert_eq!(String::from_utf8_lossy(&checked.stdout).trim(), "released");
    let state = sb.shipped_state().await.expect("state archive");
    assert_eq!(std::fs::read_to_string(state.path().join(".the0-state/counter.json")).unwrap().trim(), "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_naming_another_version_restores_nothing_and_fails() {
    let (sb, _etag) = after_one_run().await;
    let key = the0_contract::keys::state_key(&sb.bot_id);
    let archive = sb.get_object("bot-state", &key).await.expect("archive");
    let child = sb.spawn();
    wait_prepared(&sb);
    // As if the old container's final sync were not visible yet and never became so.
    let out = release(&sb, &["--state-etag", "\"not-the-stored-version\""]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = wait_output(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let reason = last_exit_reason(&out);
    assert!(reason.contains("not-the-stored-version") && reason.contains("startup failed"), "{reason}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("counter is"), "the bot never ran: {}", text(&out));
    assert!(!sb.path("state/.the0-state/counter.json").exists(), "the other version was not extracted");
    assert_eq!(sb.get_object("bot-state", &key).await.as_deref(), Some(&archive[..]), "remote state untouched");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_run_is_released_without_an_etag() {
    let mut sb = Sandbox::local();
    sb.upload_code(&[("bot.sh", COUNTER_BOT, 0o644)]).await;
    sb.set("THE0_WAIT_FOR_RELEASE", "true");
    let child = sb.spawn();
    wait_prepared(&sb);
    let out = release(&sb, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("counter is 1"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_while_waiting_exits_without_syncing_anything() {
    let (sb, _etag) = after_one_run().await;
    let key = the0_contract::keys::state_key(&sb.bot_id);
    let archive = sb.get_object("bot-state", &key).await.expect("archive");
    let logs_before = sb.shipped_logs().await.len();
    let child = sb.spawn();
    wait_prepared(&sb);
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(128 + libc::SIGTERM), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("counter is"), "{}", text(&out));
    assert_eq!(sb.get_object("bot-state", &key).await.as_deref(), Some(&archive[..]), "state untouched");
    assert_eq!(sb.shipped_logs().await.len(), logs_before, "no log shipped");
}

#[tokio::test(flavor = "multi_thread")]
async fn code_that_cannot_be_fetched_fails_before_the_wait() {
    let mut sb = Sandbox::local();
    sb.upload_code(&[("bot.sh", COUNTER_BOT, 0o644)]).await;
    sb.set("THE0_WAIT_FOR_RELEASE", "1").set("CODE_FILE", "user/nobody/missing.zip");
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let reason = last_exit_reason(&out);
    assert!(reason.contains("startup failed") && reason.contains("code"), "{reason}");
    assert_eq!(String::from_utf8_lossy(&release(&sb, &["--check"]).stdout).trim(), "preparing");
}
