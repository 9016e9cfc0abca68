//! The run records against a real SQLite file.

use super::*;
use crate::model::{BotRecord, Change};
use crate::store::Mode;
use serde_json::json;

fn store_with(ids: &[&str]) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    for id in ids {
        let rec = BotRecord {
            id: id.to_string(),
            config: json!({"schedule": "* * * * *"}),
            custom: json!({}),
            enabled: None,
        };
        s.apply(&Change::Upsert(rec), Mode::Put, None).unwrap();
    }
    (dir, s)
}

fn state(next: i64) -> SchedState {
    SchedState { expr: "* * * * *".into(), next_due_ms: Some(next), failure: None, enabled: true }
}

#[test]
fn dispatch_saves_the_next_due_time_with_the_run() {
    let (_d, s) = store_with(&["b"]);
    let seq = s.begin_run("b", 1000, &state(2000)).unwrap().unwrap();
    assert_eq!(s.schedule_state("b").unwrap(), Some(state(2000)));
    assert_eq!(s.open_runs().unwrap().len(), 1);
    s.set_run_container(seq, "c1").unwrap();
    let ending =
        Ending { outcome: Outcome::Failed, exit_code: Some(3), reason: Some("x".into()), logs: vec!["l1".into()] };
    s.finish_run(seq, &ending).unwrap();
    let r = &s.runs("b", 10).unwrap()[0];
    assert_eq!(
        (r.due_ms, r.outcome, r.exit_code, r.container.as_deref()),
        (1000, Outcome::Failed, Some(3), Some("c1"))
    );
    assert_eq!(r.logs, vec!["l1"]);
    assert!(r.ended_ms.is_some() && r.started_ms.is_some());
    assert!(s.open_runs().unwrap().is_empty());
    // A bot that is gone gets no rows.
    assert_eq!(s.begin_run("nobody", 1, &state(2)).unwrap(), None);
    assert_eq!(s.schedule_state("nobody").unwrap(), None);
}

#[test]
fn history_is_bounded_but_keeps_the_running_run() {
    let (_d, s) = store_with(&["b"]);
    let running = s.begin_run("b", 0, &state(1)).unwrap().unwrap();
    for i in 1..=(HISTORY + 20) {
        s.skip_run("b", i, &state(i + 1), "still going").unwrap();
    }
    let all = s.runs("b", 1000).unwrap();
    assert_eq!(all.len() as i64, HISTORY + 1, "100 newest plus the one still running");
    assert_eq!(all[0].due_ms, HISTORY + 20, "newest first");
    assert!(all.iter().any(|r| r.seq == running && r.outcome == Outcome::Running));
}

#[test]
fn adoption_finds_the_open_run_or_records_a_new_one() {
    let (_d, s) = store_with(&["b"]);
    let seq = s.begin_run("b", 5000, &state(6000)).unwrap().unwrap();
    assert_eq!(s.adopt_run("b", 5000, "c9", 1).unwrap(), Some(seq));
    assert_eq!(s.runs("b", 1).unwrap()[0].container.as_deref(), Some("c9"));
    let other = s.adopt_run("b", 7000, "c10", 1).unwrap().unwrap();
    assert_ne!(other, seq);
    assert_eq!(s.adopt_run("gone", 1, "c", 1).unwrap(), None);
}

#[test]
fn deleting_a_bot_drops_its_state_and_finished_runs() {
    let (_d, s) = store_with(&["b"]);
    let seq = s.begin_run("b", 1, &state(2)).unwrap().unwrap();
    s.skip_run("b", 2, &state(3), "still going").unwrap();
    s.apply(&Change::Delete("b".into()), Mode::Put, None).unwrap();
    assert_eq!(s.schedule_state("b").unwrap(), None);
    assert_eq!(s.runs("b", 10).unwrap().len(), 1, "the running one stays until it ends");
    s.finish_run(seq, &Ending { outcome: Outcome::Succeeded, exit_code: Some(0), reason: None, logs: vec![] }).unwrap();
    assert!(s.runs("b", 10).unwrap().is_empty());
}
