//! Run-to-completion containers (docs/contract.md §5.4 "Run-to-completion"): the scheduler's runs and the
//! query server's one-shot queries. Start one, wait for its exit under a deadline, keep the last
//! log lines, remove it. Unlike the original these containers are not auto-removed: the exit code
//! and the logs are read first, and a run that outlives the orchestrator can still be found (by
//! its labels) and accounted for after a restart.

use std::time::Duration;

use bollard::query_parameters::{ListContainersOptions, WaitContainerOptions};
use futures_util::StreamExt;
use the0_contract::labels;

use super::{state_of, status_of, Docker, DockerError, Result, CALL_TIMEOUT};
use crate::observed::State;
use crate::spec::{ContainerSpec, DUE_LABEL};

/// A managed `runtime.type=scheduled` container: a scheduled run (it has a due time), a query, or
/// a warm query server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneShot {
    pub container: String,
    pub name: String,
    pub bot_id: String,
    pub state: State,
    /// The run's due time (Unix ms); `None` for query containers.
    pub due_ms: Option<i64>,
    /// Labelled `runtime.warm=true`: a scheduled bot's warm query server (issue 15).
    pub warm: bool,
    pub created_ms: i64,
}

/// How a waited-for container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    Exited {
        code: i64,
        oom: bool,
    },
    /// The deadline passed; the container was killed and removed.
    TimedOut,
    /// The container disappeared before its exit could be read (removed by someone else).
    Gone,
}

impl Docker {
    /// Creates and starts a run-to-completion container. Its name is deterministic per scheduled
    /// bot, so a second run while one exists fails with [`DockerError::NameInUse`].
    pub async fn start_oneshot(&self, spec: &ContainerSpec) -> Result<String> {
        let id = self.create_pulling(spec).await?;
        self.start(&id).await?;
        Ok(id)
    }

    /// Every managed `runtime.type=scheduled` container of this instance, stopped ones included.
    pub async fn list_oneshots(&self) -> Result<Vec<OneShot>> {
        let opts = ListContainersOptions {
            all: true,
            filters: Some(self.filters_of(labels::TYPE_SCHEDULED)),
            ..Default::default()
        };
        let list = self.call("list containers", CALL_TIMEOUT, self.client.list_containers(Some(opts))).await?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                Some(OneShot {
                    container: c.id?,
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string(),
                    bot_id: labels.get(labels::ID).filter(|b| !b.is_empty())?.clone(),
                    state: state_of(c.state.as_ref())?,
                    due_ms: labels.get(DUE_LABEL).and_then(|d| d.parse().ok()),
                    warm: labels.get(labels::WARM).is_some_and(|w| w == "true"),
                    created_ms: c.created.unwrap_or(0) * 1000,
                })
            })
            .collect())
    }

    /// Waits for the container to exit, for at most `deadline` (none: forever). On timeout the
    /// container is stopped (SIGTERM, `grace`, SIGKILL) and removed. Otherwise it is left for
    /// [`Docker::tail`] and [`Docker::remove`].
    pub async fn wait_exit(&self, id: &str, deadline: Option<Duration>, grace: Duration) -> Result<WaitOutcome> {
        let wait = self.wait_for_exit(id);
        let outcome = match deadline {
            Some(d) => match tokio::time::timeout(d, wait).await {
                Ok(r) => r?,
                Err(_) => {
                    self.stop_and_remove(id, grace).await?;
                    return Ok(WaitOutcome::TimedOut);
                }
            },
            None => wait.await?,
        };
        Ok(outcome)
    }

    async fn wait_for_exit(&self, id: &str) -> Result<WaitOutcome> {
        // The engine answers a wait only when the container stops, so the call's timeout does not
        // apply; a broken connection falls back to inspecting the state.
        let opts = WaitContainerOptions { condition: "not-running".into() };
        let mut stream = self.client.wait_container(id, Some(opts));
        let waited = stream.next().await;
        drop(stream);
        match waited {
            Some(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => {
                return Ok(WaitOutcome::Gone);
            }
            Some(Err(e)) if status_of(&e).is_some() => return Err(DockerError::Api(e)),
            _ => {}
        }
        // A non-zero exit comes back as an error from bollard; the state is the one truth.
        loop {
            match self.inspect_state(id).await? {
                None => return Ok(WaitOutcome::Gone),
                Some(st) if st.running == Some(true) || st.restarting == Some(true) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Some(st) => {
                    return Ok(WaitOutcome::Exited {
                        code: st.exit_code.unwrap_or(-1),
                        oom: st.oom_killed.unwrap_or(false),
                    });
                }
            }
        }
    }

    /// The last `n` lines of the container's output (stdout and stderr interleaved, in order).
    pub async fn tail(&self, id: &str, n: u32) -> Result<Vec<String>> {
        let mut s = self.logs(id, false, Some(n), None);
        let f = async {
            let mut buf = Vec::new();
            while let Some(chunk) = s.next().await {
                buf.extend_from_slice(&chunk?);
            }
            Ok::<_, DockerError>(buf)
        };
        let buf = match tokio::time::timeout(CALL_TIMEOUT, f).await {
            Ok(r) => r?,
            Err(_) => return Err(DockerError::Timeout { what: "container logs", after: CALL_TIMEOUT }),
        };
        Ok(String::from_utf8_lossy(&buf).lines().map(str::to_string).collect())
    }

    /// Whether a listed container still runs.
    pub fn is_running(o: &OneShot) -> bool {
        matches!(o.state, State::Running | State::Restarting | State::Paused)
    }
}
