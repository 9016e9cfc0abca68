//! Restarts and outages against the real Docker engine: bots keep running when the orchestrator
//! stops (in process, and the built binary on SIGTERM, as systemd and `docker stop` stop it) and
//! are adopted, not restarted, when it comes back; a spec changed meanwhile is applied
//! after adoption, and so is a restart asked for meanwhile, each told by the event history; Docker going away turns readiness off without stopping health, and the
//! orchestrator resumes by itself when it comes back.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::json;
use tokio::net::{UnixListener, UnixStream};

#[tokio::test(flavor = "multi_thread")]
async fn bots_survive_a_restart_and_are_adopted_then_updated() {
    let inst = unique("ad");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    o.put_code("u/a/1", LOOP_BOT);
    for id in ["a1", "a2", "a3"] {
        o.put(bot_payload(id, "u/a/1", json!({"v": 1}))).await;
    }
    o.wait_state("a1", "running", Duration::from_secs(10)).await;
    o.wait_state("a2", "running", Duration::from_secs(10)).await;
    o.wait_state("a3", "running", Duration::from_secs(10)).await;
    let a1 = running_container(&inst, "a1");
    let a2 = running_container(&inst, "a2");
    let a3 = running_container(&inst, "a3");
    o.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!((running_container(&inst, "a1"), running_container(&inst, "a2")), (a1.clone(), a2.clone()), "D25");

    // While it is down, a2's spec changes (written straight into its store).
    {
        let store = the0_orchestrator::store::Store::open(dir.path()).unwrap();
        let rec = match the0_orchestrator::model::parse_payload(
            bot_payload("a2", "u/a/1", json!({"v": 2})).to_string().as_bytes(),
            false,
        )
        .unwrap()
        {
            the0_orchestrator::model::Change::Upsert(r) => r,
            _ => unreachable!(),
        };
        store.apply(&the0_orchestrator::model::Change::Upsert(rec), the0_orchestrator::store::Mode::Put, None).unwrap();
        // And a restart of a3 is asked for (stored as `restart` stores it).
        store.request_restart("a3", the0_orchestrator::store::now_ms()).unwrap().expect("a3 is stored");
    }
    let o = Orch::start(dir.path(), &inst, &[], &[]).await;
    let new_a2 = eventually(Duration::from_secs(15), || {
        let c = running_container(&inst, "a2");
        (c.len() == 1 && c != a2).then_some(c)
    })
    .expect("changed spec applied after adoption");
    let new_a3 = eventually(Duration::from_secs(15), || {
        let c = running_container(&inst, "a3");
        (c.len() == 1 && c != a3).then_some(c)
    })
    .expect("a restart asked for while the orchestrator was down is carried out when it starts");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(running_container(&inst, "a3"), new_a3, "restarted once");
    assert_eq!(running_container(&inst, "a1"), a1, "adopted, not restarted");
    assert_eq!(running_container(&inst, "a2"), new_a2);
    let st = o.wait_state("a1", "running", Duration::from_secs(5)).await;
    assert_eq!(st["restarts"], 0);
    assert_eq!(containers(&inst, None).len(), 3, "nothing duplicated");
    // The history: each adopted at the start, then a2 replaced for its spec, a3 for the restart.
    let store = the0_orchestrator::store::Store::open(dir.path()).unwrap();
    let after_start = |bot: &str| -> Vec<String> {
        let evs = store.events_since(Some(bot), 0, 100).unwrap();
        let kinds: Vec<String> = evs.iter().map(|e| format!("{}: {}", e.kind_text, e.message)).collect();
        let first = kinds.iter().position(|k| k.starts_with("adopted: ")).unwrap_or(kinds.len());
        kinds[first..].to_vec()
    };
    let a1_events = after_start("a1");
    assert_eq!(a1_events.len(), 1, "{a1_events:?}");
    assert!(a1_events[0].starts_with(&format!("adopted: adopted running container {}", &a1[0][..12])), "{a1_events:?}");
    // a2's new spec is an update handover (on by default): its successor started, the adopted
    // container stopped, the successor released.
    let a2_events = after_start("a2");
    let successor = &new_a2[0][..12];
    assert_eq!(a2_events.len(), 4, "{a2_events:?}");
    assert!(a2_events[1].starts_with(&format!("started: started successor {successor}")), "{a2_events:?}");
    assert!(a2_events[2].ends_with(": the bot's spec changed (its successor is prepared)"), "{a2_events:?}");
    assert!(a2_events[3].starts_with(&format!("released: released successor {successor}")), "{a2_events:?}");
    let a3_all = store.events_since(Some("a3"), 0, 100).unwrap();
    let kinds: Vec<&str> = a3_all.iter().map(|e| e.kind_text.as_str()).collect();
    assert_eq!(kinds, ["started", "restart-requested", "adopted", "stopped", "started"], "{a3_all:?}");
    assert_eq!(store.get("a3").unwrap().unwrap().1.restart_at, None, "the request is settled");
    o.stop().await;
}

/// Container id and start time of each running container of the instance.
fn started(inst: &str) -> Vec<String> {
    let mut ids = containers(inst, Some("running"));
    ids.sort();
    ids.iter().map(|id| docker(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", id])).collect()
}

/// D25 through the binary, as `systemctl stop` and `docker stop` end it: SIGTERM makes it exit
/// cleanly (status 0) and leaves its bots running, untouched (same containers, same start time).
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_to_the_binary_leaves_its_bots_running() {
    let inst = unique("st");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let admin = free_addr();
    let mut cli = test_cli(dir.path(), &inst, &[], &[]);
    cli.admin_addr = admin.clone();
    let code = dir.path().join("objects/custom-bots/u/st/1");
    std::fs::create_dir_all(code.parent().unwrap()).unwrap();
    std::fs::write(&code, zip_script(LOOP_BOT)).unwrap();
    let mut cmd = orchestrator_cmd(dir.path(), &inst, &admin, "127.0.0.1:0");
    cmd.arg("serve").stdout(std::process::Stdio::null());
    let mut child = KillOnDrop(cmd.spawn().expect("spawn orchestrator"));

    let put = |id: &'static str| {
        let cli = cli.clone();
        async move {
            let (path, body) = (format!("/bots/{id}"), Some(bot_payload(id, "u/st/1", json!({}))));
            let r = the0_orchestrator::client::admin_request(&cli, hyper::Method::PUT, &path, body).await;
            r.ok().filter(|(s, _)| *s == 200)
        }
    };
    for id in ["s1", "s2"] {
        eventually_async(Duration::from_secs(30), || put(id)).await.expect("bot stored through the admin API");
    }
    let before = eventually(Duration::from_secs(30), || Some(started(&inst)).filter(|s| s.len() == 2))
        .expect("both bots running");

    let pid = child.0.id().to_string();
    let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(kill.success());
    let status = eventually(Duration::from_secs(60), || child.0.try_wait().ok().flatten())
        .expect("the orchestrator exits after SIGTERM");
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert_eq!(started(&inst), before, "D25: the same containers still run, never restarted");
}

/// A unix-socket proxy to the real engine that can be taken down and brought back.
struct Proxy {
    path: PathBuf,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    fn up(path: PathBuf) -> Proxy {
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).expect("bind proxy socket");
        let task = tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut d) = UnixStream::connect("/var/run/docker.sock").await {
                        let _ = tokio::io::copy_bidirectional(&mut c, &mut d).await;
                    }
                });
            }
        });
        Proxy { path, task: Some(task) }
    }

    fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_going_away_turns_readiness_off_and_work_resumes_by_itself() {
    let inst = unique("dk");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let mut proxy = Proxy::up(sock.clone());
    let host = format!("unix://{}", sock.display());
    let o = Orch::start(dir.path(), &inst, &["--reconcile-interval", "1s"], &[("DOCKER_HOST", &host)]).await;
    eventually_async(Duration::from_secs(10), || async {
        (http_get(&o.health, "/readyz").await.0 == 200).then_some(())
    })
    .await
    .expect("ready with Docker up");
    proxy.down();
    eventually_async(Duration::from_secs(15), || async {
        let (s, b) = http_get(&o.health, "/readyz").await;
        (s == 503 && b == "not ready").then_some(())
    })
    .await
    .expect("not ready without Docker");
    assert_eq!(o.get_text("/healthz").await, (200, "ok".to_string()), "health keeps serving");
    // A bot registered while Docker is away starts once it is back.
    o.put_code("u/d/1", LOOP_BOT);
    o.put(bot_payload("d1", "u/d/1", json!({}))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(running_container(&inst, "d1").is_empty());
    let _proxy = Proxy::up(sock.clone());
    o.wait_state("d1", "running", Duration::from_secs(15)).await;
    eventually_async(Duration::from_secs(10), || async {
        (http_get(&o.health, "/readyz").await.0 == 200).then_some(())
    })
    .await
    .expect("ready again");
    let (_, m) = o.get_text("/metrics").await;
    assert!(m.lines().any(|l| l.starts_with("the0_docker_errors_total ") && !l.ends_with(" 0")), "{m}");
    o.stop().await;
}
