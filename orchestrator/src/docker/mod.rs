//! The Docker driver (bollard over the unix socket, API 1.41): observe managed containers, create
//! and start from a [`ContainerSpec`], stop and remove, stream events and logs, exec and rename (`exec.rs`). Every call has a
//! timeout and its latency goes to the metrics. Names are deterministic, so a create that meets an
//! existing container of the same name removes a dead one, or adopts a live one, never duplicates.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, ContainerStateStatusEnum, ContainerSummaryStateEnum, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, EventsOptions, InspectContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use bollard::{ClientVersion, Docker as Client};
use futures_util::{Stream, StreamExt};
use the0_contract::labels;

use crate::metrics::Metrics;
use crate::observed::{Observed, State};
use crate::spec::{ContainerSpec, INSTANCE_LABEL};

mod address;
mod exec;
mod facts;
pub mod network;
mod oneshot;
pub mod runtime;
pub use address::{is_not_found, pick_ip};
pub use exec::{ExecOutcome, PendingExec};
pub use facts::ContainerFacts;
pub use oneshot::{OneShot, WaitOutcome};

/// Engine 20.10 speaks 1.41; newer engines accept it too.
pub const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 41 };
/// Bound on every call but stop (which gets its grace on top) and pull.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
pub const PULL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("docker: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("docker: {what} timed out after {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("docker: no socket at {0} (is the engine running? set DOCKER_HOST=unix:///path)")]
    NoSocket(String),
    #[error("image {0:?} does not exist and could not be pulled: {1}")]
    NoImage(String, String),
    #[error("docker: a container named {0:?} already exists")]
    NameInUse(String),
    #[error("docker: {0}")]
    Network(String),
    #[error("docker: the engine has no runtime {name:?} (--bot-runtime / BOT_RUNTIME); it knows: {known}. Register it (scripts/gvisor.sh register) or unset BOT_RUNTIME")]
    UnknownRuntime { name: String, known: String },
}

pub type Result<T> = std::result::Result<T, DockerError>;

#[derive(Clone)]
pub struct Docker {
    client: Client,
    instance: Option<String>,
    metrics: Arc<Metrics>,
}

fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Unix milliseconds of an RFC 3339 timestamp as Docker writes it (`2026-01-02T03:04:05.123456789Z`);
/// `None` for Docker's zero time (`0001-…`) or anything unparsable.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = the0_contract::timefmt::parse_rfc3339(s)?;
    i64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()
}

fn state_of(s: Option<&ContainerSummaryStateEnum>) -> Option<State> {
    Some(match s? {
        ContainerSummaryStateEnum::RUNNING => State::Running,
        ContainerSummaryStateEnum::CREATED => State::Created,
        ContainerSummaryStateEnum::EXITED => State::Exited,
        ContainerSummaryStateEnum::DEAD => State::Dead,
        ContainerSummaryStateEnum::PAUSED => State::Paused,
        ContainerSummaryStateEnum::RESTARTING => State::Restarting,
        ContainerSummaryStateEnum::REMOVING | ContainerSummaryStateEnum::STOPPING => State::Removing,
        ContainerSummaryStateEnum::EMPTY => return None,
    })
}

impl Docker {
    /// A client of the engine at `host` (`unix:///var/run/docker.sock`). Connections are made per
    /// call, so an engine that is down (or whose socket is gone) only fails calls, and readiness
    /// reports it.
    pub fn connect(host: &str, instance: Option<String>, metrics: Arc<Metrics>) -> Result<Docker> {
        let path = host.strip_prefix("unix://").unwrap_or(host);
        // bollard refuses a missing socket at construction; create the client as if present.
        let client = match Client::connect_with_unix(path, CALL_TIMEOUT.as_secs(), &API_VERSION) {
            Ok(c) => c,
            Err(bollard::errors::Error::SocketNotFoundError(_)) => {
                return Err(DockerError::NoSocket(path.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Docker { client, instance, metrics })
    }

    async fn call<T>(
        &self,
        what: &'static str,
        limit: Duration,
        f: impl std::future::Future<Output = std::result::Result<T, bollard::errors::Error>>,
    ) -> Result<T> {
        let t0 = Instant::now();
        let r = tokio::time::timeout(limit, f).await;
        self.metrics.docker_calls.observe(t0.elapsed().as_secs_f64());
        let r = match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(DockerError::Api(e)),
            Err(_) => Err(DockerError::Timeout { what, after: limit }),
        };
        if r.is_err() {
            self.metrics.docker_errors.inc();
        }
        r
    }

    pub async fn ping(&self) -> Result<()> {
        self.call("ping", Duration::from_secs(5), self.client.ping()).await.map(|_| ())
    }

    fn filters(&self) -> HashMap<String, Vec<String>> {
        self.filters_of(labels::TYPE_REALTIME)
    }

    /// Managed containers of one `runtime.type` (and of this instance).
    fn filters_of(&self, kind: &str) -> HashMap<String, Vec<String>> {
        let mut label = vec![format!("{}=true", labels::MANAGED), format!("{}={}", labels::TYPE, kind)];
        if let Some(i) = &self.instance {
            label.push(format!("{INSTANCE_LABEL}={i}"));
        }
        HashMap::from([("label".to_string(), label)])
    }

    /// Every managed realtime container (of this instance), stopped ones included; exited and
    /// dead ones are inspected for their exit code and times.
    pub async fn observe(&self) -> Result<Vec<Observed>> {
        let opts = ListContainersOptions { all: true, filters: Some(self.filters()), ..Default::default() };
        let list = self.call("list containers", CALL_TIMEOUT, self.client.list_containers(Some(opts))).await?;
        let mut out = Vec::with_capacity(list.len());
        for c in list {
            let labels = c.labels.unwrap_or_default();
            let (Some(id), Some(bot), Some(state)) =
                (c.id, labels.get(labels::ID).filter(|b| !b.is_empty()), state_of(c.state.as_ref()))
            else {
                continue;
            };
            let created_ms = c.created.unwrap_or(0) * 1000;
            let name =
                c.names.and_then(|n| n.into_iter().next()).unwrap_or_default().trim_start_matches('/').to_string();
            // A successor's label stays after its release; its name is what says it still waits.
            let successor = labels.get(labels::SUCCESSOR).is_some_and(|v| v == "true")
                && name == crate::spec::successor_name(bot, self.instance.as_deref());
            let mut o = Observed {
                container: id,
                name,
                bot_id: bot.clone(),
                state,
                hash: labels.get(labels::CONFIG_HASH).cloned(),
                created_ms,
                started_ms: Some(created_ms),
                finished_ms: None,
                exit_code: None,
                oom: false,
                successor,
            };
            if matches!(state, State::Exited | State::Dead) {
                match self.inspect_state(&o.container).await {
                    Ok(Some(st)) => {
                        o.exit_code = st.exit_code;
                        o.oom = st.oom_killed.unwrap_or(false);
                        o.started_ms = st.started_at.as_deref().and_then(parse_rfc3339_ms);
                        o.finished_ms = st.finished_at.as_deref().and_then(parse_rfc3339_ms);
                    }
                    Ok(None) => continue, // removed meanwhile
                    Err(e) => return Err(e),
                }
            }
            out.push(o);
        }
        Ok(out)
    }

    /// Names of every managed container of this instance, whatever its role or state.
    pub async fn managed_names(&self) -> Result<Vec<String>> {
        let mut label = vec![format!("{}=true", labels::MANAGED)];
        if let Some(i) = &self.instance {
            label.push(format!("{INSTANCE_LABEL}={i}"));
        }
        let filters = HashMap::from([("label".to_string(), label)]);
        let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let list = self.call("list containers", CALL_TIMEOUT, self.client.list_containers(Some(opts))).await?;
        Ok(list
            .into_iter()
            .filter_map(|c| c.names?.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect())
    }

    /// The bot id of every managed container, of every instance, in any state, of any role
    /// (live, scheduled run, query): the bots whose objects `gc` must not touch. Deliberately
    /// ignores `--instance`: another orchestrator's bot on this engine is still a bot with a
    /// container.
    pub async fn bots_with_containers(&self) -> Result<std::collections::BTreeSet<String>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{}=true", labels::MANAGED)])]);
        let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let list = self.call("list containers", CALL_TIMEOUT, self.client.list_containers(Some(opts))).await?;
        Ok(list.into_iter().filter_map(|c| c.labels?.remove(labels::ID)).filter(|b| !b.is_empty()).collect())
    }

    async fn inspect_state(&self, id: &str) -> Result<Option<bollard::models::ContainerState>> {
        let f = self.client.inspect_container(id, None::<InspectContainerOptions>);
        match self.call("inspect container", CALL_TIMEOUT, f).await {
            Ok(c) => Ok(c.state),
            Err(DockerError::Api(e)) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn pull(&self, image: &str) -> Result<()> {
        let opts = CreateImageOptions { from_image: Some(image.to_string()), ..Default::default() };
        let mut s = self.client.create_image(Some(opts), None, None);
        let f = async {
            while let Some(item) = s.next().await {
                item?;
            }
            Ok(())
        };
        self.call("pull image", PULL_TIMEOUT, f).await.map_err(|e| DockerError::NoImage(image.into(), e.to_string()))
    }

    fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.cmd.clone(),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            user: Some("1000:1000".into()),
            working_dir: Some("/tmp".into()),
            stop_signal: Some("SIGTERM".into()),
            host_config: Some(HostConfig {
                binds: Some(spec.binds.clone()).filter(|b| !b.is_empty()),
                tmpfs: Some(spec.tmpfs.clone().into_iter().collect()),
                memory: Some(spec.memory_bytes),
                cpu_shares: Some(spec.cpu_shares),
                pids_limit: Some(spec.pids_limit),
                network_mode: Some(spec.network.clone()),
                readonly_rootfs: Some(true),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                extra_hosts: Some(vec!["host.docker.internal:host-gateway".into()]),
                auto_remove: Some(false),
                // `--bot-runtime` (e.g. gVisor's runsc); None is the engine's default.
                runtime: spec.runtime.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        let opts = CreateContainerOptions { name: Some(spec.name.clone()), ..Default::default() };
        let f = self.client.create_container(Some(opts), Self::create_body(spec));
        Ok(self.call("create container", CALL_TIMEOUT, f).await?.id)
    }

    /// Creates the container, pulling a missing image once (unless the pull policy is Never). A
    /// name already taken is [`DockerError::NameInUse`].
    async fn create_pulling(&self, spec: &ContainerSpec) -> Result<String> {
        let mut pulled = false;
        loop {
            match self.create(spec).await {
                Ok(id) => return Ok(id),
                Err(DockerError::Api(e)) if status_of(&e) == Some(404) && !spec.pull => {
                    return Err(DockerError::NoImage(spec.image.clone(), format!("{e} (pull policy Never)")));
                }
                Err(DockerError::Api(e)) if status_of(&e) == Some(404) && !pulled => {
                    pulled = true;
                    self.pull(&spec.image).await?;
                }
                Err(DockerError::Api(e)) if status_of(&e) == Some(409) => {
                    return Err(DockerError::NameInUse(spec.name.clone()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a created container; one that cannot start is removed.
    async fn start(&self, id: &str) -> Result<()> {
        let started = self.call("start container", CALL_TIMEOUT, self.client.start_container(id, None)).await;
        if let Err(e) = started {
            let _ = self.remove(id).await;
            return Err(e);
        }
        Ok(())
    }

    /// Creates and starts the container. A container already holding the name is adopted if it
    /// runs with the same spec hash, else removed first. A missing image is pulled once.
    pub async fn run(&self, spec: &ContainerSpec) -> Result<String> {
        let mut cleared = false;
        let id = loop {
            match self.create_pulling(spec).await {
                Ok(id) => break id,
                Err(DockerError::NameInUse(_)) if !cleared => {
                    cleared = true;
                    let f = self.client.inspect_container(&spec.name, None::<InspectContainerOptions>);
                    let mut why = "its state could not be read";
                    if let Ok(c) = self.call("inspect container", CALL_TIMEOUT, f).await {
                        let same =
                            c.config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get(labels::CONFIG_HASH))
                                == spec.labels.get(labels::CONFIG_HASH);
                        let state = c.state.as_ref();
                        let created = state.and_then(|s| s.status) == Some(ContainerStateStatusEnum::CREATED);
                        if state.and_then(|s| s.running) == Some(true) && same {
                            return Ok(c.id.unwrap_or_default());
                        }
                        if created && same {
                            // Made by an earlier process (killed between create and start): start
                            // it rather than kill a container whose start may be under way.
                            let id = c.id.unwrap_or_else(|| spec.name.clone());
                            self.start(&id).await?;
                            tracing::info!(container = %spec.name, "adopted a created container and started it");
                            return Ok(id);
                        }
                        why = if same { "it is not running" } else { "it has another spec" };
                    }
                    tracing::info!(
                        container = %spec.name,
                        why = %why,
                        "removing the container that holds the bot's name",
                    );
                    self.remove(&spec.name).await?;
                }
                Err(e) => return Err(e),
            }
        };
        self.start(&id).await?;
        Ok(id)
    }

    /// SIGTERM, `grace`, SIGKILL (Docker's stop), then remove. A missing container is success.
    pub async fn stop_and_remove(&self, id: &str, grace: Duration) -> Result<()> {
        let t = grace.as_secs().min(i32::MAX as u64) as i32;
        let opts = StopContainerOptions { t: Some(t), ..Default::default() };
        let f = self.client.stop_container(id, Some(opts));
        match self.call("stop container", grace + CALL_TIMEOUT, f).await {
            Ok(()) => {}
            Err(DockerError::Api(e)) if matches!(status_of(&e), Some(304) | Some(404)) => {}
            Err(e) => return Err(e),
        }
        self.remove(id).await
    }

    /// Force-remove (with anonymous volumes); a missing container is success.
    pub async fn remove(&self, id: &str) -> Result<()> {
        let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.call("remove container", CALL_TIMEOUT, self.client.remove_container(id, Some(opts))).await {
            Err(DockerError::Api(e)) if status_of(&e) == Some(404) => Ok(()),
            // 409: removal already in progress.
            Err(DockerError::Api(e)) if status_of(&e) == Some(409) => Ok(()),
            r => r,
        }
    }

    /// `die`, `oom`, `start`, `destroy` events of managed containers; ends when the stream breaks.
    pub fn events(&self) -> impl Stream<Item = Result<String>> + Send + 'static {
        let mut filters = self.filters();
        filters.insert("type".into(), vec!["container".into()]);
        filters.insert("event".into(), vec!["die".into(), "oom".into(), "start".into(), "destroy".into()]);
        let opts = EventsOptions { filters: Some(filters), ..Default::default() };
        self.client.events(Some(opts)).map(|r| r.map(|e| e.action.unwrap_or_default()).map_err(DockerError::Api))
    }

    /// The container's output (stdout and stderr, in order), optionally followed; `since`: only
    /// what was written at or after that Unix time (seconds).
    pub fn logs(
        &self,
        name: &str,
        follow: bool,
        tail: Option<u32>,
        since: Option<i64>,
    ) -> impl Stream<Item = Result<bytes::Bytes>> + Send + 'static {
        let opts = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: tail.map_or("all".to_string(), |t| t.to_string()),
            // bollard's field is an i32 (Unix seconds until 2038); out of range: everything.
            since: since.and_then(|s| i32::try_from(s).ok()).unwrap_or(0),
            ..Default::default()
        };
        self.client.logs(name, Some(opts)).map(|r| r.map(|l| l.into_bytes()).map_err(DockerError::Api))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_times() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.123456789Z"), Some(1123));
        assert_eq!(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339_ms("2025-01-31T12:00:00Z"), Some(1_738_324_800_000));
        assert_eq!(parse_rfc3339_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("garbage"), None);
        // Found by fuzzing: a signed field parsed as a number.
        assert_eq!(parse_rfc3339_ms("2026--1-02T03:04:05.1232T03678"), None);
        assert_eq!(parse_rfc3339_ms("2026-01-02T03:-4:05Z"), None);
    }
}
