//! What the front answers: a reply passed through from the query program, or one of its own,
//! always with the contract's envelope `{"status":"error","error":"…"}` (docs/contract.md §4.1) and a
//! status that says what went wrong. Pure, so the status of every situation is table-tested.

use std::time::Duration;

use bytes::Bytes;
use the0_contract::query::Envelope;

/// A response of the front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// The program's reason phrase, if it sent a usable one.
    pub reason: Option<String>,
    /// Headers other than `Content-Length` and `Connection` (the writer adds those).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Bytes,
}

/// The situations the front answers by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request could not be parsed, or its framing is invalid.
    Malformed(String),
    /// A `..` segment, a control character or a bad escape in the path.
    BadPath(String),
    /// No `QUERY_ENTRYPOINT`: there is nothing to query.
    NoEntrypoint,
    /// The program is not answering yet (first start, waiting for code or state).
    Starting,
    /// The program died or was stopped and is being started again.
    Restarting,
    /// The front is shutting down.
    ShuttingDown,
    /// Too many requests are queued for the program, or too many connections are open.
    Busy,
    /// The client did not send its request in time.
    ClientTimeout,
    BodyTooLarge(usize),
    HeadersTooLarge,
    /// The target with the body's parameters merged in is longer than SDK servers accept.
    TargetTooLong(usize),
    /// The query did not complete within `THE0_QUERY_TIMEOUT_SEC`.
    Timeout(Duration),
    /// The program closed the connection, or replied with something that is not HTTP or not JSON.
    BadGateway(String),
}

impl Refusal {
    /// The status and message of each situation.
    pub fn status_and_message(&self) -> (u16, String) {
        match self {
            Refusal::Malformed(m) => (400, m.clone()),
            Refusal::BadPath(m) => (400, format!("invalid query path: {m}")),
            Refusal::NoEntrypoint => (404, "this bot has no query entrypoint".into()),
            Refusal::Starting => (503, "query server is starting".into()),
            Refusal::Restarting => (503, "query server is restarting".into()),
            Refusal::ShuttingDown => (503, "query server is shutting down".into()),
            Refusal::Busy => (503, "query server is busy; try again".into()),
            Refusal::ClientTimeout => (408, "request not received in time".into()),
            Refusal::BodyTooLarge(limit) => (413, format!("request body larger than {limit} bytes")),
            Refusal::HeadersTooLarge => (431, "request headers too large".into()),
            Refusal::TargetTooLong(limit) => {
                (414, format!("query path and parameters longer than {limit} bytes once merged into the URL"))
            }
            Refusal::Timeout(t) => (504, format!("query timed out after {}s", t.as_secs_f64())),
            Refusal::BadGateway(m) => (502, m.clone()),
        }
    }
}

impl From<Refusal> for Reply {
    fn from(r: Refusal) -> Reply {
        let (status, message) = r.status_and_message();
        Reply::error(status, &message)
    }
}

impl Reply {
    /// An envelope error with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        let body = serde_json::to_vec(&Envelope::error(message)).unwrap_or_else(|_| br#"{"status":"error"}"#.to_vec());
        Reply::json(status, body.into())
    }

    /// A JSON body with `status`.
    pub fn json(status: u16, body: Bytes) -> Reply {
        Reply { status, reason: None, headers: vec![("Content-Type".into(), b"application/json".to_vec())], body }
    }

    pub fn bad_request(message: &str) -> Reply {
        Refusal::Malformed(message.to_string()).into()
    }

    pub fn too_large(limit: usize) -> Reply {
        Refusal::BodyTooLarge(limit).into()
    }

    pub fn headers_too_large() -> Reply {
        Refusal::HeadersTooLarge.into()
    }

    /// The front's own `/health` while the program cannot answer: the front itself is up.
    pub fn own_health(program: &str) -> Reply {
        let body = serde_json::json!({"status": "ok", "data": {"status": "ok", "query_program": program}});
        Reply::json(200, body.to_string().into())
    }

    /// The reason phrase: the program's, else the canonical one.
    pub fn reason(&self) -> &str {
        if let Some(r) = &self.reason {
            return r;
        }
        http::StatusCode::from_u16(self.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Unknown")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_a_fitting_status_and_an_envelope() {
        for (refusal, status) in [
            (Refusal::Malformed("x".into()), 400),
            (Refusal::BadPath("x".into()), 400),
            (Refusal::NoEntrypoint, 404),
            (Refusal::ClientTimeout, 408),
            (Refusal::BodyTooLarge(10), 413),
            (Refusal::TargetTooLong(10), 414),
            (Refusal::HeadersTooLarge, 431),
            (Refusal::BadGateway("x".into()), 502),
            (Refusal::Starting, 503),
            (Refusal::Restarting, 503),
            (Refusal::ShuttingDown, 503),
            (Refusal::Busy, 503),
            (Refusal::Timeout(Duration::from_secs(30)), 504),
        ] {
            let reply = Reply::from(refusal.clone());
            assert_eq!(reply.status, status, "{refusal:?}");
            let env: Envelope = serde_json::from_slice(&reply.body).unwrap();
            assert_eq!(env.status, "error");
            assert!(env.data.is_none());
            assert!(!env.error.unwrap_or_default().is_empty(), "{refusal:?}");
            assert_eq!(reply.headers, vec![("Content-Type".to_string(), b"application/json".to_vec())]);
        }
        let (_, m) = Refusal::Timeout(Duration::from_millis(2500)).status_and_message();
        assert_eq!(m, "query timed out after 2.5s");
    }

    #[test]
    fn reasons() {
        assert_eq!(Reply::error(503, "x").reason(), "Service Unavailable");
        let mut r = Reply::error(200, "x");
        r.reason = Some("Fine".into());
        assert_eq!(r.reason(), "Fine");
        assert_eq!(Reply::error(599, "x").reason(), "Unknown");
        let h: serde_json::Value = serde_json::from_slice(&Reply::own_health("starting").body).unwrap();
        assert_eq!(h["status"], "ok");
        assert_eq!(h["data"]["query_program"], "starting");
    }
}
