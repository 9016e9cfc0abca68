//! A bot container under `--scoped-credentials`, end to end on Ceph's S3 gateway (Ceph lane only:
//! the file name ends in `_ceph`). Needs the gateway listening where containers reach it:
//! `eval "$(THE0_CEPH_BIND=0.0.0.0 scripts/ceph-s3.sh start)"` (containers use
//! `host.docker.internal:<port>`), and `THE0_TEST_IMAGE` built from this tree's executor. Without
//! `THE0_TEST_CEPH_ENDPOINT` it panics, so a missing server is never a silent pass.
//!
//! Proves: the container's environment holds no shared key (docker inspect) and names the
//! credentials file; the directory is mounted read-only at /run/the0; the executor syncs the
//! bot's state to Ceph with the session keys; those keys cannot read another bot's state; the
//! credentials go when the container goes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::{json, Value};
use the0_objstore::s3::{CredentialSource, CredentialsFile};
use the0_objstore::{S3Settings, Store};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start Ceph's gateway first with eval \"$(THE0_CEPH_BIND=0.0.0.0 scripts/ceph-s3.sh start)\"")
    })
}

fn settings(access_key: String, secret_key: String) -> S3Settings {
    S3Settings {
        endpoint: var("THE0_TEST_CEPH_ENDPOINT"),
        access_key,
        secret_key,
        use_ssl: false,
        region: std::env::var("THE0_TEST_CEPH_REGION").unwrap_or_else(|_| "default".into()),
    }
}

fn inspect(name: &str) -> Value {
    let out = docker(&["inspect", name]);
    serde_json::from_str::<Value>(&out).expect("docker inspect JSON")[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_bot_syncs_with_session_keys_and_holds_no_shared_key() {
    let endpoint = var("THE0_TEST_CEPH_ENDPOINT");
    let (ak, sk) = (var("THE0_TEST_CEPH_ACCESS_KEY"), var("THE0_TEST_CEPH_SECRET_KEY"));
    let port = endpoint.rsplit(':').next().expect("port").to_string();
    let inst = unique("sc");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let tag = inst.to_lowercase();
    let (code, state, logs, qr) =
        (format!("code-{tag}"), format!("state-{tag}"), format!("logs-{tag}"), format!("qr-{tag}"));
    let admin = Store::s3(settings(ak.clone(), sk.clone())).expect("admin store");
    for b in [&code, &state, &logs, &qr] {
        admin.ensure_bucket(b).await.expect("bucket");
    }
    // Another bot's state, which the scoped keys must not read.
    admin.put_bytes(&state, "other/state.tar.gz", Bytes::from_static(b"secret state"), "").await.expect("seed");
    let bot = unique("sb");
    let key = format!("u/{bot}/1");
    let script = "#!/bin/sh\nmkdir -p \"$STATE_DIR\"\necho '{\"n\":1}' > \"$STATE_DIR/k.json\"\necho wrote-state\nwhile true; do sleep 1; done\n";
    admin.put_bytes(&code, &key, Bytes::from(zip_script(script)), "application/zip").await.expect("code");

    let container_ep = format!("host.docker.internal:{port}");
    let arn = var("THE0_TEST_CEPH_ROLE_ARN");
    let env = [
        ("DOCKER_NETWORK", ""),
        ("MINIO_ENDPOINT", endpoint.as_str()),
        ("MINIO_CONTAINER_ENDPOINT", container_ep.as_str()),
        ("MINIO_ACCESS_KEY", ak.as_str()),
        ("MINIO_SECRET_KEY", sk.as_str()),
        ("MINIO_REGION", "default"),
        ("MINIO_CODE_BUCKET", code.as_str()),
        ("MINIO_STATE_BUCKET", state.as_str()),
        ("MINIO_LOGS_BUCKET", logs.as_str()),
        ("MINIO_QUERY_RESULTS_BUCKET", qr.as_str()),
    ];
    let flags = ["--scoped-credentials", "--sts-role-arn", arn.as_str(), "--credentials-duration", "900"];
    let o = Orch::start(dir.path(), &inst, &flags, &env).await;
    o.put(bot_payload(&bot, &key, json!({}))).await;
    o.wait_state(&bot, "running", Duration::from_secs(90)).await;
    let name = format!("the0-bot-{bot}-{inst}");

    // No shared key in the container's environment; the file's path instead.
    let c = inspect(&name);
    let envs: Vec<String> =
        c["Config"]["Env"].as_array().expect("env").iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    assert!(!envs.iter().any(|e| e.contains(&sk) || e.contains(&ak)), "shared key in the env: {envs:?}");
    assert!(!envs.iter().any(|e| e.starts_with("MINIO_ACCESS_KEY=") || e.starts_with("MINIO_SECRET_KEY=")));
    assert!(envs.contains(&"THE0_CREDENTIALS_FILE=/run/the0/credentials.json".to_string()), "{envs:?}");
    let mounts = c["Mounts"].as_array().expect("mounts");
    assert!(
        mounts.iter().any(|m| m["Destination"] == "/run/the0" && m["RW"] == false),
        "credentials directory mounted read-only: {mounts:?}"
    );

    // The keys the container holds, read from the host side of the mount.
    let file = dir.path().join("credentials").join(&bot).join(&name).join("credentials.json");
    let scoped = Store::s3_with_credentials(
        settings(String::new(), String::new()),
        CredentialSource::File(CredentialsFile::open(&file).expect("credentials file")),
    )
    .expect("scoped store");
    let other = scoped.get(&state, "other/state.tar.gz").await.err().expect("another bot's state is refused");
    assert!(other.is_access_denied(), "{other}");

    // The executor syncs the bot's state with its session keys: once the bot wrote it, stop the
    // bot (final sync).
    let wrote = eventually(Duration::from_secs(30), || docker(&["logs", &name]).contains("wrote-state").then_some(()));
    assert!(wrote.is_some(), "the bot never started: {}", docker(&["logs", &name]));
    let (s, _) = o.api("DELETE", &format!("/bots/{bot}"), None).await;
    assert_eq!(s, 200);
    let state_key = format!("{bot}/state.tar.gz");
    let synced = eventually_async(Duration::from_secs(30), || async {
        admin.head(&state, &state_key).await.ok().flatten().map(|_| ())
    })
    .await;
    assert!(synced.is_some(), "state never reached Ceph");
    assert!(scoped.head(&state, &state_key).await.expect("own state with the session keys").is_some());
    o.stop().await;
}

/// Keys that cannot be obtained (a role that does not exist) make a failed start with the reason
/// stored and shown, no container, and an orchestrator that keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_cannot_be_obtained_are_a_failed_start_with_the_reason() {
    let endpoint = var("THE0_TEST_CEPH_ENDPOINT");
    let (ak, sk) = (var("THE0_TEST_CEPH_ACCESS_KEY"), var("THE0_TEST_CEPH_SECRET_KEY"));
    let inst = unique("sf");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let code = format!("code-{}", inst.to_lowercase());
    let admin = Store::s3(settings(ak.clone(), sk.clone())).expect("admin store");
    admin.ensure_bucket(&code).await.expect("bucket");
    let bot = unique("fb");
    let key = format!("u/{bot}/1");
    admin.put_bytes(&code, &key, Bytes::from(zip_script(LOOP_BOT)), "application/zip").await.expect("code");
    let env = [
        ("DOCKER_NETWORK", ""),
        ("MINIO_ENDPOINT", endpoint.as_str()),
        ("MINIO_ACCESS_KEY", ak.as_str()),
        ("MINIO_SECRET_KEY", sk.as_str()),
        ("MINIO_CODE_BUCKET", code.as_str()),
    ];
    let flags = ["--scoped-credentials", "--sts-role-arn", "arn:aws:iam:::role/no-such-role"];
    let o = Orch::start(dir.path(), &inst, &flags, &env).await;
    o.put(bot_payload(&bot, &key, json!({}))).await;
    let reason = eventually_async(Duration::from_secs(30), || async {
        o.status(&bot).await["failure_reason"].as_str().map(str::to_string)
    })
    .await
    .expect("a failure reason is stored");
    assert!(reason.contains("cannot obtain scoped credentials"), "{reason}");
    assert!(running_container(&inst, &bot).is_empty(), "no container without credentials");
    let (s, listed) = o.api("GET", "/bots", None).await;
    assert_eq!(s, 200, "the orchestrator keeps serving");
    assert!(listed.to_string().contains("cannot obtain scoped credentials"), "shown by list: {listed}");
    o.stop().await;
}
