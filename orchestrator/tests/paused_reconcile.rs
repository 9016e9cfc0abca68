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
    let listings = t.engine.observe_passes();
    // Nothing to do: the next pass is one interval later, not sooner, and it lists Docker.
    pass_time(INTERVAL - Duration::from_millis(100)).await;
    assert_eq!(t.engine.observe_passes(), listings, "no pass before the interval");
    pass_time(Duration::from_millis(200)).await;
    assert_eq!(t.engine.observe_passes(), listings + 1, "one pass at the interval, which lists");
    // A store change: a pass at once (the change and the bot's start), long before the interval,
    // planned from the snapshot: nothing happened in Docker that this process did not do.
    let listings = t.engine.observe_passes();
    t.put_bot("b", json!({}));
    until(&t.clock, "a pass on the change", Duration::from_millis(100), || t.engine.is_running("b")).await;
    pass_time(Duration::from_millis(100)).await;
    assert_eq!(t.engine.observe_passes(), listings, "a store change does not list Docker");
    // A crash: the die event makes the next pass list; then nothing until the backoff expires,
    // which is sooner than the interval, and the restart at the expiry needs no listing.
    let exited = t.clock.now_ms();
    t.engine.exit("b", 1);
    pass_time(Duration::from_secs(2)).await;
    assert!(t.engine.observe_passes() > listings, "Docker's die event makes a pass list");
    let quiet = t.engine.observe_passes();
    let expiry = exited + delay_ms(1, BASE.as_millis() as i64, "b");
    assert!(expiry - exited < INTERVAL.as_millis() as i64);
    pass_time(Duration::from_millis((expiry - t.clock.now_ms() - 50) as u64)).await;
    assert!(!t.engine.is_running("b"), "not restarted before the expiry");
    pass_time(Duration::from_millis(100)).await;
    assert!(t.engine.is_running("b"), "restarted at the expiry");
    let restarted = *t.engine.runs_of("b").last().expect("a start");
    assert!((expiry..expiry + SLACK_MS).contains(&restarted), "restart at {restarted}, expiry {expiry}");
    assert_eq!(t.engine.observe_passes(), quiet, "the pass at the expiry plans from the snapshot");
}

#[tokio::test(start_paused = true)]
async fn a_container_removed_behind_the_orchestrators_back_is_found_by_the_event_it_sends() {
    let t = TestHost::new();
    let _stop = start(&t);
    t.put_bot("b", json!({}));
    until(&t.clock, "the start", Duration::from_secs(1), || t.engine.is_running("b")).await;
    let starts = t.engine.runs_of("b").len();
    // `docker rm -f` by someone else: Docker sends `destroy`, the next pass lists and restarts it.
    t.engine.destroy("b");
    until(&t.clock, "the start again", Duration::from_secs(1), || t.engine.runs_of("b").len() > starts).await;
}

/// The event history of a crash and of a restart: `started`, `crashed (exit 1)` with its code,
/// `backing off until` the very end of the backoff, `started` again; then `restart` stores a
/// request that replaces the container at once (`restart-requested`, `stopped`, `started`) and is
/// settled; and passes that change nothing write nothing.
#[tokio::test(start_paused = true)]
async fn a_crash_and_a_restart_are_recorded_as_events() {
    use the0_orchestrator::store::events::Kind;
    let t = TestHost::new();
    let _stop = start(&t);
    let kinds = || -> Vec<Kind> {
        let evs = t.host.store.events_since(Some("ev"), 0, 100).expect("events");
        evs.iter().map(|e| e.kind.expect("a known kind")).collect()
    };
    t.put_bot("ev", json!({}));
    until(&t.clock, "first start", Duration::from_secs(1), || t.engine.is_running("ev")).await;
    let exited = t.clock.now_ms();
    t.engine.exit("ev", 1);
    until(&t.clock, "the backoff event", Duration::from_secs(5), || kinds().contains(&Kind::BackingOff)).await;
    assert_eq!(kinds(), [Kind::Started, Kind::Crashed, Kind::BackingOff]);
    let evs = t.host.store.events_since(Some("ev"), 0, 100).expect("events");
    assert_eq!(evs[1].exit_code, Some(1));
    assert!(evs[1].message.starts_with("crashed (exit 1): bot exited with code 1"), "{:?}", evs[1]);
    let until_ms = exited + delay_ms(1, BASE.as_millis() as i64, "ev");
    assert_eq!((evs[2].at_ms, evs[2].until_ms), (exited, Some(until_ms)), "{:?}", evs[2]);
    assert!(evs[2].message.starts_with("backing off until "), "{:?}", evs[2]);
    assert!(evs.windows(2).all(|w| w[0].seq < w[1].seq), "seq grows");
    until(&t.clock, "the restart", Duration::from_secs(60), || t.engine.is_running("ev")).await;
    assert_eq!(kinds(), [Kind::Started, Kind::Crashed, Kind::BackingOff, Kind::Started]);

    // `restart`: the running container is replaced at once, and the request settled.
    let starts = t.engine.runs_of("ev").len();
    t.host.store.request_restart("ev", t.clock.now_ms()).expect("request").expect("a stored bot");
    until(&t.clock, "the replacement", Duration::from_secs(1), || t.engine.runs_of("ev").len() > starts).await;
    until(&t.clock, "the request settled", Duration::from_secs(1), || {
        t.host.store.get("ev").ok().flatten().is_some_and(|(_, s)| s.restart_at.is_none())
    })
    .await;
    let tail: Vec<Kind> = kinds().split_off(4);
    assert_eq!(tail, [Kind::RestartRequested, Kind::Stopped, Kind::Started]);
    let stopped = t.host.store.recent_events(Some("ev"), 2).expect("events").pop().expect("the stop");
    assert!(stopped.message.ends_with(": a restart was requested"), "{stopped:?}");
    assert_eq!(t.engine.runs_of("ev").len(), starts + 1, "one restart for one request");

    // Nothing happens for a few intervals: no event is written.
    let n = kinds().len();
    pass_time(INTERVAL * 3).await;
    assert_eq!(kinds().len(), n, "idle passes record nothing");
    assert_eq!(t.engine.runs_of("ev").len(), starts + 1, "the request is not carried out twice");
}

fn event_to_running_count(t: &TestHost) -> u64 {
    let m = t.host.metrics.render();
    let line = m.lines().find_map(|l| l.strip_prefix("the0_event_to_running_seconds_count "));
    line.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no count:\n{m}"))
}

/// `the0_event_to_running_seconds` times the start of every stored change, also when another
/// bot's change is planned (by a later pass) while the first container is still starting; a
/// change that arrives while the bot's own start is in flight is not timed.
#[tokio::test(start_paused = true)]
async fn every_change_that_starts_a_bot_is_timed_even_while_other_starts_are_in_flight() {
    let t = TestHost::new();
    let _stop = start(&t);
    until(&t.clock, "the first pass", Duration::from_secs(1), || t.engine.observe_passes() >= 1).await;
    t.engine.slow_runs(Duration::from_secs(2));
    t.put_bot("a", json!({}));
    pass_time(Duration::from_millis(500)).await;
    assert!(!t.engine.is_running("a"), "a's start is still in flight");
    t.put_bot("b", json!({}));
    until(&t.clock, "a and b running", Duration::from_secs(10), || {
        t.engine.is_running("a") && t.engine.is_running("b")
    })
    .await;
    pass_time(Duration::from_millis(100)).await;
    assert_eq!(event_to_running_count(&t), 2, "a's start is timed although b's pass came during it");

    // c changes again while its first start is in flight: the first change is timed by that
    // start, the second (which the follow-up start answers) is not.
    t.put_bot("c", json!({}));
    pass_time(Duration::from_millis(500)).await;
    t.put_bot("c", json!({"changed": true}));
    until(&t.clock, "c started twice", Duration::from_secs(10), || t.engine.runs_of("c").len() == 2).await;
    pass_time(Duration::from_millis(100)).await;
    assert_eq!(event_to_running_count(&t), 3);
}

/// A stored change of one bot in a fleet of 200 is answered by a pass that looks at that bot
/// alone, and the gauges catch up at the full pass that follows within a second; a deleted bot's
/// container goes the same way. Issue #17: the work per change does not grow with the fleet.
#[tokio::test(start_paused = true)]
async fn one_change_in_a_large_fleet_plans_one_bot_then_a_full_pass_follows() {
    use the0_orchestrator::reconcile::FULL_PASS_AFTER_CHANGES_MS;
    const FLEET: u64 = 200;
    let t = TestHost::new();
    let _stop = start(&t);
    for i in 0..FLEET {
        t.put_bot(&format!("f{i}"), json!({}));
    }
    until(&t.clock, "the fleet running", Duration::from_secs(30), || {
        (0..FLEET).all(|i| t.engine.is_running(&format!("f{i}")))
    })
    .await;
    // Quiet until the interval's full pass has brought the gauges up to date.
    pass_time(INTERVAL + Duration::from_secs(1)).await;
    let planned = || t.host.metrics.bots_planned.get();
    let running = || t.host.metrics.running.get();
    assert_eq!(running(), FLEET as i64);
    let before = planned();

    // A new bot: the pass answering it looks at it alone and starts it.
    t.put_bot("new", json!({}));
    until(&t.clock, "the new bot", Duration::from_millis(100), || t.engine.is_running("new")).await;
    assert_eq!(planned() - before, 1, "the pass answering one change looked at one bot");
    // Within a second a full pass looks at every bot and counts the new one running.
    until(&t.clock, "the full pass", Duration::from_millis(FULL_PASS_AFTER_CHANGES_MS as u64 + 100), || {
        planned() - before > 1
    })
    .await;
    assert_eq!(planned() - before, 1 + FLEET + 1, "then one full pass over the fleet");
    assert_eq!(running(), FLEET as i64 + 1);

    // A delete: the pass answering it removes the bot's container (its stop then brings full
    // passes: the stop's own Docker events make the next pass list), and nothing else changes.
    t.host
        .store
        .apply(&the0_orchestrator::model::Change::Delete("f7".into()), the0_orchestrator::store::Mode::Put, None)
        .expect("delete");
    until(&t.clock, "the deleted bot's container gone", Duration::from_millis(100), || !t.engine.is_running("f7"))
        .await;
    pass_time(Duration::from_secs(2)).await;
    assert!(!t.engine.is_running("f7"), "not started again");
    assert!((0..FLEET).filter(|i| *i != 7).all(|i| t.engine.is_running(&format!("f{i}"))), "the others untouched");
    assert!(t.engine.is_running("new"));
    assert_eq!(running(), FLEET as i64);
}
