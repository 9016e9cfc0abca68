//! The standalone commands that talk to a running `orchestrator serve`: `deploy`, `list`,
//! `remove`, `restart`, `events` (through the admin API, with the bearer token) and `logs`, `stop-all` (straight to
//! Docker, and to stored logs when the bot has no container). A tiny HTTP/1 client is enough here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::config::{Cli, StateAction};
use crate::docker::{Docker, DockerError};
use crate::logwindow::{LogWindow, Tail};
use crate::metrics::Metrics;
use crate::objects::ObjectsError;
use crate::reconcile::ReconcileError;
use crate::spec::container_name;
use crate::{deploy, objects, reconcile, render};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot reach the orchestrator at {addr} ({err}): start it with `orchestrator serve`")]
    Unreachable { addr: String, err: String },
    #[error("orchestrator answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error(transparent)]
    Request(#[from] hyper::http::Error),
    #[error(transparent)]
    Reply(hyper::Error),
    #[error("bad reply: {0}")]
    BadReply(serde_json::Error),
    #[error("bad reply: not a list")]
    NotAList,
    #[error(transparent)]
    Deploy(#[from] deploy::DeployError),
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    #[error("bot id {0:?} is not a safe name; pass --id")]
    UnsafeId(String),
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    #[error(transparent)]
    Storage(Box<the0_objstore::Error>),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Output(std::io::Error),
    #[error(transparent)]
    Follow(#[from] crate::logfollow::FollowError),
    #[error("bot {0:?} has no container and no stored logs")]
    NoLogs(String),
    #[error(
        "an orchestrator answers on {0}: stop it first (with --stop-bots-on-shutdown it stops its bots), \
         else it would start them again"
    )]
    ServerRunning(String),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("run {seq} of bot {id:?} is still {outcome} after {within:?}: `runs {id}` shows it when it ends")]
    RunNotEnded { id: String, seq: i64, outcome: String, within: Duration },
    #[error("run {seq} of bot {id:?} is no longer recorded (the bot was removed?)")]
    RunGone { id: String, seq: i64 },
    #[error("run {seq} of bot {id:?} {outcome}")]
    RunFailed { id: String, seq: i64, outcome: String },
}

impl From<the0_objstore::Error> for CliError {
    fn from(e: the0_objstore::Error) -> CliError {
        CliError::Storage(Box::new(e))
    }
}

fn file(path: &Path) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::File { path: path.to_path_buf(), source }
}

/// One request to the admin API; returns the status and body.
pub async fn admin_request(
    cli: &Cli,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Bytes), CliError> {
    request(&cli.admin_addr, cli.admin_token.as_deref(), method, path, body, REPLY_WITHIN).await
}

/// How long a request waits for its answer.
const REPLY_WITHIN: Duration = Duration::from_secs(30);
/// `state ID rm KEY --restart` waits for the bot's container to stop (up to 90 s on the server).
const EDIT_WITHIN: Duration = Duration::from_secs(150);

/// `healthcheck`: `GET /healthz` on the health address, for a container's HEALTHCHECK (a minimal
/// image has no curl). An unspecified bind address (`0.0.0.0:8080`) is asked on loopback.
pub async fn healthcheck(cli: &Cli) -> Result<(), CliError> {
    let addr = probe_addr(&cli.health_addr);
    let (status, body) = request(&addr, None, Method::GET, "/healthz", None, REPLY_WITHIN).await?;
    if status != 200 {
        return Err(CliError::Status { status, body: String::from_utf8_lossy(&body).into_owned() });
    }
    Ok(())
}

/// The address a local probe connects to for a listener bound to `bind`: an unspecified address
/// becomes the loopback address of its family; anything else (a name, a specific IP) is kept.
pub fn probe_addr(bind: &str) -> String {
    match bind.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_unspecified() => {
            let ip: std::net::IpAddr =
                if a.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
            std::net::SocketAddr::new(ip, a.port()).to_string()
        }
        _ => bind.to_string(),
    }
}

/// One HTTP/1 request to `addr` (with a bearer token when given); returns the status and body.
async fn request(
    addr: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
    deadline: Duration,
) -> Result<(u16, Bytes), CliError> {
    let addr = addr.to_string();
    let unreachable = |err: String| CliError::Unreachable { addr: addr.clone(), err };
    let connect = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(&addr));
    let stream = connect.await.map_err(|_| unreachable("timed out".into()))?.map_err(|e| unreachable(e.to_string()))?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(conn);
    let mut req = Request::builder().method(method).uri(path).header("host", addr.as_str());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    let req = req.header("content-type", "application/json").body(Full::new(body))?;
    let exchange = async {
        let resp = send.send_request(req).await.map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(CliError::Reply)?.to_bytes();
        Ok::<_, CliError>((status, body))
    };
    tokio::time::timeout(deadline, exchange).await.map_err(|_| unreachable("timed out".into()))?
}

fn ok(status: u16, body: Bytes) -> Result<Value, CliError> {
    if !(200..300).contains(&status) {
        // The admin API's errors are `{"error": "..."}`: print the message, not the JSON.
        let body = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(CliError::Status { status, body });
    }
    serde_json::from_slice(&body).map_err(CliError::BadReply)
}

/// `query ID PATH [KEY=VALUE…]`: `POST /query` on the :9477 query API, as the0's API asks it.
/// Returns the answer's envelope; a non-2xx answer is an error carrying its message.
pub async fn query(cli: &Cli, id: &str, path: &str, params: &[(String, String)]) -> Result<Value, CliError> {
    let params: serde_json::Map<String, Value> =
        params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let body = serde_json::json!({"bot_id": id, "query_path": path, "params": params});
    let addr = probe_addr(&cli.query.addr());
    let (status, reply) =
        request(&addr, cli.query.token.as_deref(), Method::POST, "/query", Some(body), REPLY_WITHIN).await?;
    if !(200..300).contains(&status) {
        // The query API's errors are `{"status":"error","error"|"message": "..."}`.
        let v = serde_json::from_slice::<Value>(&reply).ok();
        let msg = v.as_ref().and_then(|v| v["error"].as_str().or_else(|| v["message"].as_str())).map(str::to_string);
        let body = msg.unwrap_or_else(|| String::from_utf8_lossy(&reply).into_owned());
        return Err(CliError::Status { status, body });
    }
    serde_json::from_slice(&reply).map_err(CliError::BadReply)
}

/// `deploy <dir>`: zip, store the code object, register the bot. Returns the bot's view.
pub async fn deploy(cli: &Cli, dir: &std::path::Path, id: Option<&str>) -> Result<Value, CliError> {
    let manifest_path = dir.join("bot-config.yaml");
    let text = std::fs::read_to_string(&manifest_path).map_err(file(&manifest_path))?;
    let manifest = deploy::parse_manifest(&text)?;
    let config = deploy::read_config(dir, &manifest)?;
    let id = match id {
        Some(i) => i.to_string(),
        None => deploy::id_from(config.get("name").and_then(Value::as_str).unwrap_or(&manifest.name)),
    };
    if !crate::model::is_safe_id(&id) {
        return Err(CliError::UnsafeId(id));
    }
    // Fail early, before uploading anything, if the server is not there.
    admin_request(cli, Method::GET, "/bots", None).await?;
    let tmp = tempfile_in(&cli.data_dir)?;
    let mut f = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&tmp).map_err(file(&tmp))?;
    let zipped = deploy::zip_dir(dir, &mut f).map_err(CliError::Deploy);
    drop(f);
    let result = async {
        let sha = zipped?;
        let key = deploy::code_key(&id, &manifest.version, &sha);
        let store = objects::open(&cli.host, &cli.region)?;
        let bucket = &cli.host.buckets.code;
        store.ensure_bucket(bucket).await?;
        store.put_file(bucket, &key, &tmp, "application/zip").await?;
        let now = the0_contract::timefmt::rfc3339_seconds(std::time::SystemTime::now());
        let body = deploy::payload(&id, &manifest, config, &key, &now);
        let (status, body) = admin_request(cli, Method::PUT, &format!("/bots/{id}"), Some(body)).await?;
        ok(status, body)
    }
    .await;
    let _ = std::fs::remove_file(&tmp);
    result
}

fn tempfile_in(dir: &std::path::Path) -> Result<std::path::PathBuf, CliError> {
    std::fs::create_dir_all(dir).map_err(file(dir))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Ok(dir.join(format!(".deploy-{}-{nanos}.zip", std::process::id())))
}

pub async fn list(cli: &Cli) -> Result<Vec<Value>, CliError> {
    let (s, b) = admin_request(cli, Method::GET, "/bots", None).await?;
    match ok(s, b)? {
        Value::Array(a) => Ok(a),
        _ => Err(CliError::NotAList),
    }
}

/// `show ID`: `GET /bots/{id}`.
pub async fn show(cli: &Cli, id: &str) -> Result<Value, CliError> {
    let (s, b) = admin_request(cli, Method::GET, &bot_path(id, ""), None).await?;
    ok(s, b)
}

/// `runs ID`: `GET /bots/{id}/runs`, newest first.
pub async fn runs(cli: &Cli, id: &str) -> Result<Vec<Value>, CliError> {
    let (s, b) = admin_request(cli, Method::GET, &bot_path(id, "/runs"), None).await?;
    match ok(s, b)? {
        Value::Array(a) => Ok(a),
        _ => Err(CliError::NotAList),
    }
}

/// `enable ID` / `disable ID`: `POST /bots/{id}/enable|disable`; returns the bot's view.
pub async fn set_enabled(cli: &Cli, id: &str, enabled: bool) -> Result<Value, CliError> {
    let action = if enabled { "/enable" } else { "/disable" };
    let (s, b) = admin_request(cli, Method::POST, &bot_path(id, action), None).await?;
    ok(s, b)
}

/// `restart ID`: `POST /bots/{id}/restart`; returns the bot's view.
pub async fn restart(cli: &Cli, id: &str) -> Result<Value, CliError> {
    let (s, b) = admin_request(cli, Method::POST, &bot_path(id, "/restart"), None).await?;
    ok(s, b)
}

/// `run ID`: `POST /bots/{id}/run`; returns `{"id", "seq", "outcome": "requested"}`.
pub async fn request_run(
    cli: &Cli,
    id: &str,
    config: Option<&Value>,
    timeout_s: Option<i64>,
) -> Result<Value, CliError> {
    let mut body = serde_json::Map::new();
    if let Some(c) = config {
        body.insert("config".into(), c.clone());
    }
    if let Some(t) = timeout_s {
        body.insert("timeout_s".into(), t.into());
    }
    let (s, b) = admin_request(cli, Method::POST, &bot_path(id, "/run"), Some(Value::Object(body))).await?;
    ok(s, b)
}

/// `run ID --wait`: the run `seq` of `id` once it has ended, asked every second. Bounded by
/// `within` (the run's own deadline plus its stop and a margin): a run nobody starts (no process
/// with the scheduler role) is an error, not a hang.
pub async fn wait_run(cli: &Cli, id: &str, seq: i64, within: Duration) -> Result<Value, CliError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let run = runs(cli, id).await?.into_iter().find(|r| r["seq"] == seq);
        match run {
            Some(r) if !matches!(r["outcome"].as_str(), Some("requested" | "running")) => return Ok(r),
            Some(r) if tokio::time::Instant::now() >= deadline => {
                return Err(CliError::RunNotEnded { id: id.into(), seq, outcome: render::cell(&r["outcome"]), within })
            }
            None => return Err(CliError::RunGone { id: id.into(), seq }),
            Some(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// `state ID …`: `GET /bots/{id}/state` (the keys), `GET /bots/{id}/state/{key}` (one value) or
/// `DELETE /bots/{id}/state/{key}[?restart=true]`; returns the reply.
pub async fn state(cli: &Cli, id: &str, action: &StateAction) -> Result<Value, CliError> {
    let key_path = |k: &str| bot_path(id, &format!("/state/{}", crate::http::percent_encode(k)));
    let (s, b) = match action {
        StateAction::List => admin_request(cli, Method::GET, &bot_path(id, "/state"), None).await?,
        StateAction::Get(k) => admin_request(cli, Method::GET, &key_path(k), None).await?,
        StateAction::Remove { key, restart } => {
            let path = if *restart { format!("{}?restart=true", key_path(key)) } else { key_path(key) };
            let token = cli.admin_token.as_deref();
            request(&cli.admin_addr, token, Method::DELETE, &path, None, EDIT_WITHIN).await?
        }
    };
    ok(s, b)
}

/// `GET /events`: of `bot` or of all, after `since` (oldest first) or the newest `limit`.
pub async fn events(cli: &Cli, bot: Option<&str>, since: Option<i64>, limit: i64) -> Result<Vec<Value>, CliError> {
    let mut path = format!("/events?limit={limit}");
    if let Some(b) = bot {
        path.push_str(&format!("&bot={}", crate::http::percent_encode(b)));
    }
    if let Some(s) = since {
        path.push_str(&format!("&since={s}"));
    }
    let (s, b) = admin_request(cli, Method::GET, &path, None).await?;
    match ok(s, b)? {
        Value::Array(a) => Ok(a),
        _ => Err(CliError::NotAList),
    }
}

/// How often `events -f` asks for new events.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// `events -f`: prints the newest `limit` events with `print`, then every [`FOLLOW_EVERY`] the
/// ones after the last printed, until `stop` resolves (Ctrl-C) or the server cannot be asked.
pub async fn follow_events(
    cli: &Cli,
    bot: Option<&str>,
    limit: i64,
    print: &mut (dyn FnMut(&[Value]) -> Result<(), CliError> + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), CliError> {
    tokio::pin!(stop);
    let mut since = None;
    loop {
        let got =
            events(cli, bot, since, if since.is_some() { crate::admin::events::MAX_LIMIT } else { limit }).await?;
        print(&got)?;
        since = got.last().and_then(|e| e["seq"].as_i64()).or(since).or(Some(0));
        // A full page: ask again at once.
        if got.len() as i64 >= crate::admin::events::MAX_LIMIT {
            continue;
        }
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}

/// `/bots/{id}{suffix}`, refusing an id that is not one (it would name another route).
fn bot_path(id: &str, suffix: &str) -> String {
    format!("/bots/{}{suffix}", crate::http::percent_encode(id))
}

pub async fn remove(cli: &Cli, id: &str) -> Result<Value, CliError> {
    let (s, b) = admin_request(cli, Method::DELETE, &bot_path(id, ""), None).await?;
    ok(s, b)
}

/// Writes the bot's output to `out`: from its container (followed with `follow`), else every
/// stored daily log object in order.
/// `logs ID [-f] [--tail N] [--since D]`: the container's output, else the stored logs, cut to
/// `window` the same way on both paths.
pub async fn logs(
    cli: &Cli,
    id: &str,
    follow: bool,
    window: &LogWindow,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), Arc::new(Metrics::default()))?;
    let name = container_name(id, cli.host.instance.as_deref());
    if follow && docker.observe().await?.iter().any(|o| o.bot_id == id) {
        // Across container replacements, until stopped (logfollow).
        let bots = std::collections::HashSet::from([id.to_string()]);
        return Ok(crate::logfollow::follow(&docker, Some(&bots), window, false, out).await?);
    }
    let mut s = Box::pin(docker.logs(&name, follow, window.tail, window.since_seconds()));
    let mut any = false;
    while let Some(chunk) = s.next().await {
        match chunk {
            Ok(b) => {
                any = true;
                out.write_all(&b).map_err(CliError::Output)?;
                let _ = out.flush();
            }
            Err(e) if !any && e.to_string().contains("404") => return stored_logs(cli, id, window, out).await,
            Err(e) if !any => {
                if e.to_string().contains("No such container") {
                    return stored_logs(cli, id, window, out).await;
                }
                return Err(CliError::Docker(e));
            }
            Err(_) => break,
        }
    }
    Ok(())
}

/// `logs --all [-f]`: every bot's container output, each line prefixed with its bot's id; with
/// `follow`, bots are followed across replacements and bots that start later are picked up.
pub async fn logs_all(
    cli: &Cli,
    follow: bool,
    window: &LogWindow,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), Arc::new(Metrics::default()))?;
    if follow {
        return Ok(crate::logfollow::follow(&docker, None, window, true, out).await?);
    }
    let mut seen = docker.observe().await?;
    seen.sort_by(|a, b| (&a.bot_id, a.created_ms).cmp(&(&b.bot_id, b.created_ms)));
    for o in seen {
        let mut s = Box::pin(docker.logs(&o.container, false, window.tail, window.since_seconds()));
        let mut buf = Vec::new();
        while let Some(chunk) = s.next().await {
            buf.extend_from_slice(&chunk?);
        }
        for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            write!(out, "{} | ", o.bot_id).map_err(CliError::Output)?;
            out.write_all(line).map_err(CliError::Output)?;
            out.write_all(b"\n").map_err(CliError::Output)?;
        }
    }
    Ok(())
}

async fn stored_logs(cli: &Cli, id: &str, window: &LogWindow, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let store = objects::open(&cli.host, &cli.region)?;
    let bucket = &cli.host.buckets.logs;
    let mut objs = store.list(bucket, &the0_contract::keys::log_prefix(id)).await?;
    objs.sort_by(|a, b| a.key.cmp(&b.key));
    if objs.is_empty() {
        return Err(CliError::NoLogs(id.to_string()));
    }
    let whole = *window == LogWindow::default();
    let mut tail = Tail::new(window.tail);
    for o in objs.iter().filter(|o| window.wants_object(&o.key)) {
        if let Some(mut g) = store.get(bucket, &o.key).await? {
            let mut buf = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut g.body, &mut buf).await.map_err(CliError::Output)?;
            if whole {
                out.write_all(&buf).map_err(CliError::Output)?;
                continue;
            }
            for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                if window.wants_line(line) {
                    tail.push(line);
                }
            }
        }
    }
    out.write_all(&tail.into_bytes()).map_err(CliError::Output)?;
    Ok(())
}

/// Stops and removes every managed container, refusing while something listens on the admin
/// address: a running orchestrator would start its bots again within seconds.
pub async fn stop_all(cli: &Cli) -> Result<usize, CliError> {
    let addr = cli.admin_addr.clone();
    let connect = tokio::net::TcpStream::connect(addr.clone());
    if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), connect).await {
        return Err(CliError::ServerRunning(addr));
    }
    let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), Arc::new(Metrics::default()))?;
    Ok(reconcile::stop_all(&docker, cli.reconcile.stop_grace).await?)
}

#[cfg(test)]
mod tests {
    use super::probe_addr;

    #[test]
    fn probe_addr_table() {
        for (bind, probe) in [
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("[::]:8080", "[::1]:8080"),
            ("127.0.0.1:18080", "127.0.0.1:18080"),
            ("10.1.2.3:8080", "10.1.2.3:8080"),
            ("localhost:8080", "localhost:8080"),
        ] {
            assert_eq!(probe_addr(bind), probe, "{bind}");
        }
    }
}
