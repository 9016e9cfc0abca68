//! `orchestrator state` through the built binary against `serve` (local storage, real Docker): a
//! bot's SDK keys listed and read while it runs, a removal refused while it has a container and
//! done with `--restart` (stopped, edited, started again, the other files of its state kept), a
//! removal of a disabled bot's key without one, the `state-edited` event, and bad input as one
//! line and exit 1.

mod common;

use std::time::Duration;

use common::cli::{fixture_copy, json_of, text, Env};
use common::*;
use serde_json::{json, Value};

/// The `start keys: …` lines of the bot's current container.
fn starts(env: &Env) -> Vec<String> {
    text(&env.run(&["logs", "keeper"]))
        .lines()
        .filter_map(|l| l.split("start keys: ").nth(1))
        .map(|s| s.split('"').next().unwrap_or_default().to_string())
        .collect()
}

/// Asserts a command failed with exit 1 and one line on stderr holding each of `want`.
fn refused(env: &Env, args: &[&str], want: &[&str]) {
    let out = env.run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    assert!(out.stdout.is_empty() && err.lines().count() == 1, "{args:?}: one line: {}", text(&out));
    for w in want {
        assert!(err.contains(w), "{args:?}: {w:?} in {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn state_lists_reads_and_removes_keys_without_losing_a_write() {
    let env = Env::new("state");
    let _guard = Cleanup(env.instance.clone());
    let bot = fixture_copy("keeper");
    let serve = env.serve().await;
    let out = env.run(&["deploy", bot.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // The executor uploads the seeded state once it sees the change: both keys are listed, in
    // the archive's order, with their sizes; each reads as the SDK wrote it.
    let keys = eventually(Duration::from_secs(30), || {
        let v = json_of(&env, &["state", "keeper", "-o", "json"]);
        (v.as_array().is_some_and(|a| a.len() == 2)).then_some(v)
    })
    .unwrap_or_else(|| panic!("keys never stored: {}", text(&env.run(&["state", "keeper"]))));
    assert_eq!(keys, json!([{"key": "alpha", "size": 8}, {"key": "beta", "size": 10}]));
    let table = text(&env.run(&["state", "keeper"]));
    assert_eq!(
        table.lines().map(str::split_whitespace).map(Iterator::collect::<Vec<_>>).collect::<Vec<_>>(),
        [["KEY", "BYTES"], ["alpha", "8"], ["beta", "10"]]
    );
    assert_eq!(json_of(&env, &["state", "keeper", "get", "alpha"]), json!({"n": 1}));
    assert_eq!(
        json_of(&env, &["state", "keeper", "get", "beta", "-o", "json"]),
        json!({"id": "keeper", "key": "beta", "value": ["x", "y"]})
    );

    assert_eq!(starts(&env), ["alpha.json beta.json seeded: yes"], "the first container seeded both");
    // A removal while the bot runs would be lost (or refused) at its next sync: refused, unchanged.
    let before = running_container(&env.instance, "keeper");
    assert_eq!(before.len(), 1);
    let enabled_before = json_of(&env, &["show", "keeper", "-o", "json"])["enabled"].clone();
    refused(&env, &["state", "keeper", "rm", "alpha"], &["409", "has a container", "--restart"]);
    assert_eq!(json_of(&env, &["state", "keeper", "-o", "json"]).as_array().map(Vec::len), Some(2));

    // --restart: stopped, edited, started again; the new container starts without the key and
    // with the rest of its state (the plain file says it was seeded, so nothing re-seeds).
    let out = env.run(&["state", "keeper", "rm", "alpha", "--restart"]);
    assert_eq!(
        (out.status.success(), text(&out).trim()),
        (true, "keeper: state key alpha removed (stopped for the edit and started again)"),
        "{}",
        text(&out)
    );
    eventually(Duration::from_secs(30), || {
        let now = running_container(&env.instance, "keeper");
        (now.len() == 1 && now != before).then_some(())
    })
    .expect("started again");
    // `logs` shows the current container's output: its start line.
    eventually(Duration::from_secs(20), || (starts(&env) == ["beta.json seeded: yes"]).then_some(()))
        .unwrap_or_else(|| panic!("the new start: {:?}", starts(&env)));
    assert_eq!(json_of(&env, &["state", "keeper", "-o", "json"]), json!([{"key": "beta", "size": 10}]));
    let show = json_of(&env, &["show", "keeper", "-o", "json"]);
    assert_eq!(show["enabled"], enabled_before, "the hold is gone: the bot is as it was: {show}");

    // A disabled bot has no container: its keys are edited at once, without a restart.
    let out = env.run(&["disable", "keeper"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(30), || {
        (json_of(&env, &["show", "keeper", "-o", "json"])["status"]["state"] == "disabled").then_some(())
    })
    .expect("disable stops and removes its container");
    let v = json_of(&env, &["state", "keeper", "rm", "beta", "-o", "json"]);
    assert_eq!(v, json!({"id": "keeper", "key": "beta", "deleted": true, "restarted": false}));
    assert_eq!(json_of(&env, &["state", "keeper", "-o", "json"]), json!([]));
    assert!(
        env.data.path().join("objects/bot-state/keeper/state.tar.gz").is_file(),
        "the plain file is still state: the archive stays"
    );
    assert!(running_container(&env.instance, "keeper").is_empty(), "still disabled");

    // Each edit is in the history.
    let events = json_of(&env, &["events", "--bot", "keeper", "-o", "json"]);
    let edits: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "state-edited")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert_eq!(
        edits,
        [
            "state key \"alpha\" removed (the bot was stopped for the edit and started again)",
            "state key \"beta\" removed"
        ]
    );

    // Bad input: one line naming what was wrong, exit 1, nothing changed.
    refused(&env, &["state", "keeper", "get", "..x"], &["400", "\"..x\" is not valid"]);
    refused(&env, &["state", "keeper", "get", "alpha"], &["404", "bot \"keeper\" has no state key \"alpha\""]);
    refused(&env, &["state", "keeper", "rm", "alpha"], &["404", "has no state key"]);
    refused(&env, &["state", "nobody"], &["404", "no bot \"nobody\""]);
    refused(&env, &["state", "nobody", "rm", "k"], &["404", "no bot \"nobody\""]);
    let (status, body) = http_get(&env.admin, "/bots/keeper/state/a%2Fb").await;
    assert_eq!(status, 400, "{body}");
    let msg = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["error"].as_str().map(str::to_string));
    assert!(msg.is_some_and(|m| m.contains("\"a/b\" is not valid")), "{body}");

    drop(serve);
    let out = env.run(&["stop-all"]);
    assert!(out.status.success(), "{}", text(&out));
}
