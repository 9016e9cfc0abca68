//! The log shipper against a real local-directory store: what lands in the daily object, exactly
//! once, across held tails, restarts, truncation and store failures (docs/contract.md §2.8, D9).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use the0_executor::config::Config;
use the0_executor::logs::botlog::BotLog;
use the0_executor::logs::shipper::{LogShipper, LogSyncError, MAX_BODY_PER_SYNC, MAX_READ_PER_SYNC, TRUNCATE_ABOVE};
use the0_objstore::Store;
use tokio::io::AsyncReadExt;

const BUCKET: &str = "bot-logs";

struct Env {
    _dir: tempfile::TempDir,
    cfg: Config,
    store_root: PathBuf,
    log: PathBuf,
}

fn env(bot_id: &str) -> Env {
    the0_executor::log::set_level(the0_executor::log::Level::Error);
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("run/logs");
    std::fs::create_dir_all(&logs).expect("mkdir logs");
    let vars: HashMap<String, String> = [("BOT_ID", bot_id), ("LOGS_PATH", logs.to_str().expect("utf-8 tempdir"))]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cfg = Config::from_vars(&vars, false).expect("config");
    Env { store_root: dir.path().join("objects"), log: cfg.bot_log_path(), cfg, _dir: dir }
}

impl Env {
    fn store(&self) -> Store {
        Store::local(&self.store_root)
    }
    fn write(&self, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("open bot.log");
        f.write_all(bytes).expect("write bot.log");
    }
    fn offset_file(&self) -> Option<String> {
        std::fs::read_to_string(self.cfg.run_dir().join(".bot-log-offset")).ok()
    }
}

async fn read_object(store: &Store, key: &str) -> String {
    let Some(mut obj) = store.get(BUCKET, key).await.expect("get") else {
        return String::new();
    };
    let mut buf = Vec::new();
    obj.body.read_to_end(&mut buf).await.expect("read object");
    String::from_utf8(buf).expect("utf-8 object")
}

/// `message` (or the whole record) of each NDJSON line.
fn messages(ndjson: &str) -> Vec<String> {
    ndjson
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("record is JSON");
            assert!(v.get("timestamp").is_some(), "{l}");
            v.get("message").and_then(|m| m.as_str()).map_or_else(|| l.to_string(), str::to_string)
        })
        .collect()
}

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(120), f).await.expect("test timed out");
}

#[tokio::test]
async fn lines_become_ndjson_and_later_syncs_only_append() {
    bounded(async {
        let e = env("bot-1");
        let store = e.store();
        let mut s = LogShipper::new(&e.cfg, None, None);
        assert_eq!(s.sync(&store, false).await.expect("sync without bot.log"), Default::default());
        e.write(b"starting\n{\"level\":\"info\",\"message\":\"tick\",\"n\":9007199254740993}\n");
        let out = s.sync(&store, false).await.expect("sync 1");
        let key = out.key.clone().expect("appended");
        assert!(
            key.starts_with("logs/bot-1/") && key.ends_with(".log") && key.len() == "logs/bot-1/20250131.log".len(),
            "{key}"
        );
        assert_eq!((out.shipped_bytes, out.chunks, out.held_bytes), (64, 1, 0));
        let obj = read_object(&store, &key).await;
        assert_eq!(obj.len() as u64, out.appended_bytes);
        assert_eq!(messages(&obj), ["starting", "tick"]);
        assert!(obj.contains("\"n\":9007199254740993,\"timestamp\":"), "{obj}");
        // Nothing new: nothing appended.
        let out = s.sync(&store, false).await.expect("idle sync");
        assert_eq!((out.shipped_bytes, out.key), (0, None));
        e.write(b"RESULT_ERROR: boom\n\n   \n");
        s.sync(&store, false).await.expect("sync 2");
        assert_eq!(messages(&read_object(&store, &key).await), ["starting", "tick", "RESULT_ERROR: boom"]);
        assert_eq!(s.offset(), std::fs::metadata(&e.log).expect("stat").len());
        assert_eq!(e.offset_file(), Some(s.offset().to_string()));
    })
    .await;
}

#[tokio::test]
async fn partial_line_is_held_until_the_final_sync() {
    bounded(async {
        let e = env("b2");
        let store = e.store();
        let mut s = LogShipper::new(&e.cfg, None, None);
        e.write(b"done\npart");
        let out = s.sync(&store, false).await.expect("sync");
        assert_eq!((out.shipped_bytes, out.held_bytes), (5, 4));
        let key = out.key.expect("appended");
        assert_eq!(messages(&read_object(&store, &key).await), ["done"]);
        // Only the partial line pending: nothing to append yet.
        let out = s.sync(&store, false).await.expect("sync");
        assert_eq!((out.shipped_bytes, out.held_bytes, out.key), (0, 4, None));
        // Completed before the hold expires: ships as one line.
        e.write(b"ial\nnext");
        s.sync(&store, false).await.expect("sync");
        assert_eq!(messages(&read_object(&store, &key).await), ["done", "partial"]);
        let out = s.sync(&store, true).await.expect("final sync");
        assert_eq!((out.shipped_bytes, out.held_bytes), (4, 0));
        assert_eq!(messages(&read_object(&store, &key).await), ["done", "partial", "next"]);
    })
    .await;
}

#[tokio::test]
async fn offset_survives_a_restart_without_duplicates() {
    bounded(async {
        let e = env("b3");
        let store = e.store();
        e.write(b"one\ntwo\n");
        let key = LogShipper::new(&e.cfg, None, None).sync(&store, false).await.expect("sync").key.expect("appended");
        assert_eq!(e.offset_file().as_deref(), Some("8"));
        e.write(b"three\n");
        let mut again = LogShipper::new(&e.cfg, None, None);
        assert_eq!(again.offset(), 8);
        again.sync(&store, true).await.expect("sync after restart");
        assert_eq!(messages(&read_object(&store, &key).await), ["one", "two", "three"]);
        // Garbage in the offset file: logged, shipping restarts at 0 (duplicates beat losses).
        std::fs::write(e.cfg.run_dir().join(".bot-log-offset"), "x").expect("write");
        assert_eq!(LogShipper::new(&e.cfg, None, None).offset(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_shrunken_bot_log_is_shipped_from_the_start() {
    bounded(async {
        let e = env("b4");
        let store = e.store();
        let mut s = LogShipper::new(&e.cfg, None, None);
        e.write(b"a long first line\n");
        let key = s.sync(&store, false).await.expect("sync").key.expect("appended");
        std::fs::write(&e.log, b"new\n").expect("recreate bot.log");
        let out = s.sync(&store, false).await.expect("sync");
        assert_eq!(out.shipped_bytes, 4);
        assert_eq!(messages(&read_object(&store, &key).await), ["a long first line", "new"]);
        assert_eq!(e.offset_file().as_deref(), Some("4"));
    })
    .await;
}

#[tokio::test]
async fn store_failures_leave_the_offset_and_the_retry_ships_exactly_once() {
    bounded(async {
        let e = env("b5");
        // The store root is a file: the bucket cannot be created.
        std::fs::write(&e.store_root, b"not a directory").expect("write");
        let store = e.store();
        let mut s = LogShipper::new(&e.cfg, None, None);
        e.write(b"l1\nl2\n");
        let err = s.sync(&store, false).await.expect_err("bucket cannot be created");
        assert!(matches!(err, LogSyncError::Bucket { .. }), "{err}");
        assert!(err.to_string().contains(BUCKET), "{err}");
        assert_eq!((s.offset(), e.offset_file()), (0, None));
        std::fs::remove_file(&e.store_root).expect("rm");
        let key = s.sync(&store, false).await.expect("retry").key.expect("appended");
        assert_eq!(messages(&read_object(&store, &key).await), ["l1", "l2"]);

        // The bucket exists now; make the append itself fail: `logs` is a file.
        let logs_dir = e.store_root.join(BUCKET).join("logs");
        std::fs::rename(&logs_dir, e.store_root.join("moved")).expect("move aside");
        std::fs::write(&logs_dir, b"blocker").expect("write");
        e.write(b"l3\n");
        let err = s.sync(&store, false).await.expect_err("append fails");
        assert!(matches!(err, LogSyncError::Append { .. }), "{err}");
        assert!(err.to_string().contains(&key), "{err}");
        assert_eq!(s.offset(), 6);
        assert_eq!(e.offset_file().as_deref(), Some("6"));
        e.write(b"l4\n");
        std::fs::remove_file(&logs_dir).expect("rm");
        std::fs::rename(e.store_root.join("moved"), &logs_dir).expect("move back");
        s.sync(&store, false).await.expect("retry");
        assert_eq!(messages(&read_object(&store, &key).await), ["l1", "l2", "l3", "l4"]);
        assert_eq!(s.offset(), 12);
    })
    .await;
}

fn big_lines(total: u64, line: usize) -> Vec<u8> {
    let mut one = vec![b'x'; line - 1];
    one.push(b'\n');
    one.repeat(usize::try_from(total).expect("fits").div_ceil(line))
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path).expect("read").iter().filter(|&&b| b == b'\n').count()
}

#[tokio::test]
async fn large_logs_take_several_syncs_and_are_truncated_once_shipped() {
    bounded(async {
        let e = env("b6");
        let store = e.store();
        let botlog = BotLog::open(&e.log).expect("open bot.log");
        let mut s = LogShipper::new(&e.cfg, Some(botlog.clone()), None);
        let data = big_lines(TRUNCATE_ABOVE + 1024 * 1024, 4096);
        botlog.append(&data).expect("append");
        let mut shipped = 0;
        let last = loop {
            let out = s.sync(&store, false).await.expect("sync");
            assert!(out.shipped_bytes <= MAX_READ_PER_SYNC, "{out:?}");
            shipped += out.shipped_bytes;
            if !out.more {
                break out;
            }
            assert!(!out.truncated && out.shipped_bytes > MAX_READ_PER_SYNC / 2, "{out:?}");
        };
        assert!(last.truncated, "{last:?}");
        assert_eq!(shipped, data.len() as u64);
        assert_eq!(std::fs::metadata(&e.log).expect("stat").len(), 0);
        assert_eq!((s.offset(), e.offset_file().as_deref()), (0, Some("0")));
        let key = last.key.expect("appended");
        let object = e.store_root.join(BUCKET).join(&key);
        assert_eq!(count_lines(&object), data.len() / 4096);
        // Writing continues into the truncated file and ships from 0.
        botlog.append(b"after truncation\n").expect("append");
        s.sync(&store, false).await.expect("sync 3");
        let text = std::fs::read_to_string(&object).expect("read");
        assert!(text.ends_with("\"message\":\"after truncation\"}\n"));
        assert_eq!(count_lines(&object), data.len() / 4096 + 1);
    })
    .await;
}

#[tokio::test]
async fn tiny_lines_are_bounded_by_the_output_cap() {
    bounded(async {
        let e = env("b7");
        let store = e.store();
        let mut s = LogShipper::new(&e.cfg, None, None);
        // 2.5 M two-byte lines: ~133 MiB of NDJSON from 5 MiB of input.
        let lines = 5 * 1024 * 1024 / 2;
        e.write(&b"x\n".repeat(lines));
        let (mut shipped, mut syncs, mut key) = (0, 0, None);
        loop {
            let out = s.sync(&store, false).await.expect("sync");
            assert!(out.appended_bytes as usize <= MAX_BODY_PER_SYNC, "{out:?}");
            shipped += out.shipped_bytes;
            syncs += 1;
            key = out.key.or(key);
            if !out.more {
                break;
            }
            assert!(syncs < 10, "no progress");
        }
        assert_eq!((shipped, syncs), (5 * 1024 * 1024, 5), "one 1 MiB chunk (26 MiB of NDJSON) per sync");
        let object = e.store_root.join(BUCKET).join(key.expect("appended"));
        assert_eq!(count_lines(&object), lines);
    })
    .await;
}

/// The sync engine may run syncs on any worker thread.
#[test]
fn shipper_and_sync_future_are_send() {
    fn is_send<T: Send>(_: &T) {}
    let e = env("b8");
    let store = e.store();
    let mut s = LogShipper::new(&e.cfg, None, None);
    is_send(&s.sync(&store, false));
    is_send(&s);
}
