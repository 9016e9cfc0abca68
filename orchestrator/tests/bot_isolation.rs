//! Bots cannot reach each other nor the orchestrator's APIs (issue #10, item 3). `serve` without
//! `DOCKER_NETWORK` puts bots on `the0-bots` (inter-container traffic off): bot A's `wget` to bot
//! B's :9476 fails, and so do its tries at :9477, the admin API and health through the gateway and
//! `host.docker.internal`; the host-side :9477 query to B still works.

mod common;
mod query_common;

use std::time::Duration;

use common::*;
use query_common::*;
use serde_json::json;

// busybox `nc` (its `wget` crashes in the scratch test image): REACHED when an HTTP answer comes.
const PROBE: &str = "#!/bin/sh
probe() {
  if printf 'GET %s HTTP/1.0\\r\\n\\r\\n' \"$4\" | nc -w 3 \"$2\" \"$3\" 2>/dev/null | grep -q '^HTTP/'; then
    echo \"PROBE $1 REACHED\"
  else
    echo \"PROBE $1 BLOCKED\"
  fi
}
";

#[tokio::test(flavor = "multi_thread")]
async fn a_bot_reaches_neither_another_bot_nor_the_apis() {
    let dir = tempfile::tempdir().unwrap();
    let inst = unique("iso");
    let _guard = Cleanup(inst.clone());
    // An empty DOCKER_NETWORK counts as not set: the orchestrator chooses the network.
    let o = Orch::start(dir.path(), &inst, &[], &[("DOCKER_NETWORK", "")]).await;
    let b = unique("ib");
    let key = format!("u/{b}/1");
    put_query_code(&o.objects(), &key);
    o.put(query_payload(&b, &key, json!({}), true)).await;
    o.wait_state(&b, "running", Duration::from_secs(90)).await;
    // The host still reaches B's :9476 through :9477.
    let mut answered = false;
    for _ in 0..300 {
        let (s, v) = query(&o.query, json!({"bot_id": b, "query_path": "/cgi-bin/echo", "timeout_sec": 5})).await;
        if s == 200 && v["data"]["method"] == "POST" {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the host-side query to the realtime bot never answered");
    let bc = running_container(&inst, &b);
    assert_eq!(bc.len(), 1);
    let nets = docker(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}} {{$v.Gateway}}{{end}}",
        &bc[0],
    ]);
    let f: Vec<&str> = nets.split_whitespace().collect();
    assert_eq!(f.first().copied(), Some("the0-bots"), "bot B's networks: {nets}");
    let (b_ip, gw) = (f[1], f[2]);
    let port = |a: &str| a.rsplit(':').next().unwrap().to_string();
    let (qp, ap, hp) = (port(&o.query), port(&o.admin), port(&o.health));
    let script = format!(
        "{PROBE}probe bot-9476 {b_ip} 9476 /cgi-bin/echo
probe gw-query {gw} {qp} /health
probe hdi-query host.docker.internal {qp} /health
probe gw-admin {gw} {ap} /bots
probe hdi-admin host.docker.internal {ap} /bots
probe gw-health {gw} {hp} /healthz
probe hdi-health host.docker.internal {hp} /metrics
echo PROBES-DONE
while true; do sleep 1; done
"
    );
    let a = unique("ia");
    o.put_code(&format!("u/{a}/1"), &script);
    o.put(bot_payload(&a, &format!("u/{a}/1"), json!({}))).await;
    o.wait_state(&a, "running", Duration::from_secs(90)).await;
    let ac = running_container(&inst, &a);
    let logs = eventually(Duration::from_secs(90), || {
        let out = std::process::Command::new("docker").args(["logs", &ac[0]]).output().ok()?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        text.contains("PROBES-DONE").then_some(text)
    })
    .expect("bot A's probes finished");
    let probes: Vec<&str> = logs.lines().filter(|l| l.contains("PROBE ")).collect();
    assert_eq!(probes.len(), 7, "{logs}");
    for p in &probes {
        assert!(p.contains(" BLOCKED") && !p.contains(" REACHED"), "bot A reached something: {p}\n{logs}");
    }
    o.stop().await;
}
