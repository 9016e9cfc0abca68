//! Bad input at the :9477 server, each kind its own test: every one gets the contract's status
//! and an envelope naming what was wrong, with a zero duration (nothing ran). The server runs as
//! `query-server` in this process; no container is started by any of these.

mod common;
mod query_common;

use common::*;
use query_common::*;
use serde_json::{json, Value};

async fn server() -> (tempfile::TempDir, Cleanup, QueryProc) {
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("qerr");
    let guard = Cleanup(inst.clone());
    let q = QueryProc::start(dir.path(), &inst, &[]).await;
    (dir, guard, q)
}

/// Sends `body` raw and checks a refusal: status, zero duration, error text containing `want`.
async fn refused(addr: &str, body: &str, status: u16, want: &str) {
    let (s, _, text) = http(addr, "POST", "/query", body).await;
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{body}: not JSON: {text}"));
    assert_eq!(s, status, "{body}: {v}");
    check_envelope(&v);
    assert_eq!((v["status"].as_str(), v["duration"].as_i64()), (Some("error"), Some(0)), "{body}: {v}");
    let err = v["error"].as_str().unwrap_or_default();
    assert!(err.contains(want), "{body}: error {err:?} lacks {want:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_methods_and_other_paths() {
    let (_d, _g, q) = server().await;
    for method in ["GET", "POST", "HEAD", "DELETE"] {
        let (s, _, body) = http(&q.addr, method, "/health", "").await;
        assert_eq!(s, 200, "{method}");
        if method != "HEAD" {
            assert_eq!(body, r#"{"status":"ok"}"#, "{method}");
        }
    }
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let (s, head, body) = http(&q.addr, method, "/query", "").await;
        assert_eq!(s, 405, "{method}");
        assert!(head.to_ascii_lowercase().contains("allow: post"), "{head}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].as_str().unwrap().contains("use POST"), "{v}");
    }
    for path in ["/", "/queries", "/query/x", "/healthz"] {
        let (s, head, body) = http(&q.addr, "POST", path, "{}").await;
        assert_eq!((s, body.as_str()), (404, "404 page not found\n"), "{path}");
        assert!(head.contains("text/plain"), "{head}");
    }
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_400() {
    let (_d, _g, q) = server().await;
    for body in ["", "{", "not json", "{\"bot_id\":\"b\",}", "[1,2]", "null", "\"text\""] {
        let want = if body.starts_with('[') || body == "null" || body.starts_with('"') {
            "must be a JSON object"
        } else {
            "not valid JSON"
        };
        refused(&q.addr, body, 400, want).await;
    }
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_fields_are_400() {
    let (_d, _g, q) = server().await;
    for (body, want) in [
        (json!({"query_path": "/p"}), "field `bot_id` is required"),
        (json!({"bot_id": "", "query_path": "/p"}), "field `bot_id` is required"),
        (json!({"bot_id": "b"}), "field `query_path` is required"),
        (json!({"bot_id": "b", "query_path": null}), "field `query_path` is required"),
        (json!({}), "field `bot_id` is required"),
    ] {
        refused(&q.addr, &body.to_string(), 400, want).await;
    }
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_are_400() {
    let (_d, _g, q) = server().await;
    for (body, want) in [
        (json!({"bot_id": 1, "query_path": "/p"}), "field `bot_id` must be a string, got a number"),
        (json!({"bot_id": "b", "query_path": {"p": 1}}), "field `query_path` must be a string, got an object"),
        (json!({"bot_id": "b", "query_path": "/p", "params": [1]}), "field `params` must be an object, got an array"),
        (json!({"bot_id": "b", "query_path": "/p", "timeout_sec": "30"}), "got a string"),
        (json!({"bot_id": "b", "query_path": "/p", "timeout_sec": 2.5}), "got a fraction"),
    ] {
        refused(&q.addr, &body.to_string(), 400, want).await;
    }
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_paths_with_control_characters_are_400() {
    let (_d, _g, q) = server().await;
    for (path, want) in [
        ("/a\nb", "control character"),
        ("/a\r\nHost: evil", "control character"),
        ("/a\u{0}", "control character"),
        ("/a%0d%0ax", "control character"),
        ("/../../etc/passwd", "'..' segment"),
        ("/a b", "not a valid URL path"),
    ] {
        let body = json!({"bot_id": "b", "query_path": path}).to_string();
        refused(&q.addr, &body, 400, want).await;
    }
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_of_zero_or_less_are_400_and_huge_ones_are_capped() {
    let (_d, _g, q) = server().await;
    for t in [json!(0), json!(-1), json!(-3600)] {
        let body = json!({"bot_id": "b", "query_path": "/p", "timeout_sec": t}).to_string();
        refused(&q.addr, &body, 400, "must be at least 1 second").await;
    }
    // A huge timeout is accepted (capped at 300 s): the request gets past parsing to the lookup.
    let body = json!({"bot_id": "nobody", "query_path": "/p", "timeout_sec": 1u64 << 40}).to_string();
    refused(&q.addr, &body, 404, "bot \"nobody\" not found").await;
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_bots_and_bots_without_a_query_entrypoint_are_404() {
    let (_d, _g, q) = server().await;
    refused(&q.addr, &json!({"bot_id": "ghost", "query_path": "/p"}).to_string(), 404, "bot \"ghost\" not found").await;
    q.put(&query_payload("noq", "u/noq/1", json!({}), false));
    q.wait_indexed("noq", false).await;
    let body = json!({"bot_id": "noq", "query_path": "/p"}).to_string();
    refused(&q.addr, &body, 404, "has no query entrypoint").await;
    // A bot with a query entrypoint but an unusable spec: an error envelope (500), nothing runs.
    let mut bad = query_payload("badrt", "u/badrt/1", json!({}), true);
    bad["custom"]["config"]["runtime"] = json!("cobol");
    q.put(&bad);
    q.wait_indexed("badrt", false).await;
    let body = json!({"bot_id": "badrt", "query_path": "/p"}).to_string();
    refused(&q.addr, &body, 500, "unknown runtime \"cobol\"").await;
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_413() {
    let (_d, _g, q) = server().await;
    let big = json!({"bot_id": "b", "query_path": "/p", "params": {"x": "y".repeat(2 * 1024 * 1024)}}).to_string();
    refused(&q.addr, &big, 413, "limit").await;
    q.stop().await;
}
