//! The warm servers' book, pure: routing, freshness checks, the cap (least recently used out),
//! idle expiry, cold bots and shutdown, with times given (tokio's clock, paused).

use super::*;
use crate::docker::OneShot;
use crate::images::RuntimeImages;
use crate::model::BotRecord;
use crate::observed::State;
use serde_json::json;

const S: Duration = Duration::from_secs(1);

fn etag(s: &str) -> Option<String> {
    Some(s.to_string())
}

/// A book with a ready server of `id` at container `c-<id>`, started at `at`.
fn ready(book: &mut Book, id: &str, at: Instant, max: usize) -> Vec<Removal> {
    let (g, evicted) = book.begin(id, "h1", etag("e1"), at, max).expect("admitted");
    assert!(book.created(id, g, &format!("c-{id}")));
    assert!(book.ready(id, g));
    evicted
}

#[tokio::test(start_paused = true)]
async fn queries_take_the_one_shot_way_until_the_server_is_ready() {
    let t0 = Instant::now();
    let mut b = Book::default();
    assert_eq!(b.decide("a", "h1", t0), Decision::OneShot { remove: None }, "no server");
    let (g, evicted) = b.begin("a", "h1", etag("e1"), t0, 4).unwrap();
    assert!(evicted.is_empty());
    assert_eq!(b.begin("a", "h1", etag("e1"), t0, 4), None, "one server per bot");
    assert_eq!(b.decide("a", "h1", t0), Decision::OneShot { remove: None }, "being created");
    assert!(b.created("a", g, "c1"));
    assert_eq!(b.decide("a", "h1", t0), Decision::OneShot { remove: None }, "created, not ready");
    assert!(b.ready("a", g));
    // The ETag was read at the start: the next check is due a second later.
    assert_eq!(
        b.decide("a", "h1", t0 + S / 2),
        Decision::Proxy { container: "c1".into(), generation: g, check: false }
    );
    assert_eq!(b.decide("a", "h1", t0 + S), Decision::Proxy { container: "c1".into(), generation: g, check: true });
    assert_eq!(
        b.decide("a", "h1", t0 + S * 3 / 2),
        Decision::Proxy { container: "c1".into(), generation: g, check: false }
    );
    assert_eq!(b.decide("a", "h1", t0 + S * 2), Decision::Proxy { container: "c1".into(), generation: g, check: true });
}

#[tokio::test(start_paused = true)]
async fn a_different_etag_or_config_removes_the_server() {
    let t0 = Instant::now();
    for (recorded, now, want) in [
        (etag("e1"), etag("e1"), Verdict::Fresh),
        (None, None, Verdict::Fresh),
        (etag("e1"), etag("e2"), Verdict::Stale(Some(("a".into(), "c1".into())))),
        // The state was deleted, or first written after the start.
        (etag("e1"), None, Verdict::Stale(Some(("a".into(), "c1".into())))),
        (None, etag("e1"), Verdict::Stale(Some(("a".into(), "c1".into())))),
    ] {
        let mut b = Book::default();
        let (g, _) = b.begin("a", "h1", recorded.clone(), t0, 4).unwrap();
        b.created("a", g, "c1");
        b.ready("a", g);
        let verdict = b.verify("a", g, &now);
        assert_eq!(verdict, want, "{recorded:?} then {now:?}");
        assert_eq!(b.get("a").is_some(), want == Verdict::Fresh, "a stale server leaves the book");
        assert_eq!(b.verify("a", g + 1, &now), Verdict::Gone, "another start's check");
    }
    // Another config hash (the bot was updated): the old server goes, the query is one-shot.
    let mut b = Book::default();
    ready(&mut b, "a", t0, 4);
    assert_eq!(b.decide("a", "h2", t0), Decision::OneShot { remove: Some(("a".into(), "c-a".into())) });
    assert!(b.is_empty());
    // An unreadable ETag: checked again at the next query.
    let mut b = Book::default();
    ready(&mut b, "a", t0, 4);
    let Decision::Proxy { generation, check: true, .. } = b.decide("a", "h1", t0 + S) else { panic!("check due") };
    b.recheck("a", generation);
    assert!(matches!(b.decide("a", "h1", t0 + S), Decision::Proxy { check: true, .. }));
}

#[tokio::test(start_paused = true)]
async fn the_cap_removes_the_least_recently_used_first() {
    let t0 = Instant::now();
    let mut b = Book::default();
    assert!(ready(&mut b, "a", t0, 2).is_empty());
    assert!(ready(&mut b, "b", t0 + S, 2).is_empty());
    // `a` is queried again: `b` is now the least recently used.
    b.decide("a", "h1", t0 + S * 2);
    assert_eq!(ready(&mut b, "c", t0 + S * 3, 2), vec![("b".to_string(), "c-b".to_string())]);
    assert_eq!(b.len(), 2);
    assert!(b.get("a").is_some() && b.get("c").is_some());
    // Cap 1: each new one replaces the last.
    let mut b = Book::default();
    ready(&mut b, "a", t0, 1);
    assert_eq!(ready(&mut b, "b", t0 + S, 1), vec![("a".to_string(), "c-a".to_string())]);
    assert_eq!(b.len(), 1);
    // A server still being created is evicted without a container to remove; its start then
    // finds itself out of the book and removes what it created.
    let mut b = Book::default();
    let (g, _) = b.begin("a", "h1", None, t0, 1).unwrap();
    assert_eq!(b.begin("b", "h1", None, t0 + S, 1).map(|(_, e)| e), Some(vec![]));
    assert!(!b.created("a", g, "late"));
}

#[tokio::test(start_paused = true)]
async fn idle_servers_expire_after_the_window_counted_from_the_last_query() {
    let t0 = Instant::now();
    let keep = S * 60;
    let mut b = Book::default();
    ready(&mut b, "a", t0, 4);
    ready(&mut b, "b", t0, 4);
    b.decide("a", "h1", t0 + S * 50);
    for (at, want) in [
        (t0 + S * 59, vec![]),
        (t0 + S * 60, vec![("b".to_string(), "c-b".to_string())]),
        (t0 + S * 109, vec![]),
        (t0 + S * 110, vec![("a".to_string(), "c-a".to_string())]),
    ] {
        assert_eq!(b.expire(at, keep), want, "at {:?}", at - t0);
    }
    assert!(b.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_became_ready_makes_its_bot_cold_for_a_while() {
    let t0 = Instant::now();
    let mut b = Book::default();
    let (g, _) = b.begin("a", "h1", None, t0, 4).unwrap();
    b.created("a", g, "c1");
    assert_eq!(b.abandon("a", g, Some(t0 + COLD_FOR)), Some(("a".into(), "c1".into())));
    assert_eq!(b.begin("a", "h1", None, t0 + S, 4), None, "cold");
    assert_eq!(b.begin("a", "h1", None, t0 + COLD_FOR - S, 4), None, "still cold");
    assert!(b.begin("a", "h1", None, t0 + COLD_FOR, 4).is_some(), "warm again");
    // A stale start's abandon leaves a newer server alone.
    let mut b = Book::default();
    let (g1, _) = b.begin("a", "h1", None, t0, 4).unwrap();
    b.drop_bot("a");
    let (g2, _) = b.begin("a", "h1", None, t0, 4).unwrap();
    assert_eq!(b.abandon("a", g1, None), None);
    assert!(b.holds("a", g2));
}

#[tokio::test(start_paused = true)]
async fn runs_lost_servers_and_shutdown_take_servers_out() {
    let t0 = Instant::now();
    let mut b = Book::default();
    ready(&mut b, "a", t0, 4);
    ready(&mut b, "b", t0, 4);
    assert_eq!(b.lost("a", "another"), None, "a newer server of the bot stays");
    assert_eq!(b.lost("a", "c-a"), Some(("a".into(), "c-a".into())));
    assert_eq!(b.drop_bot("a"), None);
    let mut all = b.drain();
    all.sort();
    assert_eq!(all, vec![("b".to_string(), "c-b".to_string())]);
    assert_eq!(b.begin("c", "h1", None, t0, 4), None, "nothing starts after shutdown");
}

fn indexed(config: serde_json::Value, enabled: Option<bool>, query: bool) -> IndexedBot {
    let mut entry = json!({"bot": "bot.sh"});
    if query {
        entry["query"] = json!("q.sh");
    }
    let rec = BotRecord {
        id: "a".into(),
        config,
        custom: json!({"filePath": "u/a/1", "config": {"runtime": "gcc13", "entrypoints": entry}}),
        enabled: enabled.map(serde_json::Value::Bool),
    };
    IndexedBot::of(&rec, &RuntimeImages::default())
}

#[test]
fn a_server_stays_only_for_the_same_enabled_scheduled_queryable_bot() {
    let sched = json!({"schedule": "*/5 * * * *"});
    let own = |b: &IndexedBot| b.launch.as_ref().map(|l| l.hash.clone()).unwrap_or_default();
    let bot = indexed(sched.clone(), None, true);
    assert!(keeps(Some(&bot), &own(&bot)), "the same bot");
    assert!(!keeps(Some(&bot), "other"), "its spec changed");
    assert!(!keeps(None, &own(&bot)), "removed");
    // Each against its own hash, so only the reason named can refuse it.
    for (bot, why) in [
        (indexed(sched.clone(), Some(false), true), "disabled"),
        (indexed(json!({"schedule": "*/5 * * * *", "enabled": false}), None, true), "disabled in its config"),
        (indexed(json!({}), None, true), "a realtime bot"),
        (indexed(sched.clone(), None, false), "no query entrypoint"),
    ] {
        assert!(!keeps(Some(&bot), &own(&bot)), "{why}");
    }
}

#[test]
fn warm_containers_are_told_apart_from_runs_and_queries() {
    let o = |name: &str, due_ms: Option<i64>, warm: bool| OneShot {
        container: "c".into(),
        name: name.into(),
        bot_id: "a".into(),
        state: State::Running,
        due_ms,
        warm,
        created_ms: 0,
    };
    for (c, warm, query) in [
        (o("the0-warm-a", None, true), true, false),
        (o("the0-query-a-1-2", None, false), false, true),
        (o("the0-run-a", Some(1), false), false, false),
        // A warm label on a run (never made by us) is a run.
        (o("the0-run-a", Some(1), true), false, false),
    ] {
        assert_eq!(is_warm_container(&c), warm, "{c:?}");
        assert_eq!(super::super::oneshot::is_query_container(&c), query, "{c:?}");
    }
}
