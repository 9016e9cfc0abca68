//! Run-to-completion containers against the real engine: the exit code and last log lines of a
//! run that outlasts the driver's per-call timeout, a deadline that kills and removes, one run per
//! bot at a time (the name is taken), and listing runs with their due time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use the0_orchestrator::docker::{Docker, DockerError, WaitOutcome};
use the0_orchestrator::images::RuntimeImages;
use the0_orchestrator::metrics::Metrics;
use the0_orchestrator::model::{validate, BotRecord};
use the0_orchestrator::spec::{build_for, HostSettings, Role, Storage};

struct Fixture {
    _dir: tempfile::TempDir,
    docker: Docker,
    host: HostSettings,
}

fn fixture(inst: &str, key: &str, script: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("objects");
    let code = root.join("custom-bots").join(key);
    std::fs::create_dir_all(code.parent().unwrap()).unwrap();
    std::fs::write(&code, zip_script(script)).unwrap();
    for d in ["bot-state/b1", "bot-logs/logs/b1"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let host = HostSettings {
        images: RuntimeImages { default: image(), ..Default::default() },
        instance: Some(inst.to_string()),
        storage: Storage::Local { root },
        pull: false,
        ..Default::default()
    };
    let docker =
        Docker::connect("unix:///var/run/docker.sock", Some(inst.to_string()), Arc::new(Metrics::default())).unwrap();
    Fixture { _dir: dir, docker, host }
}

fn launch(key: &str, host: &HostSettings) -> the0_orchestrator::model::Launch {
    validate(
        &BotRecord {
            id: "b1".into(),
            config: json!({}),
            custom: bot_payload("b1", key, json!({}))["custom"].clone(),
            enabled: None,
        },
        &host.images,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_run_reports_its_exit_code_and_last_lines() {
    let inst = unique("one");
    let _guard = Cleanup(inst.clone());
    // Longer than the driver's 20 s per-call timeout: the wait must not be bound by it.
    let f = fixture(&inst, "u/b/1", "#!/bin/sh\necho first\nsleep 23\necho last-line\nexit 3\n");
    let spec = build_for(&launch("u/b/1", &f.host), &f.host, &Role::Scheduled { due_ms: 42_000 });
    let id = f.docker.start_oneshot(&spec).await.unwrap();
    let listed = f.docker.list_oneshots().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].bot_id.as_str(), listed[0].due_ms), ("b1", Some(42_000)));
    assert!(Docker::is_running(&listed[0]));
    match f.docker.start_oneshot(&spec).await {
        Err(DockerError::NameInUse(n)) => assert_eq!(n, spec.name),
        other => panic!("a second run of the same bot must be refused, got {other:?}"),
    }
    let out = f.docker.wait_exit(&id, Some(Duration::from_secs(120)), Duration::from_secs(5)).await.unwrap();
    assert_eq!(out, WaitOutcome::Exited { code: 3, oom: false });
    let lines = f.docker.tail(&id, 1000).await.unwrap();
    assert!(lines.iter().any(|l| l.contains("last-line")), "{lines:?}");
    f.docker.remove(&id).await.unwrap();
    assert!(f.docker.list_oneshots().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deadline_kills_and_removes_the_container() {
    let inst = unique("one");
    let _guard = Cleanup(inst.clone());
    let f = fixture(&inst, "u/b/2", LOOP_BOT);
    let spec = build_for(&launch("u/b/2", &f.host), &f.host, &Role::Scheduled { due_ms: 1 });
    let id = f.docker.start_oneshot(&spec).await.unwrap();
    let out = f.docker.wait_exit(&id, Some(Duration::from_secs(2)), Duration::from_secs(1)).await.unwrap();
    assert_eq!(out, WaitOutcome::TimedOut);
    assert!(containers(&inst, None).is_empty(), "the timed-out run is removed");
    assert_eq!(f.docker.wait_exit(&id, None, Duration::ZERO).await.unwrap(), WaitOutcome::Gone);
}
