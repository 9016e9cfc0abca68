//! The orchestrator's other modes against the real engine: MinIO/S3 settings (containers fetch
//! code and keep state in a real S3 server, moto, reached over a Docker network the test
//! creates), `--stop-bots-on-shutdown` (D25's opt-out), and the admin API's bearer token.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::json;
use the0_objstore::{S3Settings, Store};

async fn get_text(store: &Store, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("obj");
    store.get_to_file(bucket, key, &p).await.unwrap()?;
    Some(std::fs::read(p).unwrap())
}

const STATE_BOT: &str = "#!/bin/sh
mkdir -p \"$STATE_DIR\"
if [ -f \"$STATE_DIR/seen.json\" ]; then echo \"restored $(cat \"$STATE_DIR/seen.json\")\"; fi
echo '{\"runs\":1}' > \"$STATE_DIR/seen.json\"
echo \"hello from $BOT_ID\"
while true; do sleep 1; done
";

#[tokio::test(flavor = "multi_thread")]
async fn s3_mode_bots_fetch_code_and_keep_state_in_the_object_server() {
    let inst = unique("s3m");
    // Declared before the container guard, so it is dropped after it: a network with containers
    // attached cannot be removed.
    let net = Network::create(&format!("the0-test-{inst}"));
    let _guard = Cleanup(inst.clone());
    let gateway = docker(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", &net.0]);
    assert!(!gateway.is_empty(), "network {} has no gateway", net.0);
    let (_moto, endpoint) = moto::start_moto(&gateway);

    let store = Store::s3(S3Settings {
        endpoint: endpoint.clone(),
        access_key: "ak".into(),
        secret_key: "sk".into(),
        use_ssl: false,
        region: "us-east-1".into(),
    })
    .unwrap();
    store.ensure_bucket("custom-bots").await.unwrap();
    store.put_bytes("custom-bots", "u/s3/1", Bytes::from(zip_script(STATE_BOT)), "application/zip").await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MINIO_ENDPOINT", endpoint.as_str()),
        ("MINIO_ACCESS_KEY", "ak"),
        ("MINIO_SECRET_KEY", "sk"),
        ("DOCKER_NETWORK", net.0.as_str()),
    ];
    let o = Orch::start(dir.path(), &inst, &[], &env).await;
    o.put(bot_payload("s3bot", "u/s3/1", json!({}))).await;
    o.wait_state("s3bot", "running", Duration::from_secs(20)).await;
    let c = running_container(&inst, "s3bot");
    assert_eq!(c.len(), 1);
    let envs = docker(&["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", &c[0]]);
    assert!(envs.lines().any(|l| l == format!("MINIO_ENDPOINT={endpoint}")), "{envs}");
    assert!(!envs.contains("THE0_STORAGE_DIR"), "S3 mode mounts no objects: {envs}");
    let said =
        eventually(Duration::from_secs(20), || docker(&["logs", &c[0]]).contains("hello from s3bot").then_some(()));
    assert!(said.is_some(), "the bot ran from the S3 code object: {}", docker(&["logs", &c[0]]));

    // Disable: the container stops, and its final sync leaves the state and the log in S3.
    let mut off = bot_payload("s3bot", "u/s3/1", json!({"enabled": false}));
    o.put(off.clone()).await;
    let gone = eventually(Duration::from_secs(30), || running_container(&inst, "s3bot").is_empty().then_some(()));
    assert!(gone.is_some(), "disabled bot stops");
    let state = get_text(&store, "bot-state", "s3bot/state.tar.gz").await;
    assert!(state.is_some_and(|s| s.starts_with(&[0x1f, 0x8b])), "state archive uploaded to S3");
    let logs = store.list("bot-logs", "logs/s3bot/").await.unwrap();
    assert!(!logs.is_empty(), "bot log shipped to S3");

    // Enable again: the new container restores the state from S3.
    off["config"] = json!({"enabled": true});
    o.put(off).await;
    o.wait_state("s3bot", "running", Duration::from_secs(20)).await;
    // The status may still read "running" from before; look for the new container itself.
    let restored = eventually(Duration::from_secs(30), || {
        let c = running_container(&inst, "s3bot");
        c.first().and_then(|id| docker(&["logs", id]).contains("restored {\"runs\":1}").then_some(()))
    });
    let last = running_container(&inst, "s3bot").first().map(|id| docker(&["logs", id]));
    assert!(restored.is_some(), "state restored from S3: {last:?}");
    o.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_bots_on_shutdown_stops_and_removes_every_bot() {
    let inst = unique("sos");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &["--stop-bots-on-shutdown"], &[]).await;
    o.put_code("u/sos/1", LOOP_BOT);
    for id in ["a", "b", "c"] {
        o.put(bot_payload(id, "u/sos/1", json!({}))).await;
    }
    for id in ["a", "b", "c"] {
        o.wait_state(id, "running", Duration::from_secs(20)).await;
    }
    o.stop().await;
    assert!(containers(&inst, None).is_empty(), "every container stopped and removed: {:?}", containers(&inst, None));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_token_guards_every_route() {
    let inst = unique("tok");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[("THE0_ADMIN_TOKEN", "s3cret")]).await;
    for path in ["/bots", "/bots/x", "/nowhere"] {
        let (status, body) = http_get(&o.admin, path).await;
        assert_eq!(status, 401, "{path} without a token: {body}");
        assert!(!body.contains("s3cret"));
    }
    // The CLI's client sends the token from THE0_ADMIN_TOKEN.
    let (status, v) = o.api("GET", "/bots", None).await;
    assert_eq!(status, 200, "{v}");
    o.put_code("u/tok/1", LOOP_BOT);
    let (status, _) = o.api("PUT", "/bots/t1", Some(bot_payload("t1", "u/tok/1", json!({})))).await;
    assert_eq!(status, 200);
    let mut wrong = o.cli.clone();
    wrong.admin_token = Some("nope".into());
    let (status, _) =
        the0_orchestrator::client::admin_request(&wrong, hyper::Method::DELETE, "/bots/t1", None).await.unwrap();
    assert_eq!(status, 401, "a wrong token is refused");
    assert_eq!(o.api("GET", "/bots/t1", None).await.0, 200, "and changed nothing");
    o.stop().await;
}
