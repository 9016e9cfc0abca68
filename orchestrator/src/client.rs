//! The standalone commands that talk to a running `orchestrator serve`: `deploy`, `list`,
//! `remove` (through the admin API, with the bearer token) and `logs`, `stop-all` (straight to
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

use crate::config::Cli;
use crate::docker::{Docker, DockerError};
use crate::metrics::Metrics;
use crate::objects::ObjectsError;
use crate::reconcile::ReconcileError;
use crate::spec::container_name;
use crate::{deploy, objects, reconcile};

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
    #[error("bot {0:?} has no container and no stored logs")]
    NoLogs(String),
    #[error(
        "an orchestrator answers on {0}: stop it first (with --stop-bots-on-shutdown it stops its bots), \
         else it would start them again"
    )]
    ServerRunning(String),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
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
    request(&cli.admin_addr, cli.admin_token.as_deref(), method, path, body).await
}

/// `healthcheck`: `GET /healthz` on the health address, for a container's HEALTHCHECK (a minimal
/// image has no curl). An unspecified bind address (`0.0.0.0:8080`) is asked on loopback.
pub async fn healthcheck(cli: &Cli) -> Result<(), CliError> {
    let addr = probe_addr(&cli.health_addr);
    let (status, body) = request(&addr, None, Method::GET, "/healthz", None).await?;
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
    tokio::time::timeout(Duration::from_secs(30), exchange).await.map_err(|_| unreachable("timed out".into()))?
}

fn ok(status: u16, body: Bytes) -> Result<Value, CliError> {
    if !(200..300).contains(&status) {
        return Err(CliError::Status { status, body: String::from_utf8_lossy(&body).into_owned() });
    }
    serde_json::from_slice(&body).map_err(CliError::BadReply)
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

/// The `list` table.
pub fn render_list(bots: &[Value]) -> String {
    let mut out = format!("{:<36} {:<12} {:>8} {:<40} {}\n", "ID", "STATE", "RESTARTS", "CONTAINER", "REASON");
    for b in bots {
        let s = &b["status"];
        let f =
            |v: &Value| v.as_str().map_or_else(|| if v.is_null() { "-".into() } else { v.to_string() }, str::to_string);
        out.push_str(&format!(
            "{:<36} {:<12} {:>8} {:<40} {}\n",
            f(&b["id"]),
            f(&s["state"]),
            f(&s["restarts"]),
            f(&s["container"]),
            f(&s["failure_reason"])
        ));
    }
    out
}

pub async fn remove(cli: &Cli, id: &str) -> Result<Value, CliError> {
    let (s, b) = admin_request(cli, Method::DELETE, &format!("/bots/{id}"), None).await?;
    ok(s, b)
}

/// Writes the bot's output to `out`: from its container (followed with `follow`), else every
/// stored daily log object in order.
pub async fn logs(cli: &Cli, id: &str, follow: bool, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), Arc::new(Metrics::default()))?;
    let name = container_name(id, cli.host.instance.as_deref());
    let mut s = Box::pin(docker.logs(&name, follow, None));
    let mut any = false;
    while let Some(chunk) = s.next().await {
        match chunk {
            Ok(b) => {
                any = true;
                out.write_all(&b).map_err(CliError::Output)?;
                let _ = out.flush();
            }
            Err(e) if !any && e.to_string().contains("404") => return stored_logs(cli, id, out).await,
            Err(e) if !any => {
                if e.to_string().contains("No such container") {
                    return stored_logs(cli, id, out).await;
                }
                return Err(CliError::Docker(e));
            }
            Err(_) => break,
        }
    }
    Ok(())
}

async fn stored_logs(cli: &Cli, id: &str, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let store = objects::open(&cli.host, &cli.region)?;
    let bucket = &cli.host.buckets.logs;
    let mut objs = store.list(bucket, &the0_contract::keys::log_prefix(id)).await?;
    objs.sort_by(|a, b| a.key.cmp(&b.key));
    if objs.is_empty() {
        return Err(CliError::NoLogs(id.to_string()));
    }
    for o in objs {
        if let Some(mut g) = store.get(bucket, &o.key).await? {
            let mut buf = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut g.body, &mut buf).await.map_err(CliError::Output)?;
            out.write_all(&buf).map_err(CliError::Output)?;
        }
    }
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
