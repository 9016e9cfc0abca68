//! `execute --query-server-only`: the Kubernetes query sidecar (docs/contract.md §2.7, D16). It shares
//! `/bot`, `/state` and `/var/the0` with the bot container, so it does not restore state itself:
//! it waits (≤ `THE0_QUERY_WAIT_SEC`, 60) for the code the bot container extracts — fetching it
//! itself if it does not come — and for the bot container's `state-restored` marker, then serves
//! the :9476 front until it is signalled. The front answers 503 while it waits.

use std::path::PathBuf;
use std::time::Duration;

use the0_contract::{paths, runtimes};
use tokio::sync::mpsc;

use super::{Limits, ProgramSpec, QueryServer, Timing};
use crate::code;
use crate::config::Config;
use crate::launch::scala_class_split;
use crate::supervise::signals;

#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open object storage: {0}")]
    Storage(#[from] the0_objstore::Error),
    #[error("cannot fetch the bot's code: {0}")]
    Code(#[from] code::CodeError),
}

/// The file whose presence means the code is there: the entrypoint, or for Scala's `x.jar:Main`
/// the jar (D16).
pub fn entry_file(cfg: &Config, entry: &str) -> PathBuf {
    let file = match scala_class_split(entry) {
        Some((jar, _)) if cfg.runtime == runtimes::SCALA => jar,
        _ => entry,
    };
    cfg.code_path.join(file)
}

/// Polls `ready` every `every` until it holds or `bound` passes; returns whether it held.
async fn poll(bound: Duration, every: Duration, ready: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if ready() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}

async fn prepare(cfg: &Config, entry: &str) -> Result<(), SidecarError> {
    let file = entry_file(cfg, entry);
    if !poll(cfg.query_wait, Duration::from_secs(1), || file.exists()).await {
        crate::info!("the bot container did not extract the code in time; fetching it", path = file.display());
        let store = the0_objstore::Store::open(cfg.storage()?)?;
        let outcome = code::fetch(&store, cfg).await?;
        crate::info!("code fetched by the query sidecar", outcome = format!("{outcome:?}"));
    }
    code::chmod_entrypoints(cfg);
    let run_dir = cfg.run_dir();
    let (done, failed) = (run_dir.join(paths::STATE_RESTORED), run_dir.join(paths::STATE_RESTORE_FAILED));
    let marked = poll(cfg.query_wait, Duration::from_millis(250), || done.exists() || failed.exists()).await;
    if failed.exists() {
        crate::warn!("the bot container could not restore state; queries see what is there", marker = failed.display());
    } else if !marked {
        crate::warn!("state-restored never appeared; serving queries anyway", marker = done.display());
    }
    Ok(())
}

async fn first_stop(rx: &mut mpsc::UnboundedReceiver<libc::c_int>) -> libc::c_int {
    crate::run::first_stop_signal(rx).await
}

/// Runs the sidecar; returns the exit code (0 when stopped by a signal).
pub async fn run(cfg: Config, mut signals_rx: mpsc::UnboundedReceiver<libc::c_int>) -> i32 {
    let Some(entry) = cfg.query_entrypoint.clone().filter(|e| !e.is_empty()) else {
        crate::error!("--query-server-only needs QUERY_ENTRYPOINT");
        return 1;
    };
    let Some(reaper) = crate::supervise::start_init() else {
        return 1;
    };
    let limits = Limits { query_timeout: cfg.query_timeout, ..Limits::default() };
    let mut server = match QueryServer::bind(cfg.query_port, limits, true).await {
        Ok(s) => s,
        Err(e) => {
            crate::error!("query sidecar cannot start", error = e);
            return 1;
        }
    };
    let prepared = tokio::select! {
        r = prepare(&cfg, &entry) => r,
        sig = first_stop(&mut signals_rx) => {
            crate::info!("query sidecar stopped while waiting", signal = signals::name(sig));
            server.stop().await;
            return 0;
        }
    };
    if let Err(e) = prepared {
        crate::error!("query sidecar cannot start", error = e);
        server.stop().await;
        return 1;
    }
    server.launch(ProgramSpec::from_config(&cfg, &entry), &reaper, Timing::default());
    let sig = first_stop(&mut signals_rx).await;
    crate::info!("query sidecar stopping", signal = signals::name(sig));
    server.stop().await;
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_waited_for_is_the_entrypoint_or_the_scala_jar() {
        for (runtime, entry, want) in [
            ("python3.11", "query.py", "/bot/query.py"),
            ("scala3", "query.jar:com.x.Query", "/bot/query.jar"),
            ("scala3", "query.jar", "/bot/query.jar"),
            ("gcc13", "bin/a:b", "/bot/bin/a:b"),
        ] {
            let vars: std::collections::HashMap<String, String> =
                [("BOT_ID", "b"), ("RUNTIME", runtime), ("ENTRYPOINT", "main")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            let cfg = Config::from_vars(&vars, true).unwrap();
            assert_eq!(entry_file(&cfg, entry), PathBuf::from(want), "{runtime} {entry}");
        }
    }
}
