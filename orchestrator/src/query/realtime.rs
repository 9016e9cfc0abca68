//! Realtime queries: `POST http://<address>:9476<query_path>` over a pooled HTTP/1 client
//! (docs/contract.md §4.3 "Proxy"), with the parameters both in the JSON body and appended to the URL
//! query string (D20), since SDK handlers read only the URL. Every failure is an error envelope:
//! the bot's own status codes are ignored, only its body counts.
//!
//! Only the address lookup differs between the modes, behind [`Locate`]: Docker mode asks the
//! engine for a container's IP ([`EngineLocate`]), Kubernetes mode asks the API server for a
//! pod's IP (`kube::podaddr`). Addresses are cached per key, for as long as the source says
//! ([`Locate::max_age`]); a transport error forgets one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use the0_contract::query::{Envelope, CONTAINER_PORT};
use the0_contract::querytarget::merge_target;

use super::reply::parse_answer;
use super::request::QueryRequest;
use crate::docker::DockerError;
use crate::engine::Engine;

/// Largest answer read from a container.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// Idle pooled connections kept per container.
const IDLE_PER_HOST: usize = 8;
/// Cached addresses beyond this are all forgotten (containers come and go).
const MAX_CACHED: usize = 4096;

/// Why an address is unknown.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("failed to get container IP: the container has no network address")]
    NoAddress,
    #[error("failed to get container IP: {0}")]
    Docker(DockerError),
    /// Another source's failure (Kubernetes: the pod could not be read).
    #[error("{0}")]
    Lookup(Box<dyn std::error::Error + Send + Sync>),
}

/// Where the address of a running bot comes from.
pub trait Locate: Send + Sync {
    /// The address of `key` (a container id, a pod name), looked up afresh; `None` when it has
    /// none to be queried at.
    fn locate<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, AddressError>>;
    /// How long a looked-up address may be reused; `None`: until a transport error.
    fn max_age(&self) -> Option<Duration>;
}

/// Docker mode: a container's IP from the engine. A container id never changes address, so the
/// cache keeps it until a transport error.
pub struct EngineLocate(pub Arc<dyn Engine>);

impl Locate for EngineLocate {
    fn locate<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<String>, AddressError>> {
        Box::pin(async move { self.0.container_ip(key).await.map_err(AddressError::Docker) })
    }

    fn max_age(&self) -> Option<Duration> {
        None
    }
}

pub struct Realtime {
    client: Client<HttpConnector, Full<Bytes>>,
    source: Arc<dyn Locate>,
    addresses: Mutex<HashMap<String, (String, Instant)>>,
}

/// `http://<ip>:9476<target>`, bracketing IPv6 addresses.
pub fn url(ip: &str, target: &str) -> String {
    if ip.contains(':') {
        format!("http://[{ip}]:{CONTAINER_PORT}{target}")
    } else {
        format!("http://{ip}:{CONTAINER_PORT}{target}")
    }
}

/// The request target and body: params appended to the path's query string (D20) and sent as
/// the body when there are any (an empty body otherwise, as the original).
pub fn target_and_body(req: &QueryRequest) -> (String, Bytes) {
    if req.params.is_empty() {
        return (req.path.clone(), Bytes::new());
    }
    let body = req.params_json();
    (merge_target(&req.path, body.as_bytes()), Bytes::from(body))
}

impl Realtime {
    /// Docker mode's proxy: addresses from the engine.
    pub fn new(docker: Arc<dyn Engine>) -> Realtime {
        Realtime::with_source(Arc::new(EngineLocate(docker)))
    }

    /// The proxy with its addresses from `source`.
    pub fn with_source(source: Arc<dyn Locate>) -> Realtime {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .build(http);
        Realtime { client, source, addresses: Mutex::default() }
    }

    fn cached(&self, key: &str) -> Option<String> {
        let m = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        let (ip, at) = m.get(key)?;
        let fresh = self.source.max_age().is_none_or(|age| at.elapsed() < age);
        fresh.then(|| ip.clone())
    }

    /// Forgets `key`'s address: the next query looks it up again.
    pub fn forget(&self, key: &str) {
        self.addresses.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// `key`'s address, cached; `None` when it has none to be queried at (not cached).
    pub async fn address(&self, key: &str) -> Result<Option<String>, AddressError> {
        if let Some(ip) = self.cached(key) {
            return Ok(Some(ip));
        }
        let found = self.source.locate(key).await?;
        if let Some(ip) = &found {
            let mut m = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
            if m.len() >= MAX_CACHED {
                m.clear();
            }
            m.insert(key.to_string(), (ip.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Runs one query against `key` (a container id, a pod name); always an envelope.
    pub async fn query(&self, key: &str, req: &QueryRequest) -> Envelope {
        self.try_query(key, req).await.unwrap_or_else(Envelope::error)
    }

    /// [`Realtime::query`], with the cases where `key` could not be reached (no address, a
    /// transport error) apart as `Err`: a warm query server that is gone is answered another way.
    pub async fn try_query(&self, key: &str, req: &QueryRequest) -> Result<Envelope, String> {
        let ip = match self.address(key).await {
            Ok(Some(ip)) => ip,
            Ok(None) => return Err(AddressError::NoAddress.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        match self.exchange(&ip, req).await {
            Ok(env) => Ok(env),
            Err(Failure::Transport(e)) => {
                self.forget(key);
                Err(e)
            }
            Err(Failure::Other(e)) => Ok(Envelope::error(e)),
        }
    }

    /// Whether the executor's front at `key` has its query program answering: `GET /health`
    /// within `bound`, read by [`front_ready`]. Any failure is "not yet".
    pub async fn ready(&self, key: &str, bound: Duration) -> bool {
        let Ok(Some(ip)) = self.address(key).await else { return false };
        let Ok(request) = Request::get(url(&ip, "/health")).body(Full::new(Bytes::new())) else { return false };
        let exchange = async {
            let resp = self.client.request(request).await.ok()?;
            Limited::new(resp.into_body(), 64 * 1024).collect().await.ok().map(|b| b.to_bytes())
        };
        // A container id keeps its address: a refused connection (the front not listening yet)
        // does not forget it.
        match tokio::time::timeout(bound, exchange).await {
            Ok(Some(body)) => front_ready(&body),
            Ok(None) | Err(_) => false,
        }
    }

    /// The HTTP exchange with the query server at `ip`, bounded by the query's timeout.
    async fn exchange(&self, ip: &str, req: &QueryRequest) -> Result<Envelope, Failure> {
        let (target, body) = target_and_body(req);
        let request = Request::post(url(ip, &target))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| Failure::Other(format!("cannot build the query request: {e}")))?;
        let exchange = async {
            let resp = self.client.request(request).await.map_err(|e| format!("query request failed: {e}"))?;
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("cannot read the query response: {e}"))?;
            Ok::<_, String>(body.to_bytes())
        };
        match tokio::time::timeout(req.timeout, exchange).await {
            Ok(Ok(body)) => Ok(parse_answer(&body, "query response")),
            Ok(Err(e)) => Err(Failure::Transport(e)),
            Err(_) => Err(Failure::Other(format!("query timed out after {}s", req.timeout.as_secs()))),
        }
    }
}

/// Whether a `/health` answer from the executor's :9476 front means its query program answers:
/// while it cannot, the front answers for itself with `data.query_program` naming its phase
/// (`starting`, `restarting`, `none`, `stopped`); once it can, `/health` goes to the program,
/// whatever it answers.
pub fn front_ready(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return true };
    v.pointer("/data/query_program").and_then(serde_json::Value::as_str).is_none_or(|phase| phase == "ready")
}

/// How an exchange failed: a transport error forgets the address, a timeout does not.
enum Failure {
    Transport(String),
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, params: serde_json::Value) -> QueryRequest {
        QueryRequest {
            bot_id: "b".into(),
            path: path.into(),
            params: params.as_object().cloned().unwrap_or_default(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn params_go_to_the_url_and_the_body() {
        let (t, b) = target_and_body(&req("/p", serde_json::json!({"symbol": "BTC-USD", "n": 5, "q": "a&b"})));
        assert_eq!(t, "/p?n=5&q=a%26b&symbol=BTC-USD");
        assert_eq!(&b[..], br#"{"n":5,"q":"a&b","symbol":"BTC-USD"}"#);
        let (t, b) = target_and_body(&req("/p?x=1", serde_json::json!({"y": "2"})));
        assert_eq!((t.as_str(), &b[..]), ("/p?x=1&y=2", &br#"{"y":"2"}"#[..]));
        let (t, b) = target_and_body(&req("/p", serde_json::json!({})));
        assert_eq!((t.as_str(), b.is_empty()), ("/p", true));
    }

    /// A source that answers `ip` (or nothing) and counts its lookups.
    struct Counting {
        ip: Option<&'static str>,
        age: Option<Duration>,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Locate for Counting {
        fn locate<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<String>, AddressError>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move { Ok(self.ip.map(str::to_string)) })
        }

        fn max_age(&self) -> Option<Duration> {
            self.age
        }
    }

    #[tokio::test]
    async fn addresses_are_cached_as_long_as_the_source_says_and_forgotten_on_demand() {
        let lookups = |src: &Arc<Counting>| src.calls.load(std::sync::atomic::Ordering::SeqCst);
        for (age, ip, want_lookups) in [
            // A container id: kept until forgotten.
            (None, Some("10.0.0.2"), 1),
            // A pod name whose address may already be stale: looked up every time.
            (Some(Duration::ZERO), Some("10.0.0.2"), 3),
            // No address (a pod not running): nothing cached.
            (None, None, 3),
        ] {
            let src = Arc::new(Counting { ip, age, calls: Default::default() });
            let rt = Realtime::with_source(src.clone());
            for _ in 0..3 {
                assert_eq!(rt.address("k").await.expect("looked up").as_deref(), ip);
            }
            assert_eq!(lookups(&src), want_lookups, "max age {age:?}, address {ip:?}");
            rt.forget("k");
            let _ = rt.address("k").await;
            assert_eq!(lookups(&src), want_lookups + 1, "a forgotten address is looked up again");
        }
    }

    #[test]
    fn the_fronts_own_health_is_not_ready_anything_else_is() {
        for (body, want) in [
            (r#"{"status":"ok","data":{"status":"ok","query_program":"starting"}}"#, false),
            (r#"{"status":"ok","data":{"status":"ok","query_program":"restarting"}}"#, false),
            (r#"{"status":"ok","data":{"status":"ok","query_program":"none"}}"#, false),
            (r#"{"status":"ok","data":{"status":"ok","query_program":"stopped"}}"#, false),
            // The program answered /health itself, however it does.
            (r#"{"status":"ok","data":{"healthy":true}}"#, true),
            (r#"{"status":"ok","data":{"status":"ok"}}"#, true),
            (r#"{"status":"error","error":"not found"}"#, true),
            ("404 page not found", true),
        ] {
            assert_eq!(front_ready(body.as_bytes()), want, "{body}");
        }
    }

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(url("172.17.0.2", "/p?a=1"), "http://172.17.0.2:9476/p?a=1");
        assert_eq!(url("fd00::2", "/p"), "http://[fd00::2]:9476/p");
    }
}
