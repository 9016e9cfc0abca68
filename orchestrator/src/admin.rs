//! The admin API for standalone use (no NATS): `PUT /bots/{id}` takes the same JSON as the event
//! payload (with a `config.schedule`, a scheduled bot), `DELETE /bots/{id}`, `GET /bots`,
//! `GET /bots/{id}` (desired spec and observed status), `GET /bots/{id}/runs` (scheduled runs).
//! Listens on loopback by default; an optional bearer token guards every route.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::http::{self, Resp};
use crate::images::RuntimeImages;
use crate::model::{is_enabled, is_scheduled, parse_payload, validate, BotRecord, Change};
use crate::plan::{BotStatus, Observed};
use crate::reconcile::Snapshot;
use crate::store::{now_ms, Mode, Store};

const MAX_BODY: usize = 4 << 20;

#[derive(Clone)]
pub struct Admin {
    pub store: Store,
    pub snapshot: Arc<Snapshot>,
    pub token: Option<String>,
    /// Shown per bot: the image its runtime runs on.
    pub images: Arc<RuntimeImages>,
}

pub(crate) fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        the0_contract::timefmt::rfc3339_nanos(t).into()
    })
}

/// What `GET /bots/{id}` shows: the desired spec (with the image it runs on) and the observed
/// status. Pure.
pub fn view(
    rec: &BotRecord,
    images: &RuntimeImages,
    s: &BotStatus,
    c: Option<&Observed>,
    in_flight: bool,
    now: i64,
) -> Value {
    let enabled = is_enabled(rec.enabled.as_ref(), &rec.config);
    let launch = validate(rec, images);
    let image = launch.as_ref().ok().map(|l| l.image.clone());
    let invalid = launch.err();
    let running = c.is_some_and(|c| c.state == crate::plan::State::Running);
    let state = if !enabled {
        if c.is_some() {
            "stopping"
        } else {
            "disabled"
        }
    } else if invalid.is_some() {
        "failed"
    } else if running {
        "running"
    } else if s.backoff_until.is_some_and(|u| u > now) {
        // Before `in_flight`: the action that records an exit (and removes the container) is
        // itself in flight, and the bot is then backing off, not starting.
        if s.last_exit_at.is_some()
            && s.failure_reason.as_deref().is_some_and(|r| r.starts_with("bot exited") || r.contains("OOM"))
        {
            "backing-off"
        } else {
            "failed"
        }
    } else if in_flight {
        "starting"
    } else {
        "pending"
    };
    json!({
        "id": rec.id,
        "enabled": enabled,
        "config": rec.config,
        "custom": rec.custom,
        "image": image,
        "status": {
            "state": state,
            "container": c.map(|c| c.name.clone()),
            "container_id": c.map(|c| c.container.clone()),
            "container_state": c.map(|c| c.state.as_str()),
            "restarts": s.restarts,
            "consecutive_failures": s.consecutive,
            "last_exit_code": s.last_exit_code,
            "last_exit_at": time(s.last_exit_at),
            "backoff_until": time(s.backoff_until.filter(|u| *u > now)),
            "failure_reason": invalid.or_else(|| s.failure_reason.clone()),
        }
    })
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
        match self.store.runs(id, crate::schedule::runs::HISTORY + 1) {
            Ok(runs) => {
                http::json(StatusCode::OK, &Value::Array(runs.iter().map(crate::schedule::view::run_json).collect()))
            }
            Err(e) => http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        }
    }

    async fn put(&self, id: String, req: Request<Incoming>) -> Resp {
        let body = match http::body(req, MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &e),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(config: Value) -> BotRecord {
        BotRecord {
            id: "b".into(),
            config,
            custom: json!({"filePath": "u/b/1", "config": {"runtime": "gcc13", "entrypoints": {"bot": "b.sh"}}}),
            enabled: None,
        }
    }

    #[test]
    fn the_state_shown_for_each_situation() {
        let crashed = BotStatus {
            last_exit_at: Some(900),
            backoff_until: Some(2000),
            failure_reason: Some("bot exited with code 3".into()),
            ..Default::default()
        };
        let start_failed =
            BotStatus { backoff_until: Some(2000), failure_reason: Some("no image".into()), ..Default::default() };
        let expired = BotStatus { backoff_until: Some(500), ..crashed.clone() };
        let ok = BotStatus::default();
        for (config, status, in_flight, want) in [
            (json!({}), &ok, false, "pending"),
            (json!({}), &ok, true, "starting"),
            (json!({}), &crashed, false, "backing-off"),
            // The exit is being recorded by an action still in flight: backing off, not starting.
            (json!({}), &crashed, true, "backing-off"),
            (json!({}), &start_failed, false, "failed"),
            (json!({}), &expired, true, "starting"),
            (json!({"enabled": false}), &ok, false, "disabled"),
            (json!("not an object"), &ok, false, "failed"),
        ] {
            let v = view(&rec(config.clone()), &RuntimeImages::default(), status, None, in_flight, 1000);
            assert_eq!(v["status"]["state"], want, "{config} {status:?} in_flight={in_flight}");
        }
    }
}
