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
    };
    s.set_status("a", &st).unwrap();
    assert_eq!(s.get("a").unwrap().unwrap().1, st);
    s.apply(&Change::Upsert(rec("a", 2)), Mode::Put, None).unwrap();
    let got = s.get("a").unwrap().unwrap().1;
    assert_eq!((got.restarts, got.consecutive, got.backoff_until, got.failure_reason), (3, 0, None, None));
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
