//! The pod `kube::bot_pod` builds, run on the real Docker engine as a kubelet would run it
//! (issue #12; the translation is `podemu/`): the executor's three Kubernetes commands proven
//! together. The sync sidecar passes its startup probe on the pod address before the bot starts;
//! the bot restores its state from S3 (moto, on the test network's gateway) and runs; the query
//! sidecar answers on the pod address with the contract's envelope; state the bot writes reaches
//! S3; and on stop (main containers first, then the sidecar) the sidecar's final sync keeps the
//! bot's last write. The storage keys reach the pod by `secretKeyRef`, resolved from the test's
//! "Secret". The bot is examples/python-ticker, ticking every 100 ms (each tick rewrites its
//! state file).
//!
//! Needs Docker, `the0/runtime:python` (`make images`) and the test image (a busybox pause);
//! outside CI a missing image skips the test, in CI it fails it.

mod common;
mod podemu;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::e2e::{
    examples, have, last_tick, output, resumed_at, ticker_state_archive as state_archive, zip_files,
    TICKER_STATE_FILE as STATE_FILE,
};
use common::*;
use serde_json::{json, Value};
use the0_objstore::Store;
use the0_orchestrator::images::RuntimeImages;
use the0_orchestrator::kube::{self, KubeSettings};
use the0_orchestrator::model::BotRecord;

use podemu::docker::{start, Scene};
use podemu::PodEnv;

const BOT_IMAGE: &str = "the0/runtime:python";
const SECRET: &str = "the0-secrets";
/// The tick count in the state the bot starts from.
const RESTORED: u64 = 41;

fn pause_image() -> String {
    std::env::var("THE0_TEST_IMAGE").unwrap_or_else(|_| "the0-test/executor:dev".into())
}

fn example(name: &str) -> Vec<u8> {
    std::fs::read(examples().join("python-ticker").join(name)).expect("examples/python-ticker")
}

/// The ticks in the state archive S3 holds for `id`, if any.
async fn s3_ticks(store: &Store, id: &str) -> Option<u64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("state.tar.gz");
    store.get_to_file("bot-state", &format!("{id}/state.tar.gz"), &archive).await.ok()??;
    let st = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(dir.path()).status().ok()?;
    st.success().then_some(())?;
    let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["ticks"].as_u64()
}

/// The ticks the bot last wrote, read from the pod's state volume by a throwaway container.
fn last_write(volume: &str, label: &str) -> u64 {
    let mount = format!("{volume}:/s:ro,nocopy");
    let file = format!("/s/{STATE_FILE}");
    let args = ["run", "--rm", "--label", label, "--network", "none", "-v", &mount, "--entrypoint", "cat"];
    let text = docker(&[&args[..], &[pause_image().as_str(), &file]].concat());
    let ticks = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["ticks"].as_u64());
    ticks.unwrap_or_else(|| panic!("{STATE_FILE}: {text:?}"))
}

/// The largest tick the bot printed (its `_metric` lines on stdout).
fn printed(bot: &str) -> u64 {
    last_tick(&output(bot).0, "tick")
}

fn record(id: &str) -> BotRecord {
    BotRecord {
        id: id.into(),
        config: json!({"symbol": "BTC-USD", "interval_sec": 0.1}),
        custom: json!({"version": "1.0.0", "filePath": format!("u/{id}/1"),
            "config": {"name": "python-ticker", "runtime": "python3.11",
                       "entrypoints": {"bot": "main.py", "query": "query.py"}}}),
        enabled: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_pod_runs_on_docker_as_a_kubelet_would_run_it() {
    if !have(&[BOT_IMAGE, &pause_image()], &[]) {
        return;
    }
    let scene = Scene::new("podemu");
    let (inst, label, endpoint) = (scene.inst.clone(), scene.label.clone(), scene.endpoint.clone());

    // What the API would have stored: the code zip and a state to restore.
    let s3 = the0_test_support::s3_settings(&endpoint);
    let store = Store::s3(s3.clone()).expect("store");
    for b in ["custom-bots", "bot-state", "bot-logs"] {
        store.ensure_bucket(b).await.expect("bucket");
    }
    let id = inst.clone();
    let files = ["main.py", "query.py", "state.py"].map(|f| (f, example(f)));
    let code = zip_files(&files.iter().map(|(f, b)| (*f, b.as_slice(), 0o644)).collect::<Vec<_>>());
    store.put_bytes("custom-bots", &format!("u/{id}/1"), Bytes::from(code), "application/zip").await.expect("code");
    let state = Bytes::from(state_archive(RESTORED));
    store.put_bytes("bot-state", &format!("{id}/state.tar.gz"), state, "application/gzip").await.expect("state");

    let settings = KubeSettings {
        images: RuntimeImages { default: BOT_IMAGE.into(), by_runtime: BTreeMap::new() },
        pull_policy: "Never".into(),
        minio_endpoint: endpoint.clone(),
        minio_secret_name: Some(SECRET.into()),
        stop_timeout: Duration::from_secs(10),
        ..KubeSettings::default()
    };
    let pod = kube::bot_pod(&record(&id), &settings).expect("the bot's pod").object;
    let pod_json = serde_json::to_string(&pod).expect("json");
    assert!(!pod_json.contains(&s3.secret_key), "the keys come by secretKeyRef, not in the spec");
    let env = PodEnv {
        prefix: inst.clone(),
        label: label.clone(),
        network: scene.net.0.clone(),
        pause_image: pause_image(),
        secrets: BTreeMap::from([
            ((SECRET.into(), kube::env::SECRET_ACCESS_KEY.into()), s3.access_key.clone()),
            ((SECRET.into(), kube::env::SECRET_SECRET_KEY.into()), s3.secret_key.clone()),
        ]),
        runtimes: BTreeMap::new(),
        pod_ip: None,
    };
    // The sidecar's probe has passed when this returns; only then were the bot and query-server made.
    let pod = start(&pod, env).await.unwrap_or_else(|e| panic!("the pod did not start: {e}"));
    let (bot, sync) = (pod.container("bot"), pod.container("sync"));

    // The bot restored the state (it says where it resumes) and runs on.
    assert_eq!(resumed_at(&bot), RESTORED, "{}", pod.logs());
    let runs = eventually(Duration::from_secs(60), || (printed(&bot) > RESTORED + 5).then_some(()));
    assert!(runs.is_some(), "the bot ticks on from {RESTORED}:\n{}", pod.logs());

    // The query sidecar answers on the pod address, in the contract's envelope.
    let query = format!("{}:{}", pod.ip, the0_contract::query::CONTAINER_PORT);
    let answered = eventually_async(Duration::from_secs(60), || async {
        let (status, body) = http_get(&query, "/status").await;
        let v: Value = serde_json::from_str(&body).ok()?;
        (status == 200 && v["status"] == "ok" && v["data"]["ticks"].as_u64()? > RESTORED).then_some(v)
    })
    .await;
    assert!(answered.is_some(), "GET {query}/status: {:?}\n{}", http_get(&query, "/status").await, pod.logs());
    let (status, body) = http_get(&query, "/nope").await;
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert_eq!((status, v["status"].as_str()), (404, Some("error")), "unknown path: {body}");

    // State the bot writes reaches S3 while it runs (the sidecar syncs on change).
    let synced = eventually_async(Duration::from_secs(60), || async {
        s3_ticks(&store, &id).await.filter(|n| *n > RESTORED + 5)
    })
    .await;
    assert!(synced.is_some(), "the running bot's state reached S3:\n{}", pod.logs());

    // Stop as Kubernetes stops a pod with a native sidecar: the main containers, then the sidecar.
    // The sidecar is frozen first (`docker pause`; `docker stop` thaws it after queueing TERM), so
    // no change-triggered sync can carry the bot's last writes: only the sync after TERM can.
    docker(&["pause", &sync]);
    let frozen = s3_ticks(&store, &id).await.unwrap_or(RESTORED);
    let more = eventually(Duration::from_secs(30), || (printed(&bot) >= frozen + 5).then_some(()));
    assert!(more.is_some(), "the bot wrote on while the sidecar was frozen:\n{}", pod.logs());
    let main = pod.stop_main().unwrap_or_else(|e| panic!("stopping the main containers: {e}"));
    assert!(main.iter().all(|(_, code)| *code == 0), "main containers end with 0: {main:?}\n{}", pod.logs());
    let last = last_write(&podemu::volume_name(&inst, "bot-state"), &label);
    assert!(last >= frozen + 5, "the last write {last} is one the frozen sidecar never saw (S3 had {frozen})");
    let before = s3_ticks(&store, &id).await;
    assert!(before.is_some_and(|b| b < last), "S3 lags the last write before the sidecar stops: {before:?} vs {last}");
    let sidecars = pod.stop_sidecars().unwrap_or_else(|e| panic!("stopping the sidecar: {e}"));
    assert_eq!(sidecars, [("sync".to_string(), 0)], "{}", pod.logs());
    let after = s3_ticks(&store, &id).await;
    assert_eq!(after, Some(last), "the sidecar's final sync keeps the last write (S3 held {before:?} before)");
    eprintln!("last write {last}; S3 held {before:?} when the bot had stopped, {after:?} after the sidecar's exit");
}
