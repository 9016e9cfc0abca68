//! The :9477 query API's Kubernetes half at the client level: the production
//! [`Jobs`] (the query server's [`Backend`] in controller mode) and [`PodLocate`] over a
//! `kube::Client` on `tower_test::mock::pair` (harness in `kube_mock`), under paused tokio time
//! (`start_paused`: the 500 ms polls and the query's timeout pass without waiting), with local
//! object storage for the query results.
//!
//! What it proves, as the exact requests sent (method, path, query string, JSON body):
//! - a scheduled bot's query: one POST of the query Job (`query-<id>-<nanos>`, its labels,
//!   `activeDeadlineSeconds` = timeout + 30, `backoffLimit` 0, `ttlSecondsAfterFinished`), then
//!   GETs of that Job until its status says Complete; the result object is read and deleted, the
//!   envelope returned, and nothing is sent after the answer;
//! - a Failed Job: the pods listed by `job-name=<job>`, the `bot` container's log read with
//!   `tailLines=100` and `limitBytes=65536`, the error envelope quoting it;
//! - a Job still running at the query's timeout: one DELETE of it with background propagation,
//!   and Docker mode's timeout envelope;
//! - a realtime bot whose pod runs with a ready `query-server` and a podIP: one GET of the pod,
//!   its IP is the proxy's address, no Job request;
//! - a 500 on the Job POST: the error envelope names the failure, nothing else is sent.
//!
//! What it does not prove: the API server's behaviour (the replies are scripted; `kube_query`
//! runs the same path against the stateful fake server), the HTTP layer of :9477 (the test calls
//! the backend as the handler does, not over a socket), the proxy's HTTP exchange with the pod,
//! and real time.

mod kube_mock;
mod kube_record;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_mock::{list, ok, status, text, Recorded, Reply};
use kube_record::{env_of, record_with_query};
use serde_json::{json, Value};
use the0_contract::query::Envelope;
use the0_orchestrator::kube::podaddr::PodLocate;
use the0_orchestrator::kube::queryjobs::Jobs;
use the0_orchestrator::kube::KubeSettings;
use the0_orchestrator::query::backend::Backend;
use the0_orchestrator::query::index::IndexedBot;
use the0_orchestrator::query::realtime::Realtime;
use the0_orchestrator::query::request::parse;
use the0_orchestrator::query::result::Results;

const NS: &str = "the0";
const JOBS: &str = "/apis/batch/v1/namespaces/the0/jobs";
const PODS: &str = "/api/v1/namespaces/the0/pods";

fn settings() -> KubeSettings {
    KubeSettings { namespace: NS.into(), ..KubeSettings::default() }
}

/// Local query-results storage under `dir`.
fn results(dir: &Path) -> Results {
    let root = dir.join("objects");
    std::fs::create_dir_all(&root).expect("objects dir");
    let store =
        the0_objstore::Store::open(&the0_objstore::StoreSettings::Local { root: root.clone() }).expect("local objects");
    Results { objects: Arc::new(store), bucket: settings().buckets.query_results, local_root: Some(root) }
}

fn result_file(dir: &Path, key: &str) -> PathBuf {
    dir.join("objects").join("query-results").join(key)
}

/// Runs one one-shot query for `bot` (a record with a query entrypoint and `config`) through
/// the production backend, as the query server's handler does, with `responder` as the API
/// server.
async fn one_shot<F>(dir: &Path, config: Value, body: Value, responder: F) -> (Envelope, kube_mock::Server)
where
    F: FnMut(&Recorded) -> Reply + Send + 'static,
{
    let (client, server) = kube_mock::client(NS, responder);
    let s = settings();
    let bot = Arc::new(IndexedBot::of(&record_with_query("b1", config, true), &s.images));
    let launch = bot.launch.clone().expect("a runnable bot");
    let req = parse(body.to_string().as_bytes()).expect("a query request");
    let jobs = Arc::new(Jobs::new(client, s, results(dir), 4));
    let slot = jobs.try_slot().expect("a free slot");
    let env = jobs.one_shot(slot, launch, bot, req).await;
    (env, server)
}

/// A Job's name as the controller makes it: `query-b1-<unix nanos>`.
fn is_query_job_name(name: &str) -> bool {
    name.strip_prefix("query-b1-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Settles the runtime and lets a minute of paused time pass: a request sent after the answer
/// would be recorded by then.
async fn later() {
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_bots_job_is_created_polled_until_complete_and_its_result_read_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    let written: Arc<Mutex<Option<PathBuf>>> = Arc::default();
    let seen = written.clone();
    let mut polls = 0;
    let responder = move |req: &Recorded| match req.method.as_str() {
        "POST" => {
            // The bot's query program writes its answer where the Job tells it to.
            let key = env_of(&req.body, "QUERY_RESULT_KEY").expect("the Job names its result key");
            let file = result_file(&root, &key);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("result dir");
            std::fs::write(&file, br#"{"status":"ok","data":{"runs":[1,2]}}"#).expect("write result");
            *seen.lock().expect("lock") = Some(file);
            ok(201, req.body.clone())
        }
        "GET" => {
            polls += 1;
            let mut job =
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": req.path.rsplit('/').next()}});
            job["status"] = if polls < 3 {
                json!({"active": 1})
            } else {
                json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
            };
            ok(200, job)
        }
        _ => status(500, "InternalError", "not expected"),
    };
    let body = json!({"bot_id": "b1", "query_path": "/runs", "params": {"last": 2}, "timeout_sec": 60});
    let (env, server) = one_shot(dir.path(), json!({"schedule": "0 * * * *"}), body, responder).await;
    assert_eq!(env, Envelope::ok(json!({"runs": [1, 2]})));

    let sent = server.log.all();
    let post = &sent[0];
    assert_eq!((post.method.as_str(), post.path.as_str(), post.query.as_str()), ("POST", JOBS, ""));
    let job = &post.body;
    let name = job["metadata"]["name"].as_str().expect("a Job name").to_string();
    assert!(is_query_job_name(&name), "{name}");
    assert_eq!(job["metadata"]["labels"]["the0.app/managed-by"], "the0-query-handler");
    assert_eq!(job["metadata"]["labels"]["the0.app/bot-id"], "b1");
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 90, "the query's timeout + 30 s (D21)");
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert!(job["spec"]["ttlSecondsAfterFinished"].as_i64().is_some_and(|t| t > 0), "{job}");
    assert_eq!(env_of(job, "QUERY_PATH").as_deref(), Some("/runs"));
    assert_eq!(env_of(job, "QUERY_PARAMS").as_deref(), Some(r#"{"last":2}"#));
    let job_path = format!("{JOBS}/{name}");
    let rest: Vec<(String, String, String)> =
        sent[1..].iter().map(|r| (r.method.clone(), r.path.clone(), r.query.clone())).collect();
    let get = ("GET".to_string(), job_path, String::new());
    assert_eq!(rest, [get.clone(), get.clone(), get], "polled until Complete, then no other call");

    let file = written.lock().expect("lock").clone().expect("the result was written");
    assert!(!file.exists(), "the result object is deleted after it was read (D19)");
    later().await;
    assert_eq!(server.log.len(), 4, "nothing after the answer: {:?}", server.log.lines());
}

#[tokio::test(start_paused = true)]
async fn a_failed_job_lists_its_pod_and_quotes_its_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let responder = move |req: &Recorded| match (req.method.as_str(), req.path.as_str()) {
        ("POST", JOBS) => ok(201, req.body.clone()),
        ("GET", PODS) => {
            let job = req.query.split("job-name%3D").nth(1).unwrap_or_default().to_string();
            list("Pod", "v1", vec![json!({"metadata": {"name": format!("{job}-x7k2p"), "labels": {"job-name": job}}})])
        }
        ("GET", p) if p.ends_with("/log") => text(200, "Traceback (most recent call last):\nKeyError: 'price'\n"),
        ("GET", p) if p.starts_with(JOBS) => ok(
            200,
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": p.rsplit('/').next()},
                "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True",
                    "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}}),
        ),
        _ => status(500, "InternalError", "not expected"),
    };
    let (env, server) = one_shot(
        dir.path(),
        json!({"schedule": "0 * * * *"}),
        json!({"bot_id": "b1", "query_path": "/status", "timeout_sec": 60}),
        responder,
    )
    .await;

    let sent = server.log.all();
    let name = sent[0].body["metadata"]["name"].as_str().expect("a Job name").to_string();
    assert!(is_query_job_name(&name), "{name}");
    let pod = format!("{name}-x7k2p");
    let got: Vec<(String, String, String)> =
        sent.iter().map(|r| (r.method.clone(), r.path.clone(), r.query.clone())).collect();
    let want = [
        ("POST", JOBS.to_string(), String::new()),
        ("GET", format!("{JOBS}/{name}"), String::new()),
        ("GET", PODS.to_string(), format!("&labelSelector=job-name%3D{name}")),
        ("GET", format!("{PODS}/{pod}/log"), "&container=bot&limitBytes=65536&tailLines=100".to_string()),
    ]
    .map(|(m, p, q)| (m.to_string(), p, q));
    assert_eq!(got, want);
    assert_eq!(
        env,
        Envelope::error(format!(
            "query job {name} failed: BackoffLimitExceeded: Job has reached the specified backoff limit: \
             Traceback (most recent call last):\nKeyError: 'price'"
        )),
        "the error quotes the bot container's log, as Docker mode's does"
    );
    later().await;
    assert_eq!(server.log.len(), 4, "nothing after the answer: {:?}", server.log.lines());
}

#[tokio::test(start_paused = true)]
async fn a_job_running_at_the_querys_timeout_is_deleted_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let responder = move |req: &Recorded| match req.method.as_str() {
        "POST" => ok(201, req.body.clone()),
        "GET" => ok(
            200,
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": req.path.rsplit('/').next()},
                "status": {"active": 1}}),
        ),
        "DELETE" => ok(200, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})),
        _ => status(500, "InternalError", "not expected"),
    };
    let (env, server) = one_shot(
        dir.path(),
        json!({"schedule": "0 * * * *"}),
        json!({"bot_id": "b1", "query_path": "/hang", "timeout_sec": 1}),
        responder,
    )
    .await;
    assert_eq!(env, Envelope::error("query timed out after 1s"), "Docker mode's timeout envelope");

    let sent = server.log.all();
    let name = sent[0].body["metadata"]["name"].as_str().expect("a Job name").to_string();
    let job_path = format!("{JOBS}/{name}");
    let lines: Vec<String> = sent.iter().map(Recorded::line).collect();
    let get = format!("GET {job_path}");
    // Polled at 0 and 0.5 s of the 1 s timeout; at 1 s it is deleted.
    assert_eq!(lines, [format!("POST {JOBS}"), get.clone(), get, format!("DELETE {job_path}")]);
    let delete = &sent[3];
    assert_eq!(delete.body["propagationPolicy"], "Background", "D21: its pod goes too: {delete:?}");
    later().await;
    assert_eq!(server.log.len(), 4, "nothing after the answer: {:?}", server.log.lines());
}

#[tokio::test(start_paused = true)]
async fn a_realtime_bots_running_ready_pod_is_proxied_to_by_its_ip_with_no_job() {
    let responder = |req: &Recorded| match (req.method.as_str(), req.path.as_str()) {
        ("GET", p) if p == format!("{PODS}/bot-b1") => ok(
            200,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bot-b1"},
                "status": {"phase": "Running", "podIP": "10.1.2.3", "containerStatuses": [
                    {"name": "query-server", "ready": true, "restartCount": 0, "image": "i", "imageID": ""}]}}),
        ),
        _ => status(500, "InternalError", "not expected"),
    };
    let (client, server) = kube_mock::client(NS, responder);
    let dir = tempfile::tempdir().expect("tempdir");
    let s = settings();
    let bot = IndexedBot::of(&record_with_query("b1", json!({}), true), &s.images);
    assert!(bot.proxied(), "a realtime bot with a query entrypoint is proxied when it runs");
    let realtime = Realtime::with_source(Arc::new(PodLocate::new(client.clone(), NS)));
    let jobs = Jobs::new(client, s, results(dir.path()), 4);

    let running = jobs.running("b1", &realtime).await.expect("the pod was read");
    assert_eq!(running.as_deref(), Some("bot-b1"), "the proxy's key is the bot's pod");
    let ip = realtime.address("bot-b1").await.expect("cached address");
    assert_eq!(ip.as_deref(), Some("10.1.2.3"), "the proxy target is the pod's IP");

    let sent = server.log.all();
    assert_eq!(sent.len(), 1, "the pod read once (then cached): {:?}", server.log.lines());
    assert_eq!((sent[0].line(), sent[0].query.as_str()), (format!("GET {PODS}/bot-b1"), ""));
    assert!(!sent.iter().any(|r| r.path.starts_with("/apis/batch")), "no Job request");
}

#[tokio::test(start_paused = true)]
async fn a_500_on_the_job_post_is_an_error_envelope_and_nothing_else_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (env, server) = one_shot(
        dir.path(),
        json!({"schedule": "0 * * * *"}),
        json!({"bot_id": "b1", "query_path": "/status", "timeout_sec": 60}),
        kube_mock::script(vec![status(500, "InternalError", "etcdserver: request timed out")]),
    )
    .await;
    let sent = server.log.all();
    assert_eq!(sent.len(), 1, "{:?}", server.log.lines());
    assert_eq!(sent[0].line(), format!("POST {JOBS}"));
    let name = sent[0].body["metadata"]["name"].as_str().expect("a Job name").to_string();
    assert!(is_query_job_name(&name), "{name}");
    let err = env.error.clone().unwrap_or_default();
    assert_eq!(env.status, "error");
    assert!(
        err.starts_with(&format!("failed to create query job {name}: "))
            && err.contains("etcdserver: request timed out"),
        "{err}"
    );
    later().await;
    assert_eq!(server.log.len(), 1, "nothing after the answer: {:?}", server.log.lines());
}
