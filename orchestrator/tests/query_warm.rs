//! Warm query servers for scheduled bots (issue 15) through `serve`'s :9477 against real
//! containers on a Docker network made by the test. The bot's query program says how it was
//! asked (`mode`: `oneshot` in a query container, `server` behind a warm server's front) and
//! what its state holds (`price`). Proven here: a second query is proxied to the warm server
//! (its answer, `the0_queries_warm_total`, its container) and faster than the first; a changed
//! state object is never answered from the old state; a scheduled run's end replaces the server
//! and the next answers hold what the run wrote; an idle server is removed after
//! `--query-warm-for`; `--max-warm-query-servers 1` holds with two bots.

mod common;
mod query_common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use query_common::{check_envelope, query};
use serde_json::{json, Value};

/// One-shot: the result file; server mode: busybox httpd with the `state` CGI.
const QUERY: &str = r#"#!/bin/sh
price=$(cat /state/.the0-state/price.json 2>/dev/null || echo null)
if [ -n "$QUERY_PATH" ]; then
  printf '{"status":"ok","data":{"mode":"oneshot","price":%s}}' "$price" > /query/result.json
  exit 0
fi
exec httpd -f -p "127.0.0.1:$THE0_QUERY_PORT" -h /bot/www
"#;
const STATE_CGI: &str = "#!/bin/sh\nprice=$(cat /state/.the0-state/price.json 2>/dev/null || echo null)\n\
printf 'Content-Type: application/json\\r\\n\\r\\n{\"status\":\"ok\",\"data\":{\"mode\":\"server\",\"price\":%s}}' \"$price\"\n";
/// A run: one more than the last run's price.
const RUN: &str = "#!/bin/sh\nmkdir -p /state/.the0-state\n\
n=$(cat /state/.the0-state/price.json 2>/dev/null || echo 100)\necho $((n+1)) > /state/.the0-state/price.json\n";

/// A schedule that does not fire during a test.
const NEVER: &str = "0 0 1 1 *";

fn code() -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    for (name, body) in [("bot.sh", RUN), ("query.sh", QUERY), ("www/cgi-bin/state", STATE_CGI)] {
        z.start_file(name, opts).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// Stores `price` as the bot's state object, atomically (a new inode: a new ETag).
fn put_state(objects: &Path, bot: &str, price: i64) {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    b.append_data(&mut dir, ".the0-state/", std::io::empty()).unwrap();
    let data = price.to_string();
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, ".the0-state/price.json", data.as_bytes()).unwrap();
    let gz = the0_orchestrator::botstate::archive::gzip(&b.into_inner().unwrap());
    let d = objects.join("bot-state").join(bot);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("state.tmp"), gz).unwrap();
    std::fs::rename(d.join("state.tmp"), d.join("state.tar.gz")).unwrap();
}

/// `serve` on a fresh network with `extra` flags.
async fn setup(extra: &[&str]) -> (tempfile::TempDir, Network, Cleanup, Orch) {
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("qwarm");
    let net = Network::create(&format!("the0-test-{inst}"));
    let guard = Cleanup(inst.clone());
    let o = Orch::start(dir.path(), &inst, extra, &[("DOCKER_NETWORK", net.0.as_str())]).await;
    (dir, net, guard, o)
}

/// Stores a scheduled query bot.
async fn put_bot(o: &Orch, schedule: &str) -> String {
    let bot = unique("wb");
    let key = format!("u/{bot}/1");
    let p = o.objects().join("custom-bots").join(&key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, code()).unwrap();
    o.put(json!({
        "id": bot,
        "config": {"schedule": schedule},
        "custom": {"filePath": key, "version": "1.0.0",
                   "config": {"name": "w", "runtime": "gcc13", "entrypoints": {"bot": "bot.sh", "query": "query.sh"}}}
    }))
    .await;
    bot
}

/// One query of the state: (mode, price, duration in ms as :9477 measured it).
async fn ask(o: &Orch, bot: &str) -> (String, Value, f64) {
    let (s, v) = query(&o.query, json!({"bot_id": bot, "query_path": "/cgi-bin/state", "timeout_sec": 60})).await;
    assert_eq!(s, 200, "{v}");
    check_envelope(&v);
    let ms = v["duration"].as_f64().unwrap_or(0.0) / 1e6;
    (v["data"]["mode"].as_str().unwrap_or_default().to_string(), v["data"]["price"].clone(), ms)
}

/// Queries until the answer comes from the warm server (bounded); its price.
async fn until_warm(o: &Orch, bot: &str) -> Value {
    let t0 = Instant::now();
    loop {
        let (mode, price, _) = ask(o, bot).await;
        if mode == "server" {
            return price;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "bot {bot} never answered from a warm server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Names of the instance's warm query servers (any state).
fn warm_containers(inst: &str) -> Vec<String> {
    let f1 = format!("label=runtime.instance={inst}");
    docker(&["ps", "-a", "--filter", &f1, "--filter", "label=runtime.warm=true", "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

async fn metric(o: &Orch, name: &str) -> f64 {
    let (_, text) = o.get_text("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_query_is_warm_and_a_changed_state_is_never_answered_from_the_old_one() {
    let (_d, _n, g, o) = setup(&["--query-warm-for", "60s"]).await;
    let bot = put_bot(&o, NEVER).await;
    put_state(&o.objects(), &bot, 7);
    let (mode, price, cold_ms) = ask(&o, &bot).await;
    assert_eq!((mode.as_str(), &price), ("oneshot", &json!(7)));
    assert_eq!(metric(&o, "the0_queries_warm_total").await, 0.0);
    assert_eq!(until_warm(&o, &bot).await, json!(7));
    assert_eq!(warm_containers(&g.0), vec![format!("the0-warm-{bot}-{}", g.0)]);
    let warm_before = metric(&o, "the0_queries_warm_total").await;
    assert!(warm_before >= 1.0, "proxied to the warm server");
    assert_eq!(metric(&o, "the0_query_warm_servers").await, 1.0);
    let mut warm_ms = Vec::new();
    for _ in 0..5 {
        let (mode, price, ms) = ask(&o, &bot).await;
        assert_eq!((mode.as_str(), &price), ("server", &json!(7)));
        warm_ms.push(ms);
    }
    assert_eq!(metric(&o, "the0_queries_warm_total").await, warm_before + 5.0);
    warm_ms.sort_by(f64::total_cmp);
    assert!(warm_ms[2] * 5.0 < cold_ms, "warm median {} ms against a one-shot's {cold_ms} ms", warm_ms[2]);

    // An edit of the state (as the admin API or `state` would make it): a second later at most,
    // no answer holds the old value.
    put_state(&o.objects(), &bot, 8);
    let changed = Instant::now();
    loop {
        let (mode, price, _) = ask(&o, &bot).await;
        if price == json!(8) {
            break;
        }
        assert_eq!((mode.as_str(), &price), ("server", &json!(7)), "only the warm server may lag, and only for 1 s");
        assert!(changed.elapsed() < Duration::from_millis(1100), "the old state answered after the check was due");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(until_warm(&o, &bot).await, json!(8), "a fresh warm server with the new state");
    o.stop().await;
    let t0 = Instant::now();
    while !warm_containers(&g.0).is_empty() && t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(warm_containers(&g.0).is_empty(), "shutdown removes warm servers");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_run_replaces_the_warm_server_with_its_state() {
    let (_d, _n, g, o) = setup(&["--query-warm-for", "120s"]).await;
    let bot = put_bot(&o, "@every 20s").await;
    let (mode, first, _) = ask(&o, &bot).await;
    assert_eq!(mode, "oneshot");
    assert_eq!(until_warm(&o, &bot).await, first);
    // The first run ends (it adds one to the price and syncs): the next answers hold its price.
    let want = json!(first.as_i64().unwrap_or(100) + 1);
    let runs = format!("/bots/{bot}/runs");
    let t0 = Instant::now();
    let ended = loop {
        let (_, v) = o.api("GET", &runs, None).await;
        let done = v.as_array().into_iter().flatten().any(|r| r["ended_at"].is_string());
        if done {
            break Instant::now();
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no run ended: {v}");
        // Meanwhile: the state before the run, or (once its final sync is checked) the run's.
        let (_, price, _) = ask(&o, &bot).await;
        assert!(price == first || price == want, "{price} is neither {first} nor {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (mode, price, _) = ask(&o, &bot).await;
    assert_eq!(price, want, "the run's state, {:?} after it ended (mode {mode})", ended.elapsed());
    assert_eq!(until_warm(&o, &bot).await, want);
    assert_eq!(warm_containers(&g.0).len(), 1);
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_servers_are_removed_after_the_window_and_the_cap_holds() {
    let (_d, _n, g, o) = setup(&["--query-warm-for", "4s", "--max-warm-query-servers", "1"]).await;
    let (a, b) = (put_bot(&o, NEVER).await, put_bot(&o, NEVER).await);
    ask(&o, &a).await;
    until_warm(&o, &a).await;
    assert_eq!(warm_containers(&g.0), vec![format!("the0-warm-{a}-{}", g.0)]);
    // A second bot warms up: the cap of one removes the first (least recently used) first.
    ask(&o, &b).await;
    let t0 = Instant::now();
    loop {
        let names = warm_containers(&g.0);
        assert!(names.len() <= 1, "over the cap: {names:?}");
        if names == vec![format!("the0-warm-{b}-{}", g.0)] {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "b never got the warm server: {names:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(until_warm(&o, &b).await, Value::Null);
    let (mode, _, _) = ask(&o, &a).await;
    assert_eq!(mode, "oneshot", "a lost its server to b");
    // No query for the window: removed (the sweep runs every second).
    let idle = Instant::now();
    while !warm_containers(&g.0).is_empty() {
        assert!(idle.elapsed() < Duration::from_secs(20), "idle servers left: {:?}", warm_containers(&g.0));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(idle.elapsed() >= Duration::from_secs(2), "not before the window: {:?}", idle.elapsed());
    assert_eq!(metric(&o, "the0_query_warm_servers").await, 0.0);
    o.stop().await;
}
