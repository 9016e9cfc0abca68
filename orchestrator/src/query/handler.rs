//! One HTTP request to the :9477 server: `/health` (any method) → `{"status":"ok"}`; `/query`
//! must be a POST (405) whose body parses (400, 413) and names a queryable bot (404); then the
//! query is routed (proxy, a scheduled bot's warm query server, or one-shot, 503 when the query
//! containers are all busy) and its
//! outcome rendered. Any other path is a plain-text 404.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use the0_contract::query::Envelope;

use super::index::{route, IndexedBot, Route};
use super::reply::{render, status_of};
use super::request::{parse, QueryRequest};
use super::QueryServer;
use crate::http::{self, Resp};
use crate::metrics::QueryKind;
use crate::model::Launch;

/// Largest `POST /query` body.
pub const MAX_BODY: usize = 1024 * 1024;

fn refuse(server: &QueryServer, status: StatusCode, msg: impl Into<String>) -> Resp {
    server.metrics.queries_refused.inc();
    http::json(status, &render(&Envelope::error(msg), Duration::ZERO, SystemTime::now()))
}

/// `/health`: 200 to any method, without the token.
pub const HEALTH: &str = "/health";
/// `/query`: `POST` only.
pub const QUERY: &str = "/query";
/// Every route of :9477 (method, path) as `openapi/query.json` documents it; `/health` answers
/// any method, the document names `GET` and `POST`. Any other path is a plain-text 404.
pub const ROUTES: &[(&str, &str)] = &[("POST", QUERY), ("GET", HEALTH), ("POST", HEALTH)];

/// The :9477 API's OpenAPI 3.0 document, served by the admin API at `/openapi/query.json`.
pub const OPENAPI: &str = include_str!("../../openapi/query.json");

impl QueryServer {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Resp {
        if let Some(t) = self.token.as_deref().filter(|_| req.uri().path() != "/health") {
            let got = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            if !crate::auth::bearer_ok(got, t) {
                return refuse(&self, StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            }
        }
        match req.uri().path() {
            HEALTH => http::json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
            QUERY if req.method() != Method::POST => {
                let msg = format!("method {} not allowed: use POST", req.method());
                let mut r = refuse(&self, StatusCode::METHOD_NOT_ALLOWED, msg);
                r.headers_mut().insert(hyper::header::ALLOW, hyper::header::HeaderValue::from_static("POST"));
                r
            }
            QUERY => self.query(req).await,
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
        let t0 = Instant::now();
        let running = match bot.as_deref().filter(|b| b.proxied()) {
            Some(_) => match self.backend.running(&q.bot_id, &self.realtime).await {
                Ok(r) => r,
                Err(msg) => {
                    self.metrics.queries_failed.inc();
                    return http::json(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &render(&Envelope::error(msg), t0.elapsed(), SystemTime::now()),
                    );
                }
            },
            None => None,
        };
        let (how, env) = match route(&q.bot_id, bot.as_deref(), running.as_deref()) {
            Route::NotFound(msg) => return refuse(&self, StatusCode::NOT_FOUND, msg),
            Route::Unrunnable(msg) => {
                self.metrics.queries_failed.inc();
                return http::json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &render(&Envelope::error(msg), Duration::ZERO, SystemTime::now()),
                );
            }
            Route::Proxy(key) => {
                self.metrics.queries_proxied.inc();
                (QueryKind::Realtime, self.realtime.query(&key, &q).await)
            }
            Route::OneShot(launch) => {
                // `route` gives OneShot only for an indexed bot.
                let Some(bot) = bot.clone() else {
                    return refuse(&self, StatusCode::NOT_FOUND, format!("bot {:?} not found", q.bot_id));
                };
                if let Some(env) = self.warm(&bot, &launch, &q).await {
                    return self.answered(&q, QueryKind::Warm, env, t0);
                }
                let Some(slot) = self.backend.try_slot() else {
                    let msg = format!(
                        "all {} query containers are busy (--max-query-containers); try again shortly",
                        self.backend.max_oneshots()
                    );
                    let mut r = refuse(&self, StatusCode::SERVICE_UNAVAILABLE, msg);
                    r.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
                    return r;
                };
                self.metrics.queries_oneshot.inc();
                // Its own task: a client that hangs up must not leave the container (Job) behind.
                let task = tokio::spawn(self.backend.clone().one_shot(slot, launch, bot, q.clone()));
                let env = task.await.unwrap_or_else(|e| Envelope::error(format!("query task failed: {e}")));
                (QueryKind::OneShot, env)
            }
        };
        self.answered(&q, how, env, t0)
    }

    /// A scheduled bot's query answered by its warm query server, if it has a ready, current one
    /// (issue 15). One that cannot be reached is dropped and the query goes the one-shot way.
    async fn warm(&self, bot: &IndexedBot, launch: &Launch, q: &QueryRequest) -> Option<Envelope> {
        let key = self.backend.warm(bot, launch).await?;
        match self.realtime.try_query(&key, q).await {
            Ok(env) => {
                self.metrics.queries_warm.inc();
                Some(env)
            }
            Err(e) => {
                tracing::info!(bot_id = %q.bot_id, error = %e, "warm query server unreachable; answering by a one-shot query");
                self.backend.warm_lost(&q.bot_id, &key);
                None
            }
        }
    }

    /// Records and renders a query that ran.
    fn answered(&self, q: &QueryRequest, how: QueryKind, env: Envelope, t0: Instant) -> Resp {
        let took = t0.elapsed();
        self.metrics.observe_query(how, took);
        let status = status_of(&env);
        if status != StatusCode::OK {
            self.metrics.queries_failed.inc();
        }
        tracing::debug!(
            bot_id = %q.bot_id,
            path = %q.path,
            // The log keeps the route names it always had.
            route = %match how {
                QueryKind::Realtime => "proxy",
                QueryKind::OneShot => "one-shot",
                QueryKind::Warm => "warm",
            },
            status = %env.status,
            ms = %took.as_millis(),
            "query",
        );
        http::json(status, &render(&env, took, SystemTime::now()))
    }
}

#[cfg(test)]
mod tests {
    /// Every route of :9477 is in `openapi/query.json`, and every documented operation is a route.
    #[test]
    fn the_routes_and_the_openapi_document_agree() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("query.json is JSON");
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("operations").keys() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        documented.sort();
        let mut table: Vec<(String, String)> =
            super::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        table.sort();
        assert_eq!(table, documented);
    }
}
