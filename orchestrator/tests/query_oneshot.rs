//! One-shot queries against the real engine, through `query-server` in this process: a scheduled
//! bot's query in its own container (parameters via `QUERY_PARAMS`), the error outcomes (non-zero
//! exit with logs, garbage result, bot-reported error, deadline), the bound on query containers
//! (503), and the cleanup of leftovers at start and of queries under way at shutdown. After each,
//! no container and no result object is left.

mod common;
mod query_common;

use std::time::Duration;

use common::*;
use query_common::*;
use serde_json::json;

const SCHEDULED: &str = "*/5 * * * *";

/// A query server with one scheduled query bot `bot`.
async fn setup(extra: &[&str]) -> (tempfile::TempDir, Cleanup, QueryProc, String) {
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("qone");
    let guard = Cleanup(inst.clone());
    let q = QueryProc::start(dir.path(), &inst, extra).await;
    let bot = unique("sched");
    let key = format!("u/{bot}/1");
    put_query_code(&q.objects(), &key);
    q.put(&query_payload(&bot, &key, json!({"schedule": SCHEDULED, "symbol": "ETH"}), true));
    q.wait_indexed(&bot, true).await;
    (dir, guard, q, bot)
}

/// Nothing of `bot`'s queries is left: no container of the instance, no result object.
fn assert_nothing_left(q: &QueryProc, inst: &str, bot: &str) {
    assert!(containers(inst, None).is_empty(), "containers left: {:?}", containers(inst, None));
    let results = q.objects().join("query-results").join(bot);
    assert!(files_under(&results).is_empty(), "result objects left: {:?}", files_under(&results));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_bot_is_queried_in_a_one_shot_container() {
    let (_d, g, q, bot) = setup(&[]).await;
    let params = json!({"symbol": "BTC-USD", "depth": 5, "tags": ["a"]});
    let (s, v) = query(&q.addr, json!({"bot_id": bot, "query_path": "portfolio", "params": params})).await;
    assert_eq!(s, 200, "{v}");
    check_envelope(&v);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["data"]["mode"], "oneshot");
    assert_eq!(v["data"]["path"], "/portfolio", "leading / added");
    assert_eq!(v["data"]["params"], params, "QUERY_PARAMS verbatim");
    assert_eq!(v["data"]["bot_type"], "scheduled");
    assert!(v["duration"].as_i64().unwrap() > 1_000_000, "{v}");
    assert_nothing_left(&q, &g.0, &bot);
    // No params: `{}`.
    let (s, v) = query(&q.addr, json!({"bot_id": bot, "query_path": "/p"})).await;
    assert_eq!((s, &v["data"]["params"]), (200, &json!({})), "{v}");
    assert_nothing_left(&q, &g.0, &bot);
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_error_envelopes_and_leave_nothing_behind() {
    let (_d, g, q, bot) = setup(&[]).await;
    for (path, timeout, want) in [
        ("/fail", 60, "query container exited with code 3: "),
        ("/garbage", 60, "failed to parse query result: this is not json"),
        ("/error", 60, "no such symbol"),
        ("/hang", 3, "query timed out after 3s"),
    ] {
        let t0 = std::time::Instant::now();
        let (s, v) = query(&q.addr, json!({"bot_id": bot, "query_path": path, "timeout_sec": timeout})).await;
        assert_eq!(s, 500, "{path}: {v}");
        check_envelope(&v);
        assert_eq!(v["status"], "error", "{path}: {v}");
        let err = v["error"].as_str().unwrap();
        assert!(err.contains(want), "{path}: {err}");
        if path == "/fail" {
            assert!(err.contains("query program failing on purpose"), "the logs are quoted: {err}");
        }
        if path == "/hang" {
            assert!(t0.elapsed() < Duration::from_secs(20), "the deadline held: {:?}", t0.elapsed());
        }
        assert_nothing_left(&q, &g.0, &bot);
    }
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_containers_are_bounded_with_a_clear_503() {
    let (_d, g, q, bot) = setup(&["--max-query-containers", "2"]).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let addr = q.addr.clone();
        let bot = bot.clone();
        tasks.push(tokio::spawn(async move {
            http(&addr, "POST", "/query", &json!({"bot_id": bot, "query_path": "/slow"}).to_string()).await
        }));
    }
    let (mut ok, mut busy) = (0, 0);
    for t in tasks {
        let (s, head, body) = t.await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        check_envelope(&v);
        match s {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
                assert!(v["error"].as_str().unwrap().contains("all 2 query containers are busy"), "{v}");
                assert_eq!(v["duration"], 0);
            }
            other => panic!("unexpected status {other}: {v}"),
        }
    }
    assert!((1..=2).contains(&ok) && ok + busy == 20, "ok {ok}, busy {busy}");
    assert_nothing_left(&q, &g.0, &bot);
    q.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn leftovers_are_removed_at_start_and_queries_under_way_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("qleft");
    let _g = Cleanup(inst.clone());
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec!["run", "-d", "--name", name, "--network", "none", "--entrypoint", "/bin/sleep"];
        let labels = [
            "runtime.managed=true".to_string(),
            "runtime.type=scheduled".to_string(),
            "runtime.id=b1".to_string(),
            format!("runtime.instance={inst}"),
        ];
        for l in &labels {
            args.extend(["--label", l.as_str()]);
        }
        args.extend(extra);
        let image = image();
        args.extend([image.as_str(), "600"]);
        assert!(!docker(&args).is_empty(), "docker run {name}");
    };
    let leftover = format!("the0-query-b1-1-00-{inst}");
    let sched_run = format!("the0-run-b1-{inst}");
    run(&leftover, &[]);
    run(&sched_run, &["--label", "runtime.due-ms=1000"]);
    let q = QueryProc::start(dir.path(), &inst, &[]).await;
    let gone = eventually(Duration::from_secs(20), || {
        let names =
            docker(&["ps", "-a", "--filter", &format!("label=runtime.instance={inst}"), "--format", "{{.Names}}"]);
        (!names.contains(&leftover)).then_some(names)
    })
    .expect("the leftover query container is removed");
    assert!(gone.contains(&sched_run), "a scheduled run is not a query container: {gone}");
    docker(&["rm", "-f", &sched_run]);

    // A query under way when the server stops: its container does not outlive the server.
    let bot = unique("sched");
    let key = format!("u/{bot}/1");
    put_query_code(&q.objects(), &key);
    q.put(&query_payload(&bot, &key, json!({"schedule": SCHEDULED}), true));
    q.wait_indexed(&bot, true).await;
    let addr = q.addr.clone();
    let b = bot.clone();
    let pending = tokio::spawn(async move {
        let body = json!({"bot_id": b, "query_path": "/hang", "timeout_sec": 120}).to_string();
        tokio::time::timeout(Duration::from_secs(60), http(&addr, "POST", "/query", &body)).await
    });
    eventually(Duration::from_secs(30), || (!containers(&inst, Some("running")).is_empty()).then_some(()))
        .expect("the query container starts");
    q.stop().await;
    assert!(containers(&inst, None).is_empty(), "left: {:?}", containers(&inst, None));
    pending.abort();
}
