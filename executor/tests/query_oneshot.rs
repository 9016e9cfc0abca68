//! One-shot query mode (`execute --query P` / `QUERY_PATH`) as a real process: code and state are
//! fetched, the query runs once with `QUERY_PATH`, `QUERY_PARAMS` and `QUERY_PARAM_*`, the result
//! is written locally and uploaded under `QUERY_RESULT_KEY` (real S3 server and local directory)
//! whatever the exit code; no `bot.log`, no marker, and the state is never uploaded.

mod common;
mod query_common;

use common::*;
use query_common::*;
use the0_executor::state::{write_tar_gz, Manifest};

/// A one-shot sandbox whose remote state holds `.the0-state/positions.json`.
async fn oneshot_sandbox(mut sb: Sandbox, query_path: &str) -> (Sandbox, Vec<u8>) {
    sb.set("RUNTIME", "python3.11")
        .set("ENTRYPOINT", "main.py")
        .set("QUERY_ENTRYPOINT", "query.py")
        .set("QUERY_PATH", query_path)
        .set("QUERY_PARAMS", r#"{"symbol":"BTC/USD","limit":5,"key":"positions"}"#);
    sb.upload_code(&[("main.py", IDLE_BOT, 0o644), ("query.py", FIXTURE, 0o644)]).await;
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join(".the0-state")).unwrap();
    std::fs::write(src.path().join(".the0-state/positions.json"), r#"[{"sym":"BTC","qty":2}]"#).unwrap();
    let manifest = Manifest::scan(src.path()).unwrap();
    let mut archive = Vec::new();
    write_tar_gz(src.path(), &manifest, &mut archive).unwrap();
    let store = sb.store();
    let bucket = sb.backend.bucket("bot-state");
    store.ensure_bucket(&bucket).await.unwrap();
    let key = the0_contract::keys::state_key(&sb.bot_id);
    store.put_bytes(&bucket, &key, archive.clone().into(), "application/gzip").await.unwrap();
    (sb, archive)
}

fn run(sb: &Sandbox, args: &[&str]) -> std::process::Output {
    let child = sb
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn runtime");
    wait_output(child, std::time::Duration::from_secs(60))
}

fn local_result(sb: &Sandbox) -> serde_json::Value {
    let text = std::fs::read_to_string(sb.path("query/result.json")).expect("local result.json");
    serde_json::from_str(&text).expect("result is JSON")
}

async fn roundtrip(sb: Sandbox) {
    let (mut sb, archive) = oneshot_sandbox(sb, "/echo").await;
    let key = format!("{}/1700000000000000000-0123456789abcdef/result.json", sb.bot_id);
    sb.set("QUERY_RESULT_KEY", &key);
    let out = run(&sb, &["execute"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let result = local_result(&sb);
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["data"]["params"], serde_json::json!({"symbol":"BTC/USD","limit":5,"key":"positions"}));
    assert_eq!(
        result["data"]["env"],
        serde_json::json!({"QUERY_PARAM_symbol":"BTC/USD","QUERY_PARAM_limit":"5","QUERY_PARAM_key":"positions"})
    );
    let uploaded = sb.get_object("query-results", &key).await.expect("result uploaded");
    assert_eq!(uploaded, std::fs::read(sb.path("query/result.json")).unwrap(), "the local file is what is uploaded");

    // State is restored for the query to read, and read-only: no marker, no bot.log, no upload.
    sb.set("QUERY_PATH", "/state");
    let out = run(&sb, &["execute"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(local_result(&sb)["data"]["value"], serde_json::json!([{"sym":"BTC","qty":2}]));
    sb.set("QUERY_PATH", "/touch-state");
    let out = run(&sb, &["execute"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(sb.path("state/written-by-query.txt").exists());
    let remote = sb.get_object("bot-state", &the0_contract::keys::state_key(&sb.bot_id)).await;
    assert_eq!(remote, Some(archive), "remote state untouched");
    assert!(!sb.path("the0/logs/bot.log").exists(), "no bot.log in query mode");
    assert!(!sb.path("the0/state-restored").exists(), "no marker that would let a later run skip its restore");
    assert!(sb.shipped_logs().await.is_empty(), "no logs shipped");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_shot_result_is_uploaded_to_s3() {
    roundtrip(Sandbox::s3()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_shot_result_is_uploaded_to_the_local_directory() {
    roundtrip(Sandbox::local()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_query_still_uploads_its_result_and_exits_1() {
    let (mut sb, _) = oneshot_sandbox(Sandbox::local(), "/fail").await;
    sb.set("QUERY_RESULT_KEY", "b/1/result.json");
    let out = run(&sb, &["execute"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let uploaded = sb.get_object("query-results", "b/1/result.json").await.expect("uploaded anyway");
    let v: serde_json::Value = serde_json::from_slice(&uploaded).unwrap();
    assert_eq!(v, serde_json::json!({"status":"error","error":"boom"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_flag_wins_and_without_a_key_the_exit_code_is_the_programs() {
    let (mut sb, _) = oneshot_sandbox(Sandbox::local(), "/fail").await;
    sb.unset("QUERY_ENTRYPOINT").set("ENTRYPOINT", "query.py"); // the K8s query Job's shape
    let out = run(&sb, &["execute", "--skip-sync", "--skip-query-server", "--query", "/ping"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(local_result(&sb), serde_json::json!({"status":"ok","data":{"pong":true}}));
    assert!(!sb.path("objects/query-results").exists(), "nothing uploaded without QUERY_RESULT_KEY");
    sb.unset("QUERY_PATH");
    let out = run(&sb, &["execute", "--query", "/fail"]);
    assert_eq!(out.status.code(), Some(1), "the program's own code: {}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_result_with_a_key_exits_1() {
    let (mut sb, _) = oneshot_sandbox(Sandbox::local(), "/no-result").await;
    std::fs::create_dir_all(sb.path("query")).unwrap();
    std::fs::write(sb.path("query/result.json"), "stale").unwrap();
    sb.set("QUERY_RESULT_KEY", "b/2/result.json");
    let out = run(&sb, &["execute"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(sb.get_object("query-results", "b/2/result.json").await.is_none(), "a stale result is never uploaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_code_exits_1_before_running_anything() {
    let (mut sb, _) = oneshot_sandbox(Sandbox::local(), "/ping").await;
    sb.set("CODE_FILE", "no/such/code");
    let out = run(&sb, &["execute"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!sb.path("query/result.json").exists());
}
