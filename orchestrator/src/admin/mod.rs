//! The admin API for standalone use (no NATS): `PUT /bots/{id}` takes the same JSON as the event
//! payload (with a `config.schedule`, a scheduled bot), `DELETE /bots/{id}`, `GET /bots`,
//! `GET /bots/{id}` (desired spec and observed status), `GET /bots/{id}/runs` (scheduled runs),
//! `POST /bots/{id}/enable` and `/disable` (the bot's root `enabled`), `POST /bots/{id}/restart`,
//! `POST /bots/{id}/run` (an on-demand run, `run.rs`),
//! `GET /bots/{id}/state`, `GET`/`DELETE /bots/{id}/state/{key}` (the SDK's keys in the bot's
//! stored state, `state.rs`), `GET /events` (the event history, `events.rs`), `GET /openapi.json` (this API's OpenAPI
//! document), and the status pages `GET /ui` and `GET /ui/bots/{id}` (HTML, `pages.rs`). The
//! routes are one table (`routes.rs`).
//! Listens on loopback by default; an optional bearer token guards every route (the pages also
//! take it as the password of HTTP Basic, which a browser can send).

pub mod events;
mod pages;
pub mod routes;
mod run;
mod state;
pub mod view;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

use crate::http::{self, Resp};
use crate::images::RuntimeImages;
use crate::model::{is_scheduled, parse_payload, BotRecord, Change};
use crate::observed::BotStatus;
use crate::reconcile::Snapshot;
use crate::store::{now_ms, Mode, Store};
use crate::ui::logs::LogSource;
use routes::{NoRoute, Route};
pub use view::view;

/// The admin API's OpenAPI 3.0 document, served at `GET /openapi.json`; `routes.rs` tests that it
/// and the route table agree.
pub const OPENAPI: &str = include_str!("../../openapi/admin.json");

const MAX_BODY: usize = 4 << 20;

/// An OpenAPI document (checked to be JSON by the tests of `routes.rs` and `query::handler`).
fn document(text: &str) -> Resp {
    match serde_json::from_str::<Value>(text) {
        Ok(doc) => http::json(StatusCode::OK, &doc),
        Err(e) => http::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("the OpenAPI document is not JSON: {e}")),
    }
}

#[derive(Clone)]
pub struct Admin {
    pub store: Store,
    pub snapshot: Arc<Snapshot>,
    pub token: Option<String>,
    /// Shown per bot: the image its runtime runs on.
    pub images: Arc<RuntimeImages>,
    /// Where the status page reads a bot's last log lines.
    pub logs: LogSource,
    /// The bots' stored state (`/bots/{id}/state…`).
    pub state: crate::botstate::BotState,
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
        let routed = routes::route(req.method().as_str(), req.uri().path());
        let page = matches!(routed, Ok((r, _)) if r.is_page());
        if let Some(t) = &self.token {
            let got = req.headers().get(::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            if !(crate::auth::bearer_ok(got, t) || page && crate::auth::basic_ok(got, t)) {
                if page {
                    return crate::ui::respond::unauthorized();
                }
                return http::error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            }
        }
        let (route, params) = match routed {
            Ok(r) => r,
            Err(NoRoute::NotFound) => return http::error(StatusCode::NOT_FOUND, "not found"),
            Err(NoRoute::MethodNotAllowed) => return http::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        };
        let id = params.id.unwrap_or_default();
        let key = params.key.unwrap_or_default();
        match route {
            Route::ListBots => match self.store.list() {
                Ok(all) => {
                    http::json(StatusCode::OK, &Value::Array(all.iter().map(|(r, s)| self.show(r, s)).collect()))
                }
                Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            },
            Route::GetBot => match self.store.get(&id) {
                Ok(Some((r, s))) => http::json(StatusCode::OK, &self.show(&r, &s)),
                Ok(None) => http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
                Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            },
            Route::PutBot => self.put(id, req).await,
            Route::DeleteBot => match self.store.apply(&Change::Delete(id.clone()), Mode::Put, None) {
                Ok(true) => http::json(StatusCode::OK, &json!({"id": id, "deleted": true})),
                Ok(false) => http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
                Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            },
            Route::BotRuns => self.runs(&id),
            Route::EnableBot => self.set_enabled(&id, true),
            Route::DisableBot => self.set_enabled(&id, false),
            Route::RestartBot => self.restart(&id),
            Route::Events => self.events(req.uri().query()),
            Route::OpenApi => document(OPENAPI),
            Route::QueryOpenApi => document(crate::query::handler::OPENAPI),
            Route::Ui => self.ui_overview(),
            Route::UiBot => self.ui_bot(&id).await,
            Route::RunBot => self.request_run(&id, req).await,
            Route::StateKeys => self.state_keys(&id).await,
            Route::StateGet => self.state_get(&id, &key).await,
            Route::StateRemove => self.state_remove(&id, &key, req.uri().query()).await,
        }
    }

    /// `POST /bots/{id}/enable`, `/disable`: sets the bot's root `enabled` and answers its view.
    fn set_enabled(&self, id: &str, enabled: bool) -> Resp {
        match self.store.set_enabled(id, enabled).and_then(|_| self.store.get(id)) {
            Ok(Some((r, s))) => http::json(StatusCode::OK, &self.show(&r, &s)),
            Ok(None) => http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
            Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }

    /// `POST /bots/{id}/restart`: stores the request (the reconciler stops the container and
    /// starts the bot again, `reconcile::plan`) and answers the bot's view. A scheduled or a
    /// disabled bot has no container to restart: 409.
    fn restart(&self, id: &str) -> Resp {
        match self.store.get(id) {
            Ok(Some((r, _))) if is_scheduled(&r.config) => {
                return http::error(
                    StatusCode::CONFLICT,
                    &format!("bot {id:?} is scheduled: its runs start on its schedule, there is nothing to restart"),
                )
            }
            Ok(Some((r, _))) if !crate::model::is_enabled(r.enabled.as_ref(), &r.config) => {
                return http::error(StatusCode::CONFLICT, &format!("bot {id:?} is disabled: `enable` starts it"))
            }
            Ok(Some(_)) => {}
            Ok(None) => return http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
            Err(e) => return http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
        match self.store.request_restart(id, now_ms()).and_then(|_| self.store.get(id)) {
            Ok(Some((r, s))) => http::json(StatusCode::OK, &self.show(&r, &s)),
            Ok(None) => http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
            Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }

    /// `GET /events?bot=ID&since=SEQ&limit=N`: events oldest first; without `since`, the newest
    /// `limit`. A bot that is gone still has its history: no 404.
    fn events(&self, query: Option<&str>) -> Resp {
        let q = match events::parse_query(query) {
            Ok(q) => q,
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &e),
        };
        let got = match q.since {
            Some(since) => self.store.events_since(q.bot.as_deref(), since, q.limit),
            None => self.store.recent_events(q.bot.as_deref(), q.limit).map(|mut v| {
                v.reverse();
                v
            }),
        };
        match got {
            Ok(evs) => http::json(StatusCode::OK, &Value::Array(evs.iter().map(events::event_json).collect())),
            Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
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
        // A decoded path may name an id no container could carry; only an event can store one.
        if !crate::model::is_safe_id(&id) {
            return http::error(StatusCode::BAD_REQUEST, &crate::model::SpecError::UnsafeId(id).to_string());
        }
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
