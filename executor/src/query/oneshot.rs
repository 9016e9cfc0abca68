//! One-shot query mode (`execute --query P`, or `QUERY_PATH`; docs/contract.md §2.7 "Ephemeral query"):
//! fetch the code and the state, run the query program once with `QUERY_PATH`, `QUERY_PARAMS` and
//! `QUERY_PARAM_*`, and with `QUERY_RESULT_KEY` upload `$THE0_QUERY_DIR/result.json` to the
//! query-results bucket whatever the program's exit code.
//!
//! No sync, no `bot.log`, and the state is read-only: it is restored without any marker and
//! nothing of this mode is ever uploaded except the result. Signals are only forwarded.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;

use the0_contract::paths;
use the0_objstore::Store;
use tokio::sync::mpsc;

use crate::childenv::{self, ChildKind, QueryInputs};
use crate::code;
use crate::config::Config;
use crate::launch::{self, Role};
use crate::state::restore::{self, RestoreOutcome};
use crate::supervise::child::{self, Output};
use crate::supervise::stop::{self, signal_group};
use crate::supervise::{ExitStatus, Reaper};

/// Bound on uploading the result.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum OneShotError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot open object storage: {0}")]
    Storage(#[from] the0_objstore::Error),
    #[error("cannot fetch the bot's code: {0}")]
    Code(#[from] code::CodeError),
    #[error("cannot restore state: {0}")]
    State(#[from] restore::RestoreError),
    #[error("cannot create {path}: {source}")]
    QueryDir { path: String, source: std::io::Error },
}

/// Steps before the query runs: code, chmod (D16: query modes too), read-only state, query dir.
async fn prepare(cfg: &Config) -> Result<Store, OneShotError> {
    let store = the0_objstore::Store::open(cfg.storage()?)?;
    let fetched = code::fetch(&store, cfg).await?;
    crate::debug!("code", outcome = format!("{fetched:?}"));
    code::chmod_entrypoints(cfg);
    match restore::restore_read_only(&store, cfg).await? {
        RestoreOutcome::Restored(m) => crate::info!("state restored (read-only)", files = m.file_count()),
        RestoreOutcome::FirstRun => crate::info!("no state archive"),
        RestoreOutcome::Skipped => crate::info!("state already present in this pod"),
    }
    let dir = &cfg.query_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|source| OneShotError::QueryDir { path: dir.display().to_string(), source })?;
    // A result left by an earlier run must never be uploaded as this one's.
    let _ = std::fs::remove_file(dir.join(paths::RESULT_FILE));
    Ok(store)
}

/// Runs one query; returns the exit code.
pub async fn run(cfg: Config, mut signals_rx: mpsc::UnboundedReceiver<libc::c_int>) -> i32 {
    let Some(query_path) = cfg.query_path.clone() else {
        crate::error!("one-shot query mode without a query path");
        return 1;
    };
    let Some(reaper) = crate::supervise::start_init() else {
        return 1;
    };
    let prepared = tokio::select! {
        p = prepare(&cfg) => p,
        sig = crate::run::first_stop_signal(&mut signals_rx) => {
            crate::info!("stopped before the query started", signal = crate::supervise::signals::name(sig));
            return 128 + sig;
        }
    };
    let store = match prepared {
        Ok(s) => s,
        Err(e) => {
            crate::error!("one-shot query cannot start", error = e);
            return 1;
        }
    };

    let status = run_query(&cfg, &query_path, &reaper, &mut signals_rx).await;
    let code = status.code();
    crate::info!("query program ended", query_path = query_path, status = status, exit_code = code);

    let Some(key) = cfg.query_result_key.as_deref() else { return code };
    match upload_result(&store, &cfg, key).await {
        Ok(()) => code,
        Err(e) => {
            crate::error!("cannot upload the query result", key = key, error = e);
            1
        }
    }
}

async fn run_query(
    cfg: &Config,
    query_path: &str,
    reaper: &Reaper,
    signals_rx: &mut mpsc::UnboundedReceiver<libc::c_int>,
) -> ExitStatus {
    let entry = cfg.query_entrypoint.as_deref().filter(|e| !e.is_empty()).unwrap_or(&cfg.entrypoint);
    let launch = launch::command(&cfg.runtime, entry, &cfg.code_path, &crate::run::wrappers_dir(), Role::Query);
    let kind = ChildKind {
        query: Some(QueryInputs { path: query_path, params: cfg.query_params.as_deref() }),
        query_port: None,
    };
    let env = childenv::build(std::env::vars_os(), cfg, kind);
    let pid = match child::spawn(reaper, &launch, &cfg.code_path, &env, Output::Inherit) {
        Ok(s) => s.pid,
        Err(e) => {
            crate::error!("cannot start the query program", program = launch.program.display(), error = e);
            return ExitStatus::Exited(1);
        }
    };
    crate::info!("query program started", pid = pid, query_path = query_path);
    let ended = stop::supervise(reaper, pid, signals_rx, cfg.stop_grace).await;
    signal_group(reaper, pid, libc::SIGKILL);
    ended.status
}

#[derive(Debug, thiserror::Error)]
enum UploadError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] the0_objstore::Error),
    #[error("upload timed out after {0:?}")]
    Timeout(Duration),
}

async fn upload_result(store: &Store, cfg: &Config, key: &str) -> Result<(), UploadError> {
    let path = cfg.query_dir.join(paths::RESULT_FILE);
    check_readable(&path)?;
    let bucket = &cfg.buckets.query_results;
    let put = async {
        store.ensure_bucket(bucket).await?;
        store.put_file(bucket, key, &path, "application/json").await
    };
    tokio::time::timeout(UPLOAD_TIMEOUT, put).await.map_err(|_| UploadError::Timeout(UPLOAD_TIMEOUT))??;
    crate::info!("query result uploaded", bucket = bucket, key = key);
    Ok(())
}

fn check_readable(path: &Path) -> Result<(), UploadError> {
    std::fs::File::open(path)
        .and_then(|f| f.metadata())
        .and_then(|m| if m.is_file() { Ok(()) } else { Err(std::io::Error::other("not a regular file")) })
        .map_err(|source| UploadError::Read { path: path.display().to_string(), source })
}
