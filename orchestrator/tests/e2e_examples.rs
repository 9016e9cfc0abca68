//! End to end on the built bot images (`make images examples`), with the real orchestrator: the
//! examples in examples/ run in Python, C and a JVM jar on the slim image of their runtime
//! (`RUNTIME_IMAGE_<RUNTIME>` and `--runtime-image-for`), keep state, print `_metric` lines on
//! stdout and JSON logs on stderr, and answer queries; the scheduled Node example runs on its
//! schedule under the real scheduler (state carried from run to run) and answers a one-shot query
//! through the :9477 server; a realtime bot's state
//! survives a container restart and an orchestrator restart. Outside CI a missing image skips a
//! test with a message; in CI (`CI=true`) it fails it.

mod common;
mod query_common;

use std::time::Duration;

use common::e2e::*;
use common::*;
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(90);

async fn deploy(o: &Orch, example: &str) -> String {
    let v = the0_orchestrator::client::deploy(&o.cli, &examples().join(example), Some(example))
        .await
        .unwrap_or_else(|e| panic!("deploy {example}: {e}"));
    assert_eq!(v["id"], example);
    let s = o.wait_state(example, "running", LIMIT).await;
    s["container"].as_str().expect("container name").to_string()
}

/// The ticks the python-ticker's query program reports, once they reach `at_least`.
fn ticks_reaching(container: &str, at_least: u64) -> u64 {
    eventually(Duration::from_secs(60), || {
        let (status, v) = query_in(container, "/status");
        let t = v["data"]["ticks"].as_u64()?;
        (status == 200 && t >= at_least).then_some(t)
    })
    .unwrap_or_else(|| panic!("{container}: /status never reached {at_least} ticks: {:?}", output(container)))
}

#[tokio::test(flavor = "multi_thread")]
async fn examples_run_on_the_slim_image_of_their_runtime() {
    let built = [examples().join("c-ticker/ticker"), examples().join("jvm-ticker/bot.jar")];
    let slim = ["the0/runtime:python", "the0/runtime:native", "the0/runtime:jvm"];
    if !have(&[&[UNIVERSAL][..], &slim].concat(), &built) {
        return;
    }
    let inst = unique("e2ex");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--runtime-image", UNIVERSAL, "--runtime-image-for", "scala3=the0/runtime:jvm"];
    let env = [("RUNTIME_IMAGE_PYTHON3_11", "the0/runtime:python"), ("RUNTIME_IMAGE_GCC13", "the0/runtime:native")];
    let o = Orch::start(dir.path(), &inst, &extra, &env).await;

    let py = deploy(&o, "python-ticker").await;
    let c = deploy(&o, "c-ticker").await;
    let jvm = deploy(&o, "jvm-ticker").await;
    for (container, image) in [(&py, slim[0]), (&c, slim[1]), (&jvm, slim[2])] {
        assert_eq!(image_of(container), image, "{container}");
    }
    let (_, v) = o.api("GET", "/bots/python-ticker", None).await;
    assert_eq!(v["image"], slim[0], "{v}");

    // The Python bot's query program, through the executor's :9476 front.
    ticks_reaching(&py, 3);
    let (status, v) = query_in(&py, "/prices?last=2");
    assert_eq!(status, 200, "{v}");
    let prices = v["data"]["prices"].as_array().expect("prices").clone();
    assert_eq!(prices.len(), 2, "{v}");
    let mean = (prices[0].as_f64().unwrap() + prices[1].as_f64().unwrap()) / 2.0;
    assert!((v["data"]["mean"].as_f64().unwrap() - mean).abs() < 1e-3, "{v}");
    let (status, v) = query_in(&py, "/nope");
    assert_eq!(
        (status, v["status"].as_str(), v["error"].as_str()),
        (404, Some("error"), Some("No handler for path: /nope"))
    );

    // Metrics on stdout, JSON logs on stderr, in every language; compiled SDKs stamp epoch ms.
    for (container, field) in [(&py, "tick"), (&c, "value"), (&jvm, "value")] {
        let (out, err) = eventually(Duration::from_secs(60), || {
            let (out, err) = output(container);
            (last_tick(&out, field) >= 2).then_some((out, err))
        })
        .unwrap_or_else(|| panic!("{container}: no metrics: {:?}", output(container)));
        assert!(!err.contains("\"_metric\""), "{container}: metrics on stderr: {err}");
        let log = err
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["level"] == "info" && v["message"].is_string())
            .unwrap_or_else(|| panic!("{container}: no JSON log line on stderr: {err}"));
        assert!(log["message"] == "first start", "{container}: {log}");
        assert!(out.lines().any(|l| l.contains("\"_metric\"")), "{container}");
    }
    let (out, _) = output(&c);
    let m: Value = serde_json::from_str(out.lines().find(|l| l.contains("\"_metric\"")).unwrap()).unwrap();
    assert!(m["timestamp"].as_u64().is_some_and(|t| t > 1_600_000_000_000), "{m}");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_node_example_runs_on_time_and_answers_a_one_shot_query() {
    if !have(&["the0/runtime:node"], &[]) {
        return;
    }
    let inst = unique("e2en");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    // The example as deployed, with a schedule the test can wait for: every two seconds.
    let bot_dir = dir.path().join("node-scheduled");
    std::fs::create_dir_all(&bot_dir).unwrap();
    for f in std::fs::read_dir(examples().join("node-scheduled")).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), bot_dir.join(f.file_name())).unwrap();
        }
    }
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(bot_dir.join("config.json")).unwrap()).unwrap();
    config["schedule"] = json!("*/2 * * * * *");
    std::fs::write(bot_dir.join("config.json"), config.to_string()).unwrap();

    let data = dir.path().join("data");
    let o =
        Orch::start(&data, &inst, &["--runtime-image", UNIVERSAL], &[("RUNTIME_IMAGE_NODEJS20", "the0/runtime:node")])
            .await;
    let v = the0_orchestrator::client::deploy(&o.cli, &bot_dir, Some("node-scheduled")).await.expect("deploy");
    assert_eq!(v["id"], "node-scheduled");

    // Two runs, one after the other, each carrying the state of the one before.
    let runs = eventually_async(LIMIT, || async {
        let (status, runs) = o.api("GET", "/bots/node-scheduled/runs", None).await;
        let done: Vec<Value> = runs.as_array()?.iter().filter(|r| r["outcome"] != "running").cloned().collect();
        (status == 200 && done.len() >= 2).then_some(done)
    })
    .await
    .expect("two scheduled runs recorded");
    for r in &runs {
        assert_eq!((r["outcome"].as_str(), r["exit_code"].as_i64()), (Some("succeeded"), Some(0)), "{r}");
    }
    let logs =
        |r: &Value| r["logs"].as_array().map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"));
    let (newest, older) = (logs(&runs[0]).unwrap_or_default(), logs(&runs[1]).unwrap_or_default());
    assert!(newest.contains("\"_metric\":\"rebalance\""), "{newest}");
    let run_no = |l: &str| -> Option<u64> {
        l.lines().filter_map(|x| serde_json::from_str::<Value>(x).ok()).find_map(|v| v["run"].as_u64())
    };
    assert_eq!(run_no(&newest), run_no(&older).map(|n| n + 1), "state carried over:\n{older}\n--\n{newest}");

    // A query of a scheduled bot runs one-shot, through the :9477 server.
    let (status, reply) = query_common::query(
        &o.query,
        json!({"bot_id": "node-scheduled", "query_path": "/runs", "params": {"last": "1"}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "ok", "{reply}");
    assert!(reply["data"]["count"].as_u64().is_some_and(|c| c >= 2), "{reply}");
    assert_eq!(reply["data"]["last"].as_array().map(Vec::len), Some(1), "{reply}");
    assert!(
        std::fs::read_dir(data.join("objects/query-results/node-scheduled")).map_or(true, |mut d| d.next().is_none()),
        "the result object is deleted"
    );
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn realtime_state_survives_a_container_restart_and_an_orchestrator_restart() {
    if !have(&[UNIVERSAL], &[]) {
        return;
    }
    let inst = unique("e2es");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--runtime-image", UNIVERSAL];
    let o = Orch::start(dir.path(), &inst, &extra, &[]).await;
    let first = deploy(&o, "python-ticker").await;
    let first_id = running_container(&inst, "python-ticker");
    let t1 = ticks_reaching(&first, 3);

    // Container restart: stopped behind the orchestrator's back (SIGTERM: final sync), restarted
    // by it after the crash backoff with the stored state.
    docker(&["stop", "-t", "20", &first]);
    let second_id = eventually(LIMIT, || {
        let r = running_container(&inst, "python-ticker");
        (r.len() == 1 && r != first_id).then_some(r)
    })
    .expect("restarted after the stop");
    let resumed = resumed_at(&first);
    assert!(resumed >= t1, "resumed from the stored state: tick {resumed} < {t1}");
    let t2 = ticks_reaching(&first, resumed + 1);

    // Orchestrator restart: while it is down the bot stops; the next one starts it from state.
    o.stop().await;
    docker(&["stop", "-t", "20", &first]);
    let stored = last_tick(&stored_log(&dir.path().join("objects"), "python-ticker"), "tick");
    assert!(stored >= t2, "the final sync shipped the logs: {stored} < {t2}");
    let o = Orch::start(dir.path(), &inst, &extra, &[]).await;
    eventually(LIMIT, || {
        let r = running_container(&inst, "python-ticker");
        (r.len() == 1 && r != second_id).then_some(())
    })
    .expect("started again by the new orchestrator");
    let resumed = resumed_at(&first);
    assert!(resumed >= stored, "resumed from the stored state: tick {resumed} < {stored}");
    ticks_reaching(&first, resumed + 1);
    o.stop().await;
}
