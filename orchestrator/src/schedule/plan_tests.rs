//! The planner's rules as tables. Times are Unix ms; schedules are in UTC.

use super::*;
use crate::model::{validate, BotRecord};
use serde_json::json;

const EVERY_10S: &str = "TZ=UTC */10 * * * * *";

fn launch(id: &str) -> Launch {
    validate(
        &BotRecord {
            id: id.into(),
            config: json!({"schedule": EVERY_10S}),
            custom: json!({"filePath": "k", "config": {"runtime": "gcc13", "entrypoints": {"bot": "b.sh"}}}),
            enabled: None,
        },
        &crate::images::RuntimeImages::default(),
    )
    .unwrap()
}

fn st(expr: &str, next: Option<i64>, enabled: bool) -> SchedState {
    SchedState { expr: expr.into(), next_due_ms: next, failure: None, enabled }
}

fn bot(id: &str, expr: &str, state: Option<SchedState>) -> Bot {
    Bot { id: id.into(), enabled: true, expr: expr.into(), launch: Ok(launch(id)), state }
}

fn running(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_new_or_changed_schedule_gets_its_first_fire_after_now() {
    let now = 1_000_500;
    for b in [
        bot("new", EVERY_10S, None),
        bot("changed", EVERY_10S, Some(st("TZ=UTC 0 0 * * *", Some(5), true))),
        // Re-enabled: a stale due time is not run (D29).
        bot("reenabled", EVERY_10S, Some(st(EVERY_10S, Some(10), false))),
    ] {
        let p = plan(std::slice::from_ref(&b), &running(&[]), now, 0);
        assert_eq!(
            p.steps,
            vec![Step::Save { id: b.id.clone(), state: st(EVERY_10S, Some(1_010_000), true) }],
            "{}",
            b.id
        );
        assert_eq!(p.wake_at, Some(1_010_000));
    }
}

#[test]
fn a_bad_or_never_firing_schedule_fails_and_never_runs() {
    for (expr, reason) in [("61 * * * *", "invalid schedule"), ("TZ=UTC 0 0 30 2 *", "never fires")] {
        let p = plan(&[bot("b", expr, None)], &running(&[]), 0, 0);
        let [Step::Save { state, .. }] = p.steps.as_slice() else { panic!("{:?}", p.steps) };
        assert!(state.failure.as_deref().is_some_and(|f| f.contains(reason)), "{state:?}");
        assert_eq!((state.next_due_ms, p.wake_at), (None, None));
        // Next pass: nothing to do, ever, until the schedule changes.
        let again = plan(&[bot("b", expr, Some(state.clone()))], &running(&[]), 10_000_000, 0);
        assert_eq!(again, Plan::default());
    }
}

#[test]
fn a_due_run_is_dispatched_with_the_next_due_time_from_the_scheduled_time() {
    // Due at 1_000_000, looked at 25.5 s late (downtime): one run, next due the first fire after now.
    let b = bot("b", EVERY_10S, Some(st(EVERY_10S, Some(1_000_000), true)));
    let p = plan(&[b], &running(&[]), 1_025_500, 0);
    assert_eq!(
        p.steps,
        vec![Step::Dispatch {
            id: "b".into(),
            due: 1_000_000,
            state: st(EVERY_10S, Some(1_030_000), true),
            launch: launch("b")
        }]
    );
    assert_eq!(p.wake_at, Some(1_030_000));
}

#[test]
fn a_due_time_that_finds_the_run_still_going_is_skipped() {
    let b = bot("b", EVERY_10S, Some(st(EVERY_10S, Some(1_000_000), true)));
    let p = plan(&[b], &running(&["b"]), 1_000_001, 0);
    assert_eq!(
        p.steps,
        vec![Step::Skip { id: "b".into(), due: 1_000_000, state: st(EVERY_10S, Some(1_010_000), true) }]
    );
}

#[test]
fn not_yet_due_disabled_and_unrunnable_bots() {
    let later = bot("later", EVERY_10S, Some(st(EVERY_10S, Some(2_000_000), true)));
    let mut off = bot("off", EVERY_10S, Some(st(EVERY_10S, Some(1_000_000), true)));
    off.enabled = false;
    let mut broken = bot("broken", EVERY_10S, Some(st(EVERY_10S, Some(1_000_000), true)));
    broken.launch = Err(crate::model::SpecError::NoEntrypoint);
    let p = plan(&[later, off, broken], &running(&[]), 1_000_000, 0);
    assert_eq!(
        p.steps,
        vec![
            Step::Save { id: "off".into(), state: st(EVERY_10S, Some(1_000_000), false) },
            Step::Save { id: "broken".into(), state: st(EVERY_10S, Some(1_010_000), true) },
        ]
    );
    assert_eq!(p.wake_at, Some(1_010_000));
    // Disabled and already saved as such: nothing.
    let mut off = bot("off", EVERY_10S, Some(st(EVERY_10S, Some(1_000_000), false)));
    off.enabled = false;
    assert_eq!(plan(&[off], &running(&[]), 5_000_000, 0), Plan::default());
}

#[test]
fn the_cap_starts_the_longest_due_first_and_leaves_the_rest_due() {
    let bots: Vec<Bot> = [("a", 1_000_000), ("b", 990_000), ("c", 1_000_000)]
        .iter()
        .map(|(id, d)| bot(id, EVERY_10S, Some(st(EVERY_10S, Some(*d), true))))
        .collect();
    let p = plan(&bots, &running(&["x"]), 1_000_000, 2);
    let started: Vec<&str> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Dispatch { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(started, vec!["b"], "one slot left under a cap of 2 with one running");
    assert_eq!(p.waiting, 2);
    let p = plan(&bots, &running(&[]), 1_000_000, 0);
    assert_eq!(p.steps.len(), 3, "no cap");
}
