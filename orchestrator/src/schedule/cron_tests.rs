//! The dialect and the four daylight-saving cases, as tables. Instants are written in UTC with
//! the local wall time beside them.

use super::*;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The next `n` fires after `from`.
fn fires(expr: &str, from: &str, n: usize) -> Vec<String> {
    let mut at = t(from);
    let mut out = Vec::new();
    for _ in 0..n {
        at = next_after(expr, at).unwrap().unwrap_or_else(|| panic!("{expr} never fires after {at}"));
        out.push(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    out
}

#[test]
fn fields_names_steps_and_descriptors() {
    for (expr, from, want) in [
        // 6 fields: seconds first.
        ("*/2 * * * * *", "2026-01-01T00:00:00Z", vec!["2026-01-01T00:00:02Z", "2026-01-01T00:00:04Z"]),
        ("TZ=UTC 30 */15 * * * *", "2026-01-01T00:00:00Z", vec!["2026-01-01T00:00:30Z", "2026-01-01T00:15:30Z"]),
        // 5 fields: minute first, second 0.
        ("TZ=UTC */15 * * * *", "2026-01-01T00:00:00Z", vec!["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z"]),
        ("CRON_TZ=UTC 0 9 * * mon-fri", "2026-01-02T10:00:00Z", vec!["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"]),
        ("TZ=UTC 0 0 1 jan,JUL ?", "2026-01-02T00:00:00Z", vec!["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"]),
        // `N/step` = `N-max/step`; ranges with steps; lists.
        ("TZ=UTC 50/5 * * * *", "2026-01-01T00:00:00Z", vec!["2026-01-01T00:50:00Z", "2026-01-01T00:55:00Z"]),
        ("TZ=UTC 0 1-10/4,23 * * *", "2026-01-01T00:00:00Z", vec!["2026-01-01T01:00:00Z", "2026-01-01T05:00:00Z"]),
        // Day-of-month OR day-of-week when both are restricted (1st of the month, or any Sunday).
        ("TZ=UTC 0 0 1 * 0", "2026-02-01T12:00:00Z", vec!["2026-02-08T00:00:00Z", "2026-02-15T00:00:00Z"]),
        ("TZ=UTC 0 0 1 * 0", "2026-02-27T00:00:00Z", vec!["2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"]),
        // One of them `*`/`?`: AND (i.e. only the other counts).
        ("TZ=UTC 0 0 * * 0", "2026-02-27T00:00:00Z", vec!["2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"]),
        ("TZ=UTC 0 0 13 * ?", "2026-02-27T00:00:00Z", vec!["2026-03-13T00:00:00Z", "2026-04-13T00:00:00Z"]),
        // A stepped `*` is not a star: the OR rule applies (day 1,3,5,… or Sunday).
        ("TZ=UTC 0 0 */2 * 0", "2026-02-01T12:00:00Z", vec!["2026-02-03T00:00:00Z", "2026-02-05T00:00:00Z"]),
        ("TZ=UTC @hourly", "2026-01-01T00:10:00Z", vec!["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]),
        ("TZ=UTC @daily", "2026-01-01T00:10:00Z", vec!["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
        ("TZ=UTC @midnight", "2026-01-01T00:10:00Z", vec!["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
        ("TZ=UTC @weekly", "2026-01-01T00:10:00Z", vec!["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
        ("TZ=UTC @monthly", "2026-01-01T00:10:00Z", vec!["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]),
        ("TZ=UTC @yearly", "2026-01-01T00:10:00Z", vec!["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
        ("TZ=UTC @annually", "2026-01-01T00:10:00Z", vec!["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
        // `@every`: from the given time, truncated to the second; below 1 s counts as 1 s.
        ("@every 1h30m", "2026-01-01T00:00:00.700Z", vec!["2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"]),
        ("@every 1500ms", "2026-01-01T00:00:00Z", vec!["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]),
        ("@every 10ms", "2026-01-01T00:00:00Z", vec!["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]),
        ("TZ=Europe/Berlin 0 0 9 * * *", "2026-01-01T00:00:00Z", vec!["2026-01-01T08:00:00Z", "2026-01-02T08:00:00Z"]),
    ] {
        assert_eq!(fires(expr, from, 2), want, "{expr}");
    }
}

#[test]
fn invalid_schedules_name_what_is_wrong() {
    for (expr, reason) in [
        ("", "empty"),
        ("   ", "empty"),
        ("60 * * * *", "minute field \"60\": 60 is outside 0-59"),
        ("* * * * * * *", "got 7"),
        ("* * * *", "got 4"),
        ("0 0 24 * * *", "hour field"),
        ("0 0 0 0 * *", "day-of-month field \"0\": 0 is outside 1-31"),
        ("0 0 * * 7", "day-of-week field \"7\": 7 is outside 0-6"),
        ("0 0 * 13 *", "month field"),
        ("*/0 * * * *", "positive"),
        ("5-1 * * * *", "backwards"),
        ("0 0 L * *", "day-of-month field \"L\""),
        ("0 0 * * 5#2", "day-of-week field"),
        ("0 0 15W * *", "day-of-month field"),
        ("0 0 * * funday", "\"funday\" is not a number or a name"),
        ("@reboot", "unknown descriptor @reboot"),
        ("@every", "unknown descriptor"),
        ("@every soon", "invalid duration"),
        ("TZ=Mars/Olympus 0 * * * *", "unknown time zone \"Mars/Olympus\""),
        ("TZ=UTC", "nothing follows"),
    ] {
        let e = parse(expr).unwrap_err();
        assert!(e.to_string().contains(reason), "{expr:?}: {e}");
        assert!(e.to_string().starts_with("invalid schedule"), "{e}");
    }
}

#[test]
fn a_schedule_that_never_fires_is_none_not_an_error() {
    for expr in ["TZ=UTC 0 0 30 2 *", "TZ=UTC 0 0 31 4 *", "TZ=UTC 0 0 31 2,4,6,9,11 ?"] {
        assert_eq!(next_after(expr, t("2026-01-01T00:00:00Z")).unwrap(), None, "{expr}");
    }
    // Feb 29 fires, years apart, within the horizon.
    assert_eq!(fires("TZ=UTC 0 0 29 2 *", "2026-01-01T00:00:00Z", 1), vec!["2028-02-29T00:00:00Z"]);
}

#[test]
fn spring_forward_gap_runs_once_right_after_the_gap() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist that day.
    assert_eq!(
        fires("TZ=America/New_York 30 2 * * *", "2026-03-07T12:00:00Z", 3),
        vec![
            "2026-03-08T07:00:00Z", // 03:00 EDT, the first instant after the gap
            "2026-03-09T06:30:00Z", // 02:30 EDT
            "2026-03-10T06:30:00Z",
        ]
    );
}

#[test]
fn fall_back_repeat_runs_a_fixed_time_once() {
    // New York, 2026-11-01: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice.
    assert_eq!(
        fires("TZ=America/New_York 30 1 * * *", "2026-10-31T12:00:00Z", 3),
        vec![
            "2026-11-01T05:30:00Z", // 01:30 EDT; not again at 01:30 EST (06:30Z)
            "2026-11-02T06:30:00Z", // 01:30 EST
            "2026-11-03T06:30:00Z",
        ]
    );
}

#[test]
fn interval_fires_stay_in_order_across_the_repeated_hour() {
    // Every 20 minutes through the repeated hour: both passes run, in time order, 20 min apart.
    let got = fires("TZ=America/New_York */20 * * * *", "2026-11-01T04:50:00Z", 8);
    assert_eq!(
        got,
        vec![
            "2026-11-01T05:00:00Z", // 01:00 EDT
            "2026-11-01T05:20:00Z",
            "2026-11-01T05:40:00Z",
            "2026-11-01T06:00:00Z", // 01:00 EST
            "2026-11-01T06:20:00Z",
            "2026-11-01T06:40:00Z",
            "2026-11-01T07:00:00Z", // 02:00 EST
            "2026-11-01T07:20:00Z",
        ]
    );
}

#[test]
fn hourly_across_the_gap_is_one_hour_apart_in_real_time() {
    assert_eq!(
        fires("TZ=America/New_York 0 * * * *", "2026-03-08T05:30:00Z", 3),
        vec![
            "2026-03-08T06:00:00Z", // 01:00 EST
            "2026-03-08T07:00:00Z", // 03:00 EDT (02:00 does not exist)
            "2026-03-08T08:00:00Z", // 04:00 EDT
        ]
    );
}

#[test]
fn first_after_skips_missed_fires_and_keeps_an_every_phase() {
    let ms = |s: &str| t(s).timestamp_millis();
    let every = parse("@every 10s").unwrap();
    // Due at :00, dispatched at :35 → next :40 (not :10, :20, :30: no burst).
    assert_eq!(
        every.first_after(ms("2026-01-01T00:00:00Z"), ms("2026-01-01T00:00:35Z")),
        Some(ms("2026-01-01T00:00:40Z"))
    );
    assert_eq!(
        every.first_after(ms("2026-01-01T00:00:00Z"), ms("2026-01-01T00:00:00Z")),
        Some(ms("2026-01-01T00:00:10Z"))
    );
    let cron = parse("TZ=UTC */15 * * * *").unwrap();
    assert_eq!(
        cron.first_after(ms("2026-01-01T00:00:00Z"), ms("2026-01-01T02:07:00Z")),
        Some(ms("2026-01-01T02:15:00Z"))
    );
    assert_eq!(
        cron.first_after(ms("2026-01-01T00:00:00Z"), ms("2026-01-01T00:00:00.500Z")),
        Some(ms("2026-01-01T00:15:00Z"))
    );
}
