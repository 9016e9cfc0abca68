use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().map_err(|_| io::Error::other("poisoned"))?.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        let text = String::from_utf8(bytes).expect("log output is UTF-8");
        assert!(text.is_empty() || text.ends_with('\n'), "every line ends with a newline: {text:?}");
        text.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON object")).collect()
    }
}

/// Runs `f` with our layer and `filter` as the thread's subscriber; returns the lines written.
fn capture(filter: EnvFilter, f: impl FnOnce()) -> Vec<Value> {
    let buf = Buf::default();
    let sub = tracing_subscriber::registry().with(JsonLines::new(buf.clone())).with(filter);
    tracing::subscriber::with_default(sub, f);
    buf.lines()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

fn info() -> EnvFilter {
    filter("INFO", None).expect("LOG_LEVEL filter")
}

/// The line a `tracing` event gives has the same keys, level and string values as the line the
/// pre-`tracing` logger wrote for the same call (`log::info(msg, &[...])` rendered by logline).
#[test]
fn tracing_lines_keep_the_keys_of_the_old_lines() {
    let before = logline::render(
        UNIX_EPOCH + Duration::from_secs(1),
        Level::Info,
        "bot started",
        &[("bot_id", &"b1"), ("container", &"0123abcd"), ("retry_in_ms", &1500)],
    );
    let before: Value = serde_json::from_str(&before).expect("old line");
    let lines = capture(info(), || {
        tracing::info!(bot_id = %"b1", container = %"0123abcd", retry_in_ms = 1500, "bot started");
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let after = &lines[0];
    assert_eq!(keys(after), keys(&before), "{after}");
    for k in ["level", "msg", "bot_id", "container", "retry_in_ms"] {
        assert_eq!(after[k], before[k], "{k}: {after}");
    }
    assert_eq!(after["retry_in_ms"], "1500", "fields stay strings");
    assert!(after["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{after}");
}

#[test]
fn levels_and_value_kinds() {
    let err = io::Error::other("disk full");
    let lines = capture(filter("DEBUG", None).expect("filter"), || {
        tracing::debug!(count = 3_u64, "d");
        tracing::warn!(error = %err, ok = true, "w");
        tracing::error!(error = &err as &(dyn std::error::Error + 'static), why = ?"quoted", "e");
    });
    let got: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["level"].as_str().unwrap_or(""), l["msg"].as_str().unwrap_or(""))).collect();
    assert_eq!(got, [("DEBUG", "d"), ("WARN", "w"), ("ERROR", "e")]);
    assert_eq!(lines[0]["count"], "3");
    assert_eq!(lines[1]["error"], "disk full");
    assert_eq!(lines[1]["ok"], "true");
    assert_eq!(lines[2]["error"], "disk full");
    assert_eq!(lines[2]["why"], "\"quoted\"");
    assert!(lines.iter().all(|l| l.get("target").is_none()), "our own lines carry no target: {lines:?}");
}

/// A `log` record (bollard, rustls) keeps its level and names its target, without the bridge's
/// `log.*` fields.
#[test]
fn log_records_are_bridged_at_their_level() {
    let lines = capture(info(), || {
        let args = format_args!("peer closed the connection");
        let rec = tracing_log::log::Record::builder()
            .level(tracing_log::log::Level::Warn)
            .target("rustls::conn")
            .module_path_static(Some("rustls::conn"))
            .file_static(Some("conn.rs"))
            .line(Some(7))
            .args(args)
            .build();
        tracing_log::format_trace(&rec).expect("bridged");
        let quiet = tracing_log::log::Record::builder()
            .level(tracing_log::log::Level::Debug)
            .target("bollard::docker")
            .args(format_args!("below INFO"))
            .build();
        tracing_log::format_trace(&quiet).expect("bridged");
    });
    assert_eq!(lines.len(), 1, "the DEBUG record is filtered out: {lines:?}");
    let l = &lines[0];
    assert_eq!(l["level"], "WARN");
    assert_eq!(l["msg"], "peer closed the connection");
    assert_eq!(l["target"], "rustls::conn");
    assert_eq!(keys(l), ["level", "msg", "target", "time"].map(String::from).into(), "{l}");
}

#[test]
fn a_library_event_names_its_target() {
    let lines = capture(info(), || tracing::info!(target: "async_nats", server = %"n1", "event: connected"));
    assert_eq!(lines[0]["target"], "async_nats");
    assert_eq!(lines[0]["server"], "n1");
}

/// `LOG_LEVEL` filters every target unless `RUST_LOG` is set (and not blank), which wins.
#[test]
fn log_level_and_rust_log() {
    let emit = || {
        tracing::debug!("ours debug");
        tracing::info!("ours info");
        tracing::debug!(target: "async_nats", "nats debug");
        tracing::warn!(target: "async_nats", "nats warn");
    };
    let msgs = |f: EnvFilter| -> Vec<String> {
        capture(f, emit).iter().map(|l| l["msg"].as_str().unwrap_or("").to_string()).collect()
    };
    let cases: &[(&str, Option<&str>, &[&str])] = &[
        ("INFO", None, &["ours info", "nats warn"]),
        ("bogus", None, &["ours info", "nats warn"]),
        ("WARN", None, &["nats warn"]),
        ("ERROR", None, &[]),
        ("DEBUG", None, &["ours debug", "ours info", "nats debug", "nats warn"]),
        ("DEBUG", Some("  "), &["ours debug", "ours info", "nats debug", "nats warn"]),
        ("ERROR", Some("info"), &["ours info", "nats warn"]),
        ("INFO", Some("warn,the0_orchestrator=debug"), &["ours debug", "ours info", "nats warn"]),
        ("DEBUG", Some("info,async_nats=off"), &["ours info"]),
    ];
    for (level, rust_log, want) in cases {
        let f = filter(level, *rust_log).expect("valid");
        assert_eq!(msgs(f), *want, "LOG_LEVEL={level} RUST_LOG={rust_log:?}");
    }
}

#[test]
fn a_bad_rust_log_is_named() {
    let e = filter("INFO", Some("info,async_nats=loud")).expect_err("invalid");
    let text = e.to_string();
    assert!(text.contains("RUST_LOG=\"info,async_nats=loud\""), "{text}");
}
