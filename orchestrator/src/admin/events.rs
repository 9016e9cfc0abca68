//! `GET /events?bot=ID&since=SEQ&limit=N`: its query string, checked, and the JSON of one event.
//! A follower (`orchestrator events -f`) passes the last `seq` it printed as `since`. Pure,
//! table-tested; the handler in `mod.rs` only reads the store.

use serde_json::{json, Value};

use crate::http::time;
use crate::store::events::Event;

/// Events answered when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: i64 = 1000;

/// What `GET /events` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsQuery {
    /// Only this bot's events.
    pub bot: Option<String>,
    /// Only events after this `seq`, oldest first; without it, the newest `limit`.
    pub since: Option<i64>,
    pub limit: i64,
}

/// The query string of `GET /events`; the error is the message of a 400.
pub fn parse_query(query: Option<&str>) -> Result<EventsQuery, String> {
    let mut q = EventsQuery { bot: None, since: None, limit: DEFAULT_LIMIT };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(raw).ok_or_else(|| format!("{key}: not a valid percent-encoded value"))?;
        match key {
            "bot" if crate::model::is_safe_id(&value) => q.bot = Some(value),
            "bot" => return Err(format!("bot {value:?} is not a bot id")),
            "since" => {
                q.since = Some(number(&value).ok_or_else(|| format!("since {value:?} is not a seq (0 or more)"))?)
            }
            "limit" => {
                q.limit = number(&value)
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit {value:?} is not 1 to {MAX_LIMIT}"))?
            }
            other => {
                return Err(format!("unknown parameter {:?} (bot, since, limit)", decode(other).unwrap_or_default()))
            }
        }
    }
    Ok(q)
}

/// A whole number of at most 18 digits, 0 or more.
fn number(v: &str) -> Option<i64> {
    (!v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse().ok()).flatten()
}

/// Percent-decoding (`+` is a space), `None` for a bad escape or text that is not UTF-8.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// One event as `GET /events` answers it.
pub fn event_json(e: &Event) -> Value {
    json!({
        "seq": e.seq,
        "at": time(Some(e.at_ms)),
        "bot_id": e.bot_id,
        "kind": e.kind_text,
        "message": e.message,
        "exit_code": e.exit_code,
        "until": time(e.until_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::events::Kind;

    #[test]
    fn query_strings() {
        let q = |bot: Option<&str>, since: Option<i64>, limit: i64| {
            Ok(EventsQuery { bot: bot.map(str::to_string), since, limit })
        };
        let rows: Vec<(Option<&str>, Result<EventsQuery, String>)> = vec![
            (None, q(None, None, DEFAULT_LIMIT)),
            (Some(""), q(None, None, DEFAULT_LIMIT)),
            (Some("bot=a-1&since=5&limit=10"), q(Some("a-1"), Some(5), 10)),
            (Some("since=0"), q(None, Some(0), DEFAULT_LIMIT)),
            (Some("bot=%61b"), q(Some("ab"), None, DEFAULT_LIMIT)),
            (Some("limit=1000&limit=1"), q(None, None, 1)),
            (Some("since=-1"), Err("since \"-1\" is not a seq (0 or more)".into())),
            (Some("since=x"), Err("since \"x\" is not a seq (0 or more)".into())),
            (Some("since="), Err("since \"\" is not a seq (0 or more)".into())),
            (Some("since=99999999999999999999"), Err("since \"99999999999999999999\" is not a seq (0 or more)".into())),
            (Some("limit=0"), Err("limit \"0\" is not 1 to 1000".into())),
            (Some("limit=1001"), Err("limit \"1001\" is not 1 to 1000".into())),
            (Some("bot=a/b"), Err("bot \"a/b\" is not a bot id".into())),
            (Some("bot=%2e%2e"), Err("bot \"..\" is not a bot id".into())),
            (Some("bot=%zz"), Err("bot: not a valid percent-encoded value".into())),
            (Some("bot=%ff"), Err("bot: not a valid percent-encoded value".into())),
            (Some("bot=%4"), Err("bot: not a valid percent-encoded value".into())),
            (Some("bots=a"), Err("unknown parameter \"bots\" (bot, since, limit)".into())),
        ];
        for (query, want) in rows {
            assert_eq!(parse_query(query), want, "{query:?}");
        }
    }

    #[test]
    fn an_event_as_json() {
        let e = Event {
            seq: 3,
            at_ms: 1_000,
            bot_id: "a".into(),
            kind: Some(Kind::BackingOff),
            kind_text: "backing-off".into(),
            message: "backing off until 1970-01-01T00:00:11Z (10.0 s)".into(),
            exit_code: None,
            until_ms: Some(11_000),
        };
        assert_eq!(
            event_json(&e),
            json!({"seq": 3, "at": "1970-01-01T00:00:01Z", "bot_id": "a", "kind": "backing-off",
                   "message": "backing off until 1970-01-01T00:00:11Z (10.0 s)", "exit_code": null,
                   "until": "1970-01-01T00:00:11Z"})
        );
    }
}
