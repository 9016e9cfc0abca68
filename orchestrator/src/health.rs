//! The health server (`--health-addr`, the contract's fixed :8080): `/healthz` 200 `ok` while the
//! process runs; `/readyz` 200 `ok` only when the store, Docker and storage answer, else 503
//! `not ready`; `/metrics` in Prometheus text. Plain text, 5 s budget per check (§5.6).

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::host::Host;
use crate::http::{self, Resp};

#[derive(Clone)]
pub struct Health {
    pub host: Host,
}

impl Health {
    /// Which dependencies do not answer (empty = ready).
    pub async fn not_ready(&self) -> Vec<&'static str> {
        let mut bad = Vec::new();
        if self.host.store.ping().is_err() {
            bad.push("store");
        }
        if tokio::time::timeout(Duration::from_secs(5), self.host.engine.ping()).await.map_or(true, |r| r.is_err()) {
            bad.push("docker");
        }
        if !crate::objects::ready(&self.host.objects, &self.host.settings).await {
            bad.push("storage");
        }
        bad
    }

    pub async fn handle(self, req: Request<Incoming>) -> Resp {
        match req.uri().path() {
            "/healthz" => http::text(StatusCode::OK, "ok"),
            "/readyz" => {
                let bad = self.not_ready().await;
                if bad.is_empty() {
                    http::text(StatusCode::OK, "ok")
                } else {
                    let mut r = http::text(StatusCode::SERVICE_UNAVAILABLE, "not ready");
                    if let Ok(v) = ::http::HeaderValue::from_str(&bad.join(", ")) {
                        r.headers_mut().insert("x-not-ready", v);
                    }
                    r
                }
            }
            "/metrics" => http::metrics(&self.host.metrics),
            _ => http::text(StatusCode::NOT_FOUND, "not found"),
        }
    }
}
