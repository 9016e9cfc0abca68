//! Retries of the S3 client against a real TCP server in the test that injects faults: it
//! answers a scripted sequence of statuses (503 `SlowDown`, 500 `InternalError`, ...) and then
//! 200. Requests whose body can be replayed are retried with backoff (at most 4 attempts); a
//! streamed body is sent once; a 404 is an answer, not a fault.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use the0_objstore::{Error, S3Settings, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the server saw: (method, path, body) of each request.
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// Starts a server answering `script` in order (a status per request; 200 once it runs out)
/// and returns its address and the requests it saw.
async fn fault_server(script: Vec<u16>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen: Seen = Arc::default();
    let script = Arc::new(Mutex::new(script.into_iter()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (seen, script) = (seen2.clone(), script.clone());
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    seen.lock().expect("lock").push((method.clone(), path, body));
                    let status = script.lock().expect("lock").next().unwrap_or(200);
                    let (reason, payload): (&str, &[u8]) = match status {
                        503 => {
                            ("Service Unavailable", b"<Error><Code>SlowDown</Code><RequestId>r1</RequestId></Error>")
                        }
                        500 => ("Internal Server Error", b"<Error><Code>InternalError</Code></Error>"),
                        404 => ("Not Found", b"<Error><Code>NoSuchKey</Code></Error>"),
                        _ if method == "GET" => ("OK", b"hello"),
                        _ => ("OK", b""),
                    };
                    let head = format!(
                        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nETag: \"5d41402abc4b2a76b9719d911017c592\"\r\n\r\n",
                        payload.len()
                    );
                    if w.write_all(head.as_bytes()).await.is_err() || w.write_all(payload).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn store(addr: &str) -> Store {
    Store::s3(S3Settings {
        endpoint: addr.to_owned(),
        access_key: "k".into(),
        secret_key: "s".into(),
        use_ssl: false,
        region: "us-east-1".into(),
    })
    .expect("store")
}

fn count(seen: &Seen) -> usize {
    seen.lock().expect("lock").len()
}

#[tokio::test]
async fn get_is_retried_on_503_and_500_then_succeeds() {
    let (addr, seen) = fault_server(vec![503, 500]).await;
    let mut obj = store(&addr).get("b", "k").await.expect("get after retries").expect("present");
    let mut body = Vec::new();
    obj.body.read_to_end(&mut body).await.expect("body");
    assert_eq!(body, b"hello");
    assert_eq!(count(&seen), 3);
}

#[tokio::test]
async fn retries_stop_after_four_attempts_with_a_readable_error() {
    let (addr, seen) = fault_server(vec![503; 10]).await;
    let err = match store(&addr).get("b", "k").await {
        Err(e) => e,
        Ok(_) => panic!("a 503 answer succeeded"),
    };
    assert!(matches!(&err, Error::Server { status: 503, code, .. } if code == "SlowDown"), "{err}");
    assert_eq!(err.to_string(), "GetObject b/k: server answered 503 SlowDown: request id r1");
    assert_eq!(count(&seen), 4);
}

#[tokio::test]
async fn in_memory_put_is_replayed_whole() {
    let (addr, seen) = fault_server(vec![503]).await;
    store(&addr).put_bytes("b", "k", Bytes::from_static(b"payload"), "").await.expect("put after a retry");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(m, p, b)| m == "PUT" && p == "/b/k" && b == b"payload"), "{seen:?}");
}

#[tokio::test]
async fn streamed_body_is_sent_once() {
    let (addr, seen) = fault_server(vec![503]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("f");
    std::fs::write(&src, b"file body").expect("write");
    let err = store(&addr).put_file("b", "k", &src, "").await.expect_err("a streamed body is not replayed");
    assert!(matches!(err, Error::Server { status: 503, .. }), "{err}");
    assert_eq!(count(&seen), 1);
}

#[tokio::test]
async fn not_found_is_an_answer_not_a_fault() {
    let (addr, seen) = fault_server(vec![404]).await;
    let got = tokio::time::timeout(Duration::from_secs(60), store(&addr).get("b", "k")).await.expect("bounded");
    assert!(got.expect("get").is_none());
    assert_eq!(count(&seen), 1);
}
