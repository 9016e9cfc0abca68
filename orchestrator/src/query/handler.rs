//! One HTTP request to the :9477 server: `/health` (any method) → `{"status":"ok"}`; `/query`
//! must be a POST (405) whose body parses (400, 413) and names a queryable bot (404); then the
//! query is routed (proxy or one-shot, 503 when the query containers are all busy) and its
//! outcome rendered. Any other path is a plain-text 404.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use the0_contract::query::Envelope;

use super::index::{route, Route};
use super::reply::{render, status_of};
use super::request::parse;
use super::QueryServer;
use crate::http::{self, Resp};
use crate::log;
use crate::metrics::Metrics;

/// Largest `POST /query` body.
pub const MAX_BODY: usize = 1024 * 1024;

fn refuse(server: &QueryServer, status: StatusCode, msg: impl Into<String>) -> Resp {
    Metrics::inc(&server.metrics.queries_refused);
    http::json(status, &render(&Envelope::error(msg), Duration::ZERO, SystemTime::now()))
}

impl QueryServer {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Resp {
        if let Some(t) = self.token.as_deref().filter(|_| req.uri().path() != "/health") {
            let got = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            if !crate::auth::bearer_ok(got, t) {
                return refuse(&self, StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            }
        }
        match req.uri().path() {
            "/health" => http::json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
            "/query" if req.method() != Method::POST => {
                let msg = format!("method {} not allowed: use POST", req.method());
                let mut r = refuse(&self, StatusCode::METHOD_NOT_ALLOWED, msg);
                r.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("POST"));
                r
            }
            "/query" => self.query(req).await,
            _ => http::text(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
    }

    async fn query(self: Arc<Self>, req: Request<Incoming>) -> Resp {
        let body = match http::body(req, MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return refuse(&self, StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
        };
        let q = match parse(&body) {
            Ok(q) => q,
            Err(e) => return refuse(&self, StatusCode::BAD_REQUEST, e.to_string()),
        };
        let bot = self.index.get(&q.bot_id);
        let running = self.snapshot.primary(&q.bot_id);
        let t0 = Instant::now();
        let (how, env) = match route(&q.bot_id, bot.as_deref(), running.as_ref()) {
            Route::NotFound(msg) => return refuse(&self, StatusCode::NOT_FOUND, msg),
            Route::Unrunnable(msg) => {
                Metrics::inc(&self.metrics.queries_failed);
                return http::json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &render(&Envelope::error(msg), Duration::ZERO, SystemTime::now()),
                );
            }
            Route::Proxy(container) => {
                Metrics::inc(&self.metrics.queries_proxied);
                ("proxy", self.realtime.query(&container, &q).await)
            }
            Route::OneShot(launch) => {
                let Some(slot) = self.oneshots.try_slot() else {
                    let msg = format!(
                        "all {} query containers are busy (--max-query-containers); try again shortly",
                        self.oneshots.max
                    );
                    let mut r = refuse(&self, StatusCode::SERVICE_UNAVAILABLE, msg);
                    r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
                    return r;
                };
                Metrics::inc(&self.metrics.queries_oneshot);
                // Its own task: a client that hangs up must not leave the container behind.
                let task = tokio::spawn(self.oneshots.clone().run(slot, launch, q.clone()));
                let env = task.await.unwrap_or_else(|e| Envelope::error(format!("query task failed: {e}")));
                ("one-shot", env)
            }
        };
        let took = t0.elapsed();
        self.metrics.query_duration.observe(took);
        let status = status_of(&env);
        if status != StatusCode::OK {
            Metrics::inc(&self.metrics.queries_failed);
        }
        log::debug(
            "query",
            &[
                ("bot_id", &q.bot_id),
                ("path", &q.path),
                ("route", &how),
                ("status", &env.status),
                ("ms", &took.as_millis()),
            ],
        );
        http::json(status, &render(&env, took, SystemTime::now()))
    }
}
