//! What `GET /bots/{id}` shows for a live bot: the desired spec with the image it runs on and the
//! state derived from the stored status and the observed container. Pure, table-tested.

use serde_json::{json, Value};

use crate::http::time;
use crate::images::RuntimeImages;
use crate::model::{is_enabled, validate, BotRecord};
use crate::observed::{BotStatus, Observed, State};

/// What `GET /bots/{id}` shows: the desired spec (with the image it runs on) and the observed
/// status. Pure.
pub fn view(
    rec: &BotRecord,
    images: &RuntimeImages,
    s: &BotStatus,
    c: Option<&Observed>,
    in_flight: bool,
    now: i64,
) -> Value {
    let enabled = is_enabled(rec.enabled.as_ref(), &rec.config);
    let launch = validate(rec, images);
    let image = launch.as_ref().ok().map(|l| l.image.clone());
    let invalid = launch.err().map(|e| e.to_string());
    let running = c.is_some_and(|c| c.state == State::Running);
    let state = if !enabled {
        if c.is_some() {
            "stopping"
        } else {
            "disabled"
        }
    } else if invalid.is_some() {
        "failed"
    } else if running {
        "running"
    } else if s.backoff_until.is_some_and(|u| u > now) {
        // Before `in_flight`: the action that records an exit (and removes the container) is
        // itself in flight, and the bot is then backing off, not starting.
        if s.last_exit_at.is_some()
            && s.failure_reason.as_deref().is_some_and(|r| r.starts_with("bot exited") || r.contains("OOM"))
        {
            "backing-off"
        } else {
            "failed"
        }
    } else if in_flight {
        "starting"
    } else {
        "pending"
    };
    json!({
        "id": rec.id,
        "enabled": enabled,
        "config": rec.config,
        "custom": rec.custom,
        "image": image,
        "status": {
            "state": state,
            "container": c.map(|c| c.name.clone()),
            "container_id": c.map(|c| c.container.clone()),
            "container_state": c.map(|c| c.state.as_str()),
            "restarts": s.restarts,
            "consecutive_failures": s.consecutive,
            "last_exit_code": s.last_exit_code,
            "last_exit_at": time(s.last_exit_at),
            "backoff_until": time(s.backoff_until.filter(|u| *u > now)),
            "failure_reason": invalid.or_else(|| s.failure_reason.clone()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(config: Value) -> BotRecord {
        BotRecord {
            id: "b".into(),
            config,
            custom: json!({"filePath": "u/b/1", "config": {"runtime": "gcc13", "entrypoints": {"bot": "b.sh"}}}),
            enabled: None,
        }
    }

    #[test]
    fn the_state_shown_for_each_situation() {
        let crashed = BotStatus {
            last_exit_at: Some(900),
            backoff_until: Some(2000),
            failure_reason: Some("bot exited with code 3".into()),
            ..Default::default()
        };
        let start_failed =
            BotStatus { backoff_until: Some(2000), failure_reason: Some("no image".into()), ..Default::default() };
        let expired = BotStatus { backoff_until: Some(500), ..crashed.clone() };
        let ok = BotStatus::default();
        for (config, status, in_flight, want) in [
            (json!({}), &ok, false, "pending"),
            (json!({}), &ok, true, "starting"),
            (json!({}), &crashed, false, "backing-off"),
            // The exit is being recorded by an action still in flight: backing off, not starting.
            (json!({}), &crashed, true, "backing-off"),
            (json!({}), &start_failed, false, "failed"),
            (json!({}), &expired, true, "starting"),
            (json!({"enabled": false}), &ok, false, "disabled"),
            (json!("not an object"), &ok, false, "failed"),
        ] {
            let v = view(&rec(config.clone()), &RuntimeImages::default(), status, None, in_flight, 1000);
            assert_eq!(v["status"]["state"], want, "{config} {status:?} in_flight={in_flight}");
        }
    }
}
