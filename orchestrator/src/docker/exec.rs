//! The calls of an update handover (issue #15) that no other role makes: a command run inside a
//! running container (`docker exec`: the successor's `runtime release`, as the container's own
//! user), the same started ahead with its stdin open so that only a line written to it is left
//! for the moment of the release, and a rename (the released successor takes the bot's usual name).

use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::RenameContainerOptions;
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{status_of, Docker, DockerError, Result, CALL_TIMEOUT};

/// Most output kept from one exec (the release command prints one word).
const MAX_OUTPUT: usize = 64 * 1024;

/// What a command run in a container gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Its exit code (`None`: the engine did not say).
    pub code: Option<i64>,
    /// Its stdout and stderr, in order, at most 64 KiB.
    pub output: String,
}

/// An exec whose command runs with its stdin open, waiting for one line ([`Docker::exec_pending`]):
/// the engine's exec start (tens of milliseconds) is paid before the moment the line is known.
pub struct PendingExec {
    docker: Docker,
    exec: String,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: Output,
}

type Output = Pin<Box<dyn Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>> + Send>>;

impl PendingExec {
    /// Writes `line` (a newline is added) to the command's stdin, or, with `None`, closes it
    /// without one; then waits for the command (bounded by the call timeout) and returns its exit
    /// code and output.
    pub async fn finish(mut self, line: Option<String>) -> Result<ExecOutcome> {
        match line {
            Some(l) => {
                let write = async {
                    self.input.write_all(format!("{l}\n").as_bytes()).await?;
                    self.input.flush().await
                };
                let written = tokio::time::timeout(CALL_TIMEOUT, write).await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(DockerError::Network(format!("writing to the exec's stdin: {e}"))),
                    Err(_) => return Err(DockerError::Timeout { what: "exec input", after: CALL_TIMEOUT }),
                }
            }
            None => {
                // Best effort: dropping the connection below closes the command's stdin anyway.
                let _ = tokio::time::timeout(CALL_TIMEOUT, self.input.shutdown()).await;
            }
        }
        self.docker.collect(&self.exec, Some(self.output)).await
    }
}

impl Docker {
    /// Runs `cmd` in the running container `id` as the container's user, with the secrets of the
    /// container's environment blanked, waits for it (bounded by the call timeout) and returns its
    /// exit code and output. A container that is not running is an error.
    pub async fn exec(&self, id: &str, cmd: &[String]) -> Result<ExecOutcome> {
        let (exec, started) = self.start_exec(id, cmd, false).await?;
        let output = match started {
            StartExecResults::Attached { output, .. } => Some(output),
            StartExecResults::Detached => None,
        };
        self.collect(&exec, output).await
    }

    /// Starts `cmd` in the running container `id` as [`Docker::exec`] does, with its stdin open;
    /// [`PendingExec::finish`] gives it its input and waits for it.
    pub async fn exec_pending(&self, id: &str, cmd: &[String]) -> Result<PendingExec> {
        match self.start_exec(id, cmd, true).await? {
            (exec, StartExecResults::Attached { output, input }) => {
                Ok(PendingExec { docker: self.clone(), exec, input, output })
            }
            (_, StartExecResults::Detached) => Err(DockerError::Network("the engine did not attach the exec".into())),
        }
    }

    async fn start_exec(&self, id: &str, cmd: &[String], stdin: bool) -> Result<(String, StartExecResults)> {
        let opts = CreateExecOptions {
            cmd: Some(cmd.to_vec()),
            // An exec'd command inherits the container's environment; none needs the storage or
            // NATS secrets, and a bot of the same uid may run beside it: they are blanked.
            env: Some(the0_contract::env::CHILD_SECRETS.iter().map(|k| format!("{k}=")).collect()),
            attach_stdin: Some(stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self.call("create exec", CALL_TIMEOUT, self.client.create_exec(id, opts)).await?;
        let started = self.call("start exec", CALL_TIMEOUT, self.client.start_exec(&created.id, None)).await?;
        Ok((created.id, started))
    }

    /// Reads an exec's output to its end (at most [`MAX_OUTPUT`] kept) and its exit code.
    async fn collect(&self, exec: &str, output: Option<Output>) -> Result<ExecOutcome> {
        let mut out = Vec::new();
        if let Some(mut output) = output {
            let read = async {
                while let Some(chunk) = output.next().await {
                    let bytes = chunk?.into_bytes();
                    let room = MAX_OUTPUT.saturating_sub(out.len());
                    out.extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
                Ok::<(), bollard::errors::Error>(())
            };
            self.call("exec output", CALL_TIMEOUT, read).await?;
        }
        let inspected = self.call("inspect exec", CALL_TIMEOUT, self.client.inspect_exec(exec)).await?;
        Ok(ExecOutcome { code: inspected.exit_code, output: String::from_utf8_lossy(&out).into_owned() })
    }

    /// Renames container `id` to `name`; a name held by another container is
    /// [`DockerError::NameInUse`].
    pub async fn rename(&self, id: &str, name: &str) -> Result<()> {
        let opts = RenameContainerOptions { name: name.to_string() };
        match self.call("rename container", CALL_TIMEOUT, self.client.rename_container(id, opts)).await {
            Err(DockerError::Api(e)) if status_of(&e) == Some(409) => Err(DockerError::NameInUse(name.to_string())),
            r => r,
        }
    }
}
