//! Tests that run their own `nats-server` children: a server that appears after the publisher
//! started, a restart, credentials from the URL; and one that needs no server: the bounded queue.

use bytes::Bytes;
use the0_executor::nats::Publisher;
use tokio::time::{sleep, timeout, Instant};

use super::{bounded, free_port, stats, wait_for, Raw, Server};
use std::time::Duration;

/// Messages stored in stream `LOGS`, read through an ephemeral push consumer.
async fn stream_payloads(port: u16, n: usize) -> Vec<Vec<u8>> {
    let mut c = Raw::connect(&format!("127.0.0.1:{port}"), r#"{"verbose":false}"#).await;
    c.sub("deliver.test", 2).await;
    let create = r#"{"stream_name":"LOGS","config":{"deliver_subject":"deliver.test","deliver_policy":"all","ack_policy":"none"}}"#;
    c.publish("$JS.API.CONSUMER.CREATE.LOGS", "_INBOX.consumer", create.as_bytes()).await;
    let mut got = Vec::new();
    while got.len() < n {
        let (subject, payload) = c.next_msg().await;
        // Deliveries keep the original subject (only the sid tells them apart).
        if subject == "the0.bot.logs.late" {
            got.push(payload);
        }
    }
    got
}

async fn stream_count(port: u16) -> u64 {
    let mut c = Raw::connect(&format!("127.0.0.1:{port}"), r#"{"verbose":false}"#).await;
    let info = c.js("$JS.API.STREAM.INFO.LOGS", "").await;
    info["state"]["messages"].as_u64().expect("message count")
}

#[tokio::test]
async fn connects_when_the_server_appears_and_reconnects_after_a_restart() {
    bounded(async {
        let store_dir = tempfile::tempdir().expect("tempdir");
        let sd = store_dir.path().to_str().expect("utf-8").to_string();
        let port = free_port();
        let js = ["-js", "-sd", sd.as_str()];
        // A stream that captures log subjects from the moment the server starts.
        let server = Server::start(port, &js).await;
        let mut admin = Raw::connect(&format!("127.0.0.1:{port}"), r#"{"verbose":false}"#).await;
        admin
            .js("$JS.API.STREAM.CREATE.LOGS", r#"{"name":"LOGS","subjects":["the0.bot.logs.>"],"storage":"file"}"#)
            .await;
        drop(admin);
        server.stop().await;

        let publisher = Publisher::start(&format!("nats://127.0.0.1:{port}")).expect("start never waits for a server");
        publisher.publish("the0.bot.logs.late", Bytes::from_static(b"early-1"));
        sleep(Duration::from_millis(1500)).await; // at least one failed attempt
        assert!(!stats(&publisher).connected);
        assert_eq!(stats(&publisher).queued, 1);

        let server = Server::start(port, &js).await;
        wait_for("the first connection", || stats(&publisher).connected && stats(&publisher).published == 1).await;
        publisher.publish("the0.bot.logs.late", Bytes::from_static(b"live-2"));
        wait_for("live-2 to be written", || stats(&publisher).published == 2).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while stream_count(port).await < 2 {
            assert!(Instant::now() < deadline, "stream never got 2 messages");
            sleep(Duration::from_millis(50)).await;
        }
        server.stop().await;
        wait_for("the disconnection to be noticed", || !stats(&publisher).connected).await;
        publisher.publish("the0.bot.logs.late", Bytes::from_static(b"outage-3"));

        let server = Server::start(port, &js).await;
        wait_for("the reconnection", || stats(&publisher).connected && stats(&publisher).published == 3).await;
        publisher.publish("the0.bot.logs.late", Bytes::from_static(b"after-4"));
        publisher.clone().drain(Duration::from_secs(10)).await;
        assert_eq!(stats(&publisher).dropped, 0);
        let got = stream_payloads(server.port, 4).await;
        assert_eq!(got, vec![b"early-1".to_vec(), b"live-2".to_vec(), b"outage-3".to_vec(), b"after-4".to_vec()]);
        assert_eq!(stream_count(port).await, 4);
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn credentials_from_the_url_are_sent() {
    bounded(async {
        let port = free_port();
        let _server = Server::start(port, &["--user", "bot", "--pass", "s3cr:t"]).await;
        let mut sub =
            Raw::connect(&format!("127.0.0.1:{port}"), r#"{"verbose":false,"user":"bot","pass":"s3cr:t"}"#).await;
        sub.sub("the0.bot.logs.>", 1).await;
        let wrong = Publisher::start(&format!("nats://bot:nope@127.0.0.1:{port}")).expect("start");
        // A list: the first entry is refused (nothing listens), the second has the credentials.
        let dead = free_port();
        let right =
            Publisher::start(&format!("nats://127.0.0.1:{dead}, nats://bot:s3cr%3At@127.0.0.1:{port}")).expect("start");
        right.publish("the0.bot.logs.creds", Bytes::from_static(b"hello"));
        wrong.publish("the0.bot.logs.creds", Bytes::from_static(b"never"));
        let (subject, payload) = timeout(Duration::from_secs(10), sub.next_msg()).await.expect("no message");
        assert_eq!((subject.as_str(), payload.as_slice()), ("the0.bot.logs.creds", &b"hello"[..]));
        assert!(!stats(&wrong).connected && stats(&wrong).queued == 1);
        right.drain(Duration::from_secs(5)).await;
        wrong.drain(Duration::from_millis(200)).await;
    })
    .await;
}

#[tokio::test]
async fn a_full_queue_drops_instead_of_blocking() {
    bounded(async {
        let p = Publisher::start(&format!("nats://127.0.0.1:{}", free_port())).expect("start");
        let mib = Bytes::from(vec![b'q'; 1024 * 1024]);
        let t0 = std::time::Instant::now();
        for _ in 0..20 {
            p.publish("the0.bot.logs.full", mib.clone());
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "publish blocked");
        let s = stats(&p);
        assert_eq!((s.queued, s.dropped), (16, 4), "{s:?}");
        p.drain(Duration::from_millis(300)).await;
    })
    .await;
}
