//! The HTTP side of the S3 backend: one pooled hyper client over rustls (ring provider, webpki
//! roots plus `SSL_CERT_FILE`), path-style URLs, SigV4 headers, time bounds and retries. It
//! sends the [`Call`]s that the operation modules describe.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::call::{server_error, transport, Body, Call, Payload, Reply};
use super::creds::{CredentialSource, Credentials};
use super::date::amz_date;
use super::sigv4::{canonical_query, sha256_hex, uri_encode, Canonical, Signer, UNSIGNED_PAYLOAD};
use crate::{Error, Result, S3Settings};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// In-memory bodies up to this size are hashed into the signature; larger ones are sent unsigned.
const HASH_LIMIT: usize = 1024 * 1024;
/// Replies we read whole (XML documents) may not exceed this.
const MAX_REPLY: usize = 16 * 1024 * 1024;
/// Attempts of a request whose body can be sent again (empty or in memory, and not a POST), after
/// a transport error that is not a failure to connect (typically a pooled connection the server
/// had closed) or an answer 500 / 503 (`SlowDown`, `ServiceUnavailable`, `InternalError`).
/// Streamed bodies (files, `put_stream` parts read from a reader) are sent once: they cannot be
/// replayed. POSTs (CreateMultipartUpload, CompleteMultipartUpload) are not repeated either: a
/// repeat of a request that did succeed would start a second upload or fail with NoSuchUpload.
const ATTEMPTS: usize = 4;
/// First wait between attempts; doubled each time, plus up to as much again of random jitter.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// The wait before attempt `attempt + 1` (`attempt` ≥ 1): `BACKOFF_FIRST * 2^(attempt-1)`
/// plus a jitter of `jitter` (0..=255) / 256 of it, capped at [`BACKOFF_CAP`].
pub(crate) fn backoff(attempt: usize, jitter: u8) -> Duration {
    let shift = u32::try_from(attempt.saturating_sub(1)).unwrap_or(16).min(16);
    let base = BACKOFF_FIRST.saturating_mul(1u32 << shift);
    let extra = base.saturating_mul(u32::from(jitter)) / 256;
    (base + extra).min(BACKOFF_CAP)
}

/// A random byte for [`backoff`]'s jitter (0 if the system RNG fails).
fn jitter() -> u8 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 1];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b[0]
}

/// Statuses worth another attempt: the server says it is overloaded or failed internally.
fn retry_status(status: http::StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 503)
}

fn tls_config() -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = std::env::var_os("SSL_CERT_FILE") {
        // Only a readable file counts; an unreadable one is as if unset.
        if let Ok(pem) = std::fs::read(&path) {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::Invalid(format!("SSL_CERT_FILE {}: {e}", path.to_string_lossy())))?;
            roots.add_parsable_certificates(certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A failed attempt, and whether sending it again may help.
struct Failed {
    error: Error,
    retry: bool,
}

/// Reads a whole body of at most `limit` bytes.
pub(crate) async fn read_body(
    body: Incoming,
    limit: usize,
) -> std::result::Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Limited::new(body, limit).collect().await?.to_bytes())
}

/// The signing, sending half of an [`super::S3Store`].
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    scheme: &'static str,
    endpoint: String,
    region: String,
    /// Fixed keys, or a file rewritten with temporary ones (`creds.rs`).
    creds: CredentialSource,
}

impl Http {
    pub(crate) fn new(s: &S3Settings) -> Result<Http> {
        let fixed = Credentials {
            access_key: s.access_key.clone(),
            secret_key: s.secret_key.clone(),
            session_token: None,
            expiration: None,
        };
        Http::with_credentials(s, CredentialSource::Fixed(Arc::new(fixed)))
    }

    /// An HTTP side that signs with `creds` (the keys of `s` are ignored).
    pub(crate) fn with_credentials(s: &S3Settings, creds: CredentialSource) -> Result<Http> {
        if s.endpoint.is_empty() || s.endpoint.contains("://") || s.endpoint.contains(['/', '?', '#', ' ']) {
            return Err(Error::Invalid(format!(
                "S3 endpoint must be host:port without scheme or path, got {:?}",
                s.endpoint
            )));
        }
        if HeaderValue::from_str(&s.endpoint).is_err() {
            return Err(Error::Invalid(format!("S3 endpoint {:?} is not a valid host", s.endpoint)));
        }
        let region = if s.region.is_empty() { "us-east-1".to_owned() } else { s.region.clone() };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(15))
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Http {
            client,
            scheme: if s.use_ssl { "https" } else { "http" },
            endpoint: s.endpoint.clone(),
            region,
            creds,
        })
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    fn request(&self, call: &Call<'_>, body: Body, payload_hash: &str, len: Option<u64>) -> Result<Request<Body>> {
        let mut path = format!("/{}", uri_encode(call.bucket, true));
        if !call.key.is_empty() {
            path.push('/');
            path.push_str(&uri_encode(call.key, false));
        }
        let query: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let query = canonical_query(&query);
        let date = amz_date(SystemTime::now());
        let creds = self.creds.current()?;
        let mut headers: Vec<(&str, &str)> =
            vec![("host", &self.endpoint), ("x-amz-date", &date), ("x-amz-content-sha256", payload_hash)];
        if let Some(token) = &creds.session_token {
            headers.push(("x-amz-security-token", token));
        }
        headers.extend(call.headers.iter().map(|(k, v)| (*k, v.as_str())));
        let signer = Signer {
            access_key: creds.access_key.clone(),
            secret_key: creds.secret_key.clone(),
            region: self.region.clone(),
        };
        let auth = signer.authorization_for(
            call.service,
            &date,
            &Canonical { method: call.method.as_str(), path: &path, query: &query, headers: &headers, payload_hash },
        );
        let uri = if query.is_empty() {
            format!("{}://{}{path}", self.scheme, self.endpoint)
        } else {
            format!("{}://{}{path}?{query}", self.scheme, self.endpoint)
        };
        let mut b = Request::builder().method(call.method.clone()).uri(uri);
        for (k, v) in &headers {
            b = b.header(*k, *v);
        }
        b = b.header("authorization", auth);
        if let Some(len) = len {
            b = b.header(CONTENT_LENGTH, len);
        }
        b.body(body)
            .map_err(|e| Error::Invalid(format!("{} {}/{}: cannot build request: {e}", call.op, call.bucket, call.key)))
    }

    /// Sends `call` and returns the response head with its unread body, whatever the status.
    /// `call.timeout` bounds everything up to the response head, retries included.
    pub(crate) async fn send(&self, mut call: Call<'_>) -> Result<Response<Incoming>> {
        let deadline = tokio::time::Instant::now() + call.timeout;
        let (bytes, hash, len) = match std::mem::replace(&mut call.payload, Payload::Empty) {
            Payload::Stream { body, len } => {
                return self.attempt(&call, body, UNSIGNED_PAYLOAD, Some(len), deadline).await.map_err(|f| f.error)
            }
            Payload::Empty => (Bytes::new(), sha256_hex(b""), None),
            Payload::Bytes(b) if b.len() <= HASH_LIMIT => {
                let hash = sha256_hex(&b);
                let len = Some(b.len() as u64);
                (b, hash, len)
            }
            Payload::Bytes(b) => {
                let len = Some(b.len() as u64);
                (b, UNSIGNED_PAYLOAD.to_owned(), len)
            }
        };
        // PUT and POST always announce their length, even when empty.
        let len = len.or((call.method == Method::PUT || call.method == Method::POST).then_some(0));
        let retryable = call.method != Method::POST;
        let mut attempt = 1;
        loop {
            let body = if bytes.is_empty() {
                Empty::new().map_err(|never| match never {}).boxed()
            } else {
                Full::new(bytes.clone()).map_err(|never| match never {}).boxed()
            };
            let wait = backoff(attempt, jitter());
            let may_retry = retryable && attempt < ATTEMPTS && tokio::time::Instant::now() + wait < deadline;
            match self.attempt(&call, body, &hash, len, deadline).await {
                Ok(resp) if may_retry && retry_status(resp.status()) => {
                    // Read (bounded) and drop the error body so the connection can be reused.
                    let _ = tokio::time::timeout_at(deadline, read_body(resp.into_body(), 64 * 1024)).await;
                }
                Ok(resp) => return Ok(resp),
                Err(f) if f.retry && may_retry => {}
                Err(f) => return Err(f.error),
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        body: Body,
        payload_hash: &str,
        len: Option<u64>,
        deadline: tokio::time::Instant,
    ) -> std::result::Result<Response<Incoming>, Failed> {
        let req = self.request(call, body, payload_hash, len).map_err(|error| Failed { error, retry: false })?;
        match tokio::time::timeout_at(deadline, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            // A refused or timed-out connect is not retried: a down server must fail fast.
            Ok(Err(e)) => Err(Failed { retry: !e.is_connect(), error: transport(call.op, call.bucket, call.key, &e) }),
            Err(_) => Err(Failed { error: Error::timeout(call.op, call.bucket, call.key, call.timeout), retry: false }),
        }
    }

    /// Sends `call` and reads the whole reply (at most 16 MiB), within `call.timeout`.
    pub(crate) async fn call(&self, call: Call<'_>) -> Result<Reply> {
        let (op, bucket, key, timeout) = (call.op, call.bucket, call.key, call.timeout);
        let exchange = async {
            let resp = self.send(call).await?;
            let (head, body) = resp.into_parts();
            let body = read_body(body, MAX_REPLY).await.map_err(|e| transport(op, bucket, key, &*e))?;
            Ok(Reply { status: head.status, headers: head.headers, body })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(op, bucket, key, timeout)),
        }
    }

    /// [`Http::call`], with any status but 2xx turned into `Error::Server`.
    pub(crate) async fn call_ok(&self, call: Call<'_>) -> Result<Reply> {
        let (op, bucket, key) = (call.op, call.bucket, call.key);
        let reply = self.call(call).await?;
        if !reply.status.is_success() {
            return Err(server_error(op, bucket, key, reply.status, &reply.body));
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let table = [
            (1, 0, 100),
            (1, 255, 199),
            (2, 0, 200),
            (3, 0, 400),
            (3, 128, 600),
            (5, 0, 1600),
            (6, 0, 2000),
            (60, 255, 2000),
        ];
        for (attempt, jitter, ms) in table {
            assert_eq!(backoff(attempt, jitter).as_millis(), ms, "attempt {attempt}, jitter {jitter}");
        }
    }

    /// Also covers `SSL_CERT_FILE`, in the same test because it changes the process environment
    /// (no other unit test builds a client).
    #[test]
    fn settings_are_checked() {
        let s = |endpoint: &str| S3Settings {
            endpoint: endpoint.into(),
            access_key: "a".into(),
            secret_key: "s".into(),
            use_ssl: false,
            region: String::new(),
        };
        assert!(Http::new(&s("127.0.0.1:9000")).is_ok());
        for bad in ["", "http://x:9000", "x:9000/path", "a b"] {
            assert!(matches!(Http::new(&s(bad)), Err(Error::Invalid(_))), "{bad:?}");
        }

        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").expect("write");
        std::env::set_var("SSL_CERT_FILE", &bad);
        let r = Http::new(&s("127.0.0.1:9000"));
        std::env::set_var("SSL_CERT_FILE", dir.path().join("missing.pem"));
        let missing_is_ignored = Http::new(&s("127.0.0.1:9000")).is_ok();
        std::env::remove_var("SSL_CERT_FILE");
        assert!(matches!(r, Err(Error::Invalid(_))), "malformed PEM");
        assert!(missing_is_ignored);
    }
}
