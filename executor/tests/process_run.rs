//! The normal run as a real process against real storage (local directory and the S3 server):
//! code download, state restore and upload, NDJSON logs, done file, exit codes, restart restore.

mod common;

use std::time::Duration;

use common::*;

/// A shell bot that bumps a counter kept in state, logs SDK-shaped lines, and exits with $EXIT_CODE.
const COUNTER_BOT: &str = r#"#!/bin/sh
set -e
mkdir -p "$STATE_DIR"
n=0
[ -f "$STATE_DIR/counter.json" ] && n=$(cat "$STATE_DIR/counter.json")
n=$((n + 1))
echo "$n" > "$STATE_DIR/counter.json"
echo "{\"_metric\":\"runs\",\"value\":$n,\"big\":12345678901234567890}"
echo "{\"level\":\"info\",\"message\":\"run $n\"}" >&2
echo "plain line $n"
exit ${EXIT_CODE:-0}
"#;

async fn counter_roundtrip(mut sb: Sandbox) {
    sb.upload_code(&[("bot.sh", COUNTER_BOT, 0o644)]).await;
    sb.set("EXIT_CODE", "3").set("IS_SCHEDULED", "true");
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(3), "the bot's own exit code: {}", text(&out));
    assert_eq!(std::fs::read_to_string(sb.path("the0/done")).unwrap(), "3", "done file, no newline");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("plain line 1"), "bot stdout reaches the container output: {}", text(&out));

    let state = sb.shipped_state().await.expect("state archive uploaded");
    assert_eq!(std::fs::read_to_string(state.path().join(".the0-state/counter.json")).unwrap().trim(), "1");
    let logs = sb.shipped_logs().await;
    let metric = logs.iter().find(|r| r.get("_metric").is_some()).expect("metric record shipped");
    assert!(metric["timestamp"].is_string(), "timestamp added: {metric}");
    let raw = String::from_utf8_lossy(
        &sb.get_object(
            "bot-logs",
            &the0_contract::keys::log_key(&sb.bot_id, &the0_contract::timefmt::yyyymmdd(std::time::SystemTime::now())),
        )
        .await
        .unwrap(),
    )
    .to_string();
    assert!(raw.contains("12345678901234567890"), "big integers keep their text (D11): {raw}");
    assert!(logs.iter().any(|r| r["message"] == "plain line 1"), "plain lines wrapped: {logs:?}");
    assert!(logs.iter().any(|r| r["level"] == "info" && r["message"] == "run 1"), "stderr JSON kept: {logs:?}");

    // A new container: fresh local dirs, same storage -> state restored, counter continues.
    std::fs::remove_dir_all(sb.path("state")).unwrap();
    std::fs::remove_dir_all(sb.path("the0")).unwrap();
    std::fs::remove_dir_all(sb.path("bot")).unwrap();
    sb.set("EXIT_CODE", "0");
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("plain line 2"), "state restored: {}", text(&out));
    let state = sb.shipped_state().await.expect("state archive");
    assert_eq!(std::fs::read_to_string(state.path().join(".the0-state/counter.json")).unwrap().trim(), "2");
    let logs = sb.shipped_logs().await;
    assert_eq!(logs.iter().filter(|r| r["message"] == "plain line 1").count(), 1, "no duplicated log lines");
    assert!(logs.iter().any(|r| r["message"] == "plain line 2"), "second run appended");
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_bot_roundtrip_local_storage() {
    counter_roundtrip(Sandbox::local()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shell_bot_roundtrip_s3() {
    counter_roundtrip(Sandbox::s3()).await;
}

const PY_BOT: &str = r#"
import json, os, sys
def main(bot_id, config):
    d = os.environ["STATE_DIR"]
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "portfolio.json")
    data = json.load(open(path)) if os.path.exists(path) else {"runs": 0}
    data["runs"] += 1
    data["symbol"] = config.get("symbol")
    json.dump(data, open(path, "w"))
    print(json.dumps({"_metric": "price", "symbol": config.get("symbol"), "runs": data["runs"]}))
    print(json.dumps({"level": "info", "message": "hello from " + bot_id}), file=sys.stderr)
"#;

#[tokio::test(flavor = "multi_thread")]
async fn python_bot_through_the_wrapper_s3() {
    let mut sb = Sandbox::s3();
    sb.set("RUNTIME", "python3.11").set("ENTRYPOINT", "main.py").set("BOT_CONFIG", r#"{"symbol":"BTC"}"#);
    sb.upload_code(&[("main.py", PY_BOT, 0o644)]).await;
    for run in 1..=2 {
        let out = sb.execute();
        assert_eq!(out.status.code(), Some(0), "run {run}: {}", text(&out));
        let result: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(sb.path("bot/result.json")).unwrap()).unwrap();
        assert_eq!(result["status"], "success");
        let state = sb.shipped_state().await.expect("state");
        let p: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(state.path().join(".the0-state/portfolio.json")).unwrap())
                .unwrap();
        assert_eq!(p["runs"], run);
        assert_eq!(p["symbol"], "BTC");
        std::fs::remove_dir_all(sb.path("state")).unwrap();
        std::fs::remove_dir_all(sb.path("the0")).unwrap();
    }
    let logs = sb.shipped_logs().await;
    assert!(logs.iter().any(|r| r["message"] == format!("hello from {}", sb.bot_id)), "{logs:?}");
    assert_eq!(logs.iter().filter(|r| r["_metric"] == "price").count(), 2, "{logs:?}");
}

/// A bot whose one-file state changes at every sync: each upload after the first tries the
/// incremental way and falls back to a full one for the same reason. That reason is logged once,
/// not once per sync into the bot's own output (it was, once a second, under `make run`).
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_full_upload_fallback_is_logged_once() {
    let mut sb = Sandbox::local();
    let bot = "#!/bin/sh\nmkdir -p \"$STATE_DIR\"\nfor n in 1 2 3 4 5; do echo \"$n\" > \"$STATE_DIR/tick.json\"; sleep 0.6; done\n";
    sb.upload_code(&[("bot.sh", bot, 0o755)]).await;
    sb.set("IS_SCHEDULED", "true");
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    let uploads = all.lines().filter(|l| l.contains("\"state uploaded\"")).count();
    assert!(uploads >= 3, "the state changed and was uploaded several times: {all}");
    let fallbacks: Vec<&str> = all.lines().filter(|l| l.contains("incremental state upload not possible")).collect();
    assert_eq!(fallbacks.len(), 1, "one line for {uploads} uploads: {all}");
    assert!(fallbacks[0].contains("no segment can be reused"), "{}", fallbacks[0]);
    let state = sb.shipped_state().await.expect("state archive");
    assert_eq!(std::fs::read_to_string(state.path().join(".the0-state/tick.json")).unwrap().trim(), "5");
}

#[tokio::test(flavor = "multi_thread")]
async fn start_failure_is_logged_to_bot_log_and_exits_1() {
    let mut sb = Sandbox::local();
    sb.set("RUNTIME", "custom").set("ENTRYPOINT", "./missing-binary");
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = std::fs::read_to_string(sb.path("the0/logs/bot.log")).unwrap();
    let v: serde_json::Value = serde_json::from_str(log.trim()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["message"].as_str().unwrap().starts_with("Failed to start process: "), "{v}");
    let logs = sb.shipped_logs().await;
    assert!(logs.iter().any(|r| r["level"] == "error"), "the failure line is shipped: {logs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn children_do_not_see_storage_secrets() {
    let mut sb = Sandbox::s3();
    sb.set("NATS_URL", "nats://127.0.0.1:1").set("MONGO_URI", "mongodb://x");
    sb.upload_code(&[("bot.sh", "#!/bin/sh\necho \"secret=${MINIO_SECRET_KEY:-none} nats=${NATS_URL:-none} mongo=${MONGO_URI:-none} endpoint=${MINIO_ENDPOINT}\"\n", 0o755)]).await;
    let out = sb.execute();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("secret=none nats=none mongo=none endpoint="), "{}", text(&out));
    sb.set("THE0_SCRUB_CHILD_ENV", "false");
    let out = sb.execute();
    assert!(String::from_utf8_lossy(&out.stdout).contains("secret=test"), "{}", text(&out));
}

#[test]
fn signals_other_than_stop_are_forwarded() {
    let sb = {
        let mut sb = Sandbox::local();
        std::fs::create_dir_all(sb.path("bot")).unwrap();
        let script = "#!/bin/sh\ntrap 'echo got-usr1; exit 7' USR1\necho ready\nwhile true; do sleep 0.05; done\n";
        std::fs::write(sb.path("bot/bot.sh"), script).unwrap();
        sb.set("ENTRYPOINT", "bot.sh");
        sb
    };
    let child = sb.spawn();
    let log = sb.path("the0/logs/bot.log");
    eventually(Duration::from_secs(10), || std::fs::read_to_string(&log).ok().filter(|s| s.contains("ready")))
        .expect("bot started");
    send_signal(&child, libc::SIGUSR1);
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("got-usr1"));
}

/// Issue #10 end to end: a container restores the archive, then another writer replaces it (here
/// the bot itself, standing in for a second container of the same bot) before the state changes.
/// The executor must not overwrite it, and its last stdout line (`exit_reason`) must say the state
/// was not saved and why; `bot.log` says it too. The bot's own exit code is kept.
#[tokio::test(flavor = "multi_thread")]
async fn another_writers_archive_is_kept_and_the_exit_reason_says_so() {
    let mut sb = Sandbox::local();
    sb.upload_code(&[("bot.sh", COUNTER_BOT, 0o644)]).await;
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let object = sb.path(&format!("objects/bot-state/{}/state.tar.gz", sb.bot_id));
    assert!(object.exists(), "first run uploaded its state");
    // A new container of the same bot: the other writer strikes after the restore.
    std::fs::remove_dir_all(sb.path("state")).unwrap();
    std::fs::remove_dir_all(sb.path("the0")).unwrap();
    std::fs::remove_dir_all(sb.path("bot")).unwrap();
    let bot = format!(
        "#!/bin/sh\nset -e\nprintf 'newer archive' > '{o}.other' && mv '{o}.other' '{o}'\n\
         echo changed > \"$STATE_DIR/counter.json\"\n",
        o = object.display()
    );
    sb.upload_code(&[("bot.sh", &bot, 0o644)]).await;
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read(&object).unwrap(), b"newer archive", "the other writer's archive is kept");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).expect("a last line");
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last:?}\n{}", text(&out)));
    let reason = v["exit_reason"].as_str().unwrap_or_else(|| panic!("no exit_reason in {last:?}\n{}", text(&out)));
    assert!(reason.contains("state not saved") && reason.contains("another writer"), "{reason}");
    let log = std::fs::read_to_string(sb.path("the0/logs/bot.log")).unwrap();
    assert!(log.contains("another writer"), "{log}");
}
