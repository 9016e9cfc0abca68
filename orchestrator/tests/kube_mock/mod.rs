//! Client-level tests of Kubernetes mode with kube-rs's own mock pattern: a [`kube::Client`] over
//! `tower_test::mock::pair`, so no socket, no HTTP server and no kubeconfig sit between the code and
//! the requests it sends. A test spawns a [`Server`] with a responder (a [`script`] of replies in
//! order, or any function of the request) and then asserts the exact requests recorded: method,
//! path, query and JSON body.
//!
//! Why beside the stateful fake (`kube_fake`): the fake proves behaviour against emulated state;
//! this layer pins the requests themselves (which verb on which path with which body and
//! `resourceVersion`), and runs under `tokio::time::pause()` (nothing waits on a socket), so
//! timing paths like the elector's renew deadline are driven by paused time, with no sleeps.
//! Meant to be reused by other client-level tests (the query Job path).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};

/// One request as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The query string (`""` when none), percent-encoded as sent.
    pub query: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Recorded {
    /// `"METHOD path"`, the form most assertions compare.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

/// A reply: status code and JSON body; a JSON string is sent as its raw text (see [`text`]).
pub type Reply = (u16, Value);

/// The requests received so far, shared with the server task.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Recorded>>>);

impl Log {
    pub fn all(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every request as `"METHOD path"`.
    pub fn lines(&self) -> Vec<String> {
        self.all().iter().map(Recorded::line).collect()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn push(&self, r: Recorded) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(r);
    }
}

/// The mock API server's side: it answers every request with `responder` until every clone of
/// the client is dropped.
pub struct Server {
    pub log: Log,
    pub task: tokio::task::JoinHandle<()>,
}

/// A client (default namespace `ns`) whose requests `responder` answers.
pub fn client<F>(ns: &str, responder: F) -> (Client, Server)
where
    F: FnMut(&Recorded) -> Reply + Send + 'static,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let log = Log::default();
    let task = tokio::spawn(serve(handle, responder, log.clone()));
    (Client::new(service, ns), Server { log, task })
}

async fn serve<F>(handle: tower_test::mock::Handle<Request<Body>, Response<Body>>, mut responder: F, log: Log)
where
    F: FnMut(&Recorded) -> Reply,
{
    let mut handle = pin!(handle);
    while let Some((req, send)) = handle.next_request().await {
        let (parts, body) = req.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let rec = Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or_default().to_string(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        let (code, reply) = responder(&rec);
        log.push(rec);
        let bytes = match reply {
            Value::String(text) => text.into_bytes(),
            other => other.to_string().into_bytes(),
        };
        let mut resp = Response::new(Body::from(bytes));
        *resp.status_mut() = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        send.send_response(resp);
    }
}

/// A responder answering with `replies` in order; any request past them gets a 500 (and is still
/// recorded, so the test's assertion on the exact requests shows it).
pub fn script(replies: Vec<Reply>) -> impl FnMut(&Recorded) -> Reply + Send + 'static {
    let mut left: VecDeque<Reply> = replies.into();
    move |_| left.pop_front().unwrap_or_else(|| status(500, "InternalError", "not in the script"))
}

/// A Kubernetes `Status` answer (an error) with `code` and `reason`.
pub fn status(code: u16, reason: &str, message: &str) -> Reply {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}),
    )
}

/// A 200 list of `items` of `kind`.
pub fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Reply {
    (
        200,
        json!({"apiVersion": api_version, "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items}),
    )
}

/// A 200 (or `code`) answer echoing `obj`.
pub fn ok(code: u16, obj: Value) -> Reply {
    (code, obj)
}

/// A `code` answer whose body is `body` as raw text, not JSON (a pod's log).
pub fn text(code: u16, body: &str) -> Reply {
    (code, Value::String(body.to_string()))
}
