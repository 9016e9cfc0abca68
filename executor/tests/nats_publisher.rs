//! The NATS publisher against real `nats-server` processes (docs/contract.md §2.8 "NATS", D10): delivery,
//! the shipper's publish-once-on-read, connecting to a server that appears later, reconnecting
//! after a restart, credentials, TLS (`nats_publisher/tls.rs`) and the bounded queue.
//!
//! The shared server comes from `THE0_TEST_NATS_URL` (`scripts/test-services.sh start`); other
//! tests start their own `nats-server` child, killed in every outcome. Messages are observed with
//! a tiny raw-protocol subscriber, and across server restarts through a JetStream stream (created
//! before the publisher can connect, so nothing depends on who connects first).
//!
//! This file: helpers and tests on the shared server; `nats_publisher/own_server.rs`: the rest.

#[path = "nats_publisher/own_server.rs"]
mod own_server;
#[path = "nats_publisher/tls.rs"]
mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use the0_executor::config::Config;
use the0_executor::logs::shipper::LogShipper;
use the0_executor::nats::{Publisher, PublisherStats};
use the0_objstore::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

fn shared_nats_addr() -> String {
    let url = std::env::var("THE0_TEST_NATS_URL").unwrap_or_else(|_| {
        panic!("THE0_TEST_NATS_URL is not set: run `eval \"$(scripts/test-services.sh start)\"` first")
    });
    url.trim_start_matches("nats://").to_string()
}

async fn bounded<F: Future<Output = ()>>(f: F) {
    the0_executor::log::set_level(the0_executor::log::Level::Error);
    timeout(Duration::from_secs(90), f).await.expect("test timed out");
}

/// Polls `cond` every 50 ms for up to 15 s.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// A raw NATS client: enough protocol to subscribe and make requests.
struct Raw {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
    line: Vec<u8>,
}

impl Raw {
    async fn connect(addr: &str, connect: &str) -> Raw {
        let stream = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let (rd, wr) = stream.into_split();
        let mut raw = Raw { rd: BufReader::new(rd), wr, line: Vec::new() };
        assert!(raw.read_line().await.starts_with("INFO "));
        raw.send(format!("CONNECT {connect}\r\n").as_bytes()).await;
        raw.sync().await;
        raw
    }

    async fn read_line(&mut self) -> String {
        self.line.clear();
        let n = self.rd.read_until(b'\n', &mut self.line).await.expect("read");
        assert!(n > 0, "server closed the connection");
        String::from_utf8_lossy(&self.line).trim_end().to_string()
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.wr.write_all(bytes).await.expect("write");
    }

    /// PING, then wait for PONG: everything sent before is processed by the server.
    async fn sync(&mut self) {
        self.send(b"PING\r\n").await;
        loop {
            match self.read_line().await.as_str() {
                "PONG" => return,
                "PING" => self.send(b"PONG\r\n").await,
                l if l.starts_with("-ERR") => panic!("server error: {l}"),
                _ => {}
            }
        }
    }

    async fn sub(&mut self, subject: &str, sid: u32) {
        self.send(format!("SUB {subject} {sid}\r\n").as_bytes()).await;
        self.sync().await;
    }

    async fn publish(&mut self, subject: &str, reply: &str, payload: &[u8]) {
        let mut frame = format!("PUB {subject} {reply} {}\r\n", payload.len()).into_bytes();
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.send(&frame).await;
    }

    /// The next `MSG` as (subject, payload), answering server PINGs.
    async fn next_msg(&mut self) -> (String, Vec<u8>) {
        loop {
            let line = self.read_line().await;
            if line == "PING" {
                self.send(b"PONG\r\n").await;
                continue;
            }
            let Some(rest) = line.strip_prefix("MSG ") else {
                continue;
            };
            let parts: Vec<&str> = rest.split_whitespace().collect();
            let len: usize = parts.last().and_then(|l| l.parse().ok()).expect("MSG length");
            let mut payload = vec![0; len + 2];
            self.rd.read_exact(&mut payload).await.expect("payload");
            payload.truncate(len);
            return (parts[0].to_string(), payload);
        }
    }

    /// A JetStream API request; returns the JSON answer (panics on an API error).
    async fn js(&mut self, subject: &str, body: &str) -> serde_json::Value {
        self.sub("_INBOX.test", 99).await;
        self.publish(subject, "_INBOX.test", body.as_bytes()).await;
        loop {
            let (subj, payload) = self.next_msg().await;
            if subj == "_INBOX.test" {
                let v: serde_json::Value = serde_json::from_slice(&payload).expect("JSON answer");
                assert!(v.get("error").is_none(), "{subject}: {v}");
                self.send(b"UNSUB 99\r\n").await;
                return v;
            }
        }
    }
}

/// A `nats-server` child process; killed on drop whatever happens.
struct Server {
    child: Option<Child>,
    port: u16,
}

impl Server {
    async fn start(port: u16, extra: &[&str]) -> Server {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nats-server (is it installed?): {e}"));
        let mut server = Server { child: Some(child), port };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            let exited = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "nats-server {extra:?} on {port} exited at start ({exited:?}): a port taken?");
            assert!(Instant::now() < deadline, "nats-server did not listen on {port}");
            sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// SIGTERM (clean JetStream shutdown), then SIGKILL after 5 s.
    async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = i32::try_from(child.id()).expect("pid");
        // SAFETY: signalling our own child process, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

use the0_test_support::free_port;

fn stats(p: &Publisher) -> PublisherStats {
    p.stats()
}

#[tokio::test]
async fn chunks_reach_a_subscriber_in_order() {
    bounded(async {
        let addr = shared_nats_addr();
        let mut sub = Raw::connect(&addr, r#"{"verbose":false}"#).await;
        sub.sub("the0.bot.logs.>", 1).await;
        let publisher = Publisher::start(&format!("nats://{addr}")).expect("start");
        let big = Bytes::from(vec![b'z'; 1024 * 1024]);
        publisher.publish("the0.bot.logs.order-test", Bytes::from_static(b"first\n"));
        publisher.publish("the0.bot.logs.order-test", big.clone());
        publisher.publish("the0.bot.logs.order-test", Bytes::from_static(b"a\r\nPUB x 1\r\n"));
        publisher.publish("bad subject", Bytes::from_static(b"dropped"));
        let watch = publisher.clone();
        publisher.drain(Duration::from_secs(10)).await;
        let s = stats(&watch);
        assert_eq!((s.published, s.dropped, s.queued), (3, 1, 0), "{s:?}");
        let mut got = Vec::new();
        while got.len() < 3 {
            let (subject, payload) = sub.next_msg().await;
            if subject == "the0.bot.logs.order-test" {
                got.push(payload);
            }
        }
        assert_eq!(got, vec![b"first\n".to_vec(), big.to_vec(), b"a\r\nPUB x 1\r\n".to_vec()]);
        // After a drain, publishing is off for every clone.
        watch.publish("the0.bot.logs.order-test", Bytes::from_static(b"late"));
        assert_eq!(stats(&watch).dropped, 2);
    })
    .await;
}

#[tokio::test]
async fn the_shipper_publishes_raw_chunks_once_on_the_sanitised_subject() {
    bounded(async {
        let addr = shared_nats_addr();
        let mut sub = Raw::connect(&addr, r#"{"verbose":false}"#).await;
        sub.sub("the0.bot.logs.>", 1).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("run/logs");
        std::fs::create_dir_all(&logs).expect("mkdir");
        let vars: HashMap<String, String> = [("BOT_ID", "bot.1 x*"), ("LOGS_PATH", logs.to_str().expect("utf-8"))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cfg = Config::from_vars(&vars, false).expect("config");
        let publisher = Publisher::start(&format!("nats://{addr}")).expect("start");
        let mut shipper = LogShipper::new(&cfg, None, Some(publisher.clone()));
        let root = dir.path().join("objects");
        let store = Store::local(&root);
        let write = |b: &[u8]| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(cfg.bot_log_path()).expect("open");
            f.write_all(b).expect("write");
        };
        std::fs::write(&root, b"not a directory").expect("block the store");
        write(b"a\nb\n");
        shipper.sync(&store, false).await.expect_err("store is broken");
        write(b"c\n");
        std::fs::remove_file(&root).expect("unblock");
        let key = shipper.sync(&store, false).await.expect("retry").key.expect("appended");
        write(b"d\npartial");
        shipper.sync(&store, false).await.expect("sync");
        shipper.sync(&store, true).await.expect("final sync");
        publisher.drain(Duration::from_secs(10)).await;

        let want: Vec<&[u8]> = vec![b"a\nb\n", b"c\n", b"d\n", b"partial"];
        let mut got = Vec::new();
        let collect = async {
            while got.len() < want.len() {
                let (subject, payload) = sub.next_msg().await;
                if subject.starts_with("the0.bot.logs.bot") {
                    assert_eq!(subject, "the0.bot.logs.bot_1_x_");
                    got.push(payload);
                }
            }
        };
        timeout(Duration::from_secs(10), collect).await.expect("chunks did not arrive");
        assert_eq!(got, want);
        // Nothing else arrives: the retried append did not republish.
        let extra = timeout(Duration::from_millis(500), async {
            loop {
                let (subject, payload) = sub.next_msg().await;
                if subject == "the0.bot.logs.bot_1_x_" {
                    return payload;
                }
            }
        })
        .await;
        assert!(extra.is_err(), "republished: {extra:?}");
        let object = std::fs::read_to_string(root.join("bot-logs").join(key)).expect("object");
        let messages: Vec<String> = object
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["message"]
                    .as_str()
                    .expect("message")
                    .to_string()
            })
            .collect();
        assert_eq!(messages, ["a", "b", "c", "d", "partial"]);
    })
    .await;
}
