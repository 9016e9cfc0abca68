use std::time::Duration;

use super::*;

/// Sample lines (not comments) of the rendered text.
fn samples(t: &str) -> Vec<&str> {
    t.lines().filter(|l| !l.starts_with('#')).collect()
}

fn per_bot(t: &str, id: &str) -> Vec<String> {
    let tag = format!("bot_id=\"{id}\"");
    let mut v: Vec<String> = samples(t).into_iter().filter(|l| l.contains(&tag)).map(String::from).collect();
    v.sort();
    v
}

#[test]
fn renders_every_kept_name() {
    let m = Metrics::new();
    m.restarts.inc();
    m.running.set(3);
    m.docker_calls.observe(1.5);
    let t = m.render();
    assert!(t.contains("# TYPE the0_bots_running gauge\n"), "{t}");
    assert!(t.contains("\nthe0_bots_running 3\n"), "{t}");
    assert!(t.contains("\nthe0_bot_restarts_total 1\n"), "{t}");
    assert!(t.contains("\nthe0_docker_call_duration_seconds_sum 1.5\n"), "{t}");
    assert!(t.contains("\nthe0_docker_call_duration_seconds_count 1\n"), "{t}");
    assert!(t.contains("\nthe0_docker_call_duration_seconds_bucket{le=\"2.5\"} 1\n"), "{t}");
    assert!(t.contains("\nthe0_docker_call_duration_seconds_bucket{le=\"1.0\"} 0\n"), "{t}");
    assert!(t.ends_with("# EOF\n"), "{t}");
    // Every name the text format had before prometheus-client, still there.
    for name in [
        "the0_bots_desired",
        "the0_bots_running",
        "the0_bots_backing_off",
        "the0_bots_failed",
        "the0_bot_restarts_total",
        "the0_container_starts_total",
        "the0_container_start_failures_total",
        "the0_container_stops_total",
        "the0_reconcile_bots_planned_total",
        "the0_docker_errors_total",
        "the0_ingest_applied_total",
        "the0_ingest_skipped_total",
        "the0_ingest_malformed_total",
        "the0_ingest_errors_total",
        "the0_runs_started_total",
        "the0_runs_succeeded_total",
        "the0_runs_failed_total",
        "the0_runs_timed_out_total",
        "the0_runs_skipped_total",
        "the0_runs_running",
        "the0_queries_proxied_total",
        "the0_queries_oneshot_total",
        "the0_queries_refused_total",
        "the0_queries_failed_total",
        "the0_queries_warm_total",
        "the0_query_warm_servers",
        "the0_reconcile_duration_seconds_count",
        "the0_reconcile_cpu_seconds_count",
        "the0_docker_call_duration_seconds_count",
        "the0_container_start_duration_seconds_count",
        "the0_event_to_running_seconds_count",
        "the0_run_duration_seconds_count",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(samples(&t).iter().any(|l| l.split([' ', '{']).next() == Some(name)), "{name} missing:\n{t}");
    }
    for line in samples(&t) {
        assert!(line.starts_with("the0_") || line.starts_with("process_"), "{line}");
        assert!(line.rsplit(' ').next().is_some_and(|v| v.parse::<f64>().is_ok()), "{line}");
    }
}

#[test]
fn query_latency_by_kind() {
    let m = Metrics::new();
    assert!(!m.render().contains("the0_query_duration_seconds_count"), "no series before a query");
    m.observe_query(QueryKind::Realtime, Duration::from_millis(3));
    m.observe_query(QueryKind::OneShot, Duration::from_secs(2));
    m.observe_query(QueryKind::OneShot, Duration::from_secs(4));
    let t = m.render();
    assert!(t.contains("the0_query_duration_seconds_count{kind=\"realtime\"} 1\n"), "{t}");
    assert!(t.contains("the0_query_duration_seconds_count{kind=\"oneshot\"} 2\n"), "{t}");
    assert!(t.contains("the0_query_duration_seconds_bucket{le=\"0.005\",kind=\"realtime\"} 1\n"), "{t}");
    assert!(t.contains("the0_query_duration_seconds_bucket{le=\"2.5\",kind=\"oneshot\"} 1\n"), "{t}");
}

fn sample<'a>(id: &'a str, state: &'static str, restarts: u32, exit: Option<i64>) -> BotSample<'a> {
    BotSample { id, state, restarts, last_exit_code: exit }
}

/// Each metric family appears once (one `# TYPE` line per name) with every kind of series present:
/// two families of one name (the per-bot restarts gauge was once `the0_bot_restarts`, the name of
/// the `the0_bot_restarts_total` counter's family) make the whole exposition invalid, and
/// `promtool check metrics` refuses it.
#[test]
fn every_family_name_is_unique() {
    let mut m = Metrics::new();
    m.register_leader().set(1);
    let g = m.register_controller();
    g.corrupt_desired.set(1);
    m.restarts.inc();
    m.bots.update(&[sample("a", "backing_off", 2, Some(1))]);
    let t = m.render();
    let mut names: Vec<&str> = t.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    let total = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), total, "a family name is declared twice: {t}");
    assert!(names.contains(&"the0_bot_restarts") && names.contains(&"the0_bot_recorded_restarts"), "{t}");
    assert!(names.contains(&"the0_controller_leader"), "{t}");
    for n in ["the0_controller_skipped_bots", "the0_controller_corrupt_desired", "the0_controller_kept_unknown"] {
        assert!(names.contains(&n), "{n}: {t}");
    }
    assert!(t.contains("the0_controller_corrupt_desired 1"), "{t}");
}

/// A bot's series follow its state, one per metric, and go when it goes.
#[test]
fn per_bot_series_lifecycle() {
    let m = Metrics::new();
    m.bots.update(&[sample("a", "pending", 0, None), sample("b", "running", 0, None)]);
    assert_eq!(
        per_bot(&m.render(), "a"),
        ["the0_bot_recorded_restarts{bot_id=\"a\"} 0", "the0_bot_state{bot_id=\"a\",state=\"pending\"} 1"]
    );

    // a crashes (exit 3) and backs off: the pending series is replaced, not kept beside it.
    m.bots.update(&[sample("a", "backing_off", 1, Some(3)), sample("b", "running", 0, None)]);
    assert_eq!(
        per_bot(&m.render(), "a"),
        [
            "the0_bot_last_exit_code{bot_id=\"a\"} 3",
            "the0_bot_recorded_restarts{bot_id=\"a\"} 1",
            "the0_bot_state{bot_id=\"a\",state=\"backing_off\"} 1",
        ]
    );
    m.bots.update(&[sample("a", "running", 1, Some(3)), sample("b", "disabled", 0, None)]);
    let t = m.render();
    assert!(per_bot(&t, "a").contains(&"the0_bot_state{bot_id=\"a\",state=\"running\"} 1".to_string()), "{t}");
    assert_eq!(
        per_bot(&t, "b"),
        ["the0_bot_recorded_restarts{bot_id=\"b\"} 0", "the0_bot_state{bot_id=\"b\",state=\"disabled\"} 1"]
    );
    assert_eq!(m.bots.series(), 5);

    // A start seen between passes moves the state at once; an unknown bot gets nothing.
    m.bots.set_state("b", "running");
    m.bots.set_state("zz", "running");
    let t = m.render();
    assert_eq!(
        per_bot(&t, "b"),
        ["the0_bot_recorded_restarts{bot_id=\"b\"} 0", "the0_bot_state{bot_id=\"b\",state=\"running\"} 1"]
    );
    assert!(per_bot(&t, "zz").is_empty(), "{t}");
    assert_eq!(m.bots.series(), 5);

    // a is removed from the store: nothing of it is left.
    m.bots.update(&[sample("b", "disabled", 0, None)]);
    assert!(per_bot(&m.render(), "a").is_empty());
    assert_eq!(m.bots.series(), 2);
    m.bots.update(&[]);
    assert_eq!(m.bots.series(), 0);
}

/// The number of series is bounded by the bots: 3 per bot at most, plus a fixed set. The figure
/// for 1,000 bots is in docs/metrics.md.
#[test]
fn series_at_n_bots() {
    let m = Metrics::new();
    m.observe_query(QueryKind::Realtime, Duration::from_millis(1));
    m.observe_query(QueryKind::OneShot, Duration::from_secs(1));
    let fixed = samples(&m.render()).len();
    let ids: Vec<String> = (0..1000).map(|i| format!("bot-{i:04}")).collect();
    let states = ["running", "pending", "backing_off", "failed", "disabled"];
    for round in 0..3 {
        let bots: Vec<BotSample<'_>> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| sample(id, states[(i + round) % states.len()], round as u32, Some(i as i64 % 2)))
            .collect();
        m.bots.update(&bots);
        let n = samples(&m.render()).len();
        assert_eq!(n, fixed + 3000, "round {round}");
    }
    assert_eq!(fixed, FIXED_SERIES, "update docs/metrics.md when the fixed set changes");
    println!("series at 1000 bots: {}", fixed + 3000);
}

/// Sample lines without any bot (both query kinds seen, on Linux): docs/metrics.md.
const FIXED_SERIES: usize = 149;
