//! On-demand run requests against a real SQLite file.

use super::*;
use crate::model::{BotRecord, Change};
use crate::store::runs::Ending;
use crate::store::Mode;
use serde_json::json;

/// `run ID`: a request is a row that waits (`requested`) until the scheduler starts it; one per
/// bot at a time; it is never trimmed while waiting, and a restart finds it again.
#[test]
fn on_demand_runs_wait_one_at_a_time_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let ask = ManualRun { config: Some(json!({"k": 1})), timeout_ms: 5000 };
    assert_eq!(s.request_run("nobody", &ask).unwrap(), Requested::NoBot);
    let rec = BotRecord { id: "a".into(), config: json!({}), custom: json!({}), enabled: None };
    s.apply(&Change::Upsert(rec), Mode::Put, None).unwrap();
    let v0 = s.version();
    let Requested::Queued(seq) = s.request_run("a", &ask).unwrap() else { panic!("queued") };
    assert_eq!(s.version(), v0 + 1, "the scheduler wakes");
    assert_eq!(s.request_run("a", &ask).unwrap(), Requested::Busy(seq), "one at a time");
    let s = Store::open(dir.path()).unwrap();
    let waiting = s.requested_runs().unwrap();
    assert_eq!(waiting.len(), 1);
    let r = &waiting[0];
    assert_eq!(
        (r.seq, r.outcome, r.started_ms, r.ended_ms, r.manual.as_ref()),
        (seq, Outcome::Requested, None, None, Some(&ask))
    );
    assert!(s.open_run("a").unwrap().is_none(), "waiting is not running");
    assert!(s.start_requested(seq).unwrap());
    assert!(!s.start_requested(seq).unwrap(), "started once");
    assert_eq!(s.open_run("a").unwrap().map(|r| r.seq), Some(seq));
    assert_eq!(s.request_run("a", &ask).unwrap(), Requested::Busy(seq), "still one while it runs");
    s.finish_run(seq, &Ending { outcome: Outcome::Succeeded, exit_code: Some(0), reason: None, logs: vec![] }).unwrap();
    assert!(matches!(s.request_run("a", &ask).unwrap(), Requested::Queued(n) if n > seq));
    assert_eq!(s.run(seq).unwrap().map(|r| r.outcome), Some(Outcome::Succeeded));
}
