//! One table row per rule of docs/contract.md §5.3 and D23–D26.

use super::*;
use crate::images::RuntimeImages;
use crate::model::{validate, BotRecord};
use serde_json::json;

const NOW: i64 = 1_000_000_000;
const BASE: i64 = 10_000;

fn launch(id: &str, v: i64) -> Launch {
    let rec = BotRecord {
        id: id.into(),
        config: json!({"v": v}),
        custom: json!({"filePath": "u/b/1", "config": {"runtime": "gcc13", "entrypoints": {"bot": "bot.sh"}}}),
        enabled: None,
    };
    validate(&rec, &RuntimeImages::default()).unwrap()
}

fn want(id: &str) -> Desired {
    Desired { id: id.into(), enabled: true, launch: Ok(launch(id, 1)), status: BotStatus::default(), handover: false }
}

fn c(name: &str, bot: &str, state: State, hash: Option<&str>, created: i64) -> Observed {
    Observed {
        container: name.into(),
        name: name.into(),
        bot_id: bot.into(),
        state,
        hash: hash.map(str::to_string),
        created_ms: created,
        started_ms: Some(created),
        finished_ms: None,
        exit_code: None,
        oom: false,
        successor: false,
    }
}

fn run(d: &[Desired], o: &[Observed]) -> Plan {
    plan(d, o, &HashSet::new(), NOW, BASE)
}

fn one(p: &Plan) -> &Action {
    assert_eq!(p.actions.len(), 1, "{p:#?}");
    &p.actions[0]
}

#[test]
fn missing_container_is_started() {
    let p = run(&[want("a")], &[]);
    assert_eq!(one(&p).start.as_ref().map(|l| l.id.as_str()), Some("a"));
    assert!(one(&p).stop.is_empty() && one(&p).remove.is_empty());
}

#[test]
fn running_with_same_hash_is_left_alone_and_unlabelled_is_adopted() {
    let h = launch("a", 1).hash;
    assert!(run(&[want("a")], &[c("c1", "a", State::Running, Some(&h), 1)]).actions.is_empty());
    assert!(run(&[want("a")], &[c("c1", "a", State::Running, None, 1)]).actions.is_empty(), "D24: unlabelled adopt");
    assert!(run(&[want("a")], &[c("c1", "a", State::Paused, Some(&h), 1)]).actions.is_empty());
}

#[test]
fn changed_spec_replaces_once() {
    let old = launch("a", 0).hash;
    let p = run(&[want("a")], &[c("c1", "a", State::Running, Some(&old), 1)]);
    let a = one(&p);
    assert_eq!(a.stop, vec!["c1".to_string()]);
    assert!(a.start.is_some());
}

#[test]
fn several_running_keep_the_newest() {
    let h = launch("a", 1).hash;
    let p =
        run(&[want("a")], &[c("old", "a", State::Running, Some(&h), 1), c("new", "a", State::Running, Some(&h), 5)]);
    let a = one(&p);
    assert_eq!(a.stop, vec!["old".to_string()]);
    assert!(a.start.is_none());
}

#[test]
fn exit_is_a_crash_with_backoff() {
    let mut e = c("c1", "a", State::Exited, None, NOW - 5_000);
    e.finished_ms = Some(NOW - 1_000);
    e.exit_code = Some(3);
    let p = run(&[want("a")], &[e.clone()]);
    let a = one(&p);
    assert_eq!(a.remove, vec!["c1".to_string()]);
    assert!(a.start.is_none(), "not restarted before the backoff");
    let x = a.exit.as_ref().unwrap();
    assert_eq!((x.code, x.status.restarts, x.status.consecutive), (Some(3), 1, 1));
    let until = x.status.backoff_until.unwrap();
    assert!((NOW - 1_000 + BASE..=NOW - 1_000 + BASE + BASE / 10).contains(&until));
    assert_eq!(p.wake_at, Some(until));
    assert_eq!(x.status.failure_reason.as_deref(), Some("bot exited with code 3"));

    // Second crash in a row doubles; an exit after 10 minutes up counts as the first again.
    let mut d = want("a");
    d.status = BotStatus { restarts: 1, consecutive: 1, ..Default::default() };
    let x = run(&[d.clone()], &[e.clone()]).actions[0].exit.clone().unwrap();
    assert_eq!(x.status.consecutive, 2);
    assert!(x.status.backoff_until.unwrap() >= NOW - 1_000 + 2 * BASE);
    let mut long = e.clone();
    long.started_ms = Some(NOW - RESET_AFTER_MS - 2_000);
    let x = run(&[d], &[long]).actions[0].exit.clone().unwrap();
    assert_eq!((x.status.consecutive, x.status.restarts), (1, 2));

    // Exit code 0 is still an unrequested exit; OOM is named.
    let mut oom = e.clone();
    oom.exit_code = Some(137);
    oom.oom = true;
    let x = run(&[want("a")], &[oom]).actions[0].exit.clone().unwrap();
    assert!(x.status.failure_reason.unwrap().contains("OOM"));
}

#[test]
fn an_exit_already_counted_is_only_removed_and_an_old_one_restarts_at_once() {
    let mut e = c("c1", "a", State::Exited, None, NOW - 100_000);
    e.finished_ms = Some(NOW - 60_000);
    let mut d = want("a");
    d.status = BotStatus { last_exit_at: Some(NOW - 60_000), backoff_until: Some(NOW - 50_000), ..Default::default() };
    let a = run(&[d], &[e.clone()]).actions[0].clone();
    assert!(a.exit.is_none());
    assert_eq!(a.remove, vec!["c1".to_string()]);
    assert!(a.start.is_some());
    // A crash long ago (orchestrator was down): backoff already over, restart in the same pass.
    let a = run(&[want("a")], &[e]).actions[0].clone();
    assert!(a.exit.is_some() && a.start.is_some());
}

#[test]
fn backoff_in_force_waits_and_wakes() {
    let mut d = want("a");
    d.status.backoff_until = Some(NOW + 7_000);
    let p = run(&[d.clone()], &[]);
    assert!(p.actions.is_empty());
    assert_eq!(p.wake_at, Some(NOW + 7_000));
    d.status.backoff_until = Some(NOW);
    assert!(one(&run(&[d], &[])).start.is_some(), "expired backoff starts");
}

#[test]
fn ten_minutes_up_resets_the_crash_history() {
    let h = launch("a", 1).hash;
    let mut d = want("a");
    d.status = BotStatus { consecutive: 4, backoff_until: Some(NOW - RESET_AFTER_MS), ..Default::default() };
    let mut up = c("c1", "a", State::Running, Some(&h), 0);
    up.started_ms = Some(NOW - RESET_AFTER_MS);
    assert!(one(&run(&[d.clone()], &[up.clone()])).reset_backoff);
    up.started_ms = Some(NOW - 1_000);
    let p = run(&[d], &[up]);
    assert!(p.actions.is_empty());
    assert_eq!(p.wake_at, Some(NOW - 1_000 + RESET_AFTER_MS));
}

#[test]
fn disabled_and_deleted_bots_are_stopped_and_removed() {
    let h = launch("a", 1).hash;
    let mut d = want("a");
    d.enabled = false;
    let cs = [c("c1", "a", State::Running, Some(&h), 1), c("c2", "a", State::Exited, Some(&h), 0)];
    let a = one(&run(&[d], &cs)).clone();
    assert_eq!((a.stop, a.remove, a.start), (vec!["c1".to_string()], vec!["c2".to_string()], None));
    let a = one(&run(&[], &cs)).clone();
    assert_eq!((a.bot_id.as_str(), a.stop.len(), a.remove.len(), a.exit), ("a", 1, 1, None), "no crash for undesired");
}

#[test]
fn invalid_spec_is_marked_failed_once_and_never_started() {
    let mut d = want("a");
    d.launch = Err(crate::model::SpecError::UnknownRuntime("x".into()));
    let h = launch("a", 1).hash;
    let a = one(&run(&[d.clone()], &[c("c1", "a", State::Running, Some(&h), 1)])).clone();
    let reason = a.fail.as_deref().unwrap_or_default();
    assert!(reason.starts_with("unknown runtime \"x\" (known: "), "the status shows the error's text: {reason}");
    assert_eq!(a.stop, vec!["c1".to_string()]);
    assert!(a.start.is_none());
    d.status.failure_reason = a.fail.clone();
    assert!(run(&[d], &[]).actions.is_empty(), "no tight loop: nothing to do once marked");
}

#[test]
fn created_and_dead_leftovers_are_removed_and_the_bot_started() {
    let h = launch("a", 1).hash;
    let cs = [c("cr", "a", State::Created, Some(&h), 1), c("dd", "a", State::Dead, Some(&h), 2)];
    let a = one(&run(&[want("a")], &cs)).clone();
    assert_eq!(a.remove.len(), 2);
    assert!(a.start.is_some());
    assert!(a.exit.is_none(), "a container that never ran is not a crash");
    let mut with_running = cs.to_vec();
    with_running.push(c("run", "a", State::Running, Some(&h), 3));
    let a = one(&run(&[want("a")], &with_running)).clone();
    assert_eq!((a.remove.len(), a.start.is_none()), (2, true));
    assert!(run(&[want("a")], &[c("rm", "a", State::Removing, Some(&h), 1), c("r", "a", State::Running, Some(&h), 2)])
        .actions
        .is_empty());
}

#[test]
fn bots_in_flight_are_never_planned_twice() {
    let inflight: HashSet<String> = ["a".to_string(), "z".to_string()].into();
    let p = plan(&[want("a"), want("b")], &[c("cz", "z", State::Running, None, 1)], &inflight, NOW, BASE);
    assert_eq!(p.actions.iter().map(|a| a.bot_id.as_str()).collect::<Vec<_>>(), vec!["b"]);
}

#[test]
fn one_bad_bot_does_not_affect_the_others() {
    let mut bad = want("bad");
    bad.launch = Err(crate::model::SpecError::NoEntrypoint);
    let p = run(&[want("a"), bad, want("b")], &[]);
    let starts: Vec<_> = p.actions.iter().filter(|a| a.start.is_some()).map(|a| a.bot_id.as_str()).collect();
    assert_eq!(starts, vec!["a", "b"]);
}

#[test]
fn a_created_container_within_the_grace_period_is_never_removed() {
    let h = launch("a", 1).hash;
    let old = launch("a", 0).hash;
    // (hash, age ms) → (removed, wake); the bot is started either way: a start adopts a
    // `created` container of the same spec (the Docker driver starts it, no second container).
    let rows: &[(Option<&str>, i64, bool, Option<i64>)] = &[
        // Just created, possibly by a process killed before its start: kept.
        (Some(&h), 0, false, Some(NOW + CREATED_GRACE_MS)),
        (Some(&h), 2_400, false, Some(NOW - 2_400 + CREATED_GRACE_MS)),
        (None, CREATED_GRACE_MS - 1, false, Some(NOW + 1)),
        // Past the grace period: abandoned, removed.
        (Some(&h), CREATED_GRACE_MS, true, None),
        // Made for an older spec: it never ran, replaced at once.
        (Some(&old), 0, true, None),
    ];
    for (hash, age, removed, wake) in rows {
        let p = run(&[want("a")], &[c("cr", "a", State::Created, *hash, NOW - age)]);
        let a = one(&p);
        assert_eq!(a.remove == vec!["cr".to_string()], *removed, "age {age} hash {hash:?}: {p:#?}");
        assert!(a.start.is_some() && a.stop.is_empty() && a.exit.is_none(), "age {age}: {p:#?}");
        assert_eq!(p.wake_at, *wake, "age {age} hash {hash:?}");
        if *removed {
            assert!(a.why.contains_key("cr"), "every removal says why");
        }
    }
    // In backoff: the created container waits (not removed), a pass is due at the earlier time.
    let mut d = want("a");
    d.status.backoff_until = Some(NOW + 5_000);
    let p = run(&[d], &[c("cr", "a", State::Created, Some(&h), NOW)]);
    assert!(p.actions.is_empty(), "{p:#?}");
    assert_eq!(p.wake_at, Some(NOW + 5_000));
}

#[test]
fn every_stop_and_remove_has_a_reason() {
    let h = launch("a", 1).hash;
    let old = launch("a", 0).hash;
    let cs = [
        c("run", "a", State::Running, Some(&old), 5),
        c("ex", "a", State::Exited, Some(&h), 4),
        c("dd", "a", State::Dead, Some(&h), 3),
        c("gone", "z", State::Running, Some(&h), 1),
    ];
    let p = run(&[want("a")], &cs);
    for a in &p.actions {
        for c in a.stop.iter().chain(&a.remove) {
            assert!(a.why.contains_key(c), "{c} has no reason: {a:#?}");
        }
    }
    assert_eq!(p.actions.iter().map(|a| a.stop.len() + a.remove.len()).sum::<usize>(), 4);
}

/// `restart ID`: a container started at or before the request is replaced (at once, even while
/// backing off); one started after it, or none at all, only settles the request; a disabled or
/// unrunnable bot settles it too, so no request lingers.
#[test]
fn a_restart_request_replaces_a_container_started_before_it_once() {
    let h = launch("a", 1).hash;
    let asked = NOW - 1_000;
    let restarting = |status: BotStatus| Desired { status, ..want("a") };
    let pending = BotStatus { restart_at: Some(asked), ..Default::default() };
    for (started, replaced) in [(asked - 60_000, true), (asked, true), (asked + 1, false)] {
        let p = run(&[restarting(pending.clone())], &[c("c1", "a", State::Running, Some(&h), started)]);
        let a = one(&p);
        assert_eq!(a.restart_done, Some(asked), "started {started}");
        assert_eq!(a.stop.is_empty(), !replaced, "started {started}");
        assert_eq!(a.start.is_some(), replaced, "started {started}");
        if replaced {
            assert_eq!(a.why.get("c1").copied(), Some("a restart was requested"));
        }
    }
    // Backing off with no container: started now, not at the backoff's end.
    let backing = BotStatus { backoff_until: Some(NOW + 60_000), ..pending.clone() };
    let a = run(&[restarting(backing.clone())], &[]).actions;
    assert!(a[0].start.is_some() && a[0].restart_done == Some(asked), "{a:?}");
    assert!(run(&[restarting(BotStatus { restart_at: None, ..backing })], &[]).actions.is_empty(), "no request: waits");
    // Disabled: its container goes and the request is settled.
    let disabled = Desired { enabled: false, ..restarting(pending.clone()) };
    let p = run(&[disabled], &[]);
    assert_eq!((one(&p).restart_done, one(&p).start.is_some()), (Some(asked), false));
    // Without a request nothing changes for a running bot.
    assert!(run(&[want("a")], &[c("c1", "a", State::Running, Some(&h), asked - 60_000)]).actions.is_empty());
}

/// An update's successor (issue #15): named and labelled as one, not yet released.
fn next(name: &str, state: State, hash: &str, created: i64) -> Observed {
    Observed { successor: true, ..c(name, "a", state, Some(hash), created) }
}

fn handing(d: Desired) -> Desired {
    Desired { handover: true, ..d }
}

/// Update handovers: one row per step of the handover and per point an orchestrator may have
/// been stopped at, with what Docker then shows (the old container, the successor) and what the
/// pass must do: (what, containers, the handover's old and next, stops, removes, a plain start).
#[test]
fn an_update_is_handed_over_step_by_step_and_after_a_restart_at_any_point() {
    let (h, old) = (launch("a", 1).hash, launch("a", 0).hash);
    type Row<'a> =
        (&'a str, Vec<Observed>, Option<(Option<&'a str>, Option<&'a str>)>, Vec<&'a str>, Vec<&'a str>, bool);
    let rows: Vec<Row<'_>> = vec![
        (
            "an update of a running bot: create the successor beside it",
            vec![c("old", "a", State::Running, Some(&old), 1)],
            Some((Some("old"), None)),
            vec![],
            vec![],
            false,
        ),
        (
            "the successor is there (preparing or prepared): go on with it",
            vec![c("old", "a", State::Running, Some(&old), 1), next("nx", State::Running, &h, 5)],
            Some((Some("old"), Some("nx"))),
            vec![],
            vec![],
            false,
        ),
        (
            "stopped after the old container's stop: release the successor alone",
            vec![next("nx", State::Running, &h, 5)],
            Some((None, Some("nx"))),
            vec![],
            vec![],
            false,
        ),
        (
            "the old container crashed while the successor waited: release it, remove the dead one",
            vec![c("old", "a", State::Exited, Some(&old), 1), next("nx", State::Running, &h, 5)],
            Some((None, Some("nx"))),
            vec![],
            vec!["old"],
            false,
        ),
        (
            "released and renamed: the bot's container, nothing to do",
            vec![c("nx", "a", State::Running, Some(&h), 5)],
            None,
            vec![],
            vec![],
            false,
        ),
        (
            "a successor that ended before its release (failed to prepare): removed; the update starts over",
            vec![c("old", "a", State::Running, Some(&old), 1), next("nx", State::Exited, &h, 5)],
            Some((Some("old"), None)),
            vec![],
            vec!["nx"],
            false,
        ),
        (
            "a successor of a spec changed again since: stopped; a new one is made",
            vec![c("old", "a", State::Running, Some(&old), 1), next("nx", State::Running, &launch("a", 7).hash, 5)],
            Some((Some("old"), None)),
            vec!["nx"],
            vec![],
            false,
        ),
        (
            "the spec changed back to the old container's: the successor goes, the old one stays",
            vec![c("old", "a", State::Running, Some(&h), 1), next("nx", State::Running, &old, 5)],
            None,
            vec!["nx"],
            vec![],
            false,
        ),
        (
            "a dead successor and no old container: removed, the bot started as usual",
            vec![next("nx", State::Exited, &h, 5)],
            None,
            vec![],
            vec!["nx"],
            true,
        ),
        ("no container at all: a first start, not a handover", vec![], None, vec![], vec![], true),
    ];
    for (what, cs, want_handover, stops, removes, starts) in rows {
        let p = run(&[handing(want("a"))], &cs);
        let a = p.actions.first().cloned().unwrap_or_else(|| Action::new("a"));
        let got = a.handover.as_ref().map(|h| (h.old.clone(), h.next.clone()));
        let want = want_handover.map(|(o, n)| (o.map(String::from), n.map(String::from)));
        assert_eq!(got, want, "{what}: {p:#?}");
        assert_eq!(a.stop, stops, "{what}");
        assert_eq!(a.remove, removes, "{what}");
        assert_eq!(a.start.is_some(), starts, "{what}");
        assert!(a.exit.is_none(), "{what}: nothing here is a crash");
        if let Some(ho) = &a.handover {
            assert_eq!(ho.launch.hash, h, "{what}: the successor runs the current spec");
        }
        for c in a.stop.iter().chain(&a.remove) {
            assert!(a.why.contains_key(c), "{what}: {c} has a reason");
        }
    }
}

#[test]
fn a_failed_handover_backs_off_and_handovers_off_stop_then_start() {
    let old = launch("a", 0).hash;
    let running_old = [c("old", "a", State::Running, Some(&old), 1)];
    // Backing off after a failed handover: the old container keeps running until then.
    let mut d = handing(want("a"));
    d.status.backoff_until = Some(NOW + 9_000);
    let p = run(&[d.clone()], &running_old);
    assert!(p.actions.is_empty(), "{p:#?}");
    assert_eq!(p.wake_at, Some(NOW + 9_000));
    d.status.backoff_until = Some(NOW);
    assert!(one(&run(&[d.clone()], &running_old)).handover.is_some(), "after the backoff: another try");
    // A restart asked for meanwhile does not wait.
    d.status = BotStatus { backoff_until: Some(NOW + 9_000), restart_at: Some(NOW - 1), ..Default::default() };
    assert!(one(&run(&[d], &running_old)).handover.is_some());
    // `--update-handover off`: stop then start, and a successor found is removed.
    let p = run(&[want("a")], &[running_old[0].clone(), next("nx", State::Running, &launch("a", 1).hash, 5)]);
    let a = one(&p);
    assert!(a.handover.is_none() && a.start.is_some());
    assert_eq!(a.stop, vec!["nx".to_string(), "old".to_string()]);
}

#[test]
fn a_waiting_successor_is_never_kept_as_the_bots_container() {
    // A restart request, a crash history: the planner reasons about the old container only.
    let h = launch("a", 1).hash;
    let mut d = handing(want("a"));
    d.status = BotStatus { consecutive: 2, backoff_until: Some(NOW - RESET_AFTER_MS), ..Default::default() };
    let mut up = c("old", "a", State::Running, Some(&h), 0);
    up.started_ms = Some(NOW - RESET_AFTER_MS);
    let a = one(&run(&[d], &[up, next("nx", State::Running, &h, NOW)])).clone();
    assert!(a.reset_backoff, "the old container's uptime counts");
    assert_eq!(a.stop, vec!["nx".to_string()], "the successor of the same spec is not needed");
}
