//! The reconciler's waiting in paused time (`#[tokio::test(start_paused = true)]`), on the
//! in-memory engine: a crashing bot is restarted after the crash policy's doubling delays and not
//! before, the history resets after a long run, a failed start backs off too; passes come every
//! `interval` with nothing to do, at once on a store change, and early at a backoff's expiry.

mod paused;

use std::time::Duration;

use paused::fake_engine::Call;
use paused::{pass_time, until, TestHost};
use serde_json::json;
use the0_orchestrator::reconcile::policy::{delay_ms, RESET_AFTER_MS};
use the0_orchestrator::reconcile::{Options, Reconciler};

const BASE: Duration = Duration::from_secs(10);
const INTERVAL: Duration = Duration::from_secs(30);
/// How late a timed action may come: the passes and the start take a few virtual milliseconds.
const SLACK_MS: i64 = 200;

fn options() -> Options {
    Options { interval: INTERVAL, backoff_base: BASE, ..Default::default() }
}

/// Starts the reconciler; it stops when the returned sender drops.
fn start(t: &TestHost) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let r = Reconciler::new(t.host.clone(), options());
    tokio::spawn(r.run(async move {
        let _ = rx.await;
    }));
    tx
}

/// The bot's container exits with code 1; returns when it was started again (virtual ms) and
/// when it exited.
async fn crash_and_restart(t: &TestHost, bot: &str, within: Duration) -> (i64, i64) {
    let starts = t.engine.runs_of(bot).len();
    let exited = t.clock.now_ms();
    t.engine.exit(bot, 1);
    until(&t.clock, "restart", within, || t.engine.runs_of(bot).len() > starts).await;
    let restarted = *t.engine.runs_of(bot).last().expect("a start");
    (exited, restarted)
}

#[tokio::test(start_paused = true)]
async fn a_crashing_bot_restarts_after_doubling_delays_then_resets_after_a_long_run() {
    let t = TestHost::new();
    let _stop = start(&t);
    t.put_bot("crashy", json!({"interval": "1s"}));
    until(&t.clock, "first start", Duration::from_secs(1), || t.engine.is_running("crashy")).await;
    let base = BASE.as_millis() as i64;
    // Exits one after another: 10 s, 20 s, 40 s (plus the bot's fixed jitter), never sooner.
    for n in 1..=3 {
        let want = delay_ms(n, base, "crashy");
        let (exited, restarted) = crash_and_restart(&t, "crashy", Duration::from_secs(120)).await;
        let waited = restarted - exited;
        assert!((want..want + SLACK_MS).contains(&waited), "restart {n}: waited {waited} ms, want {want} ms");
        let (_, status) = t.host.store.get("crashy").unwrap().unwrap();
        assert_eq!((status.consecutive, status.restarts), (n, n), "{status:?}");
    }
    // Up for the reset time: the history is forgotten and the next crash waits the base again.
    pass_time(Duration::from_millis(RESET_AFTER_MS as u64 + 1_000)).await;
    let (_, status) = t.host.store.get("crashy").unwrap().unwrap();
    assert_eq!(status.consecutive, 0, "steady after ten minutes up: {status:?}");
    let (exited, restarted) = crash_and_restart(&t, "crashy", Duration::from_secs(120)).await;
    let want = delay_ms(1, base, "crashy");
    assert!((want..want + SLACK_MS).contains(&(restarted - exited)), "after the reset: {} ms", restarted - exited);
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_backs_off_too() {
    let t = TestHost::new();
    let _stop = start(&t);
    t.put_bot("refused", json!({}));
    until(&t.clock, "first start", Duration::from_secs(1), || t.engine.is_running("refused")).await;
    let base = BASE.as_millis() as i64;
    t.engine.refuse_runs(1);
    let exited = t.clock.now_ms();
    t.engine.exit("refused", 1);
    let refused_at = || {
        t.engine.calls().into_iter().find_map(|c| match c {
            Call::RunRefused { at_ms, .. } => Some(at_ms),
            _ => None,
        })
    };
    until(&t.clock, "the refused start", Duration::from_secs(60), || refused_at().is_some()).await;
    let refused = refused_at().expect("refused");
    let first = delay_ms(1, base, "refused");
    assert!((first..first + SLACK_MS).contains(&(refused - exited)), "first retry after {} ms", refused - exited);
    // The refusal is the second consecutive failure: the next try waits the doubled delay.
    until(&t.clock, "the start after the refusal", Duration::from_secs(120), || t.engine.is_running("refused")).await;
    let started = *t.engine.runs_of("refused").last().expect("a start");
    let second = delay_ms(2, base, "refused");
    assert!((second..second + SLACK_MS).contains(&(started - refused)), "second retry after {} ms", started - refused);
    let (_, status) = t.host.store.get("refused").unwrap().unwrap();
    assert_eq!((status.consecutive, status.restarts, status.failure_reason), (2, 1, None), "started again");
}

#[tokio::test(start_paused = true)]
async fn passes_come_every_interval_at_once_on_a_store_change_and_early_at_a_backoff_expiry() {
    let t = TestHost::new();
    let _stop = start(&t);
    until(&t.clock, "the first pass", Duration::from_secs(1), || t.engine.observe_passes() >= 1).await;
    let passes = t.engine.observe_passes();
    // Nothing to do: the next pass is one interval later, not sooner.
    pass_time(INTERVAL - Duration::from_millis(100)).await;
    assert_eq!(t.engine.observe_passes(), passes, "no pass before the interval");
    pass_time(Duration::from_millis(200)).await;
    assert_eq!(t.engine.observe_passes(), passes + 1, "one pass at the interval");
    // A store change: a pass at once (the change and the bot's start), long before the interval.
    t.put_bot("b", json!({}));
    until(&t.clock, "a pass on the change", Duration::from_millis(100), || t.engine.is_running("b")).await;
    // A crash: passes at the die event and its follow-ups, then none until the backoff expires,
    // which is sooner than the interval.
    let exited = t.clock.now_ms();
    t.engine.exit("b", 1);
    pass_time(Duration::from_secs(2)).await;
    let quiet = t.engine.observe_passes();
    let expiry = exited + delay_ms(1, BASE.as_millis() as i64, "b");
    assert!(expiry - exited < INTERVAL.as_millis() as i64);
    pass_time(Duration::from_millis((expiry - t.clock.now_ms() - 50) as u64)).await;
    assert_eq!(t.engine.observe_passes(), quiet, "no pass between the crash's passes and the expiry");
    pass_time(Duration::from_millis(100)).await;
    assert!(t.engine.observe_passes() > quiet, "a pass at the backoff's expiry");
    assert!(t.engine.is_running("b"), "restarted at the expiry");
}
