//! The OCI runtime bot containers run under (`--bot-runtime`, `HostConfig.Runtime`), checked once
//! at startup against the runtimes the engine knows (`docker info`).
//!
//! Why it exists: a runtime the engine does not know fails every `docker create`, so each bot
//! would crash-loop with the same error; refusing to start, naming the runtime and the ones the
//! engine has, is the clear failure (docs/security/gvisor.md).

use super::{Docker, DockerError, Result, CALL_TIMEOUT};

/// Whether `name` is one of the engine's `known` runtimes; the error names both.
pub fn check_known<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut known: Vec<&str> = known.into_iter().collect();
    if known.contains(&name) {
        return Ok(());
    }
    known.sort_unstable();
    Err(DockerError::UnknownRuntime { name: name.to_string(), known: known.join(", ") })
}

impl Docker {
    /// Checks that the engine knows `runtime` and returns the path of its binary as the engine
    /// reports it (if it does); `None` (Docker's default runtime) always passes.
    pub async fn ensure_runtime(&self, runtime: Option<&str>) -> Result<Option<String>> {
        let Some(name) = runtime else { return Ok(None) };
        let info = self.call("info", CALL_TIMEOUT, self.client.info()).await?;
        let runtimes = info.runtimes.unwrap_or_default();
        check_known(name, runtimes.keys().map(String::as_str))?;
        Ok(runtimes.get(name).and_then(|r| r.path.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runtime_the_engine_lacks_is_named_with_the_ones_it_has() {
        for (name, known, want) in [
            ("runsc", &["runc", "runsc"][..], None),
            ("runc", &["runc"][..], None),
            (
                "runsc",
                &["runc", "io.containerd.runc.v2"][..],
                Some("docker: the engine has no runtime \"runsc\" (--bot-runtime / BOT_RUNTIME); it knows: io.containerd.runc.v2, runc. Register it (scripts/gvisor.sh register) or unset BOT_RUNTIME"),
            ),
            ("kata", &[][..], Some("docker: the engine has no runtime \"kata\" (--bot-runtime / BOT_RUNTIME); it knows: . Register it (scripts/gvisor.sh register) or unset BOT_RUNTIME")),
        ] {
            let got = check_known(name, known.iter().copied()).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), want, "{name} in {known:?}");
        }
    }
}
