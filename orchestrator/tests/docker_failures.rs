//! Bad input and crash loops against the real Docker engine: each bad bot is marked failed with a
//! readable reason, is not retried in a tight loop, and leaves every other bot running; a bot that
//! exits at once is restarted after a backoff, visible in the API and the metrics. The backoff's
//! schedule itself (10 s doubling, reset, failed starts) is `paused_reconcile.rs`'s, in paused
//! time: here nothing is timed.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn bad_bots_fail_with_a_reason_and_do_not_affect_others() {
    let inst = unique("bad");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/ok/1", LOOP_BOT);
    o.put(bot_payload("good", "u/ok/1", json!({}))).await;
    let mut unknown = bot_payload("rt", "u/ok/1", json!({}));
    unknown["custom"]["config"]["runtime"] = json!("cobol");
    let mut noentry = bot_payload("ne", "u/ok/1", json!({}));
    noentry["custom"]["config"]["entrypoints"] = json!({});
    let nocode = bot_payload("nc", "u/missing/1", json!({}));
    let mut wrongtype = bot_payload("wt", "u/ok/1", json!({}));
    wrongtype["config"] = json!("not an object");
    let mut wrongnested = bot_payload("wn", "u/ok/1", json!({}));
    wrongnested["custom"]["filePath"] = json!(42);
    for p in [unknown, noentry, nocode, wrongtype, wrongnested] {
        o.put(p).await;
    }
    // An unsafe id can only come through an event; through the API the path must be a plain name.
    let (s, v) = o.api("PUT", "/bots/bad%20id", Some(bot_payload("bad id", "u/ok/1", json!({})))).await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("not a safe name"), "the error names what is wrong: {v}");
    o.wait_state("good", "running", Duration::from_secs(10)).await;
    for (id, reason) in [
        ("rt", "unknown runtime \"cobol\""),
        ("ne", "missing entrypoint"),
        ("nc", "code object custom-bots/u/missing/1 does not exist"),
        ("wt", "field `config` must be an object, got a string"),
        ("wn", "field `custom.filePath` must be a string, got a number"),
    ] {
        let st = o.wait_state(id, "failed", Duration::from_secs(10)).await;
        let got = st["failure_reason"].as_str().unwrap_or_default().to_string();
        assert!(got.contains(reason), "{id}: {got}");
        assert!(running_container(&inst, id).is_empty(), "{id} must not run");
    }
    // No tight loop: the missing-code bot's failed start backs off (the delays themselves are
    // `paused_reconcile.rs`'s, in paused time).
    let st = o.status("nc").await;
    assert!(st["backoff_until"].is_string(), "retried later, not at once: {st}");
    // The aggregate gauges follow at the next full pass, within a second of the last change.
    let failed_gauge = eventually_async(Duration::from_secs(5), || async {
        let (_, m) = o.get_text("/metrics").await;
        m.contains("the0_bots_failed 4").then_some(())
    })
    .await;
    let (_, m) = o.get_text("/metrics").await;
    assert!(failed_gauge.is_some(), "{m}");
    assert_eq!(running_container(&inst, "good").len(), 1, "the good bot is unaffected");
    // Fixing the spec clears the failure.
    o.put_code("u/missing/1", LOOP_BOT);
    o.wait_state("nc", "running", Duration::from_secs(15)).await;
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_image_is_a_readable_failure_and_health_stays_up() {
    let inst = unique("img");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &["--runtime-image", "the0-test/does-not-exist:nope"], &[]).await;
    o.put_code("u/ok/1", LOOP_BOT);
    o.put(bot_payload("ni", "u/ok/1", json!({}))).await;
    let st = o.wait_state("ni", "failed", Duration::from_secs(60)).await;
    let reason = st["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the0-test/does-not-exist:nope"), "{reason}");
    assert!(st["backoff_until"].is_string(), "retried later, not at once: {st}");
    assert_eq!(o.get_text("/healthz").await, (200, "ok".to_string()));
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_that_exits_at_once_is_restarted_after_a_backoff() {
    let inst = unique("crash");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/c/1", "#!/bin/sh\necho crashing\nexit 3\n");
    o.put(bot_payload("cr", "u/c/1", json!({}))).await;
    // Base 1 s: the first exit is counted and backs off, the restarted container exits again.
    let mut seen = Vec::new();
    let mut last = 0;
    let (polls, every) = (800, Duration::from_millis(50));
    for _ in 0..polls {
        let st = o.status("cr").await;
        let r = st["restarts"].as_u64().unwrap_or(0);
        if r > last {
            last = r;
            seen.push(st.clone());
        }
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(every).await;
    }
    assert_eq!(seen.len(), 2, "two exits counted within {polls} polls: {seen:?}");
    let st = &seen[1];
    assert_eq!(st["last_exit_code"], 3);
    assert_eq!(st["failure_reason"], "bot exited with code 3");
    assert_eq!(st["consecutive_failures"], 2);
    assert_eq!(st["state"], "backing-off", "{st}");
    assert!(st["backoff_until"].is_string(), "retried later, not at once: {st}");
    let (_, m) = o.get_text("/metrics").await;
    assert!(m.lines().any(|l| l.starts_with("the0_bot_restarts_total ") && !l.ends_with(" 0")), "{m}");
    assert!(containers(&inst, Some("exited")).len() <= 1, "exited containers are removed");
    o.stop().await;
}
