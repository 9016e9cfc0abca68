use serde_json::json;

use super::*;
use crate::images::RuntimeImages;

fn rec(config: Value, query: Option<&str>, runtime: &str) -> BotRecord {
    let mut entry = json!({"bot": "bot.sh"});
    if let Some(q) = query {
        entry["query"] = json!(q);
    }
    BotRecord {
        id: "b1".into(),
        config,
        custom: json!({"filePath": "u/b/1", "config": {"runtime": runtime, "entrypoints": entry}}),
        enabled: None,
    }
}

#[test]
fn routes_follow_the_contract() {
    let realtime = IndexedBot::of(&rec(json!({}), Some("query.sh"), "gcc13"), &RuntimeImages::default());
    let scheduled =
        IndexedBot::of(&rec(json!({"schedule": "*/5 * * * *"}), Some("query.sh"), "gcc13"), &RuntimeImages::default());
    let no_query = IndexedBot::of(&rec(json!({}), None, "gcc13"), &RuntimeImages::default());
    let empty_query = IndexedBot::of(&rec(json!({}), Some(""), "gcc13"), &RuntimeImages::default());
    let bad_runtime = IndexedBot::of(&rec(json!({}), Some("query.sh"), "cobol"), &RuntimeImages::default());
    let running = Some("c1");
    let one_shot = |b: &IndexedBot| Route::OneShot(b.launch.clone().unwrap());

    assert_eq!(route("x", None, None), Route::NotFound("bot \"x\" not found".into()));
    let no_entry = Route::NotFound("bot \"b1\" has no query entrypoint (custom.config.entrypoints.query)".into());
    assert_eq!(route("b1", Some(&no_query), running), no_entry);
    assert_eq!(route("b1", Some(&empty_query), None), no_entry);
    assert_eq!(route("b1", Some(&realtime), running), Route::Proxy("c1".into()));
    assert_eq!(route("b1", Some(&realtime), None), one_shot(&realtime));
    // A scheduled bot is never proxied, even if a container of it runs (the caller passes a
    // running instance only: Docker mode filters its observed container by state).
    assert_eq!(route("b1", Some(&scheduled), running), one_shot(&scheduled));
    match route("b1", Some(&bad_runtime), running) {
        Route::Unrunnable(m) => {
            assert!(m.starts_with("bot \"b1\" cannot be queried: unknown runtime \"cobol\""), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_index_follows_store_changes() {
    use crate::model::Change;
    use crate::store::Mode;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.apply(&Change::Upsert(rec(json!({}), Some("q.sh"), "gcc13")), Mode::Put, None).unwrap();
    let index = BotIndex::load(store.clone(), Arc::default()).unwrap();
    assert!(index.get("b1").is_some_and(|b| b.has_query && !b.scheduled));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(index.clone().follow(crate::shutdown::flag_set(rx)));
    store.apply(&Change::Upsert(rec(json!({"schedule": "@hourly"}), None, "gcc13")), Mode::Put, None).unwrap();
    let mut seen = false;
    for _ in 0..200 {
        if index.get("b1").is_some_and(|b| b.scheduled && !b.has_query) {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(seen, "the index saw the update");
    store.apply(&Change::Delete("b1".into()), Mode::Put, None).unwrap();
    let mut gone = false;
    for _ in 0..200 {
        if index.get("b1").is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(gone, "the index saw the delete");
    // A write through another connection (another process sharing the data dir) is seen too.
    let other = Store::open(dir.path()).unwrap();
    other.apply(&Change::Upsert(rec(json!({}), Some("q.sh"), "gcc13")), Mode::Put, None).unwrap();
    let mut back = false;
    for _ in 0..300 {
        if index.get("b1").is_some_and(|b| b.has_query) {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(back, "the index saw another connection's write");
    let _ = tx.send(true);
    task.await.unwrap();
}

#[test]
fn a_write_is_seen_at_once_before_the_index_reloads() {
    use crate::model::Change;
    use crate::store::Mode;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let index = BotIndex::load(store.clone(), Arc::default()).unwrap();
    assert!(index.get("b1").is_none());
    // No follower runs: only the version check can find the new bot.
    store.apply(&Change::Upsert(rec(json!({}), Some("q.sh"), "gcc13")), Mode::Put, None).unwrap();
    assert!(index.get("b1").is_some_and(|b| b.has_query && !b.scheduled));
    store.apply(&Change::Upsert(rec(json!({"schedule": "@hourly"}), None, "gcc13")), Mode::Put, None).unwrap();
    assert!(index.get("b1").is_some_and(|b| b.scheduled && !b.has_query), "an update is seen too");
    store.apply(&Change::Delete("b1".into()), Mode::Put, None).unwrap();
    assert!(index.get("b1").is_none(), "and a delete");
}

#[tokio::test]
async fn a_pushed_index_holds_what_it_was_last_given() {
    let index = BotIndex::pushed(Arc::default());
    assert!(index.get("b1").is_none());
    index.replace(&[rec(json!({}), Some("q.sh"), "gcc13")]);
    assert!(index.get("b1").is_some_and(|b| b.proxied()), "a realtime bot with a query entrypoint");
    index.replace(&[rec(json!({"schedule": "@hourly"}), Some("q.sh"), "gcc13")]);
    assert!(index.get("b1").is_some_and(|b| b.scheduled && !b.proxied()), "replaced, not merged");
    index.replace(&[]);
    assert!(index.get("b1").is_none());
    // Nothing to follow: it returns at shutdown.
    index.clone().follow(std::future::ready(())).await;
}
