//! The :9477 reply envelope (docs/contract.md §4.2) and the parsing of a query program's answer, pure:
//! `{"status","data"?,"error"?,"duration":<int64 ns>,"timestamp":"<RFC3339Nano UTC>"}` with `data`
//! and `error` omitted when empty; HTTP 500 when the status is `"error"`, else 200. Errors found
//! before anything ran carry their own status (400/404/405/413/503) and a zero duration.

use std::time::{Duration, SystemTime};

use hyper::StatusCode;
use serde_json::{Map, Value};
use the0_contract::query::Envelope;
use the0_contract::timefmt::rfc3339_nanos;

/// Longest excerpt of an unparsable answer quoted in the error.
const QUOTE_LIMIT: usize = 1024;

/// The HTTP status of a query's outcome.
pub fn status_of(env: &Envelope) -> StatusCode {
    if env.status == "error" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// The reply body.
pub fn render(env: &Envelope, duration: Duration, now: SystemTime) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), Value::String(env.status.clone()));
    if let Some(d) = env.data.as_ref().filter(|d| !d.is_null()) {
        m.insert("data".into(), d.clone());
    }
    if let Some(e) = env.error.as_ref().filter(|e| !e.is_empty()) {
        m.insert("error".into(), Value::String(e.clone()));
    }
    let ns = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
    m.insert("duration".into(), Value::from(ns));
    m.insert("timestamp".into(), Value::String(rfc3339_nanos(now)));
    Value::Object(m)
}

/// `text` cut to `QUOTE_LIMIT` bytes at a character boundary, marked when cut.
pub fn quote(text: &str) -> String {
    if text.len() <= QUOTE_LIMIT {
        return text.to_string();
    }
    let mut end = QUOTE_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

/// A program's answer (`{status,data,error}`); anything else becomes an error naming it, with
/// `what` saying where it came from (`query response`, `query result`).
pub fn parse_answer(body: &[u8], what: &str) -> Envelope {
    match serde_json::from_slice::<Envelope>(body) {
        Ok(env) => env,
        Err(_) => Envelope::error(format!("failed to parse {what}: {}", quote(&String::from_utf8_lossy(body)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(nanos: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
    }

    #[test]
    fn envelopes_render_per_contract() {
        let t = at(1_738_324_800_123_456_789);
        for (env, dur, want) in [
            (
                Envelope::ok(serde_json::json!({"x":1})),
                Duration::from_nanos(1500),
                r#"{"data":{"x":1},"duration":1500,"status":"ok","timestamp":"2025-01-31T12:00:00.123456789Z"}"#,
            ),
            (
                Envelope::error("boom"),
                Duration::ZERO,
                r#"{"duration":0,"error":"boom","status":"error","timestamp":"2025-01-31T12:00:00.123456789Z"}"#,
            ),
            (
                Envelope { status: "ok".into(), data: Some(Value::Null), error: Some(String::new()) },
                Duration::from_secs(2),
                r#"{"duration":2000000000,"status":"ok","timestamp":"2025-01-31T12:00:00.123456789Z"}"#,
            ),
            (
                Envelope { status: "pending".into(), data: Some(serde_json::json!([])), error: None },
                Duration::from_millis(1),
                r#"{"data":[],"duration":1000000,"status":"pending","timestamp":"2025-01-31T12:00:00.123456789Z"}"#,
            ),
        ] {
            assert_eq!(render(&env, dur, t).to_string(), want);
        }
        assert_eq!(
            render(&Envelope::ok(Value::Bool(true)), Duration::ZERO, at(0))["timestamp"],
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn statuses_follow_the_result() {
        assert_eq!(status_of(&Envelope::error("x")), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(&Envelope::ok(Value::Null)), StatusCode::OK);
        let custom = Envelope { status: "partial".into(), data: None, error: None };
        assert_eq!(status_of(&custom), StatusCode::OK);
    }

    #[test]
    fn answers_parse_or_become_errors() {
        assert_eq!(
            parse_answer(br#"{"status":"ok","data":[1,2]}"#, "query response"),
            Envelope::ok(serde_json::json!([1, 2]))
        );
        assert_eq!(parse_answer(br#"{"status":"error","error":"bad"}"#, "query response"), Envelope::error("bad"));
        for (body, want) in [
            (&b"garbage"[..], "failed to parse query response: garbage"),
            (b"", "failed to parse query response: "),
            (br#"{"data":1}"#, r#"failed to parse query response: {"data":1}"#),
            (
                br#"{"status":"error","error":{"code":1}}"#,
                r#"failed to parse query response: {"status":"error","error":{"code":1}}"#,
            ),
            (b"[1]", "failed to parse query response: [1]"),
        ] {
            assert_eq!(parse_answer(body, "query response"), Envelope::error(want), "{body:?}");
        }
        let long = "x".repeat(5000);
        let e = parse_answer(long.as_bytes(), "query result").error.unwrap();
        assert!(e.starts_with("failed to parse query result: xxx") && e.ends_with("… (5000 bytes)"), "{e}");
        assert!(e.len() < 1200);
        assert_eq!(quote(&"é".repeat(600)).chars().filter(|c| *c == 'é').count(), 512);
    }
}
