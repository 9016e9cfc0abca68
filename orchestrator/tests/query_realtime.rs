//! Realtime queries through `serve`'s :9477 server against real containers on a Docker network
//! made by the test: parameters reach a handler that reads only the URL query string (D20), a
//! hanging or garbage-answering program gives an error envelope, a hundred concurrent queries to
//! a single-threaded program all get their answer without leaking connections, and a realtime
//! bot with no running container is answered by a one-shot container.

mod common;
mod query_common;

use std::time::Duration;

use common::*;
use query_common::*;
use serde_json::{json, Value};

/// An orchestrator whose bots run on a fresh network, and one running realtime query bot.
async fn setup(config: Value) -> (tempfile::TempDir, Network, Cleanup, Orch, String) {
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("qrt");
    let net = Network::create(&format!("the0-test-{inst}"));
    let guard = Cleanup(inst.clone());
    let o = Orch::start(dir.path(), &inst, &[], &[("DOCKER_NETWORK", net.0.as_str())]).await;
    let bot = unique("rt");
    let key = format!("u/{bot}/1");
    put_query_code(&o.objects(), &key);
    o.put(query_payload(&bot, &key, config, true)).await;
    (dir, net, guard, o, bot)
}

/// Waits (bounded) until a query through :9477 is answered by the bot's program.
async fn wait_answering(o: &Orch, bot: &str) {
    for _ in 0..300 {
        let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/cgi-bin/echo", "timeout_sec": 5})).await;
        if s == 200 && v["data"]["method"] == "POST" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("bot {bot} never answered a realtime query");
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_reach_a_handler_that_reads_only_the_url() {
    let (_d, _n, _g, o, bot) = setup(json!({})).await;
    o.wait_state(&bot, "running", Duration::from_secs(60)).await;
    let (s, _, body) = http(&o.query, "GET", "/health", "").await;
    assert_eq!((s, body.as_str()), (200, r#"{"status":"ok"}"#));
    wait_answering(&o, &bot).await;
    let params = json!({"symbol": "BTC-USD", "n": 5, "q": "a b&c"});
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "cgi-bin/echo", "params": params})).await;
    assert_eq!(s, 200, "{v}");
    check_envelope(&v);
    assert_eq!(v["status"], "ok");
    // Once each: the host appends them, the container's front does not repeat them.
    assert_eq!(v["data"]["query"], "n=5&q=a%20b%26c&symbol=BTC-USD", "{v}");
    assert!(v["duration"].as_i64().unwrap() > 0);
    // Parameters already in the path stay first.
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/cgi-bin/echo?x=1", "params": {"y": "2"}})).await;
    assert_eq!((s, v["data"]["query"].as_str()), (200, Some("x=1&y=2")), "{v}");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hanging_and_garbage_programs_give_error_envelopes() {
    let (_d, _n, _g, o, bot) = setup(json!({})).await;
    o.wait_state(&bot, "running", Duration::from_secs(60)).await;
    wait_answering(&o, &bot).await;
    let t0 = std::time::Instant::now();
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/cgi-bin/hang", "timeout_sec": 2})).await;
    assert_eq!(s, 500, "{v}");
    check_envelope(&v);
    assert_eq!(v["error"], "query timed out after 2s", "{v}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(v["duration"].as_i64().unwrap() >= 2_000_000_000, "{v}");
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/cgi-bin/garbage"})).await;
    assert_eq!((s, v["status"].as_str()), (500, Some("error")), "{v}");
    assert!(!v["error"].as_str().unwrap_or_default().is_empty(), "{v}");
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/no-such-handler"})).await;
    assert_eq!((s, v["status"].as_str()), (500, Some("error")), "{v}");
    // The bot still answers.
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/cgi-bin/echo"})).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")), "{v}");
    o.stop().await;
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_queries_to_a_single_threaded_program() {
    let (_d, _n, _g, o, bot) = setup(json!({})).await;
    o.wait_state(&bot, "running", Duration::from_secs(60)).await;
    wait_answering(&o, &bot).await;
    let before = open_fds();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let addr = o.query.clone();
        let bot = bot.clone();
        tasks.push(tokio::spawn(async move {
            query(&addr, json!({"bot_id": bot, "query_path": "/cgi-bin/serial", "timeout_sec": 60})).await
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        check_envelope(&v);
        assert_eq!((s, v["status"].as_str()), (200, Some("ok")), "{v}");
        seen.push(v["data"]["n"].as_i64().unwrap());
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 100, "each query was answered by its own run of the handler");
    // Idle pooled connections are bounded (8 per container); nothing else stays open.
    let settled = eventually_async(Duration::from_secs(10), || async {
        let now = open_fds();
        (now <= before + 10).then_some(now)
    })
    .await;
    assert!(settled.is_some(), "file descriptors: {before} before, {} after", open_fds());
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_realtime_bot_without_a_running_container_gets_a_one_shot() {
    let (_d, _n, g, o, bot) = setup(json!({"enabled": false})).await;
    o.wait_state(&bot, "disabled", Duration::from_secs(30)).await;
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/status", "params": {"a": "1"}})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["data"]["mode"].as_str(), v["data"]["params"]["a"].as_str()), (Some("oneshot"), Some("1")), "{v}");
    assert!(containers(&g.0, None).is_empty(), "the query container is removed");
    assert!(files_under(&o.objects().join("query-results").join(&bot)).is_empty(), "the result is deleted");
    o.stop().await;
}
