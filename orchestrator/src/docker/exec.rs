//! The two calls of an update handover (issue #15) that no other role makes: a command run inside
//! a running container (`docker exec`: the successor's `runtime release`, as the container's own
//! user) and a rename (the released successor takes the bot's usual name).

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::RenameContainerOptions;
use futures_util::StreamExt;

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

impl Docker {
    /// Runs `cmd` in the running container `id` as the container's user, with the secrets of the
    /// container's environment blanked, waits for it (bounded by the call timeout) and returns its
    /// exit code and output. A container that is not running is an error.
    pub async fn exec(&self, id: &str, cmd: &[String]) -> Result<ExecOutcome> {
        let opts = CreateExecOptions {
            cmd: Some(cmd.to_vec()),
            // An exec'd command inherits the container's environment; none needs the storage or
            // NATS secrets, and a bot of the same uid may run beside it: they are blanked.
            env: Some(the0_contract::env::CHILD_SECRETS.iter().map(|k| format!("{k}=")).collect()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self.call("create exec", CALL_TIMEOUT, self.client.create_exec(id, opts)).await?;
        let started = self.call("start exec", CALL_TIMEOUT, self.client.start_exec(&created.id, None)).await?;
        let mut out = Vec::new();
        if let StartExecResults::Attached { mut output, .. } = started {
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
        let inspected = self.call("inspect exec", CALL_TIMEOUT, self.client.inspect_exec(&created.id)).await?;
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
