//! The log shipper against the S3 backend: a real S3-compatible server (moto, from
//! `THE0_TEST_S3_ENDPOINT`; the test panics without it) and a closed port standing in for an
//! unreachable store. A failed sync leaves the offset alone; the next one ships everything once.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use the0_executor::config::Config;
use the0_executor::logs::shipper::{LogShipper, LogSyncError};
use the0_objstore::Store;
use tokio::io::AsyncReadExt;

mod common;

fn s3(endpoint: &str) -> Store {
    Store::s3(common::s3_settings(endpoint)).expect("S3 store")
}

fn endpoint() -> String {
    common::s3_endpoint()
}

fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("127.0.0.1:{}", l.local_addr().expect("addr").port())
}

async fn object(store: &Store, bucket: &str, key: &str) -> Vec<String> {
    let Some(mut obj) = store.get(bucket, key).await.expect("get") else {
        return Vec::new();
    };
    let mut text = String::new();
    obj.body.read_to_string(&mut text).await.expect("read");
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("NDJSON record");
            v["message"].as_str().map_or_else(|| l.to_string(), str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn unreachable_store_then_recovery_ships_exactly_once() {
    the0_executor::log::set_level(the0_executor::log::Level::Error);
    let run = async {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("run/logs");
        std::fs::create_dir_all(&logs).expect("mkdir");
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos();
        let bucket = format!("logs-shipper-{nanos}");
        let vars: HashMap<String, String> =
            [("BOT_ID", "s3-bot"), ("LOGS_PATH", logs.to_str().expect("utf-8")), ("MINIO_LOGS_BUCKET", &bucket)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let cfg = Config::from_vars(&vars, false).expect("config");
        let write = |b: &[u8]| {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(cfg.bot_log_path()).expect("open");
            f.write_all(b).expect("write");
        };
        let (good, dead) = (s3(&endpoint()), s3(&closed_port()));
        let mut shipper = LogShipper::new(&cfg, None, None);

        write(b"one\n{\"level\":\"info\",\"message\":\"two\",\"id\":12345678901234567890}\n");
        let err = shipper.sync(&dead, false).await.expect_err("nothing listens");
        assert!(matches!(err, LogSyncError::Bucket { .. }), "{err}");
        assert_eq!(shipper.offset(), 0);
        let out = shipper.sync(&good, false).await.expect("sync");
        let key = out.key.expect("appended");
        assert_eq!(key, format!("logs/s3-bot/{}.log", the0_contract::timefmt::yyyymmdd(SystemTime::now())));
        assert_eq!(object(&good, &bucket, &key).await, ["one", "two"]);

        // The bucket is known now: the append itself fails, and is retried whole.
        write(b"three\n");
        let err = shipper.sync(&dead, false).await.expect_err("nothing listens");
        assert!(matches!(err, LogSyncError::Append { .. }), "{err}");
        assert_eq!(shipper.offset(), out.shipped_bytes);
        write(b"four\nfive");
        shipper.sync(&good, true).await.expect("sync");
        assert_eq!(object(&good, &bucket, &key).await, ["one", "two", "three", "four", "five"]);

        // Above 5 MiB the store switches to a server-side copy; the shipper still appends once.
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        write(&line.repeat(6 * 1024));
        let out = shipper.sync(&good, false).await.expect("big sync");
        assert_eq!(out.shipped_bytes, 6 * 1024 * 1024);
        let all = object(&good, &bucket, &key).await;
        assert_eq!(all.len(), 5 + 6 * 1024);
        assert_eq!(&all[..5], ["one", "two", "three", "four", "five"]);
        let raw = good.get(&bucket, &key).await.expect("get").expect("exists");
        assert!(raw.meta.size > 6 * 1024 * 1024);
        let mut text = String::new();
        let mut body = raw.body;
        body.read_to_string(&mut text).await.expect("read");
        assert!(text.contains("\"id\":12345678901234567890,\"timestamp\":"), "big integer kept");
    };
    tokio::time::timeout(Duration::from_secs(120), run).await.expect("test timed out");
}
