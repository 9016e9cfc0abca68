//! The event history against a real SQLite file: numbering, both bounds, filters, the same
//! transaction as the status, and the upgrade of a store written before the table existed.

use super::*;
use crate::model::{BotRecord, Change};
use crate::observed::BotStatus;
use crate::store::{Mode, MIGRATIONS};
use serde_json::json;

fn store(r: Retention) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.set_event_retention(r);
    (dir, s)
}

fn ev(at_ms: i64, bot: &str, kind: Kind) -> NewEvent {
    NewEvent::new(at_ms, bot, kind, format!("{} at {at_ms}", kind.as_str()))
}

fn seqs(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

fn put(s: &Store, id: &str) {
    let rec = BotRecord { id: id.into(), config: json!({}), custom: json!({"filePath": "k"}), enabled: None };
    s.apply(&Change::Upsert(rec), Mode::Put, None).unwrap();
}

#[test]
fn numbered_in_order_filtered_by_bot_and_read_both_ways() {
    let (_d, s) = store(Retention::default());
    let kinds = [Kind::Started, Kind::Crashed, Kind::BackingOff, Kind::Started];
    for (i, k) in kinds.into_iter().enumerate() {
        s.record_events(&[ev(1000 + i as i64, if i % 2 == 0 { "a" } else { "b" }, k)]).unwrap();
    }
    s.record_events(&[]).unwrap();
    let all = s.events_since(None, 0, 100).unwrap();
    assert_eq!(seqs(&all), [1, 2, 3, 4]);
    assert_eq!(all[1].kind, Some(Kind::Crashed));
    assert_eq!((all[1].bot_id.as_str(), all[1].kind_text.as_str()), ("b", "crashed"));
    assert_eq!(seqs(&s.events_since(None, 2, 100).unwrap()), [3, 4], "after a seq");
    assert_eq!(seqs(&s.events_since(None, 0, 1).unwrap()), [1], "the oldest first, limited");
    assert_eq!(seqs(&s.events_since(Some("a"), 0, 100).unwrap()), [1, 3]);
    assert_eq!(seqs(&s.recent_events(None, 3).unwrap()), [4, 3, 2], "newest first");
    assert_eq!(seqs(&s.recent_events(Some("b"), 10).unwrap()), [4, 2]);
    assert!(s.recent_events(Some("nobody"), 10).unwrap().is_empty());
    assert!(s.recent_events(None, -1).unwrap().is_empty(), "a negative limit is none");
}

#[test]
fn bounded_by_count_and_by_age_and_seq_keeps_growing() {
    let hour = std::time::Duration::from_secs(3600);
    let (_d, s) = store(Retention { keep: 3, max_age: hour });
    for i in 0..5 {
        s.record_events(&[ev(i, "a", Kind::Started)]).unwrap();
    }
    assert_eq!(seqs(&s.events_since(None, 0, 100).unwrap()), [3, 4, 5], "the newest 3 kept");
    // One batch of two over the limit: still 3.
    s.record_events(&[ev(10, "a", Kind::Stopped), ev(11, "a", Kind::Started)]).unwrap();
    assert_eq!(seqs(&s.events_since(None, 0, 100).unwrap()), [5, 6, 7]);
    // An event an hour and more later: everything older than an hour goes.
    let later = 11 + hour.as_millis() as i64;
    s.record_events(&[ev(later, "b", Kind::Crashed)]).unwrap();
    assert_eq!(seqs(&s.events_since(None, 0, 100).unwrap()), [7, 8], "the one exactly an hour old stays");
    s.record_events(&[ev(later + 2 * hour.as_millis() as i64, "b", Kind::Started)]).unwrap();
    let left = s.events_since(None, 0, 100).unwrap();
    assert_eq!(seqs(&left), [9], "all older ones aged out; numbering goes on");
}

#[test]
fn status_and_events_are_one_transaction() {
    let (_d, s) = store(Retention::default());
    put(&s, "a");
    let crashed = BotStatus { restarts: 1, last_exit_code: Some(3), ..Default::default() };
    let e = [ev(5, "a", Kind::Crashed)];
    assert!(!s.set_status_if("a", Some(&crashed), &crashed, &e).unwrap(), "stale expectation");
    assert!(s.recent_events(None, 10).unwrap().is_empty(), "no status written, no event either");
    assert!(s.set_status_if("a", Some(&BotStatus::default()), &crashed, &e).unwrap());
    assert_eq!(s.recent_events(None, 10).unwrap().len(), 1);
    s.set_status_with("a", &BotStatus::default(), &[ev(6, "a", Kind::Steady)]).unwrap();
    assert_eq!(s.recent_events(Some("a"), 1).unwrap()[0].kind, Some(Kind::Steady));
    // History outlives its bot.
    s.apply(&Change::Delete("a".into()), Mode::Put, None).unwrap();
    assert_eq!(s.recent_events(Some("a"), 10).unwrap().len(), 2);
}

#[test]
fn a_restart_request_is_stored_with_its_event() {
    let (_d, s) = store(Retention::default());
    assert_eq!(s.request_restart("nobody", 7).unwrap(), None, "unknown bot");
    assert!(s.recent_events(None, 10).unwrap().is_empty());
    put(&s, "a");
    let v0 = s.version();
    assert_eq!(s.request_restart("a", 7).unwrap(), Some(()));
    assert_eq!(s.version(), v0 + 1, "the reconciler is woken");
    assert_eq!(s.get("a").unwrap().unwrap().1.restart_at, Some(7));
    let got = s.recent_events(Some("a"), 10).unwrap();
    assert_eq!((got.len(), got[0].kind, got[0].at_ms), (1, Some(Kind::RestartRequested), 7));
    // A status with other counts keeps the request; a new spec keeps it too.
    s.set_status("a", &BotStatus { restarts: 2, restart_at: Some(7), ..Default::default() }).unwrap();
    put(&s, "a");
    assert_eq!(s.get("a").unwrap().unwrap().1.restart_at, Some(7));
}

#[test]
fn a_store_of_the_previous_schema_is_upgraded_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
        for m in &MIGRATIONS[..2] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO bots (id, config, custom, enabled, updated_ms) VALUES ('a', '{}', '{}', NULL, 1);
             INSERT INTO bot_status (id, restarts) VALUES ('a', 4);",
        )
        .unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    let (_, st) = s.get("a").unwrap().unwrap();
    assert_eq!((st.restarts, st.restart_at), (4, None));
    s.record_events(&[ev(1, "a", Kind::Adopted)]).unwrap();
    assert_eq!(s.recent_events(None, 1).unwrap()[0].kind, Some(Kind::Adopted));
    assert_eq!(crate::store::known_ids(dir.path()).unwrap().len(), 1, "gc reads the new version");
}

#[test]
fn every_kind_reads_back() {
    for k in Kind::ALL {
        assert_eq!(Kind::parse(k.as_str()), Some(k));
    }
    assert_eq!(Kind::parse("from-a-newer-version"), None);
}

/// The status page's restart sparklines: crashes and requested restarts since a time, by bot,
/// in one query; starts, stops and older restarts are not restarts in the window.
#[test]
fn restart_times_are_crashes_and_requests_since_a_time_by_bot() {
    let (_d, s) = store(Retention::default());
    s.record_events(&[
        ev(500, "a", Kind::Crashed),
        ev(1000, "a", Kind::Started),
        ev(1100, "a", Kind::Crashed),
        ev(1200, "b", Kind::RestartRequested),
        ev(1300, "b", Kind::Stopped),
        ev(1400, "a", Kind::RestartRequested),
        ev(1500, "c", Kind::StartFailed),
    ])
    .unwrap();
    let all = s.restart_times(None, 1000).unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all["a"], [1100, 1400], "oldest first, the crash at 500 is before the window");
    assert_eq!(all["b"], [1200]);
    let one = s.restart_times(Some("b"), 0).unwrap();
    assert_eq!(one.keys().collect::<Vec<_>>(), ["b"]);
}
