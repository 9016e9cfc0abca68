//! `orchestrator run` through the built binary against `serve` (local storage, real Docker): an
//! on-demand run of a live bot's code beside its own container, with a config override, that sees
//! the stored state and uploads nothing; a failing run and a run past its deadline as exit 1 with
//! their outcome; the runs in `runs ID`; and bad input as one line and exit 1.

mod common;

use std::time::Duration;

use common::cli::{fixture_copy, json_of, text, Env};
use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn run_starts_the_code_once_beside_the_bot_and_never_uploads_its_state() {
    let env = Env::new("run");
    let _guard = Cleanup(env.instance.clone());
    let bot = fixture_copy("once");
    let serve = env.serve().await;
    let out = env.run(&["deploy", bot.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    // The live bot stores `count` = 1.
    eventually(Duration::from_secs(30), || {
        let out = env.run(&["state", "once", "get", "count"]);
        (out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1").then_some(())
    })
    .unwrap_or_else(|| panic!("state never stored: {}", text(&env.run(&["state", "once", "get", "count"]))));
    let live = running_container(&env.instance, "once");
    assert_eq!(live.len(), 1);

    // A run with the override: it sees the stored state, ends with 0, and prints its lines.
    let out = env.run(&["run", "once", "--config", r#"{"mode":"once"}"#, "--wait"]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    let first = printed.lines().next().unwrap_or_default();
    assert!(first.starts_with("run ") && first.ends_with(" of once: succeeded (exit 0)"), "{printed}");
    assert!(printed.contains(r#"  config: {"mode":"once","name":"once""#), "the override is merged: {printed}");
    assert!(printed.contains("  state: 1"), "the stored state was restored: {printed}");
    // It wrote 99 into its state, which an on-demand run never uploads; the live bot went on.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let out = env.run(&["state", "once", "get", "count"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{}", text(&out));
    assert_eq!(running_container(&env.instance, "once"), live, "the bot's own container is untouched");

    // A failing run: its outcome and lines are printed, then one error line and exit 1.
    let out = env.run(&["run", "once", "--config", r#"{"mode":"once","exit":3}"#, "--wait"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(": failed (exit 3)") && stdout.contains("  failing on purpose"), "{stdout}");
    assert!(stderr.trim().ends_with("of bot \"once\" failed (exit 3)") && stderr.lines().count() == 1, "{stderr}");

    // A second request while one waits or runs is refused with its number; the first is stopped
    // at its deadline.
    let v = json_of(&env, &["run", "once", "--timeout", "2s", "-o", "json"]);
    assert_eq!((v["id"].as_str(), v["outcome"].as_str()), (Some("once"), Some("requested")), "{v}");
    let seq = v["seq"].as_i64().expect("a run number");
    let out = env.run(&["run", "once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(err.contains("409") && err.contains(&format!("(run {seq})")), "{err}");
    let ended = eventually(Duration::from_secs(40), || {
        let runs = json_of(&env, &["runs", "once", "-o", "json"]);
        runs.as_array()?.iter().find(|r| r["seq"] == seq && r["outcome"] == "timed_out").cloned()
    })
    .unwrap_or_else(|| panic!("run {seq} not stopped: {}", text(&env.run(&["runs", "once"]))));
    assert!(ended["reason"].as_str().is_some_and(|r| r.contains("2s")), "{ended}");
    assert_eq!(ended["manual"], json!({"config": null, "timeout_ms": 2000}), "{ended}");

    // Every run is recorded, newest first, with what was asked for.
    let runs = json_of(&env, &["runs", "once", "-o", "json"]);
    let got: Vec<(&str, Value)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["outcome"].as_str().unwrap_or_default(), r["manual"]["config"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("timed_out", Value::Null),
            ("failed", json!({"mode": "once", "exit": 3})),
            ("succeeded", json!({"mode": "once"}))
        ]
    );
    assert_eq!(containers(&env.instance, None), live, "every run's container is removed; the bot's stays");

    // Bad input: one line naming what was wrong, exit 1.
    for (args, want) in [
        (&["run", "nobody"][..], "no bot \"nobody\""),
        (&["run", "once", "--config", "[]"], "--config must be a JSON object"),
        (&["run", "once", "--timeout", "soon"], "invalid value 'soon' for '--timeout <D>'"),
    ] {
        let out = env.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(err.contains(want) && err.lines().count() == 1, "{args:?}: {err}");
    }

    drop(serve);
    let out = env.run(&["stop-all"]);
    assert!(out.status.success(), "{}", text(&out));
}
