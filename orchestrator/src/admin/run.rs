//! `POST /bots/{id}/run` (`run ID`): stores a request for one on-demand run of the bot's code,
//! which the scheduler role starts as soon as the bot has no run going (`schedule::runner`). The
//! body is optional: `{"config": {...}}` replaces top-level keys of the bot's config for this
//! run, `{"timeout_s": N}` is its deadline (default [`DEFAULT_TIMEOUT_S`]). The answer is `202`
//! with the run's number; the run is then seen in `GET /bots/{id}/runs`.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

use super::{Admin, MAX_BODY};
use crate::http::{self, Resp};
use crate::store::manual_runs::Requested;
use crate::store::runs::ManualRun;

/// The deadline of a run that names none: a live bot's code loops until stopped.
pub const DEFAULT_TIMEOUT_S: i64 = 600;
/// The longest deadline accepted (a day).
pub const MAX_TIMEOUT_S: i64 = 86_400;

/// The request body as a [`ManualRun`]; the error names the field. Pure.
pub fn parse_request(body: &[u8]) -> Result<ManualRun, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ManualRun { config: None, timeout_ms: DEFAULT_TIMEOUT_S * 1000 });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the run request is not JSON: {e}"))?;
    let Value::Object(mut m) = v else { return Err("the run request must be a JSON object".into()) };
    let config = match m.remove("config") {
        None | Some(Value::Null) => None,
        Some(c @ Value::Object(_)) => Some(c),
        Some(_) => return Err("field `config` must be an object (the keys to override)".into()),
    };
    let timeout_s = match m.remove("timeout_s") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_S,
        Some(t) => t
            .as_i64()
            .filter(|t| (1..=MAX_TIMEOUT_S).contains(t))
            .ok_or_else(|| format!("field `timeout_s` must be a whole number of seconds, 1 to {MAX_TIMEOUT_S}"))?,
    };
    if let Some(k) = m.keys().next() {
        return Err(format!("unknown field {k:?} (config, timeout_s)"));
    }
    Ok(ManualRun { config, timeout_ms: timeout_s * 1000 })
}

impl Admin {
    pub(super) async fn request_run(&self, id: &str, req: Request<Incoming>) -> Resp {
        let body = match http::body(req, MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let run = match parse_request(&body) {
            Ok(r) => r,
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &e),
        };
        match self.store.request_run(id, &run) {
            Ok(Requested::Queued(seq)) => {
                http::json(StatusCode::ACCEPTED, &json!({"id": id, "seq": seq, "outcome": "requested"}))
            }
            Ok(Requested::Busy(seq)) => http::error(
                StatusCode::CONFLICT,
                &format!("bot {id:?} already has an on-demand run waiting or going (run {seq}): wait for it to end"),
            ),
            Ok(Requested::NoBot) => http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
            Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_requests() {
        let ok = |config: Option<Value>, t: i64| Ok(ManualRun { config, timeout_ms: t * 1000 });
        for (body, want) in [
            ("", ok(None, 600)),
            ("  \n", ok(None, 600)),
            ("{}", ok(None, 600)),
            (r#"{"config": null, "timeout_s": null}"#, ok(None, 600)),
            (r#"{"config": {"symbol": "ETH"}}"#, ok(Some(json!({"symbol": "ETH"})), 600)),
            (r#"{"timeout_s": 1}"#, ok(None, 1)),
            (r#"{"timeout_s": 86400}"#, ok(None, 86_400)),
            ("[]", Err("the run request must be a JSON object".into())),
            (r#"{"config": [1]}"#, Err("field `config` must be an object (the keys to override)".into())),
            (r#"{"timeout_s": 0}"#, Err("field `timeout_s` must be a whole number of seconds, 1 to 86400".into())),
            (r#"{"timeout_s": 1.5}"#, Err("field `timeout_s` must be a whole number of seconds, 1 to 86400".into())),
            (r#"{"timeout_s": 86401}"#, Err("field `timeout_s` must be a whole number of seconds, 1 to 86400".into())),
            (r#"{"wait": true}"#, Err("unknown field \"wait\" (config, timeout_s)".into())),
        ] {
            assert_eq!(parse_request(body.as_bytes()), want, "{body}");
        }
        assert!(parse_request(b"{").unwrap_err().starts_with("the run request is not JSON"));
    }
}
