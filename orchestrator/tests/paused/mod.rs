//! Harness of the paused-time tests (`#[tokio::test(start_paused = true)]`): a host whose engine
//! is [`fake_engine::FakeEngine`], whose clock follows tokio's paused clock, with a real SQLite
//! store and a local object store in a temporary directory. Neither lets paused time jump: the
//! store answers synchronously (it blocks, it never idles the runtime), and the object store's
//! `spawn_blocking` calls hold tokio's auto-advance while they run. [`until`] lets virtual time
//! pass in small steps until something holds, and fails after a virtual bound: no wall time is
//! measured anywhere.

#![allow(dead_code)]

pub mod fake_engine;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fake_engine::FakeEngine;
use serde_json::{json, Value};
use the0_orchestrator::clock::Clock;
use the0_orchestrator::host::Host;
use the0_orchestrator::metrics::Metrics;
use the0_orchestrator::model::{parse_payload, Change};
use the0_orchestrator::spec::{HostSettings, Storage};
use the0_orchestrator::store::{Mode, Store};

/// 2026-01-05T10:00:30Z, the virtual clock's start: half a minute before a whole minute.
pub const START_MS: i64 = 1_767_607_230_000;

/// A host on the fake engine, with its temporary directory.
pub struct TestHost {
    pub host: Host,
    pub engine: Arc<FakeEngine>,
    pub clock: Clock,
    _dir: tempfile::TempDir,
}

impl TestHost {
    /// Call from inside a paused runtime: the clock starts at [`START_MS`] there.
    pub fn new() -> TestHost {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("objects");
        std::fs::create_dir_all(&root).expect("objects root");
        let settings = HostSettings { storage: Storage::Local { root: root.clone() }, ..Default::default() };
        let clock = Clock::following_tokio(START_MS);
        let engine = Arc::new(FakeEngine::new(clock));
        let host = Host {
            store: Store::open(&dir.path().join("data")).expect("store"),
            engine: engine.clone(),
            objects: Arc::new(the0_objstore::Store::local(root)),
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            clock,
        };
        TestHost { host, engine, clock, _dir: dir }
    }

    /// Stores the bot (as an admin `PUT` does) with `config`, its code object in place.
    pub fn put_bot(&self, id: &str, config: Value) {
        let key = format!("u/{id}/code.zip");
        let Storage::Local { root } = &self.host.settings.storage else { unreachable!("local storage") };
        write_code(&root.join(&self.host.settings.buckets.code).join(&key));
        let payload = json!({
            "id": id,
            "config": config,
            "custom": {"filePath": key, "version": "1.0.0",
                       "config": {"name": "sh", "runtime": "gcc13", "entrypoints": {"bot": "bot.sh"}}}
        });
        let change = parse_payload(payload.to_string().as_bytes(), false).expect("payload");
        assert!(matches!(change, Change::Upsert(_)), "{change:?}");
        self.host.store.apply(&change, Mode::Put, None).expect("store the bot");
    }
}

fn write_code(path: &Path) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("code dir");
    std::fs::write(path, b"not read by the fake engine").expect("code object");
}

/// Lets virtual time pass in 10 ms steps until `cond` holds; panics after `limit` of virtual
/// time, naming `what`. Returns the virtual time it held at.
pub async fn until(clock: &Clock, what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> i64 {
    let end = clock.now_ms() + limit.as_millis() as i64;
    loop {
        if cond() {
            return clock.now_ms();
        }
        assert!(clock.now_ms() < end, "{what}: not within {limit:?} of virtual time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Lets virtual time pass for `d` (every task runs whatever falls due meanwhile).
pub async fn pass_time(d: Duration) {
    tokio::time::sleep(d).await;
}
