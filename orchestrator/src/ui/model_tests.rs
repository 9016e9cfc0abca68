use serde_json::json;

use super::*;

fn run(seq: i64, outcome: Outcome, started: Option<i64>, ended: Option<i64>) -> Run {
    Run {
        seq,
        bot_id: "s".into(),
        due_ms: started.unwrap_or(0),
        started_ms: started,
        ended_ms: ended,
        outcome,
        exit_code: ended.map(|_| if outcome == Outcome::Succeeded { 0 } else { 1 }),
        reason: (outcome == Outcome::Failed).then(|| "bot exited with code 1".to_string()),
        container: Some("c".into()),
        logs: vec![],
        manual: None,
    }
}

fn container(state: State, started: i64) -> Observed {
    Observed {
        container: "cid".into(),
        name: "the0-bot-a".into(),
        bot_id: "a".into(),
        state,
        hash: None,
        created_ms: started,
        started_ms: Some(started),
        finished_ms: None,
        exit_code: None,
        oom: false,
        successor: false,
    }
}

#[test]
fn a_live_bot_row() {
    let shown = json!({"id": "a", "status": {"state": "running", "failure_reason": null}});
    let status = BotStatus { restarts: 3, last_exit_code: Some(137), last_exit_at: Some(500), ..Default::default() };
    let up = container(State::Running, 400);
    let exited = container(State::Exited, 400);
    for (c, up_since) in [(Some(&up), Some(400)), (Some(&exited), None), (None, None)] {
        let f = Facts { shown: &shown, status: &status, container: c, sched: None, runs: &[], restart_times_ms: &[] };
        let r = row(&f, 1000);
        assert_eq!(r.kind, Kind::Realtime);
        assert_eq!((r.id.as_str(), r.state.as_str(), r.restarts), ("a", "running", Some(3)));
        assert_eq!((r.last_exit_code, r.last_exit_ms), (Some(137), Some(500)));
        assert_eq!(r.up_since_ms, up_since, "{c:?}");
        assert_eq!(r.next_run_ms, None);
        assert!(r.spark.bars.is_empty(), "no restart times, no bars");
    }
}

#[test]
fn a_scheduled_bot_row() {
    let sched = SchedState { expr: "* * * * *".into(), next_due_ms: Some(60_000), failure: None, enabled: true };
    let runs = [
        run(3, Outcome::Running, Some(900), None),
        run(2, Outcome::Failed, Some(500), Some(700)),
        run(1, Outcome::Succeeded, Some(100), Some(200)),
    ];
    let shown = json!({"id": "s", "status": {"state": "running", "kind": "scheduled", "schedule": "* * * * *",
        "next_due_at": "1970-01-01T00:01:00Z", "failure_reason": null}});
    let status = BotStatus::default();
    let f = Facts {
        shown: &shown,
        status: &status,
        container: None,
        sched: Some(&sched),
        runs: &runs,
        restart_times_ms: &[],
    };
    let r = row(&f, 1000);
    assert_eq!(r.kind, Kind::Scheduled);
    assert_eq!(r.restarts, None);
    assert_eq!((r.last_exit_code, r.last_exit_ms), (Some(1), Some(700)), "the newest finished run");
    assert_eq!(r.reason.as_deref(), Some("bot exited with code 1"));
    assert_eq!(r.up_since_ms, Some(900), "the open run's start");
    assert_eq!(r.next_run_ms, Some(60_000));
    assert_eq!(r.schedule.as_deref(), Some("* * * * *"));
    let heights: Vec<f64> = r.spark.bars.iter().map(|b| b.value).collect();
    assert_eq!(heights, [0.1, 0.2, 0.1], "oldest first; the open run counts up to now");
    let tones: Vec<Tone> = r.spark.bars.iter().map(|b| b.tone).collect();
    assert_eq!(tones, [Tone::Good, Tone::Bad, Tone::Busy]);
    // A disabled bot shows no next run (the admin API's `next_due_at` is null then).
    let off = json!({"id": "s", "status": {"state": "disabled", "kind": "scheduled", "next_due_at": null}});
    let r = row(&Facts { shown: &off, ..f }, 1000);
    assert_eq!(r.next_run_ms, None);
    // A failure reason of the bot wins over its last run's.
    let failed = json!({"id": "s", "status": {"state": "failed", "kind": "scheduled", "failure_reason": "bad cron"}});
    assert_eq!(row(&Facts { shown: &failed, ..f }, 1000).reason.as_deref(), Some("bad cron"));
}

#[test]
fn the_runs_sparkline_keeps_the_newest_runs() {
    let runs: Vec<Run> =
        (0..50).rev().map(|i| run(i, Outcome::Succeeded, Some(i * 1000), Some(i * 1000 + i))).collect();
    let s = runs_spark(&runs, 0);
    assert_eq!(s.bars.len(), SPARK_RUNS);
    assert_eq!(s.bars.last().map(|b| b.value), Some(0.049), "the newest run is the last bar");
    assert_eq!(s.bars[0].value, 0.020);
    assert_eq!(s.label, "last 30 runs: duration, outcome");
    assert_eq!(runs_spark(&[], 0), Spark::default());
    // A skipped run never started: a zero bar.
    assert_eq!(runs_spark(&[run(1, Outcome::Skipped, None, None)], 5).bars[0].value, 0.0);
}

#[test]
fn restarts_per_hour() {
    const H: i64 = 3_600_000;
    let now = 100 * H;
    let s = restarts_spark(&[now - 10, now - 20, now - H - 1, now - 23 * H - 1, now - 24 * H, now + 5], now);
    assert_eq!(s.bars.len(), SPARK_HOURS);
    let counts: Vec<f64> = s.bars.iter().map(|b| b.value).collect();
    let mut want = vec![0.0; SPARK_HOURS];
    want[23] = 2.0; // this hour
    want[22] = 1.0; // the hour before
    want[0] = 1.0; // 23 h ago; 24 h ago and the future are left out
    assert_eq!(counts, want);
    assert_eq!(s.bars[23].title, "2 restarts, 0 h ago");
    assert_eq!(s.bars[23].tone, Tone::Warn);
    assert_eq!(s.bars[1].tone, Tone::Idle);
    assert_eq!(restarts_spark(&[], now), Spark::default());
}

#[test]
fn state_tones() {
    for (state, tone) in [
        ("running", Tone::Good),
        ("scheduled", Tone::Good),
        ("failed", Tone::Bad),
        ("backing-off", Tone::Warn),
        ("starting", Tone::Busy),
        ("pending", Tone::Busy),
        ("disabled", Tone::Idle),
        ("<script>", Tone::Idle),
    ] {
        assert_eq!(Tone::of_state(state), tone, "{state}");
    }
}

#[test]
fn a_detail_page_model() {
    let shown = json!({"id": "a", "enabled": true, "image": "the0/runtime:latest",
        "custom": {"config": {"runtime": "python3.11"}},
        "status": {"state": "running", "container": "the0-bot-a"}});
    let status = BotStatus::default();
    let runs = [run(1, Outcome::Succeeded, Some(1), Some(2)), run(0, Outcome::Failed, Some(0), Some(1))];
    let f = Facts { shown: &shown, status: &status, container: None, sched: None, runs: &runs, restart_times_ms: &[] };
    let d = detail(&f, 5, 1, Ok(vec!["hi".into()]));
    assert!(d.enabled);
    assert_eq!(d.runtime.as_deref(), Some("python3.11"));
    assert_eq!(d.image.as_deref(), Some("the0/runtime:latest"));
    assert_eq!(d.container.as_deref(), Some("the0-bot-a"));
    assert_eq!(d.runs.len(), 1, "at most runs_shown");
    assert_eq!(d.runs[0].outcome, "succeeded");
    assert_eq!(d.logs, Ok(vec!["hi".to_string()]));
}
