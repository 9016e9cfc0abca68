//! The sidecar's health port (`daemon sync --readiness-port N`): `/healthz` is always 200 `ok`;
//! `/readyz` is 503 `not ready` until the syncer is watching, then 200 `ok` (docs/contract.md §2.7).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The answer for a path given readiness. Pure, so it is table-tested.
pub fn answer(path: &str, ready: bool) -> (StatusCode, &'static str) {
    match path {
        "/healthz" => (StatusCode::OK, "ok"),
        "/readyz" if ready => (StatusCode::OK, "ok"),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        _ => (StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// Binds `0.0.0.0:port` and serves until the task is dropped.
pub async fn serve(port: u16, ready: watch::Receiver<bool>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let ready = ready.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let (status, body) = answer(req.uri().path(), *ready.borrow());
                    async move {
                        let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                        *resp.status_mut() = status;
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("text/plain; charset=utf-8"),
                        );
                        Ok::<_, Infallible>(resp)
                    }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn).await;
            });
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(answer("/healthz", false), (StatusCode::OK, "ok"));
        assert_eq!(answer("/readyz", false), (StatusCode::SERVICE_UNAVAILABLE, "not ready"));
        assert_eq!(answer("/readyz", true), (StatusCode::OK, "ok"));
        assert_eq!(answer("/other", true).0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn serves_over_tcp() {
        let (tx, rx) = watch::channel(false);
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let server = serve(port, rx).await.unwrap();
        let get = |path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        tx.send(true).unwrap();
        let r = get("/readyz").await;
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("ok"), "{r}");
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
        server.abort();
    }
}
