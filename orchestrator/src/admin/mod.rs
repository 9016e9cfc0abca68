//! The admin API for standalone use (no NATS): `PUT /bots/{id}` takes the same JSON as the event
//! payload (with a `config.schedule`, a scheduled bot), `DELETE /bots/{id}`, `GET /bots`,
//! `GET /bots/{id}` (desired spec and observed status), `GET /bots/{id}/runs` (scheduled runs).
//! Listens on loopback by default; an optional bearer token guards every route.

pub mod view;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::http::{self, Resp};
use crate::images::RuntimeImages;
use crate::model::{is_scheduled, parse_payload, BotRecord, Change};
use crate::observed::BotStatus;
use crate::reconcile::Snapshot;
use crate::store::{now_ms, Mode, Store};
pub use view::view;

const MAX_BODY: usize = 4 << 20;

#[derive(Clone)]
pub struct Admin {
    pub store: Store,
    pub snapshot: Arc<Snapshot>,
    pub token: Option<String>,
    /// Shown per bot: the image its runtime runs on.
    pub images: Arc<RuntimeImages>,
}

impl Admin {
    fn show(&self, rec: &BotRecord, s: &BotStatus) -> Value {
        if is_scheduled(&rec.config) {
            let st = self.store.schedule_state(&rec.id).ok().flatten();
            let last = self.store.runs(&rec.id, 1).ok().and_then(|mut r| r.pop());
            let open = self.store.open_run(&rec.id).ok().flatten();
            return crate::schedule::view::view(rec, &self.images, st.as_ref(), last.as_ref(), open.as_ref());
        }
        view(
            rec,
            &self.images,
            s,
            self.snapshot.primary(&rec.id).as_ref(),
            self.snapshot.is_in_flight(&rec.id),
            now_ms(),
        )
    }

    pub async fn handle(self, req: Request<Incoming>) -> Resp {
        if let Some(t) = &self.token {
            let got = req.headers().get(::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            if !crate::auth::bearer_ok(got, t) {
                return http::error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            }
        }
        let path = req.uri().path().trim_end_matches('/').to_string();
        if let Some(id) = path.strip_prefix("/bots/").and_then(|p| p.strip_suffix("/runs")).filter(|i| !i.contains('/'))
        {
            if req.method() != Method::GET {
                return http::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            }
            return self.runs(id);
        }
        let id = path.strip_prefix("/bots/").filter(|i| !i.is_empty() && !i.contains('/')).map(str::to_string);
        match (req.method().clone(), path.as_str(), id) {
            (Method::GET, "/bots", _) => match self.store.list() {
                Ok(all) => {
                    http::json(StatusCode::OK, &Value::Array(all.iter().map(|(r, s)| self.show(r, s)).collect()))
                }
                Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            },
            (Method::GET, _, Some(id)) => match self.store.get(&id) {
                Ok(Some((r, s))) => http::json(StatusCode::OK, &self.show(&r, &s)),
                Ok(None) => http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
                Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            },
            (Method::PUT, _, Some(id)) => self.put(id, req).await,
            (Method::DELETE, _, Some(id)) => match self.store.apply(&Change::Delete(id.clone()), Mode::Put, None) {
                Ok(true) => http::json(StatusCode::OK, &json!({"id": id, "deleted": true})),
                Ok(false) => http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
                Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            },
            (_, "/bots", _) | (_, _, Some(_)) => http::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
            _ => http::error(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// `GET /bots/{id}/runs`: the bot's recorded runs, newest first.
    fn runs(&self, id: &str) -> Resp {
        match self.store.get(id) {
            Ok(Some(_)) => {}
            Ok(None) => return http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
            Err(e) => return http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
        match self.store.runs(id, crate::store::runs::HISTORY + 1) {
            Ok(runs) => {
                http::json(StatusCode::OK, &Value::Array(runs.iter().map(crate::schedule::view::run_json).collect()))
            }
            Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }

    async fn put(&self, id: String, req: Request<Incoming>) -> Resp {
        let body = match http::body(req, MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        // The path names the bot; a body `id` must agree (an absent one is filled in).
        let mut v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &format!("payload is not JSON: {e}")),
        };
        if let Value::Object(m) = &mut v {
            match m.get("id") {
                None | Some(Value::Null) => {
                    m.insert("id".into(), id.clone().into());
                }
                Some(Value::String(s)) if *s == id => {}
                Some(other) => {
                    return http::error(StatusCode::BAD_REQUEST, &format!("body id {other} does not match the path"))
                }
            }
        }
        let rec = match parse_payload(v.to_string().as_bytes(), false) {
            Ok(Change::Upsert(r)) => r,
            Ok(Change::Delete(_)) => return http::error(StatusCode::BAD_REQUEST, "not an upsert"),
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        match self.store.apply(&Change::Upsert(rec.clone()), Mode::Put, None) {
            Ok(_) => {
                let s = self.store.get(&id).ok().flatten().map(|(_, s)| s).unwrap_or_default();
                http::json(StatusCode::OK, &self.show(&rec, &s))
            }
            Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }
}
