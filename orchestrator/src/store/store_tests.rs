//! The store against a real SQLite file.

use super::*;
use serde_json::json;

fn rec(id: &str, v: i64) -> BotRecord {
    BotRecord { id: id.into(), config: json!({"v": v}), custom: json!({"filePath": "k"}), enabled: None }
}

#[test]
fn handlers_follow_the_contract_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(s.apply(&Change::Upsert(rec("a", 1)), Mode::Create, None).unwrap());
    assert!(!s.apply(&Change::Upsert(rec("a", 2)), Mode::Create, None).unwrap(), "created: no-op if exists");
    let mut r = rec("a", 1);
    r.enabled = Some(json!(false));
    assert!(s.apply(&Change::Upsert(r), Mode::Put, None).unwrap());
    assert!(s.apply(&Change::Upsert(rec("a", 3)), Mode::Update, None).unwrap());
    let (got, _) = s.get("a").unwrap().unwrap();
    assert_eq!((got.config["v"].clone(), got.enabled), (json!(3), Some(json!(false))), "updated keeps root enabled");
    assert!(!s.apply(&Change::Upsert(rec("a", 3)), Mode::Update, None).unwrap(), "identical = no change");
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.list().unwrap().len(), 1);
    assert!(s.apply(&Change::Delete("a".into()), Mode::Put, None).unwrap());
    assert!(!s.apply(&Change::Delete("a".into()), Mode::Put, None).unwrap());
    assert!(s.get("a").unwrap().is_none());
}

#[test]
fn status_is_kept_until_the_spec_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.set_status("ghost", &BotStatus { restarts: 1, ..Default::default() }).unwrap();
    s.apply(&Change::Upsert(rec("a", 1)), Mode::Put, None).unwrap();
    let st = BotStatus {
        restarts: 3,
        consecutive: 2,
        last_exit_code: Some(1),
        last_exit_at: Some(5),
        backoff_until: Some(9),
        failure_reason: Some("bot exited with code 1".into()),
        restart_at: Some(4),
    };
    s.set_status("a", &st).unwrap();
    assert_eq!(s.get("a").unwrap().unwrap().1, st);
    s.apply(&Change::Upsert(rec("a", 2)), Mode::Put, None).unwrap();
    let got = s.get("a").unwrap().unwrap().1;
    assert_eq!((got.restarts, got.consecutive, got.backoff_until, got.failure_reason), (3, 0, None, None));
    assert_eq!(got.restart_at, Some(4), "a restart asked for is not dropped by a new spec");
    assert_eq!(s.list().unwrap().len(), 1, "no status row without a bot");
}

#[test]
fn cursor_makes_redelivery_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(s.apply(&Change::Upsert(rec("a", 1)), Mode::Put, Some(("THE0_EVENTS", 5))).unwrap());
    assert_eq!(s.cursor("THE0_EVENTS").unwrap(), Some(5));
    assert!(!s.apply(&Change::Delete("a".into()), Mode::Put, Some(("THE0_EVENTS", 5))).unwrap());
    assert!(s.get("a").unwrap().is_some(), "an old sequence is not applied again");
    assert!(s.apply(&Change::Delete("a".into()), Mode::Put, Some(("THE0_EVENTS", 6))).unwrap());
    s.ping().unwrap();
}

#[test]
fn enable_and_disable_set_the_root_field_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.set_enabled("nobody", false).unwrap(), None, "unknown bot");
    s.apply(&Change::Upsert(rec("a", 1)), Mode::Put, None).unwrap();
    let v0 = s.version();
    assert_eq!(s.set_enabled("a", false).unwrap(), Some(true));
    assert_eq!(s.version(), v0 + 1, "watchers see the change");
    let (got, _) = s.get("a").unwrap().unwrap();
    assert_eq!((got.enabled, got.config), (Some(json!(false)), json!({"v": 1})), "the spec is kept");
    assert_eq!(s.set_enabled("a", false).unwrap(), Some(false), "already disabled: no change");
    assert_eq!(s.version(), v0 + 1);
    assert_eq!(s.set_enabled("a", true).unwrap(), Some(true));
    assert_eq!(s.get("a").unwrap().unwrap().0.enabled, Some(json!(true)));
}

/// the0 is the source of truth when it is connected: a later `the0.bot.updated` drops a local
/// `disable` (even one that changes nothing else) and brings back the root `enabled` the0 gave;
/// a redelivered `the0.bot.created` does not.
#[test]
fn a_the0_update_overrides_a_local_enable_or_disable() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.apply(&Change::Upsert(rec("a", 1)), Mode::Create, None).unwrap();
    s.set_enabled("a", false).unwrap();
    assert!(!s.apply(&Change::Upsert(rec("a", 1)), Mode::Create, None).unwrap(), "created again: no-op");
    assert_eq!(s.get("a").unwrap().unwrap().0.enabled, Some(json!(false)));
    assert!(s.apply(&Change::Upsert(rec("a", 1)), Mode::Update, None).unwrap(), "same spec, local layer dropped");
    assert_eq!(s.get("a").unwrap().unwrap().0.enabled, None, "the0 gave no root enabled");
    assert!(!s.apply(&Change::Upsert(rec("a", 1)), Mode::Update, None).unwrap(), "then identical: no change");

    let mut r = rec("b", 1);
    r.enabled = Some(json!(false));
    s.apply(&Change::Upsert(r), Mode::Put, None).unwrap();
    s.set_enabled("b", true).unwrap();
    assert_eq!(s.get("b").unwrap().unwrap().0.enabled, Some(json!(true)), "local enable wins until the0 speaks");
    s.apply(&Change::Upsert(rec("b", 2)), Mode::Update, None).unwrap();
    let (got, _) = s.get("b").unwrap().unwrap();
    assert_eq!((got.enabled, got.config), (Some(json!(false)), json!({"v": 2})), "the0's root enabled is back");
    assert_eq!(s.set_enabled("b", false).unwrap(), Some(false), "already disabled by the0: no change");
}

/// A state edit's hold stops the bot and its release puts back exactly the local layer there was
/// (none, or a local enable); a the0 update during the hold wins and the release leaves it.
#[test]
fn a_hold_for_a_state_edit_is_released_to_what_was_there() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.hold("nobody").unwrap(), None, "unknown bot");
    s.apply(&Change::Upsert(rec("a", 1)), Mode::Put, None).unwrap();
    let v0 = s.version();
    assert_eq!(s.hold("a").unwrap(), Some(None), "no local layer before");
    assert_eq!(s.get("a").unwrap().unwrap().0.enabled, Some(json!(false)), "held: disabled");
    assert_eq!(s.version(), v0 + 1, "the reconciler sees the hold");
    s.release("a", None).unwrap();
    assert_eq!(s.get("a").unwrap().unwrap().0.enabled, None, "released to no layer at all");
    assert_eq!(s.version(), v0 + 2);

    s.set_enabled("a", true).unwrap();
    let prev = s.hold("a").unwrap().unwrap();
    assert_eq!(prev.as_deref(), Some("true"));
    s.release("a", prev.as_deref()).unwrap();
    assert_eq!(s.get("a").unwrap().unwrap().0.enabled, Some(json!(true)), "the local enable is back");

    let prev = s.hold("a").unwrap().unwrap();
    s.apply(&Change::Upsert(rec("a", 2)), Mode::Update, None).unwrap();
    s.release("a", prev.as_deref()).unwrap();
    assert_eq!(s.get("a").unwrap().unwrap().0.enabled, None, "the0 spoke during the hold: its word stands");
}

/// Arrivals (for `the0_event_to_running_seconds`): a change that altered a bot is timed from its
/// apply; a pass drops those it saw and is not starting, never the ones applied after it read.
#[test]
fn arrivals_of_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(s.apply(&Change::Upsert(rec("a", 1)), Mode::Put, None).unwrap());
    assert!(s.apply(&Change::Upsert(rec("b", 1)), Mode::Create, None).unwrap());
    assert!(s.take_arrival("b").is_some());
    assert!(s.take_arrival("a").is_some());
    assert!(s.take_arrival("a").is_none(), "taken once");
    assert!(!s.apply(&Change::Upsert(rec("b", 1)), Mode::Update, None).unwrap(), "identical: no change");
    assert!(s.take_arrival("b").is_none(), "an unchanged record has no arrival");
    s.apply(&Change::Upsert(rec("a", 2)), Mode::Put, None).unwrap();
    s.apply(&Change::Upsert(rec("c", 1)), Mode::Put, None).unwrap();
    let seen = std::time::Instant::now();
    s.apply(&Change::Upsert(rec("d", 1)), Mode::Put, None).unwrap();
    s.drop_arrivals(seen, &|id| id == "a");
    assert!(s.take_arrival("a").is_some(), "being started: kept");
    assert!(s.take_arrival("c").is_none(), "seen and not started: dropped");
    assert!(s.take_arrival("d").is_some(), "applied after the pass read: kept");
    s.apply(&Change::Delete("a".into()), Mode::Put, None).unwrap();
    assert!(s.take_arrival("a").is_none(), "a delete starts nothing");
}

/// A pass takes, for each bot it starts, the arrival of the change it read, never a later one.
#[test]
fn a_pass_takes_only_the_arrivals_it_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.apply(&Change::Upsert(rec("a", 1)), Mode::Put, None).unwrap();
    let seen = std::time::Instant::now();
    s.apply(&Change::Upsert(rec("b", 1)), Mode::Put, None).unwrap();
    assert!(s.take_arrival_before("a", seen).is_some(), "read by the pass");
    assert!(s.take_arrival_before("a", seen).is_none(), "taken once");
    assert!(s.take_arrival_before("b", seen).is_none(), "applied after the pass read");
    assert!(s.take_arrival("b").is_some(), "left for the pass that reads it");
    assert!(s.take_arrival_before("nobody", seen).is_none());
}

#[test]
fn a_row_whose_json_no_longer_parses_is_replaced_by_the_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    assert!(s.apply(&Change::Upsert(rec("a", 1)), Mode::Put, None).unwrap());
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.execute("UPDATE bots SET config = '{not json', local_enabled = 'nope' WHERE id = 'a'", []).unwrap();
    }
    assert!(!s.apply(&Change::Upsert(rec("a", 2)), Mode::Create, None).unwrap(), "created: the row exists");
    assert!(s.apply(&Change::Upsert(rec("a", 2)), Mode::Update, None).unwrap(), "updated repairs the row");
    let (got, _) = s.get("a").unwrap().unwrap();
    assert_eq!((got.config, got.enabled), (json!({"v": 2}), None));
}
