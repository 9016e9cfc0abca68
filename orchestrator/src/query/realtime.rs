//! Realtime queries: `POST http://<container ip>:9476<query_path>` over a pooled HTTP/1 client
//! (docs/contract.md §4.3 "Proxy"), with the parameters both in the JSON body and appended to the URL
//! query string (D20), since SDK handlers read only the URL. The container's address is looked
//! up once per container id and cached; a transport error forgets it. Every failure is an error
//! envelope: the bot's own status codes are ignored, only its body counts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
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

/// Why a container's address is unknown.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("failed to get container IP: the container has no network address")]
    NoAddress,
    #[error("failed to get container IP: {0}")]
    Docker(DockerError),
}

pub struct Realtime {
    client: Client<HttpConnector, Full<Bytes>>,
    docker: Arc<dyn Engine>,
    addresses: Mutex<HashMap<String, String>>,
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
    pub fn new(docker: Arc<dyn Engine>) -> Realtime {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .build(http);
        Realtime { client, docker, addresses: Mutex::default() }
    }

    fn cached(&self, container: &str) -> Option<String> {
        self.addresses.lock().unwrap_or_else(|p| p.into_inner()).get(container).cloned()
    }

    fn forget(&self, container: &str) {
        self.addresses.lock().unwrap_or_else(|p| p.into_inner()).remove(container);
    }

    async fn address(&self, container: &str) -> Result<String, AddressError> {
        if let Some(ip) = self.cached(container) {
            return Ok(ip);
        }
        match self.docker.container_ip(container).await {
            Ok(Some(ip)) => {
                let mut m = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
                if m.len() >= MAX_CACHED {
                    m.clear();
                }
                m.insert(container.to_string(), ip.clone());
                Ok(ip)
            }
            Ok(None) => Err(AddressError::NoAddress),
            Err(e) => Err(AddressError::Docker(e)),
        }
    }

    /// Runs one query against the container; always an envelope.
    pub async fn query(&self, container: &str, req: &QueryRequest) -> Envelope {
        let ip = match self.address(container).await {
            Ok(ip) => ip,
            Err(e) => return Envelope::error(e.to_string()),
        };
        let (target, body) = target_and_body(req);
        let built = Request::post(url(&ip, &target))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body));
        let request = match built {
            Ok(r) => r,
            Err(e) => return Envelope::error(format!("cannot build the query request: {e}")),
        };
        let exchange = async {
            let resp = self.client.request(request).await.map_err(|e| format!("query request failed: {e}"))?;
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("cannot read the query response: {e}"))?;
            Ok::<_, String>(body.to_bytes())
        };
        match tokio::time::timeout(req.timeout, exchange).await {
            Ok(Ok(body)) => parse_answer(&body, "query response"),
            Ok(Err(e)) => {
                self.forget(container);
                Envelope::error(e)
            }
            Err(_) => Envelope::error(format!("query timed out after {}s", req.timeout.as_secs())),
        }
    }
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

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(url("172.17.0.2", "/p?a=1"), "http://172.17.0.2:9476/p?a=1");
        assert_eq!(url("fd00::2", "/p"), "http://[fd00::2]:9476/p");
    }
}
