//! What the commands that print data print, pure: `list`'s filter, and each reply as a table for
//! people or as the admin API's JSON for scripts (`-o json`). Kept apart from `client.rs`, which
//! only fetches, so that the output is table-tested without a server.

use serde_json::Value;

use crate::config::{BotKind, ListFilter, OutputFormat};

/// The bots of `GET /bots` that `filter` keeps.
pub fn filter_bots(bots: Vec<Value>, filter: ListFilter) -> Vec<Value> {
    bots.into_iter()
        .filter(|b| filter.state.is_none_or(|s| b["status"]["state"] == s.as_str()))
        .filter(|b| filter.kind.is_none_or(|k| kind(b) == k))
        .collect()
}

/// A scheduled bot's view says `status.kind: "scheduled"`; a live bot's has no kind.
fn kind(bot: &Value) -> BotKind {
    if bot["status"]["kind"] == "scheduled" {
        BotKind::Scheduled
    } else {
        BotKind::Realtime
    }
}

/// `list`: one row per bot, or the JSON array.
pub fn list(bots: &[Value], output: OutputFormat) -> String {
    if output == OutputFormat::Json {
        return json(&Value::Array(bots.to_vec()));
    }
    let mut out =
        format!("{:<36} {:<9} {:<12} {:>8} {:<40} {}\n", "ID", "TYPE", "STATE", "RESTARTS", "CONTAINER", "REASON");
    for b in bots {
        let s = &b["status"];
        let (kind, container) = match kind(b) {
            BotKind::Scheduled => ("scheduled", &s["container_id"]),
            BotKind::Realtime => ("realtime", &s["container"]),
        };
        out.push_str(&format!(
            "{:<36} {:<9} {:<12} {:>8} {:<40} {}\n",
            cell(&b["id"]),
            kind,
            cell(&s["state"]),
            cell(&s["restarts"]),
            cell(container),
            cell(&s["failure_reason"])
        ));
    }
    out
}

/// `show`: one bot as `field: value` lines (live and scheduled bots show what they have), or the
/// JSON of `GET /bots/{id}`.
pub fn show(bot: &Value, output: OutputFormat) -> String {
    if output == OutputFormat::Json {
        return json(bot);
    }
    let s = &bot["status"];
    let last_exit = match (&s["last_exit_code"], &s["last_exit_at"]) {
        (Value::Null, _) => Value::Null,
        (code, at) => Value::String(format!("code {} at {}", cell(code), cell(at))),
    };
    let last_run = match &s["last_run"] {
        Value::Null => Value::Null,
        r => Value::String(format!(
            "{} (exit {}) due {}, ended {}",
            cell(&r["outcome"]),
            cell(&r["exit_code"]),
            cell(&r["due_at"]),
            cell(&r["ended_at"])
        )),
    };
    let mut rows: Vec<(&str, Value)> = vec![
        ("id", bot["id"].clone()),
        ("type", Value::String(if kind(bot) == BotKind::Scheduled { "scheduled" } else { "realtime" }.into())),
        ("state", s["state"].clone()),
        ("enabled", bot["enabled"].clone()),
    ];
    let more: Vec<(&str, Value)> = match kind(bot) {
        BotKind::Realtime => vec![
            ("image", bot["image"].clone()),
            ("container", s["container"].clone()),
            ("container state", s["container_state"].clone()),
            ("restarts", s["restarts"].clone()),
            ("last exit", last_exit),
            ("backing off until", s["backoff_until"].clone()),
        ],
        BotKind::Scheduled => vec![
            ("schedule", s["schedule"].clone()),
            ("next run", s["next_due_at"].clone()),
            ("container", s["container_id"].clone()),
            ("last run", last_run),
        ],
    };
    rows.extend(more);
    rows.push(("reason", s["failure_reason"].clone()));
    rows.push(("config", bot["config"].clone()));
    rows.iter().map(|(k, v)| format!("{:<18} {}\n", format!("{k}:"), cell(v))).collect()
}

/// `runs`: one row per run, newest first, or the JSON array of `GET /bots/{id}/runs`.
pub fn runs(runs: &[Value], output: OutputFormat) -> String {
    if output == OutputFormat::Json {
        return json(&Value::Array(runs.to_vec()));
    }
    let mut out =
        format!("{:<20} {:<20} {:<20} {:<10} {:>4} {}\n", "DUE", "STARTED", "ENDED", "OUTCOME", "EXIT", "REASON");
    for r in runs {
        out.push_str(&format!(
            "{:<20} {:<20} {:<20} {:<10} {:>4} {}\n",
            cell(&r["due_at"]),
            cell(&r["started_at"]),
            cell(&r["ended_at"]),
            cell(&r["outcome"]),
            cell(&r["exit_code"]),
            cell(&r["reason"])
        ));
    }
    out
}

/// `run ID --wait`: `run N of ID: OUTCOME (exit C)`, the reason when there is one, then the run's
/// last lines (escaped: they are the bot's output); `-o json` prints the run as `runs` does.
pub fn run_result(id: &str, run: &Value, output: OutputFormat) -> String {
    if output == OutputFormat::Json {
        return json(run);
    }
    let mut out = format!("run {} of {id}: {}", cell(&run["seq"]), outcome_words(run));
    if let Some(r) = run["reason"].as_str() {
        out.push_str(&format!("\nreason: {}", escaped(r)));
    }
    out.push('\n');
    for l in run["logs"].as_array().map(Vec::as_slice).unwrap_or_default() {
        out.push_str(&format!("  {}\n", escaped(&cell(l))));
    }
    out
}

/// `succeeded (exit 0)`, `timed_out`, …: a run's outcome with its exit code when it has one.
pub fn outcome_words(run: &Value) -> String {
    match &run["exit_code"] {
        Value::Null => cell(&run["outcome"]),
        code => format!("{} (exit {code})", cell(&run["outcome"])),
    }
}

/// `state ID list`: `KEY SIZE` rows, or the JSON array of `GET /bots/{id}/state`. Keys are the
/// bot's own names: control characters are printed escaped.
pub fn state_keys(keys: &Value, output: OutputFormat) -> String {
    if output == OutputFormat::Json {
        return json(keys);
    }
    let rows = keys.as_array().map(Vec::as_slice).unwrap_or_default();
    let width = rows.iter().map(|k| escaped(&cell(&k["key"])).chars().count()).max().unwrap_or(0).max(3);
    let mut out = format!("{:<width$} {:>8}\n", "KEY", "BYTES");
    for k in rows {
        out.push_str(&format!("{:<width$} {:>8}\n", escaped(&cell(&k["key"])), cell(&k["size"])));
    }
    out
}

/// `state ID get KEY`: the value as pretty JSON (the reply itself with `-o json`).
pub fn state_value(reply: &Value, output: OutputFormat) -> String {
    match output {
        OutputFormat::Json => json(reply),
        OutputFormat::Table => json(&reply["value"]),
    }
}

/// `events`: one row per event (`TIME BOT KIND MESSAGE`, the header with `header`), the JSON array
/// of `GET /events`, or with `follow` one JSON object per line. A message may quote a bot's own
/// output: control characters are printed escaped.
pub fn events(events: &[Value], output: OutputFormat, header: bool, follow: bool) -> String {
    match output {
        OutputFormat::Json if follow => events.iter().map(|e| format!("{e}\n")).collect(),
        OutputFormat::Json => json(&Value::Array(events.to_vec())),
        OutputFormat::Table => {
            let mut out = if header {
                format!("{:<20} {:<24} {:<17} {}\n", "TIME", "BOT", "KIND", "MESSAGE")
            } else {
                String::new()
            };
            for e in events {
                out.push_str(&format!(
                    "{:<20} {:<24} {:<17} {}\n",
                    seconds(&cell(&e["at"])),
                    escaped(&cell(&e["bot_id"])),
                    escaped(&cell(&e["kind"])),
                    escaped(&cell(&e["message"]))
                ));
            }
            out
        }
    }
}

/// `show`'s last events of the bot, under its fields (`GET /events?bot=ID`).
pub fn recent_events(events: &[Value]) -> String {
    let mut out = String::from("events:\n");
    if events.is_empty() {
        out.push_str("  -\n");
    }
    for e in events {
        out.push_str(&format!(
            "  {} {} {}\n",
            seconds(&cell(&e["at"])),
            escaped(&cell(&e["kind"])),
            escaped(&cell(&e["message"]))
        ));
    }
    out
}

/// An RFC 3339 time without its fraction of a second.
fn seconds(t: &str) -> String {
    match t.split_once('.') {
        Some((head, _)) if t.ends_with('Z') => format!("{head}Z"),
        _ => t.to_string(),
    }
}

/// Control characters (a newline, an escape sequence) as Rust escapes; everything else as is.
pub fn escaped(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// One reply (`deploy`, `remove`): `table` is the line for people.
pub fn reply(v: &Value, output: OutputFormat, table: impl FnOnce(&Value) -> String) -> String {
    match output {
        OutputFormat::Json => json(v),
        OutputFormat::Table => format!("{}\n", table(v)),
    }
}

fn json(v: &Value) -> String {
    format!("{v:#}\n")
}

/// A JSON value in a table cell: strings bare, null as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StateFilter;
    use serde_json::json;

    fn bots() -> Vec<Value> {
        vec![
            json!({"id": "a", "status": {"state": "running", "container": "the0-a", "restarts": 2}}),
            json!({"id": "b", "status": {"state": "backing-off", "restarts": 5,
                   "failure_reason": "bot exited with code 3"}}),
            json!({"id": "s", "status": {"state": "scheduled", "kind": "scheduled", "container_id": null}}),
            json!({"id": "r", "status": {"state": "running", "kind": "scheduled", "container_id": "c1"}}),
        ]
    }

    #[test]
    fn filters_by_state_and_type() {
        use BotKind::{Realtime, Scheduled};
        use StateFilter::{BackingOff, Disabled, Running};
        for (state, kind, want) in [
            (None, None, &["a", "b", "s", "r"][..]),
            (Some(Running), None, &["a", "r"]),
            (Some(BackingOff), None, &["b"]),
            (None, Some(Scheduled), &["s", "r"]),
            (None, Some(Realtime), &["a", "b"]),
            (Some(Running), Some(Realtime), &["a"]),
            (Some(Disabled), None, &[]),
        ] {
            let got = filter_bots(bots(), ListFilter { state, kind });
            let ids: Vec<&str> = got.iter().filter_map(|b| b["id"].as_str()).collect();
            assert_eq!(ids, want, "{state:?} {kind:?}");
        }
    }

    #[test]
    fn list_as_table_and_json() {
        let t = list(&bots(), OutputFormat::Table);
        let lines: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines[0], ["ID", "TYPE", "STATE", "RESTARTS", "CONTAINER", "REASON"]);
        assert_eq!(lines[1], ["a", "realtime", "running", "2", "the0-a", "-"]);
        assert_eq!(lines[2], ["b", "realtime", "backing-off", "5", "-", "bot", "exited", "with", "code", "3"]);
        assert_eq!(lines[4], ["r", "scheduled", "running", "-", "c1", "-"]);
        let j: Value = serde_json::from_str(&list(&bots(), OutputFormat::Json)).unwrap();
        assert_eq!(j, Value::Array(bots()));
        let j: Value = serde_json::from_str(&list(&[], OutputFormat::Json)).unwrap();
        assert_eq!(j, json!([]));
    }

    #[test]
    fn show_a_live_and_a_scheduled_bot() {
        let live = json!({"id": "a", "enabled": true, "image": "img:1", "config": {"x": 1},
            "status": {"state": "backing-off", "container": null, "restarts": 3, "last_exit_code": 2,
                       "last_exit_at": "2026-01-01T00:00:00Z", "backoff_until": "2026-01-01T00:00:20Z",
                       "failure_reason": "bot exited with code 2"}});
        let t = show(&live, OutputFormat::Table);
        for line in [
            "type:              realtime",
            "state:             backing-off",
            "restarts:          3",
            "last exit:         code 2 at 2026-01-01T00:00:00Z",
            "backing off until: 2026-01-01T00:00:20Z",
            "reason:            bot exited with code 2",
            "container:         -",
            "config:            {\"x\":1}",
        ] {
            assert!(t.lines().any(|l| l == line), "{line:?} in\n{t}");
        }
        let sched = json!({"id": "s", "enabled": true, "config": {"schedule": "* * * * *"},
            "status": {"state": "scheduled", "kind": "scheduled", "schedule": "* * * * *",
                       "next_due_at": "2026-01-01T00:01:00Z", "container_id": null,
                       "last_run": {"outcome": "succeeded", "exit_code": 0, "due_at": "2026-01-01T00:00:00Z",
                                    "ended_at": "2026-01-01T00:00:02Z"}}});
        let t = show(&sched, OutputFormat::Table);
        for line in [
            "type:              scheduled",
            "next run:          2026-01-01T00:01:00Z",
            "last run:          succeeded (exit 0) due 2026-01-01T00:00:00Z, ended 2026-01-01T00:00:02Z",
        ] {
            assert!(t.lines().any(|l| l == line), "{line:?} in\n{t}");
        }
        assert_eq!(serde_json::from_str::<Value>(&show(&sched, OutputFormat::Json)).unwrap(), sched);
    }

    #[test]
    fn runs_as_table_and_json() {
        let rs = vec![json!({"due_at": "d", "started_at": "s", "ended_at": null, "outcome": "failed",
                             "exit_code": 3, "reason": "bot exited with code 3"})];
        let t = runs(&rs, OutputFormat::Table);
        let rows: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows[0], ["DUE", "STARTED", "ENDED", "OUTCOME", "EXIT", "REASON"]);
        assert_eq!(rows[1], ["d", "s", "-", "failed", "3", "bot", "exited", "with", "code", "3"]);
        assert_eq!(serde_json::from_str::<Value>(&runs(&rs, OutputFormat::Json)).unwrap(), Value::Array(rs));
    }

    #[test]
    fn events_as_table_json_and_lines() {
        let evs = vec![
            json!({"seq": 1, "at": "2026-01-01T00:00:00.123456789Z", "bot_id": "a", "kind": "crashed",
                   "message": "crashed (exit 3): bot exited with code 3", "exit_code": 3, "until": null}),
            json!({"seq": 2, "at": "2026-01-01T00:00:01Z", "bot_id": "a", "kind": "backing-off",
                   "message": "evil\u{1b}[2J\nline", "exit_code": null, "until": "2026-01-01T00:00:11Z"}),
        ];
        let t = events(&evs, OutputFormat::Table, true, false);
        let rows: Vec<Vec<&str>> = t.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 3, "one line per event: {t}");
        assert_eq!(rows[0], ["TIME", "BOT", "KIND", "MESSAGE"]);
        assert_eq!(rows[1][..4], ["2026-01-01T00:00:00Z", "a", "crashed", "crashed"]);
        assert_eq!(rows[2], ["2026-01-01T00:00:01Z", "a", "backing-off", "evil\\u{1b}[2J\\nline"]);
        assert!(!events(&evs, OutputFormat::Table, false, true).starts_with("TIME"), "no header when following");
        assert_eq!(serde_json::from_str::<Value>(&events(&evs, OutputFormat::Json, true, false)).unwrap(), json!(evs));
        let lines: Vec<Value> =
            events(&evs, OutputFormat::Json, false, true).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines, evs, "one object per line");
        let r = recent_events(&evs);
        assert!(
            r.lines().nth(1).is_some_and(|l| l.starts_with("  2026-01-01T00:00:00Z crashed crashed (exit 3)")),
            "{r}"
        );
        assert_eq!(recent_events(&[]), "events:\n  -\n");
    }

    #[test]
    fn one_reply() {
        let v = json!({"id": "a", "deleted": true});
        assert_eq!(reply(&v, OutputFormat::Table, |v| format!("removed {}", cell(&v["id"]))), "removed a\n");
        assert_eq!(serde_json::from_str::<Value>(&reply(&v, OutputFormat::Json, |_| String::new())).unwrap(), v);
    }
}
