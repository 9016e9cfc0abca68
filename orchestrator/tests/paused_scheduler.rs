//! The scheduler's waiting in paused time (`#[tokio::test(start_paused = true)]`), on the
//! in-memory engine: a minutely cron schedule starts one run at the whole (virtual) minute and not
//! before, never a second one while it runs (the due time is recorded as skipped), records the
//! run's exit code when it ends, and starts the next at the following minute; a schedule that
//! does not parse or never fires never runs, however long it waits; only stored changes of its
//! own bots wake a pass.

mod paused;

use std::time::Duration;

use paused::fake_engine::Call;
use paused::{pass_time, until, TestHost, START_MS};
use serde_json::json;
use the0_orchestrator::schedule::runner::{Options, Scheduler};
use the0_orchestrator::store::changed::MAX_CHANGED_BOTS;
use the0_orchestrator::store::runs::{ManualRun, Outcome};

const MINUTE: i64 = 60_000;

/// The runs started so far: (due, started) in virtual Unix ms.
fn oneshots(t: &TestHost) -> Vec<(Option<i64>, i64)> {
    t.engine
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::StartOneshot { due_ms, at_ms, .. } => Some((due_ms, at_ms)),
            _ => None,
        })
        .collect()
}

/// Starts the scheduler; it stops when the returned sender drops.
fn start(t: &TestHost) -> tokio::sync::oneshot::Sender<()> {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let s = Scheduler::new(t.host.clone(), Options::default());
    tokio::spawn(s.run(async move {
        let _ = rx.await;
    }));
    tx
}

#[tokio::test(start_paused = true)]
async fn a_minutely_schedule_runs_once_per_whole_minute_and_records_the_exit() {
    let t = TestHost::new();
    let stop = start(&t);
    // The clock starts at hh:00:30; the first due time is the next whole minute.
    assert_eq!(START_MS % MINUTE, 30_000);
    let first_due = START_MS + 30_000;
    t.put_bot("cron", json!({"schedule": "* * * * *"}));
    pass_time(Duration::from_millis((first_due - t.clock.now_ms() - 100) as u64)).await;
    assert!(oneshots(&t).is_empty(), "no run before its due time: {:?}", oneshots(&t));
    until(&t.clock, "the first run", Duration::from_secs(15), || !oneshots(&t).is_empty()).await;
    let (due, started) = oneshots(&t)[0];
    assert_eq!(due, Some(first_due));
    assert!((first_due..first_due + 1_000).contains(&started), "started {} ms after due", started - first_due);
    // Still running at the next minute: skipped, not started twice.
    pass_time(Duration::from_millis((first_due + MINUTE + 1_000 - t.clock.now_ms()) as u64)).await;
    assert_eq!(oneshots(&t).len(), 1, "a second run while the first goes: {:?}", oneshots(&t));
    let runs = t.host.store.runs("cron", 10).unwrap();
    assert!(
        runs.iter().any(|r| r.due_ms == first_due + MINUTE && r.outcome == Outcome::Skipped),
        "the overlapping due time is recorded as skipped: {runs:?}"
    );
    // Its exit is recorded with the code; the next minute starts the next run, once.
    t.engine.exit("cron", 3);
    let ended =
        || t.host.store.runs("cron", 10).unwrap().into_iter().find(|r| r.due_ms == first_due && r.ended_ms.is_some());
    until(&t.clock, "the run's ending", Duration::from_secs(1), || ended().is_some()).await;
    let run = ended().expect("ended");
    assert_eq!((run.outcome, run.exit_code), (Outcome::Failed, Some(3)), "{run:?}");
    assert_eq!(run.logs, vec!["fake output".to_string()], "{run:?}");
    let third_due = first_due + 2 * MINUTE;
    until(&t.clock, "the next run", Duration::from_secs(70), || oneshots(&t).len() == 2).await;
    assert_eq!(oneshots(&t)[1].0, Some(third_due));
    pass_time(Duration::from_secs(30)).await;
    assert_eq!(oneshots(&t).len(), 2, "one run per due time: {:?}", oneshots(&t));
    drop(stop);
}

#[tokio::test(start_paused = true)]
async fn a_bad_or_never_firing_schedule_never_runs() {
    let t = TestHost::new();
    let stop = start(&t);
    t.put_bot("bad", json!({"schedule": "61 * * * * *"}));
    t.put_bot("never", json!({"schedule": "TZ=UTC 0 0 30 2 *"}));
    t.put_bot("good", json!({"schedule": "* * * * *"}));
    // Ten virtual minutes: the good schedule runs (each run ends at once), the others never do.
    for _ in 0..10 {
        pass_time(Duration::from_secs(60)).await;
        if t.engine.is_running("good") {
            t.engine.exit("good", 0);
        }
    }
    let bots: Vec<String> = t
        .engine
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::StartOneshot { bot, .. } => Some(bot),
            _ => None,
        })
        .collect();
    assert!(bots.len() >= 9 && bots.iter().all(|b| b == "good"), "{bots:?}");
    for (id, why) in [("bad", "outside 0-59"), ("never", "never fires")] {
        let st = t.host.store.schedule_state(id).unwrap().expect("a schedule state");
        assert!(st.failure.as_deref().is_some_and(|f| f.contains(why)), "{id}: {st:?}");
        assert!(t.host.store.runs(id, 10).unwrap().is_empty(), "{id} has runs");
    }
    drop(stop);
}

/// Issue 15: the query server's warm servers learn of each run's end (after it is recorded)
/// through the hook `serve` sets; nothing is told while the run goes.
#[tokio::test(start_paused = true)]
async fn the_end_of_each_run_is_told_to_the_hook() {
    let t = TestHost::new();
    let told = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut s = Scheduler::new(t.host.clone(), Options::default());
    let sink = told.clone();
    s.on_run_end(std::sync::Arc::new(move |bot: &str| sink.lock().unwrap().push(bot.to_string())));
    tokio::spawn(s.run(async move {
        let _ = rx.await;
    }));
    t.put_bot("cron", json!({"schedule": "* * * * *"}));
    until(&t.clock, "the first run", Duration::from_secs(90), || !oneshots(&t).is_empty()).await;
    pass_time(Duration::from_secs(5)).await;
    assert!(told.lock().unwrap().is_empty(), "not while it runs");
    t.engine.exit("cron", 0);
    until(&t.clock, "the hook", Duration::from_secs(5), || !told.lock().unwrap().is_empty()).await;
    assert_eq!(*told.lock().unwrap(), vec!["cron".to_string()]);
    let recorded = t.host.store.runs("cron", 10).unwrap().into_iter().any(|r| r.ended_ms.is_some());
    assert!(recorded, "told after the run is recorded");
    drop(tx);
}

fn ids<const N: usize>(ids: [&str; N]) -> std::collections::BTreeSet<String> {
    ids.into_iter().map(String::from).collect()
}

/// A stored change wakes a scheduler pass only when one of its bots is the scheduler's: so
/// registering a fleet of realtime bots costs the scheduler nothing per bot (issue #17).
#[tokio::test(start_paused = true)]
async fn only_changes_of_scheduled_bots_concern_the_scheduler() {
    let t = TestHost::new();
    let s = Scheduler::new(t.host.clone(), Options::default());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    t.put_bot("rt", json!({}));
    t.put_bot("cron", json!({"schedule": "* * * * *"}));
    assert!(!s.concern_schedules(&ids(["rt"])), "a realtime bot");
    assert!(!s.concern_schedules(&ids(["gone"])), "a bot never stored");
    assert!(s.concern_schedules(&ids(["cron"])), "a scheduled bot");
    assert!(s.concern_schedules(&ids(["rt", "cron"])), "one scheduled bot among the changed");
    // Once a pass has seen it, a bot that stops being scheduled keeps its schedule state until a
    // pass forgets it: its change concerns the scheduler, and no longer after that pass.
    s.pass(&stop).expect("pass");
    t.put_bot("cron", json!({}));
    assert!(s.concern_schedules(&ids(["cron"])), "a bot that was scheduled");
    s.pass(&stop).expect("pass");
    assert!(!s.concern_schedules(&ids(["cron"])), "its schedule state is forgotten");
    // An on-demand run waiting to start, whatever the bot's type.
    let run = ManualRun { config: None, timeout_ms: 60_000 };
    t.host.store.request_run("rt", &run).expect("request a run");
    assert!(s.concern_schedules(&ids(["rt"])), "a requested run");
    // Too many changed bots to look at one by one: a pass reads everything.
    let many: std::collections::BTreeSet<String> = (0..=MAX_CHANGED_BOTS).map(|i| format!("b{i}")).collect();
    assert!(s.concern_schedules(&many));
}
