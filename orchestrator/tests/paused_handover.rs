//! Update handovers (issue #15) in paused time on the in-memory engine: an update of a running bot
//! starts the successor, waits until it is prepared, stops the old container, and only then
//! releases the successor (never two bot processes); a successor that fails or never gets ready is
//! removed while the old container keeps running, the failure is recorded and backed off; and a
//! restarted orchestrator goes on from what it finds (successor beside the old container, or alone).

mod paused;

use std::time::Duration;

use paused::fake_engine::Call;
use paused::{until, TestHost};
use serde_json::json;
use the0_orchestrator::model::validate;
use the0_orchestrator::reconcile::handover::PREPARE_TIMEOUT;
use the0_orchestrator::reconcile::{Options, Reconciler};
use the0_orchestrator::spec::{build, build_successor, container_name, successor_name, Storage};
use the0_orchestrator::store::events::Kind;

fn options() -> Options {
    Options { interval: Duration::from_secs(30), backoff_base: Duration::from_secs(10), ..Default::default() }
}

fn start(t: &TestHost) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(Reconciler::new(t.host.clone(), options()).run(async move {
        let _ = rx.await;
    }));
    tx
}

fn kinds(t: &TestHost, bot: &str) -> Vec<Kind> {
    let evs = t.host.store.events_since(Some(bot), 0, 100).expect("events");
    evs.iter().filter_map(|e| e.kind).collect()
}

fn releases(t: &TestHost) -> Vec<(String, Option<String>, i64)> {
    t.engine
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Release { container, etag, at_ms } => Some((container, etag, at_ms)),
            _ => None,
        })
        .collect()
}

/// Index of the first call matching `f`.
fn index_of(calls: &[Call], f: impl Fn(&Call) -> bool) -> usize {
    calls.iter().position(f).unwrap_or_else(|| panic!("no such call in {calls:#?}"))
}

/// Stores `bot` with `config`, and waits until its one container runs.
async fn running(t: &TestHost, bot: &str, config: serde_json::Value) -> String {
    t.put_bot(bot, config);
    until(&t.clock, "first start", Duration::from_secs(2), || t.engine.is_running(bot)).await;
    let (name, _, waiting) = t.engine.containers_of(bot).pop().expect("a container");
    assert!(!waiting, "a first start does not wait");
    name
}

#[tokio::test(start_paused = true)]
async fn an_update_prepares_the_successor_before_the_old_container_stops() {
    let t = TestHost::new();
    let _stop = start(&t);
    t.engine.prepare_in(Duration::from_secs(3));
    let name = running(&t, "up", json!({"v": 1})).await;
    assert_eq!(name, container_name("up", None));
    let Storage::Local { root } = &t.host.settings.storage else { unreachable!("local storage") };
    let state = root.join(&t.host.settings.buckets.state).join("up/state.tar.gz");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(&state, b"the old container's final sync").unwrap();

    let updated_at = t.clock.now_ms();
    t.put_bot("up", json!({"v": 2}));
    until(&t.clock, "the release", Duration::from_secs(10), || !releases(&t).is_empty()).await;
    until(&t.clock, "the rename", Duration::from_secs(1), || {
        t.engine.containers_of("up").iter().any(|(n, _, _)| *n == name)
    })
    .await;
    let calls = t.engine.calls();
    let created = index_of(&calls, |c| matches!(c, Call::Run { bot, .. } if bot == "up")) + 1;
    let created_next = created + index_of(&calls[created..], |c| matches!(c, Call::Run { bot, .. } if bot == "up"));
    let removed = index_of(&calls, |c| matches!(c, Call::Remove { .. }));
    let released = index_of(&calls, |c| matches!(c, Call::Release { .. }));
    assert!(created_next < removed && removed < released, "successor, then the old one's stop, then the release");
    let (_, etag, at) = releases(&t).remove(0);
    let want = t.host.objects.head(&t.host.settings.buckets.state, "up/state.tar.gz").await.unwrap().map(|m| m.etag);
    assert_eq!(etag, want, "released with the version of the state the old container left");
    assert!(at - updated_at >= 3_000, "not before the successor was prepared ({} ms)", at - updated_at);
    assert_eq!(t.engine.peak_alive("up"), 1, "never two bot processes");
    let left = t.engine.containers_of("up");
    assert_eq!(left, vec![(container_name("up", None), true, false)], "the successor is the bot's container");
    let k = kinds(&t, "up");
    assert_eq!(k, [Kind::Started, Kind::Started, Kind::Stopped, Kind::Released], "{k:?}");
    // Converged: nothing more happens.
    let n = t.engine.calls().len();
    paused::pass_time(Duration::from_secs(90)).await;
    assert_eq!(t.engine.calls().len(), n, "{:#?}", &t.engine.calls()[n..]);
}

#[tokio::test(start_paused = true)]
async fn a_successor_that_fails_to_prepare_is_removed_and_the_old_bot_keeps_running() {
    let t = TestHost::new();
    let _stop = start(&t);
    running(&t, "bad", json!({"v": 1})).await;
    let old_runs = t.engine.runs_of("bad").len();
    t.engine.prepare_in(Duration::from_secs(1));
    t.engine.fail_prepares(1);
    t.put_bot("bad", json!({"v": 2}));
    until(&t.clock, "the failure", Duration::from_secs(10), || kinds(&t, "bad").contains(&Kind::StartFailed)).await;
    let (_, status) = t.host.store.get("bad").unwrap().unwrap();
    let reason = status.failure_reason.clone().unwrap_or_default();
    assert!(reason.contains("update failed, the old container keeps running"), "{reason}");
    let until_ms = status.backoff_until.expect("backed off");
    until(&t.clock, "the successor removed", Duration::from_secs(1), || t.engine.containers_of("bad").len() == 1).await;
    assert_eq!(t.engine.containers_of("bad"), vec![(container_name("bad", None), true, false)], "the old one runs");
    assert!(releases(&t).is_empty());
    // No new successor before the backoff ends; then the next try succeeds.
    until(&t.clock, "the retry", Duration::from_secs(120), || t.engine.runs_of("bad").len() > old_runs + 1).await;
    let retried = *t.engine.runs_of("bad").last().unwrap();
    assert!(retried >= until_ms, "retried at {retried}, backoff until {until_ms}");
    until(&t.clock, "the release", Duration::from_secs(10), || releases(&t).len() == 1).await;
    assert_eq!(t.engine.peak_alive("bad"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_successor_that_never_gets_ready_is_given_up_after_the_bound() {
    let t = TestHost::new();
    let _stop = start(&t);
    running(&t, "slow", json!({"v": 1})).await;
    t.engine.hang_prepares(1);
    let updated = t.clock.now_ms();
    t.put_bot("slow", json!({"v": 2}));
    let failed =
        until(&t.clock, "the failure", PREPARE_TIMEOUT * 2, || kinds(&t, "slow").contains(&Kind::StartFailed)).await;
    assert!(failed - updated >= PREPARE_TIMEOUT.as_millis() as i64, "gave up after {} ms", failed - updated);
    let (_, status) = t.host.store.get("slow").unwrap().unwrap();
    assert!(status.failure_reason.unwrap_or_default().contains("was not prepared within"), "timeout named");
    until(&t.clock, "the successor removed", Duration::from_secs(1), || t.engine.containers_of("slow").len() == 1)
        .await;
    assert!(releases(&t).is_empty() && t.engine.peak_alive("slow") == 1);
}

/// The restart points: what a new orchestrator process finds in Docker, made directly on the
/// engine, and what it must converge to.
#[tokio::test(start_paused = true)]
async fn a_restarted_orchestrator_goes_on_with_the_handover_it_finds() {
    for (case, with_old) in [("successor beside the old container", true), ("successor alone", false)] {
        let t = TestHost::new();
        let bot = "rs";
        t.put_bot(bot, json!({"v": 1}));
        let (rec, _) = t.host.store.get(bot).unwrap().unwrap();
        let v1 = validate(&rec, &t.host.settings.images).unwrap();
        t.put_bot(bot, json!({"v": 2}));
        let (rec, _) = t.host.store.get(bot).unwrap().unwrap();
        let v2 = validate(&rec, &t.host.settings.images).unwrap();
        if with_old {
            t.host.engine.run(&build(&v1, &t.host.settings)).await.unwrap();
        }
        t.host.engine.run(&build_successor(&v2, &t.host.settings)).await.unwrap();
        assert!(t.engine.containers_of(bot).iter().any(|(n, _, w)| *n == successor_name(bot, None) && *w), "{case}");
        let _stop = start(&t);
        until(&t.clock, case, Duration::from_secs(10), || {
            t.engine.containers_of(bot) == vec![(container_name(bot, None), true, false)]
        })
        .await;
        assert_eq!(releases(&t).len(), 1, "{case}: released once");
        assert_eq!(t.engine.runs_of(bot).len(), 1 + usize::from(with_old), "{case}: no new container");
        assert_eq!(t.engine.peak_alive(bot), 1, "{case}");
    }
}

#[tokio::test(start_paused = true)]
async fn with_handovers_off_an_update_stops_then_starts() {
    let t = TestHost::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = Options { update_handover: false, ..options() };
    tokio::spawn(Reconciler::new(t.host.clone(), opts).run(async move {
        let _ = rx.await;
    }));
    running(&t, "off", json!({"v": 1})).await;
    t.put_bot("off", json!({"v": 2}));
    until(&t.clock, "the replacement", Duration::from_secs(5), || t.engine.runs_of("off").len() == 2).await;
    let calls = t.engine.calls();
    let removed = index_of(&calls, |c| matches!(c, Call::Remove { .. }));
    let second = calls.iter().enumerate().filter(|(_, c)| matches!(c, Call::Run { .. })).nth(1).unwrap().0;
    assert!(removed < second, "stop, then start");
    assert!(releases(&t).is_empty() && t.engine.containers_of("off").iter().all(|(_, _, w)| !w));
    drop(tx);
}
