//! Why a bot's container stopped, read from the tail of its log.
//!
//! Why it exists: when the executor ends for its own reason (full `/state`, a restore that failed,
//! …) it writes a last JSON line with an `"exit_reason"` field; the exit code alone (say 1) tells
//! the user nothing. The reason is stored with the bot's status and shown by `list` and
//! `GET /bots/{id}`. The bot writes to the same log, so a bot can forge a line; it only changes
//! the text shown for itself.

use serde_json::Value;

/// Longest reason kept (characters); the rest is cut with `…`.
pub const MAX_REASON_CHARS: usize = 300;

/// The `exit_reason` of the last log line that is a JSON object carrying one as a non-empty
/// string; control characters become spaces.
pub fn from_log_tail(tail: &str) -> Option<String> {
    tail.lines().rev().find_map(|line| {
        let line = line.trim();
        if !line.starts_with('{') {
            return None;
        }
        let v: Value = serde_json::from_str(line).ok()?;
        let r = v.get("exit_reason")?.as_str()?.trim();
        (!r.is_empty()).then(|| clean(r))
    })
}

fn clean(r: &str) -> String {
    let mut out: String = r.chars().take(MAX_REASON_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if r.chars().count() > MAX_REASON_CHARS {
        out.push('…');
    }
    out
}

/// The failure reason stored for an unrequested exit: the executor's own reason when it gave one,
/// after the planner's sentence (`bot exited with code N`); an OOM kill names the limit.
pub fn describe(planned: &str, oom: bool, memory_mb: i64, reason: Option<&str>) -> String {
    let base = if oom {
        format!("out of memory (limit {memory_mb} MiB): the container was killed by the OOM killer")
    } else {
        planned.to_string()
    };
    match reason {
        Some(r) => format!("{base}: {r}"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_exit_reason_of_the_tail() {
        let rows: &[(&str, Option<&str>)] = &[
            ("", None),
            ("hello\nworld\n", None),
            (r#"{"level":"info","message":"x"}"#, None),
            (r#"{"exit_reason":"state is full (/state 153 MiB)"}"#, Some("state is full (/state 153 MiB)")),
            ("{\"exit_reason\":\"first\"}\nnoise\n{\"exit_reason\":\"second\"}\n", Some("second")),
            ("{\"exit_reason\":\"kept\"}\n{\"message\":\"later line without one\"}\n", Some("kept")),
            (r#"{"exit_reason":""}"#, None),
            (r#"{"exit_reason":42}"#, None),
            (r#"{"exit_reason": "broken"#, None),
            ("  {\"exit_reason\":\"a\\nb\"}  \r\n", Some("a b")),
        ];
        for (tail, want) in rows {
            assert_eq!(from_log_tail(tail).as_deref(), *want, "{tail:?}");
        }
    }

    #[test]
    fn a_long_reason_is_cut() {
        let long = format!("{{\"exit_reason\":\"{}\"}}", "x".repeat(1000));
        let r = from_log_tail(&long).unwrap();
        assert_eq!(r.chars().count(), MAX_REASON_CHARS + 1);
        assert!(r.ends_with('…'));
    }

    #[test]
    fn describe_table() {
        let rows: &[(&str, bool, Option<&str>, &str)] = &[
            ("bot exited with code 1", false, None, "bot exited with code 1"),
            ("bot exited with code 1", false, Some("state is full"), "bot exited with code 1: state is full"),
            ("x", true, None, "out of memory (limit 512 MiB): the container was killed by the OOM killer"),
        ];
        for (planned, oom, reason, want) in rows {
            assert_eq!(describe(planned, *oom, 512, *reason), *want);
        }
    }
}
