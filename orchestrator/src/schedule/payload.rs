//! `the0.bot-schedule.{created,updated,deleted}` payloads (docs/contract.md §5.1): direct only (no
//! wrapped fallback), a non-empty string `config.schedule` required on created/updated, and
//! `custom.createdAt`/`updatedAt`, when present, RFC 3339. Whether the schedule parses is not
//! checked here: a bad one is stored and shown as failed (D29), not dropped.

use serde_json::Value;

use crate::docker::parse_rfc3339_ms;
use crate::model::{parse_payload, type_name, Change, PayloadError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("schedule payloads are direct only: field `id` is missing or empty")]
    NotDirect,
    #[error("field `config.schedule` must be a non-empty string, got {0}")]
    NoSchedule(&'static str),
    #[error("field `custom.{0}` is not an RFC 3339 time")]
    BadDate(&'static str),
}

pub fn parse(bytes: &[u8], deleted: bool) -> Result<Change, ScheduleError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    if v.get("id").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(match v {
            Value::Object(_) => ScheduleError::NotDirect,
            _ => PayloadError::NotObject.into(),
        });
    }
    if !deleted {
        match v.get("config").and_then(|c| c.get("schedule")) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(Value::String(_)) => return Err(ScheduleError::NoSchedule("an empty string")),
            Some(other) => return Err(ScheduleError::NoSchedule(type_name(other))),
            None => return Err(ScheduleError::NoSchedule("nothing")),
        }
        for field in ["createdAt", "updatedAt"] {
            match v.get("custom").and_then(|c| c.get(field)) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if parse_rfc3339_ms(s).is_some() => {}
                Some(_) => return Err(ScheduleError::BadDate(field)),
            }
        }
    }
    Ok(parse_payload(bytes, deleted)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_only_schedule_required_dates_checked() {
        let ok = br#"{"id":"s1","config":{"schedule":"*/5 * * * *"},"custom":{"createdAt":"2026-01-01T00:00:00Z"}}"#;
        assert!(matches!(parse(ok, false), Ok(Change::Upsert(r)) if r.id == "s1"));
        // A schedule that does not parse is accepted here (stored, then shown as failed).
        assert!(parse(br#"{"id":"s1","config":{"schedule":"nonsense"}}"#, false).is_ok());
        assert_eq!(parse(br#"{"id":"s1","config":{}}"#, true), Ok(Change::Delete("s1".into())));
        for (p, err) in [
            (&br#"{oops"#[..], "not JSON"),
            (br#"[1]"#, "not a JSON object"),
            (br#"{"type":"x","entity_id":"s1","data":{"id":"s1","config":{"schedule":"* * * * *"}}}"#, "direct only"),
            (br#"{"id":"s1","config":{}}"#, "got nothing"),
            (br#"{"id":"s1","config":{"schedule":"  "}}"#, "got an empty string"),
            (br#"{"id":"s1","config":{"schedule":5}}"#, "got a number"),
            (
                br#"{"id":"s1","config":{"schedule":"* * * * *"},"custom":{"updatedAt":"yesterday"}}"#,
                "custom.updatedAt",
            ),
        ] {
            let e = parse(p, false).unwrap_err().to_string();
            assert!(e.contains(err), "{}: {e}", String::from_utf8_lossy(p));
        }
    }
}
