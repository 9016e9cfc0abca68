//! Warm query servers' time-driven edge (issue 15) in paused time, on the in-memory engine (which
//! gives containers no address, so a warm server never becomes ready): a server whose program
//! does not answer within `READY_WITHIN` is removed and its bot stays on the one-shot path for
//! `COLD_FOR`, not longer; the sweep removes a server idle for `--query-warm-for` (and that is
//! not a cold mark); a run's end removes the bot's server; shutdown removes every one.

mod paused;

use std::sync::Arc;
use std::time::Duration;

use paused::fake_engine::Call;
use paused::{pass_time, until, TestHost};
use serde_json::json;
use the0_orchestrator::model::{parse_payload, Launch};
use the0_orchestrator::query::index::{BotIndex, IndexedBot};
use the0_orchestrator::query::realtime::Realtime;
use the0_orchestrator::query::warm::{WarmPool, COLD_FOR, READY_WITHIN};
use the0_orchestrator::store::Mode;

/// A scheduled bot with a query entrypoint, stored, and the pool (cap 4, `keep_for`).
fn setup(t: &TestHost, keep_for: Duration) -> (Arc<WarmPool>, Arc<IndexedBot>, Launch) {
    t.put_bot("w", json!({"schedule": "0 0 1 1 *"}));
    let payload = json!({
        "id": "w",
        "config": {"schedule": "0 0 1 1 *"},
        "custom": {"filePath": "u/w/code.zip", "version": "1.0.0",
                   "config": {"name": "sh", "runtime": "gcc13", "entrypoints": {"bot": "bot.sh", "query": "q.sh"}}}
    });
    let change = parse_payload(payload.to_string().as_bytes(), false).expect("payload");
    t.host.store.apply(&change, Mode::Put, None).expect("store the bot");
    let index = BotIndex::load(t.host.store.clone(), Arc::new(t.host.settings.images.clone())).expect("index");
    let pool = Arc::new(WarmPool::new(
        t.host.engine.clone(),
        t.host.objects.clone(),
        t.host.settings.clone(),
        Arc::new(Realtime::new(t.host.engine.clone())),
        t.host.metrics.clone(),
        index.clone(),
        keep_for,
        4,
    ));
    let bot = index.get("w").expect("indexed");
    let launch = bot.launch.clone().expect("valid");
    (pool, bot, launch)
}

/// Warm servers started so far (one-shot containers without a due time).
fn starts(t: &TestHost) -> usize {
    t.engine.calls().into_iter().filter(|c| matches!(c, Call::StartOneshot { due_ms: None, .. })).count()
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_makes_its_bot_cold_for_a_while() {
    let t = TestHost::new();
    let (pool, bot, launch) = setup(&t, Duration::from_secs(600));
    pool.after_one_shot(&bot, launch.clone());
    until(&t.clock, "the warm container", Duration::from_secs(1), || starts(&t) == 1).await;
    assert!(t.engine.is_running("w"));
    assert_eq!(t.host.metrics.warm_servers.get(), 1);
    assert_eq!(pool.route(&bot, &launch).await, None, "not ready: the one-shot way");
    // Not before the bound; removed once it passed.
    pass_time(READY_WITHIN - Duration::from_secs(1)).await;
    assert!(t.engine.is_running("w"), "still given its chance");
    until(&t.clock, "the removal", Duration::from_secs(2), || !t.engine.is_running("w")).await;
    assert_eq!(t.host.metrics.warm_servers.get(), 0);
    // Cold: a successful one-shot query starts nothing, until COLD_FOR has passed.
    pool.after_one_shot(&bot, launch.clone());
    pass_time(Duration::from_secs(1)).await;
    assert_eq!(starts(&t), 1, "cold");
    pass_time(COLD_FOR - Duration::from_secs(5)).await;
    pool.after_one_shot(&bot, launch.clone());
    pass_time(Duration::from_secs(1)).await;
    assert_eq!(starts(&t), 1, "still cold");
    pass_time(Duration::from_secs(5)).await;
    pool.after_one_shot(&bot, launch.clone());
    until(&t.clock, "a new warm container", Duration::from_secs(1), || starts(&t) == 2).await;
    pool.shutdown().await;
    assert!(!t.engine.is_running("w"), "shutdown removes it");
    assert_eq!(t.host.metrics.warm_servers.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_removes_idle_servers_and_a_run_end_removes_the_bots() {
    let t = TestHost::new();
    let (pool, bot, launch) = setup(&t, Duration::from_secs(10));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(pool.clone().run(async move {
        let _ = rx.await;
    }));
    pool.after_one_shot(&bot, launch.clone());
    until(&t.clock, "the warm container", Duration::from_secs(1), || starts(&t) == 1).await;
    // Idle since its start: removed at the window (the sweep runs every second), not before.
    pass_time(Duration::from_secs(8)).await;
    assert!(t.engine.is_running("w"));
    until(&t.clock, "the idle removal", Duration::from_secs(4), || !t.engine.is_running("w")).await;
    assert_eq!(t.host.metrics.warm_servers.get(), 0);
    // An idle removal is not a cold mark: the next one-shot query starts one again.
    pool.after_one_shot(&bot, launch.clone());
    until(&t.clock, "a new warm container", Duration::from_secs(1), || starts(&t) == 2).await;
    // The bot's run ended: its server goes at once.
    pool.drop_bot("w");
    until(&t.clock, "the removal after a run", Duration::from_millis(100), || !t.engine.is_running("w")).await;
    drop(tx);
}
