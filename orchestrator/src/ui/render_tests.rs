use super::super::model::{Bar, Kind};
use super::*;

const EVIL: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

fn row(id: &str, state: &str) -> Row {
    Row {
        id: id.into(),
        kind: Kind::Realtime,
        state: state.into(),
        restarts: Some(2),
        last_exit_code: Some(1),
        last_exit_ms: Some(40_000),
        reason: Some("bot exited with code 1".into()),
        up_since_ms: Some(30_000),
        next_run_ms: None,
        schedule: None,
        spark: Spark::default(),
    }
}

fn detail(r: Row, logs: Result<Vec<String>, String>) -> Detail {
    Detail { row: r, enabled: true, runtime: None, image: None, container: None, runs: vec![], logs }
}

/// No tag or attribute of the hostile text survives: every `<` in the page is ours.
fn assert_inert(page: &str) {
    for bad in ["<script", "<img", "onerror=alert(2)>", "'&\"", "alert(1)</"] {
        assert!(!page.contains(bad), "{bad:?} in the page:\n{page}");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;"));
}

#[test]
fn hostile_ids_reasons_and_log_lines_are_text() {
    let mut r = row(EVIL, EVIL);
    r.reason = Some(EVIL.into());
    let page = overview(std::slice::from_ref(&r), 60_000);
    assert_inert(&page);
    // The link carries the id percent-encoded: one path segment, no quote to break out of.
    assert!(page.contains("<a href=\"/ui/bots/%3Cscript%3Ealert%281%29%3C%2Fscript%3E%3Cimg%20src"), "{page}");
    let page = bot(&detail(r.clone(), Ok(vec![EVIL.into(), format!("{EVIL}\u{1b}[31m")])), 60_000);
    assert_inert(&page);
    assert!(!page.contains('\u{1b}'), "control characters are replaced");
    assert_inert(&bot(&detail(r, Err(EVIL.into())), 60_000));
    assert_inert(&message(EVIL, EVIL));
}

#[test]
fn the_overview_lists_every_bot_with_its_state() {
    let rows = [row("alpha", "running"), row("beta", "backing-off"), row("gamma", "running")];
    let page = overview(&rows, 60_000);
    for (id, state) in [("alpha", "running"), ("beta", "backing-off")] {
        assert!(page.contains(&format!("<a href=\"/ui/bots/{id}\">{id}</a>")), "{id}");
        assert!(page.contains(&format!(">{state}</span>")), "{state}");
    }
    assert!(page.contains("<span class=\"st good\">2 running</span>"), "{page}");
    assert!(page.contains("<span class=\"st warn\">1 backing-off</span>"), "{page}");
    assert!(page.contains("3 bots"));
    assert!(page.contains("<td>30s</td>"), "uptime: {page}");
    assert!(page.contains("code 1, 20s ago"), "last exit: {page}");
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
    assert!(page.starts_with("<!doctype html>"));
    assert!(!page.contains("<script"), "no JavaScript at all");
    assert!(overview(&[], 0).contains("No bots yet"));
}

#[test]
fn a_bot_page_shows_its_facts_runs_and_logs() {
    let mut r = row("sched", "scheduled");
    r.kind = Kind::Scheduled;
    r.restarts = None;
    r.next_run_ms = Some(90_000);
    r.schedule = Some("* * * * *".into());
    let mut d = detail(r, Ok(vec!["line one".into(), "line two".into()]));
    d.runs = vec![super::super::model::RunLine {
        due_ms: 0,
        started_ms: Some(1000),
        ended_ms: Some(4000),
        outcome: "failed",
        tone: Tone::Bad,
        exit_code: Some(3),
        reason: Some("bot exited with code 3".into()),
    }];
    let page = bot(&d, 60_000);
    for want in [
        "<dt>schedule</dt><dd>* * * * *</dd>",
        "<dt>next run</dt><dd>1970-01-01 00:01:30 UTC (in 30s)</dd>",
        "<h2>recent runs</h2>",
        "<span class=\"st bad\">failed</span>",
        "<td>3.0s</td>",
        "<pre>line one\nline two\n</pre>",
        "<a href=\"/ui\">",
    ] {
        assert!(page.contains(want), "{want:?} not in\n{page}");
    }
    assert!(!page.contains("<dt>restarts</dt>"), "a scheduled bot has no restarts");
    assert!(bot(&detail(row("a", "running"), Ok(vec![])), 0).contains("no output yet"));
    assert!(bot(&detail(row("a", "running"), Err("timed out".into())), 0).contains("cannot be read: timed out"));
}

#[test]
fn sparkline_geometry() {
    let bar = |v: f64, tone| Bar { value: v, tone, title: format!("{v}") };
    let s = Spark { label: "runs".into(), bars: vec![bar(0.0, Tone::Good), bar(2.0, Tone::Bad), bar(4.0, Tone::Busy)] };
    let mut h = Html::new();
    sparkline(&mut h, &s, 4, 24);
    let svg = h.finish();
    assert!(svg.starts_with("<svg class=\"spark\""), "{svg}");
    assert!(svg.contains("width=\"15\" height=\"24\" aria-label=\"runs\""), "{svg}");
    assert!(svg.contains("<rect class=\"good\" x=\"0\" y=\"23\" width=\"4\" height=\"1\">"), "a zero is a tick: {svg}");
    assert!(svg.contains("<rect class=\"bad\" x=\"5\" y=\"12\" width=\"4\" height=\"12\">"), "{svg}");
    assert!(svg.contains("<rect class=\"busy\" x=\"10\" y=\"0\" width=\"4\" height=\"24\">"), "{svg}");
    let mut h = Html::new();
    sparkline(&mut h, &Spark::default(), 4, 24);
    assert!(!h.finish().contains("<svg"));
    // All zero: ticks, no division by zero.
    let mut h = Html::new();
    sparkline(&mut h, &Spark { label: String::new(), bars: vec![bar(0.0, Tone::Idle)] }, 4, 24);
    assert!(h.finish().contains("height=\"1\""));
}

#[test]
fn times() {
    for (ms, want) in [
        (0, "0.0s"),
        (-5, "0.0s"),
        (640, "0.6s"),
        (9_960, "10.0s"),
        (10_000, "10s"),
        (42_000, "42s"),
        (185_000, "3m 5s"),
        (7_800_000, "2h 10m"),
        (90_000_000, "1d 1h"),
    ] {
        assert_eq!(duration(ms), want, "{ms}");
    }
    assert_eq!(relative(10_000, 4_000), "in 6.0s");
    assert_eq!(relative(40_000, 10_000), "in 30s");
    assert_eq!(relative(4_000, 20_000), "16s ago");
    assert_eq!(clock(1_738_324_800_000), "2025-01-31 12:00:00 UTC");
}
