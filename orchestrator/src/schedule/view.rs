//! What the admin API shows of a scheduled bot (`GET /bots/{id}`: its schedule, next due time,
//! last run and why it cannot run, if so) and of its runs (`GET /bots/{id}/runs`). Pure.

use serde_json::{json, Value};

use crate::http::time;
use crate::images::RuntimeImages;
use crate::model::{is_enabled, validate, BotRecord};
use crate::store::runs::{Run, SchedState};

pub fn run_json(r: &Run) -> Value {
    json!({
        "seq": r.seq,
        "manual": r.manual.as_ref().map(|m| json!({"config": m.config, "timeout_ms": m.timeout_ms})),
        "due_at": time(Some(r.due_ms)),
        "started_at": time(r.started_ms),
        "ended_at": time(r.ended_ms),
        "outcome": r.outcome.as_str(),
        "exit_code": r.exit_code,
        "reason": r.reason,
        "container_id": r.container,
        "logs": r.logs,
    })
}

/// The bot's view; `last` is its newest run record, `running` its run going now.
pub fn view(
    rec: &BotRecord,
    images: &RuntimeImages,
    st: Option<&SchedState>,
    last: Option<&Run>,
    running: Option<&Run>,
) -> Value {
    let enabled = is_enabled(rec.enabled.as_ref(), &rec.config);
    let failure = validate(rec, images).err().map(|e| e.to_string()).or_else(|| st.and_then(|s| s.failure.clone()));
    let state = if !enabled {
        "disabled"
    } else if failure.is_some() {
        "failed"
    } else if running.is_some() {
        "running"
    } else if st.is_none() {
        "pending"
    } else {
        "scheduled"
    };
    json!({
        "id": rec.id,
        "enabled": enabled,
        "config": rec.config,
        "custom": rec.custom,
        "status": {
            "state": state,
            "kind": "scheduled",
            "schedule": rec.config.get("schedule"),
            "next_due_at": time(st.filter(|_| enabled).and_then(|s| s.next_due_ms)),
            "container_id": running.and_then(|r| r.container.clone()),
            "last_run": last.map(run_json),
            "failure_reason": failure,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::runs::Outcome;

    fn rec(config: Value) -> BotRecord {
        BotRecord {
            id: "s".into(),
            config,
            custom: json!({"filePath": "k", "config": {"runtime": "gcc13", "entrypoints": {"bot": "b.sh"}}}),
            enabled: None,
        }
    }

    fn run(outcome: Outcome) -> Run {
        Run {
            seq: 1,
            bot_id: "s".into(),
            due_ms: 1000,
            started_ms: Some(1001),
            ended_ms: None,
            outcome,
            exit_code: None,
            reason: None,
            container: Some("c".into()),
            logs: vec!["hi".into()],
            manual: None,
        }
    }

    #[test]
    fn states() {
        let ok = SchedState { expr: "* * * * *".into(), next_due_ms: Some(60_000), failure: None, enabled: true };
        let bad = SchedState { failure: Some("invalid schedule \"x\": y".into()), next_due_ms: None, ..ok.clone() };
        let cfg = json!({"schedule": "* * * * *"});
        for (r, st, last, state) in [
            (rec(cfg.clone()), None, None, "pending"),
            (rec(cfg.clone()), Some(&ok), None, "scheduled"),
            (rec(cfg.clone()), Some(&ok), Some(run(Outcome::Running)), "running"),
            (rec(cfg.clone()), Some(&ok), Some(run(Outcome::Succeeded)), "scheduled"),
            (rec(cfg.clone()), Some(&bad), None, "failed"),
            (rec(json!({"schedule": "* * * * *", "enabled": false})), Some(&ok), None, "disabled"),
        ] {
            let open = last.as_ref().filter(|r| r.outcome == Outcome::Running);
            let v = view(&r, &RuntimeImages::default(), st, last.as_ref(), open);
            assert_eq!(v["status"]["state"], state, "{v}");
        }
        let v = view(&rec(cfg.clone()), &RuntimeImages::default(), Some(&bad), None, None);
        assert_eq!(v["status"]["failure_reason"], "invalid schedule \"x\": y");
        let v = view(
            &rec(cfg),
            &RuntimeImages::default(),
            Some(&ok),
            Some(&run(Outcome::Skipped)),
            Some(&run(Outcome::Running)),
        );
        assert_eq!(v["status"]["next_due_at"], "1970-01-01T00:01:00Z");
        assert_eq!(v["status"]["container_id"], "c");
        assert_eq!(v["status"]["last_run"]["logs"], json!(["hi"]));
    }
}
