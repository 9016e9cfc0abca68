//! A minimal hyper 1 HTTP/1 server loop shared by the admin API and the health server: bounded
//! header-read and connection times, a shutdown future, and small response helpers.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

pub type Resp = Response<Full<Bytes>>;

pub fn text(status: StatusCode, body: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// 200 with `metrics` in the OpenMetrics text format (`/metrics`).
pub fn metrics(metrics: &crate::metrics::Metrics) -> Resp {
    let mut r = text(StatusCode::OK, &metrics.render());
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    r
}

/// Every byte outside `[A-Za-z0-9_.-]` as `%XX`: an id with `/` or `?` stays one path segment.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path segment with its `%XX` escapes decoded (what [`percent_encode`] made); `None` for a
/// malformed escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A Unix-milliseconds time as the APIs show it: RFC 3339 with nanoseconds, or `null`.
pub fn time(ms: Option<i64>) -> serde_json::Value {
    ms.map_or(serde_json::Value::Null, |ms| {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
        the0_contract::timefmt::rfc3339_nanos(t).into()
    })
}

pub fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    r
}

pub fn error(status: StatusCode, msg: &str) -> Resp {
    json(status, &serde_json::json!({ "error": msg }))
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("cannot read the body (limit {limit} bytes): {source}")]
    Read { limit: usize, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("timed out reading the body")]
    Timeout,
}

/// Reads a request body of at most `limit` bytes.
pub async fn body(req: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(Duration::from_secs(30), Limited::new(req.into_body(), limit).collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(source)) => Err(BodyError::Read { limit, source }),
        Err(_) => Err(BodyError::Timeout),
    }
}

/// Per-connection bounds of [`serve_with`].
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Each request head must arrive within this (an idle kept-alive connection too).
    pub header_read: Duration,
    /// After this a connection finishes the request under way and closes, then is dropped if it
    /// has not closed within the same time again.
    pub lifetime: Duration,
}

/// Serves `handler` on `listener` until `shutdown` resolves (5 s heads, 120 s connections).
pub async fn serve<H, F>(listener: TcpListener, handler: H, shutdown: impl Future<Output = ()>)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let limits = ConnLimits { header_read: Duration::from_secs(5), lifetime: Duration::from_secs(120) };
    serve_with(listener, handler, shutdown, limits).await
}

/// [`serve`] with other connection bounds.
pub async fn serve_with<H, F>(listener: TcpListener, handler: H, shutdown: impl Future<Output = ()>, limits: ConnLimits)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let h = handler.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let h = h.clone();
                async move { Ok::<_, Infallible>(h(req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            if tokio::time::timeout(limits.lifetime, conn.as_mut()).await.is_err() {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(limits.lifetime, conn).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip_and_bad_escapes() {
        for id in ["a", "a b", "<script>x</script>", "a/b?c", "é", "%41"] {
            assert_eq!(percent_decode(&percent_encode(id)).as_deref(), Some(id), "{id}");
        }
        for (seg, want) in [
            ("a%20b", Some("a b")),
            ("%3Cb%3e", Some("<b>")),
            ("plain", Some("plain")),
            ("%", None),
            ("%4", None),
            ("%zz", None),
            ("%+1", None),
            ("%ff", None),
        ] {
            assert_eq!(percent_decode(seg).as_deref(), want, "{seg}");
        }
    }
}
