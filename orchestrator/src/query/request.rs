//! The `POST /query` body (docs/contract.md §4.2), parsed and checked by one pure function: what was
//! wrong is named in the 400 reply. Decisions where the contract is silent:
//! - `query_path` gets a leading `/`; control characters (raw or percent-encoded), `..` segments,
//!   bad `%` escapes, anything that is not a URL path and more than [`MAX_PATH_LEN`] bytes are 400.
//! - `timeout_sec`: absent or `null` → 30 s; a whole number ≥ 1 (also written `30.0`); ≤ 0 or a
//!   fraction → 400; above [`MAX_TIMEOUT_SEC`] it is capped (the reply then names the cap on timeout).
//! - `params`: absent or `null` → none; anything but an object → 400.
//! - `bot_id` and `query_path` must be non-empty strings; unknown fields are ignored.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Map, Value};
use the0_contract::querytarget::{validate_target, PathError};

use crate::model::type_name;

/// `timeout_sec` when the request has none.
pub const DEFAULT_TIMEOUT_SEC: u64 = 30;
/// Longest honoured `timeout_sec`; larger values are capped to it.
pub const MAX_TIMEOUT_SEC: u64 = 300;
/// Longest `query_path`.
pub const MAX_PATH_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    pub bot_id: String,
    /// With its leading `/`, validated.
    pub path: String,
    /// The `params` object (empty when absent).
    pub params: Map<String, Value>,
    pub timeout: Duration,
}

impl QueryRequest {
    /// `QUERY_PARAMS` and the proxied body: the params as compact JSON (`{}` when none).
    pub fn params_json(&self) -> String {
        Value::Object(self.params.clone()).to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("request body must be a JSON object, got {0}")]
    NotObject(&'static str),
    #[error("field `{0}` is required")]
    Missing(&'static str),
    #[error("field `{field}` must be {want}, got {got}")]
    WrongType { field: &'static str, want: &'static str, got: &'static str },
    #[error("field `query_path` {0}")]
    BadPath(String),
    #[error("field `timeout_sec` must be at least 1 second, got {0}")]
    TimeoutTooSmall(String),
}

fn string_field(obj: &Map<String, Value>, field: &'static str) -> Result<String, RequestError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(RequestError::Missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(RequestError::Missing(field)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(RequestError::WrongType { field, want: "a string", got: type_name(v) }),
    }
}

/// `query_path` with a leading `/`, checked.
pub fn normalize_path(raw: &str) -> Result<String, RequestError> {
    let path = if raw.starts_with('/') { raw.to_string() } else { format!("/{raw}") };
    if path.len() > MAX_PATH_LEN {
        return Err(RequestError::BadPath(format!("is longer than {MAX_PATH_LEN} bytes")));
    }
    validate_target(&path).map_err(|e| {
        RequestError::BadPath(match e {
            PathError::Control => "contains a control character".into(),
            PathError::DotDot => "contains a '..' segment".into(),
            PathError::BadEscape => "contains an invalid percent-encoding".into(),
            PathError::NotAPath => "is not a path".into(),
        })
    })?;
    if path.bytes().any(|b| !b.is_ascii_graphic()) || http::uri::PathAndQuery::from_str(&path).is_err() {
        return Err(RequestError::BadPath(format!("{path:?} is not a valid URL path (percent-encode it)")));
    }
    Ok(path)
}

fn timeout_of(v: Option<&Value>) -> Result<Duration, RequestError> {
    let wrong = |v: &Value| RequestError::WrongType {
        field: "timeout_sec",
        want: "a whole number of seconds",
        got: type_name(v),
    };
    let secs = match v {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_SEC,
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                if i <= 0 {
                    return Err(RequestError::TimeoutTooSmall(i.to_string()));
                }
                i as u64
            } else if let Some(u) = n.as_u64() {
                u
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() != 0.0 || !f.is_finite() {
                    return Err(RequestError::WrongType {
                        field: "timeout_sec",
                        want: "a whole number of seconds",
                        got: "a fraction",
                    });
                }
                if f <= 0.0 {
                    return Err(RequestError::TimeoutTooSmall(n.to_string()));
                }
                f.min(MAX_TIMEOUT_SEC as f64) as u64
            }
        }
        Some(v) => return Err(wrong(v)),
    };
    Ok(Duration::from_secs(secs.min(MAX_TIMEOUT_SEC)))
}

/// Parses a `POST /query` body.
pub fn parse(body: &[u8]) -> Result<QueryRequest, RequestError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| RequestError::NotJson(e.to_string()))?;
    let Value::Object(obj) = v else { return Err(RequestError::NotObject(type_name(&v))) };
    let bot_id = string_field(&obj, "bot_id")?;
    let path = normalize_path(&string_field(&obj, "query_path")?)?;
    let params = match obj.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(v) => return Err(RequestError::WrongType { field: "params", want: "an object", got: type_name(v) }),
    };
    let timeout = timeout_of(obj.get("timeout_sec"))?;
    Ok(QueryRequest { bot_id, path, params, timeout })
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
