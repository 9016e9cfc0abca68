//! Scheduled bots against the real Docker engine and a real SQLite store: a `*/2 * * * * *`
//! schedule runs every two seconds and records its runs; a run that overruns is never started
//! twice (the skipped due times are recorded and counted); the deadline stops a run; a bad or
//! never-firing schedule fails with a reason and never runs; a bot changing kind changes role.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const REPORT_BOT: &str = "#!/bin/sh\necho \"run $BOT_ID $IS_SCHEDULED $BOT_TYPE\"\n";
const SLOW_BOT: &str = "#!/bin/sh\necho slow-start\nsleep 5\necho slow-end\n";

async fn runs(o: &Orch, id: &str) -> Vec<Value> {
    let (s, v) = o.api("GET", &format!("/bots/{id}/runs"), None).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

fn ms(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    the0_orchestrator::docker::parse_rfc3339_ms(s).unwrap()
}

fn metric(m: &str, name: &str) -> u64 {
    m.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn with_outcome<'a>(runs: &'a [Value], outcome: &str) -> Vec<&'a Value> {
    runs.iter().filter(|r| r["outcome"] == outcome).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_two_seconds_runs_and_records_each_run() {
    let inst = unique("sc");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/s/1", REPORT_BOT);
    let v = o.put(bot_payload("s1", "u/s/1", json!({"schedule": "*/2 * * * * *"}))).await;
    assert_eq!(v["status"]["kind"], "scheduled", "{v}");
    let got = eventually_async(Duration::from_secs(30), || async {
        let r = runs(&o, "s1").await;
        (with_outcome(&r, "succeeded").len() >= 4).then_some(r)
    })
    .await
    .expect("four runs within 30 s");
    // Newest first; every due time is on an even second, and none is lost: consecutive ones are
    // two seconds apart (a run that overran would show as `skipped`, never as a gap).
    let dues: Vec<i64> = got.iter().map(|r| ms(&r["due_at"])).collect();
    assert!(dues.iter().all(|d| d % 2000 == 0), "{dues:?}");
    assert!(dues.windows(2).all(|w| w[0] - w[1] == 2000), "{dues:?}");
    for r in with_outcome(&got, "succeeded") {
        assert_eq!(r["exit_code"], 0);
        assert!(r["logs"].as_array().unwrap().iter().any(|l| l == "run s1 true scheduled"), "{r}");
        // Never before its due time; how soon after is `paused_scheduler.rs`'s, in paused time.
        let late = ms(&r["started_at"]) - ms(&r["due_at"]);
        assert!(late >= 0, "started {} ms before its due time: {r}", -late);
        assert!(ms(&r["ended_at"]) >= ms(&r["started_at"]));
    }
    let st = o.status("s1").await;
    assert!(ms(&st["next_due_at"]) > ms(&got[0]["due_at"]), "{st}");
    assert!(st["last_run"].is_object(), "{st}");
    let (_, m) = o.get_text("/metrics").await;
    assert!(metric(&m, "the0_runs_succeeded_total") >= 4, "{m}");
    // Finished runs leave no container behind, and no realtime container was made for it.
    o.api("DELETE", "/bots/s1", None).await;
    eventually(Duration::from_secs(10), || containers(&inst, None).is_empty().then_some(()))
        .expect("no containers left");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overrunning_run_is_never_started_twice_and_skips_are_counted() {
    let inst = unique("so");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/s/2", SLOW_BOT);
    o.put(bot_payload("s2", "u/s/2", json!({"schedule": "*/2 * * * * *"}))).await;
    // Watch for 9 s: never more than one container of the bot at once.
    let mut most = 0;
    for _ in 0..90 {
        most = most.max(containers(&inst, None).len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(most, 1, "one run at a time");
    let r = runs(&o, "s2").await;
    let skipped = with_outcome(&r, "skipped");
    assert!(!skipped.is_empty(), "{r:?}");
    assert_eq!(skipped[0]["reason"], "the previous run was still going");
    let (_, m) = o.get_text("/metrics").await;
    assert!(metric(&m, "the0_runs_skipped_total") >= skipped.len() as u64, "{m}");
    o.wait_state("s2", "running", Duration::from_secs(5)).await;
    eventually_async(Duration::from_secs(5), || async {
        (metric(&o.get_text("/metrics").await.1, "the0_runs_running") == 1).then_some(())
    })
    .await
    .expect("one run going");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_stops_a_run_and_counts_it_failed() {
    let inst = unique("sd");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &["--execution-timeout", "2s"], &[]).await;
    o.put_code("u/s/3", LOOP_BOT);
    o.put(bot_payload("s3", "u/s/3", json!({"schedule": "*/2 * * * * *"}))).await;
    let r = eventually_async(Duration::from_secs(30), || async {
        let r = runs(&o, "s3").await;
        (!with_outcome(&r, "timed_out").is_empty()).then_some(r)
    })
    .await
    .expect("a run timed out");
    let t = with_outcome(&r, "timed_out")[0].clone();
    assert!(t["reason"].as_str().unwrap().contains("execution timeout of 2s"), "{t}");
    assert!(t["logs"].as_array().unwrap().iter().any(|l| l == "hello from s3"), "{t}");
    let took = ms(&t["ended_at"]) - ms(&t["started_at"]);
    assert!((2000..10_000).contains(&took), "stopped after {took} ms");
    let (_, m) = o.get_text("/metrics").await;
    assert!(metric(&m, "the0_runs_timed_out_total") >= 1 && metric(&m, "the0_runs_failed_total") >= 1, "{m}");
    o.api("DELETE", "/bots/s3", None).await;
    eventually(Duration::from_secs(15), || containers(&inst, None).is_empty().then_some(()))
        .expect("the stopped runs are removed");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_or_never_firing_schedule_fails_with_a_reason_and_never_runs() {
    let inst = unique("sb");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &["--check-interval", "200ms"], &[]).await;
    o.put_code("u/s/4", REPORT_BOT);
    o.put(bot_payload("bad", "u/s/4", json!({"schedule": "61 * * * * *"}))).await;
    o.put(bot_payload("never", "u/s/4", json!({"schedule": "TZ=UTC 0 0 30 2 *"}))).await;
    let st = o.wait_state("bad", "failed", Duration::from_secs(5)).await;
    assert!(st["failure_reason"].as_str().unwrap().contains("second field \"61\": 61 is outside 0-59"), "{st}");
    let st = o.wait_state("never", "failed", Duration::from_secs(10)).await;
    assert!(st["failure_reason"].as_str().unwrap().contains("never fires"), "{st}");
    // That they never run over time is `paused_scheduler.rs`'s, in paused time.
    assert!(runs(&o, "bad").await.is_empty() && runs(&o, "never").await.is_empty());
    assert!(containers(&inst, None).is_empty());
    // Fixing the schedule makes it run.
    o.put(bot_payload("bad", "u/s/4", json!({"schedule": "* * * * * *"}))).await;
    eventually_async(Duration::from_secs(15), || async {
        (!with_outcome(&runs(&o, "bad").await, "succeeded").is_empty()).then_some(())
    })
    .await
    .expect("runs once fixed");
    assert_eq!(o.api("GET", "/bots/nobody/runs", None).await.0, 404);
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_that_changes_kind_changes_role() {
    let inst = unique("sk");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/s/5", LOOP_BOT);
    o.put(bot_payload("k1", "u/s/5", json!({}))).await;
    o.wait_state("k1", "running", Duration::from_secs(10)).await;
    let realtime = running_container(&inst, "k1");
    // Now scheduled (daily): the realtime container goes, nothing runs yet.
    o.put(bot_payload("k1", "u/s/5", json!({"schedule": "@daily"}))).await;
    eventually(Duration::from_secs(15), || containers(&inst, None).is_empty().then_some(()))
        .expect("the realtime container is stopped");
    assert_eq!(o.wait_state("k1", "scheduled", Duration::from_secs(5)).await["schedule"], "@daily");
    // And realtime again.
    o.put(bot_payload("k1", "u/s/5", json!({}))).await;
    o.wait_state("k1", "running", Duration::from_secs(10)).await;
    assert_ne!(running_container(&inst, "k1"), realtime);
    o.stop().await;
}
