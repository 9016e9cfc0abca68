//! When a pass must list Docker, and what a listing may overwrite.

use super::*;

fn c(container: &str, bot: &str) -> Observed {
    Observed {
        container: container.into(),
        name: container.into(),
        bot_id: bot.into(),
        state: State::Running,
        hash: None,
        created_ms: 0,
        started_ms: Some(0),
        finished_ms: None,
        exit_code: None,
        oom: false,
        successor: false,
    }
}

#[test]
fn a_pass_lists_first_after_an_event_and_after_the_interval_and_not_otherwise() {
    const AGE: i64 = 30_000;
    let s = Snapshot::default();
    // (what happened before the pass, its time, whether it lists)
    let table: [(&str, i64, bool); 7] = [
        ("nothing yet: the first pass", 1_000, true),
        ("a store change", 1_100, false),
        ("another", 20_000, false),
        ("the interval since the last listing", 31_000, true),
        ("a store change", 31_001, false),
        ("mark_stale (a Docker event)", 31_002, true),
        ("a store change", 31_003, false),
    ];
    for (what, now, lists) in table {
        if what.starts_with("mark_stale") {
            s.mark_stale();
        }
        assert_eq!(s.needs_listing(now, AGE), lists, "{what} at {now}");
    }
}

#[test]
fn a_listing_keeps_what_actions_under_way_recorded() {
    let s = Snapshot::default();
    s.replace(group(vec![c("old-a", "a"), c("old-b", "b")]));
    // While the listing was taken, b's action was under way and recorded its new container.
    s.record("b", &["old-b".into()], Some(c("new-b", "b")));
    let listing = group(vec![c("old-a", "a"), c("old-b", "b"), c("x", "c")]);
    s.replace_except(listing, &HashSet::from(["b".to_string(), "d".to_string()]));
    let mut all: Vec<String> = s.all().into_iter().map(|o| o.container).collect();
    all.sort();
    assert_eq!(all, ["new-b", "old-a", "x"]);
    assert!(s.primary("d").is_none(), "a bot in flight with nothing recorded stays absent");
}

/// A bot's containers as (name, created, successor).
type Containers<'a> = &'a [(&'a str, i64, bool)];

#[test]
fn a_waiting_successor_is_never_the_primary() {
    // (containers of bot a, the primary's name)
    let table: [(Containers<'_>, Option<&str>); 3] = [
        (&[("old", 1, false), ("next", 5, true)], Some("old")),
        (&[("next", 5, true), ("old", 1, false)], Some("old")),
        (&[("next", 5, true)], Some("next")),
    ];
    for (cs, want) in table {
        let s = Snapshot::default();
        s.replace(group(
            cs.iter().map(|&(n, at, successor)| Observed { created_ms: at, successor, ..c(n, "a") }).collect(),
        ));
        assert_eq!(s.primary("a").map(|o| o.container).as_deref(), want, "{cs:?}");
    }
}
