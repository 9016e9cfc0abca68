//! The normal run (docs/contract.md §2.7 with D1–D5): validate, fetch code, (an update's successor:
//! wait for the release,) restore state, start syncing,
//! run the bot under PID-1 supervision, then stop in order — TERM the bot, wait the grace period,
//! KILL what is left, write the done file, final sync, exit with the bot's own code.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use the0_objstore::Store;
use tokio::sync::mpsc;

use crate::childenv::{self, ChildKind};
use crate::cli::ExecuteOpts;
use crate::config::Config;
use crate::launch::{self, Role};
use crate::logs::botlog::BotLog;
use crate::logs::shipper::LogShipper;
use crate::release::Expect;
use crate::state::fingerprint::Manifest;
use crate::state::restore::{self, RestoreOutcome};
use crate::state::upload::StateSyncer;
use crate::supervise::child::{self, Output};
use crate::supervise::signals;
use crate::supervise::stop::{self, Ended};
use crate::supervise::tee::{Stream, Tee};
use crate::supervise::{ExitStatus, Reaper};
use crate::sync::debounce::Dirty;
use crate::sync::{SyncEngine, Triggers};
use crate::{code, nats};

/// The periodic sync of a normal run (docs/contract.md §2.8).
const SYNC_INTERVAL: Duration = Duration::from_secs(60);
/// When the change watch starts after the bot (see `Triggers::start_after`).
const WATCH_AFTER: Duration = Duration::from_secs(1);
/// How long output may keep flowing after the bot's group is gone (escaped grandchildren).
const TEE_DRAIN: Duration = Duration::from_secs(2);
/// Bound on draining queued NATS messages at exit.
const NATS_DRAIN: Duration = Duration::from_secs(5);

/// The wrappers directory (`THE0_WRAPPERS_DIR` test seam, else `/app/wrappers`).
pub fn wrappers_dir() -> std::path::PathBuf {
    std::env::var_os(the0_contract::env::THE0_WRAPPERS_DIR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| the0_contract::paths::WRAPPERS_DIR.into(), Into::into)
}

/// The JSON line appended to `bot.log` when the bot cannot be started.
pub fn start_failure_line(err: &dyn std::fmt::Display, now: SystemTime) -> String {
    let line = serde_json::json!({
        "level": "error",
        "message": format!("Failed to start process: {err}"),
        "timestamp": the0_contract::timefmt::rfc3339_seconds(now),
    });
    format!("{line}\n")
}

/// Writes the done file: the exit code in decimal, no newline, 0644, atomically.
pub fn write_done_file(path: &Path, code: i32) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(parent)?;
    }
    the0_objstore::atomic::write_file(path, code.to_string().as_bytes(), 0o644)
}

/// Everything prepared before the bot starts.
struct Prepared {
    store: Arc<Store>,
    seed: Option<Manifest>,
    botlog: Arc<BotLog>,
}

/// Steps 2–5: code, chmod, state, logs dir. Any error means the bot must not start. In the
/// waiting mode of an update's successor (`THE0_WAIT_FOR_RELEASE`), the state is restored only
/// once released, and only the version the release names ([`crate::release`]).
async fn prepare(cfg: &Config) -> anyhow::Result<Prepared> {
    let store = prepare_code(cfg).await?;
    let expect = if cfg.wait_for_release {
        let run_dir = cfg.run_dir();
        crate::release::mark_prepared(&run_dir).context("cannot mark the code prepared")?;
        crate::info!("code ready; waiting for the release (update handover)");
        let expect = crate::release::wait(&run_dir).await;
        crate::info!("released", state = format!("{expect:?}"));
        Some(expect)
    } else {
        None
    };
    let seed = restore_state(cfg, &store, expect.as_ref()).await?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&cfg.logs_path)
        .with_context(|| format!("cannot create {}", cfg.logs_path.display()))?;
    let botlog =
        BotLog::open(&cfg.bot_log_path()).with_context(|| format!("cannot open {}", cfg.bot_log_path().display()))?;
    Ok(Prepared { store, seed, botlog })
}

/// Steps 2–4: code, chmod, state; the seed of change detection. Shared with the warm query mode
/// (`query::warm`), which serves from exactly the state a run would start from.
pub(crate) async fn fetch_and_restore(cfg: &Config) -> anyhow::Result<(Arc<Store>, Option<Manifest>)> {
    let store = prepare_code(cfg).await?;
    let seed = restore_state(cfg, &store, None).await?;
    Ok((store, seed))
}

/// Steps 2–3: the object store, the code, the entrypoints' modes.
async fn prepare_code(cfg: &Config) -> anyhow::Result<Arc<Store>> {
    let store = Arc::new(the0_objstore::Store::open(cfg.storage()?).context("cannot open object storage")?);
    code::fetch(&store, cfg).await.context("cannot fetch the bot's code")?;
    code::chmod_entrypoints(cfg);
    Ok(store)
}

/// Step 4: the state (exactly the `expect`ed version when released by a handover); the seed of
/// change detection.
async fn restore_state(cfg: &Config, store: &Store, expect: Option<&Expect>) -> anyhow::Result<Option<Manifest>> {
    let restored = match expect {
        None => restore::restore(store, cfg).await,
        Some(e) => restore::restore_expecting(store, cfg, &restore::expecting_policy(), e).await,
    };
    Ok(match restored.context("cannot restore state")? {
        RestoreOutcome::Restored(m) => Some(m),
        RestoreOutcome::FirstRun => None,
        RestoreOutcome::Skipped => Some(Manifest::scan(&cfg.state_path).context("cannot scan state")?),
    })
}

/// Waits for the first stop signal; other signals before the bot exists are dropped.
pub(crate) async fn first_stop_signal(rx: &mut mpsc::UnboundedReceiver<libc::c_int>) -> libc::c_int {
    loop {
        match rx.recv().await {
            Some(sig) if signals::is_stop(sig) => return sig,
            Some(_) => continue,
            None => std::future::pending().await,
        }
    }
}

/// `execute` without query flags: returns the process exit code.
pub async fn normal_run(cfg: Config, opts: &ExecuteOpts, mut signals_rx: mpsc::UnboundedReceiver<libc::c_int>) -> i32 {
    let Some(reaper) = crate::supervise::start_init() else {
        return 1;
    };

    // Steps 2–5, abandoned at once if the container is stopped meanwhile (also while an update's
    // successor waits for its release: then nothing was restored, so nothing is synced).
    let prepared = tokio::select! {
        p = prepare(&cfg) => p,
        sig = first_stop_signal(&mut signals_rx) => {
            crate::info!("stopped before the bot started", signal = signals::name(sig));
            return 128 + sig;
        }
    };
    let Prepared { store, seed, botlog } = match prepared {
        Ok(p) => p,
        Err(e) => {
            crate::error!("startup failed; the bot will not start", error = format!("{e:#}"));
            crate::exit_reason::emit(&format!("startup failed, the bot did not start: {e:#}"));
            return 1;
        }
    };

    // Step 6: syncing.
    let nats = cfg.nats_url.as_deref().and_then(|url| match nats::Publisher::start(url) {
        Ok(p) => Some(p),
        Err(e) => {
            crate::warn!("NATS log publishing disabled", error = e);
            None
        }
    });
    let shipper = LogShipper::new(&cfg, Some(botlog.clone()), nats.clone());
    let engine = SyncEngine::new(store.clone(), Some(StateSyncer::new(&cfg, seed)), shipper);
    let triggers = (!opts.skip_sync)
        .then(|| Triggers::start_after(engine.clone(), &cfg.state_path, &cfg.logs_path, SYNC_INTERVAL, WATCH_AFTER));

    // Step 7: the :9476 front and the query program behind it (D16, D20).
    let query = if opts.skip_query_server || cfg.bot_type.as_deref() != Some(the0_contract::labels::TYPE_REALTIME) {
        None
    } else {
        crate::query::start_for_bot(&cfg, &reaper).await
    };

    // Step 8: the bot.
    let ended = run_bot(&cfg, &reaper, &botlog, &mut signals_rx).await;
    let code = ended.status.code();
    crate::info!("bot ended", status = ended.status, exit_code = code);
    // A bot that filled its state directory is told apart from one that simply ended.
    let state_full = crate::exit_reason::check_state_full(&cfg.state_path);
    if let Some(reason) = &state_full {
        crate::error!("state directory full; syncing what it holds", reason = reason);
    }

    // Step 9: stop the query server, done file, final sync, exit.
    if let Some(q) = query {
        q.stop().await;
    }
    if cfg.is_scheduled {
        if let Err(e) = write_done_file(&cfg.done_file, code) {
            crate::error!("cannot write the done file", path = cfg.done_file.display(), error = e);
        }
    }
    if let Some(t) = triggers {
        t.stop().await;
    }
    if !opts.skip_sync {
        engine.sync(Dirty::BOTH, true).await;
    }
    if let Some(n) = nats {
        n.drain(NATS_DRAIN).await;
    }
    // Why the state may not be what the bot last wrote: a full directory, or another writer's
    // archive that this container refused to overwrite.
    let not_saved = engine.state_not_saved().await;
    let reason = match (state_full, not_saved) {
        (Some(full), Some(not_saved)) => Some(format!("{full}; {not_saved}")),
        (full, not_saved) => full.or(not_saved),
    };
    if let Some(reason) = reason {
        crate::exit_reason::emit(&reason);
    }
    code
}

async fn run_bot(
    cfg: &Config,
    reaper: &Reaper,
    botlog: &Arc<BotLog>,
    signals_rx: &mut mpsc::UnboundedReceiver<libc::c_int>,
) -> Ended {
    let launch = launch::command(&cfg.runtime, &cfg.entrypoint, &cfg.code_path, &wrappers_dir(), Role::Bot);
    let env = childenv::build(std::env::vars_os(), cfg, ChildKind::default());
    let spawned = match child::spawn(reaper, &launch, &cfg.code_path, &env, Output::Piped) {
        Ok(s) => s,
        Err(e) => {
            crate::error!("cannot start the bot", program = launch.program.display(), error = e);
            let _ = botlog.append(start_failure_line(&e, SystemTime::now()).as_bytes());
            return Ended { status: ExitStatus::Exited(1), stopped_by: None };
        }
    };
    crate::info!("bot started", pid = spawned.pid, program = launch.program.display());
    let tees: Vec<Tee> = [
        spawned.stdout.map(|o| Tee::start(o, Stream::Stdout, Some(botlog.clone()))),
        spawned.stderr.map(|e| Tee::start(e, Stream::Stderr, Some(botlog.clone()))),
    ]
    .into_iter()
    .flatten()
    .collect();
    let ended = stop::supervise(reaper, spawned.pid, signals_rx, cfg.stop_grace).await;
    // The leader is gone; whatever it left in its group goes with it, as in a container.
    stop::signal_group(reaper, spawned.pid, libc::SIGKILL);
    let drained = tokio::task::spawn_blocking(move || tees.iter().all(|t| t.finish(TEE_DRAIN))).await;
    if !matches!(drained, Ok(true)) {
        crate::warn!("bot output still open after the bot ended; not waiting for it");
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn start_failure_line_is_json() {
        let t = UNIX_EPOCH + Duration::from_secs(1_738_324_800);
        let line = start_failure_line(&"No such file or directory (os error 2)", t);
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["message"], "Failed to start process: No such file or directory (os error 2)");
        assert_eq!(v["timestamp"], "2025-01-31T12:00:00Z");
    }

    #[test]
    fn done_file_has_the_code_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("the0/done");
        write_done_file(&p, 137).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "137");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
    }
}
