use super::*;

fn want(id: &str, hash: &str) -> Want {
    Want { id: id.into(), hash: hash.into() }
}

fn pod(name: &str, id: &str, hash: Option<&str>, phase: &str) -> Seen {
    Seen {
        name: name.into(),
        labels: BTreeMap::from([(labels::BOT_ID.into(), id.into())]),
        annotations: hash.map(|h| BTreeMap::from([(labels::CONFIG_HASH.into(), h.into())])).unwrap_or_default(),
        phase: Some(phase.into()),
        terminating: false,
    }
}

fn terminating(mut s: Seen) -> Seen {
    s.terminating = true;
    s
}

fn cronjob(name: &str, id: &str, hash: &str) -> Seen {
    Seen {
        name: name.into(),
        labels: BTreeMap::from([(labels::SCHEDULE_ID.into(), id.into())]),
        annotations: BTreeMap::from([(labels::SCHEDULE_HASH.into(), hash.into())]),
        phase: None,
        terminating: false,
    }
}

fn create(id: &str) -> Action {
    Action::Create { id: id.into() }
}

fn replace(id: &str, name: &str, why: Why) -> Action {
    Action::Replace { id: id.into(), name: name.into(), why }
}

fn changed(had: &str, want: &str) -> Why {
    Why::HashChanged { had: had.into(), want: want.into() }
}

/// (case, desired, seen, expected actions, expected held-back deletions).
type Case = (&'static str, Vec<Want>, Vec<Seen>, Vec<Action>, usize);

fn check(kind: Kind, cases: Vec<Case>) {
    for (case, desired, seen, want_actions, held) in cases {
        let got = plan(kind, &desired, &seen);
        assert_eq!(got.actions, want_actions, "{case}");
        assert_eq!(got.held_back, held, "{case}");
    }
}

#[test]
fn pods_are_planned_by_the_rules() {
    let cases: Vec<Case> = vec![
        ("missing → create", vec![want("a", "h1")], vec![], vec![create("a")], 0),
        ("same hash → nothing", vec![want("a", "h1")], vec![pod("bot-a", "a", Some("h1"), "Running")], vec![], 0),
        (
            "pending pod with same hash → nothing",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", Some("h1"), "Pending")],
            vec![],
            0,
        ),
        (
            "hash changed → replace",
            vec![want("a", "h2")],
            vec![pod("bot-a", "a", Some("h1"), "Running")],
            vec![replace("a", "bot-a", changed("h1", "h2"))],
            0,
        ),
        (
            "the original's err- hash → replace",
            vec![want("a", "h2")],
            vec![pod("bot-a", "a", Some("err-a"), "Running")],
            vec![replace("a", "bot-a", changed("err-a", "h2"))],
            0,
        ),
        (
            "succeeded → replace",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", Some("h1"), "Succeeded")],
            vec![replace("a", "bot-a", Why::Phase("Succeeded".into()))],
            0,
        ),
        (
            "failed → replace",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", Some("h1"), "Failed")],
            vec![replace("a", "bot-a", Why::Phase("Failed".into()))],
            0,
        ),
        (
            "unknown → replace",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", Some("h1"), "Unknown")],
            vec![replace("a", "bot-a", Why::Phase("Unknown".into()))],
            0,
        ),
        (
            "no annotation → adopted as it is (D24)",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", None, "Running")],
            vec![],
            0,
        ),
        (
            "the original's pod, same hash, adopted",
            vec![want("0b6e8f2a", "34500216e9cfc8d3")],
            vec![pod("bot-0b6e8f2a", "0b6e8f2a", Some("34500216e9cfc8d3"), "Running")],
            vec![],
            0,
        ),
        (
            "undesired → delete",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", Some("h1"), "Running"), pod("bot-b", "b", Some("h9"), "Running")],
            vec![Action::Delete { name: "bot-b".into(), why: Why::NotDesired }],
            0,
        ),
        (
            "empty store → delete nothing (D33)",
            vec![],
            vec![pod("bot-a", "a", Some("h1"), "Running"), pod("bot-b", "b", Some("h9"), "Running")],
            vec![],
            2,
        ),
        (
            "terminating old pod → wait, not create",
            vec![want("a", "h2")],
            vec![terminating(pod("bot-a", "a", Some("h1"), "Running"))],
            vec![Action::Wait { id: "a".into(), name: "bot-a".into() }],
            0,
        ),
        (
            "terminating undesired pod → nothing more",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", Some("h1"), "Running"), terminating(pod("bot-b", "b", Some("h1"), "Running"))],
            vec![],
            0,
        ),
        (
            "two live pods of one bot → the first by name kept, the other deleted",
            vec![want("a", "h1")],
            vec![pod("bot-a-x", "a", Some("h1"), "Running"), pod("bot-a", "a", Some("h1"), "Running")],
            vec![Action::Delete { name: "bot-a-x".into(), why: Why::Duplicate }],
            0,
        ),
        (
            "pods without the key label are not ours",
            vec![want("a", "h1")],
            vec![pod("bot-a", "a", Some("h1"), "Running"), Seen { name: "other".into(), ..Seen::default() }],
            vec![],
            0,
        ),
        (
            "several bots at once",
            vec![want("a", "h1"), want("b", "h2"), want("c", "h3")],
            vec![pod("bot-b", "b", Some("h1"), "Running"), pod("bot-c", "c", Some("h3"), "Failed")],
            vec![
                create("a"),
                replace("b", "bot-b", changed("h1", "h2")),
                replace("c", "bot-c", Why::Phase("Failed".into())),
            ],
            0,
        ),
    ];
    check(Kind::Pod, cases);
}

#[test]
fn cronjobs_are_planned_by_their_own_label_and_annotation() {
    let cases: Vec<Case> = vec![
        ("missing → create", vec![want("s", "h1")], vec![], vec![create("s")], 0),
        ("same hash → nothing", vec![want("s", "h1")], vec![cronjob("schedule-s", "s", "h1")], vec![], 0),
        (
            "hash changed → replace (update in place)",
            vec![want("s", "h2")],
            vec![cronjob("schedule-s", "s", "h1")],
            vec![replace("s", "schedule-s", changed("h1", "h2"))],
            0,
        ),
        (
            "undesired → delete",
            vec![want("s", "h1")],
            vec![cronjob("schedule-s", "s", "h1"), cronjob("schedule-t", "t", "h1")],
            vec![Action::Delete { name: "schedule-t".into(), why: Why::NotDesired }],
            0,
        ),
        ("empty store → delete nothing (D33)", vec![], vec![cronjob("schedule-s", "s", "h1")], vec![], 1),
        (
            "a pod label is not a schedule",
            vec![want("s", "h1")],
            vec![pod("bot-s", "s", Some("h1"), "Running")],
            vec![create("s")],
            0,
        ),
    ];
    check(Kind::CronJob, cases);
}

#[test]
fn the_guard_can_come_from_the_whole_desired_state() {
    let seen = vec![pod("bot-a", "a", Some("h1"), "Running")];
    let none = BTreeSet::new();
    let got = plan_guarded(Kind::Pod, &[], &seen, Guard { hold_deletes: false, unknown: &none });
    assert_eq!(got.actions, vec![Action::Delete { name: "bot-a".into(), why: Why::NotDesired }], "other records exist");
    assert_eq!(got.held_back, 0);
    let got = plan_guarded(Kind::Pod, &[], &seen, Guard { hold_deletes: true, unknown: &none });
    assert_eq!((got.actions.len(), got.held_back), (0, 1), "the store is empty");
}

/// A bot whose ConfigMap is unreadable: whatever its objects look like (stale hash, Failed,
/// undesired), they get no action; every other bot is planned as usual.
#[test]
fn objects_of_a_bot_with_unknown_desired_state_are_left_alone() {
    let unknown = BTreeSet::from(["u".to_string()]);
    // The last field: objects kept for unknown desired state.
    let cases: Vec<Case> = vec![
        ("undesired", vec![want("a", "h1")], vec![pod("bot-u", "u", Some("h1"), "Running")], vec![create("a")], 1),
        ("failed", vec![], vec![pod("bot-u", "u", Some("h1"), "Failed")], vec![], 1),
        ("terminating is not counted", vec![], vec![terminating(pod("bot-u", "u", Some("h1"), "Running"))], vec![], 0),
        (
            "also wanted (a label naming a live bot): not replaced",
            vec![want("u", "h2")],
            vec![pod("bot-u", "u", Some("h1"), "Failed")],
            vec![],
            0,
        ),
        (
            "others still deleted",
            vec![want("a", "h1")],
            vec![
                pod("bot-a", "a", Some("h1"), "Running"),
                pod("bot-u", "u", None, "Running"),
                pod("bot-x", "x", None, "Running"),
            ],
            vec![Action::Delete { name: "bot-x".into(), why: Why::NotDesired }],
            1,
        ),
    ];
    for (case, desired, seen, actions, kept) in cases {
        let got = plan_guarded(Kind::Pod, &desired, &seen, Guard { hold_deletes: false, unknown: &unknown });
        assert_eq!(got.actions, actions, "{case}");
        assert_eq!((got.kept_unknown, got.held_back), (kept, 0), "{case}");
    }
}
