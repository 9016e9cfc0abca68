//! The sidecar commands (docs/contract.md §2.7): `daemon sync` keeps a pod's state and logs synced while
//! the bot runs in another container; `daemon init` fetches code and restores state, then exits.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::cli::{InitOpts, SyncOpts};
use crate::config::Config;
use crate::logs::shipper::LogShipper;
use crate::state::fingerprint::Manifest;
use crate::state::restore;
use crate::state::upload::StateSyncer;
use crate::supervise::signals;
use crate::sync::debounce::Dirty;
use crate::sync::{SyncEngine, Triggers};
use crate::{code, health, nats};

const WATCH_DONE_POLL: Duration = Duration::from_millis(500);

fn mkdir(p: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(p)
        .with_context(|| format!("cannot create {}", p.display()))
}

/// `daemon sync`: returns the exit code.
pub async fn sync(opts: SyncOpts, mut signals_rx: mpsc::UnboundedReceiver<libc::c_int>) -> anyhow::Result<i32> {
    let mut cfg = Config::from_process_env(false)?;
    cfg.bot_id = opts.bot_id.clone();
    cfg.state_path = opts.state_path.clone();
    cfg.logs_path = opts.logs_path.clone();
    crate::log::set_level(cfg.log_level);
    let store = Arc::new(the0_objstore::Store::open(cfg.storage()?)?);

    let (ready_tx, ready_rx) = watch::channel(false);
    let _health = if opts.readiness_port > 0 {
        Some(
            health::serve(opts.readiness_port, ready_rx)
                .await
                .with_context(|| format!("cannot listen on :{}", opts.readiness_port))?,
        )
    } else {
        None
    };
    mkdir(&cfg.state_path)?;
    mkdir(&cfg.logs_path)?;

    let nats = cfg.nats_url.as_deref().and_then(|url| {
        nats::Publisher::start(url).map_err(|e| crate::warn!("NATS log publishing disabled", error = e)).ok()
    });
    // The bot container restores state; until it says so (`state-restored`), the sidecar must not
    // upload what may be a half-restored tree.
    let marker = cfg.run_dir().join(the0_contract::paths::STATE_RESTORED);
    let engine =
        SyncEngine::new(store, enable_state_if_restored(&cfg, &marker)?, LogShipper::new(&cfg, None, nats.clone()));
    let triggers = Triggers::start(engine.clone(), &cfg.state_path, &cfg.logs_path, opts.interval)
        .context("cannot watch for changes")?;
    let _ = ready_tx.send(true);
    crate::info!("sync daemon ready", bot_id = cfg.bot_id, interval_secs = opts.interval.as_secs_f64());

    let mut poll = tokio::time::interval(WATCH_DONE_POLL);
    loop {
        tokio::select! {
            Some(sig) = signals_rx.recv() => {
                if signals::is_stop(sig) {
                    crate::info!("stopping", signal = signals::name(sig));
                    break;
                }
            }
            _ = poll.tick() => {
                if !engine.has_state_syncer().await {
                    if let Some(s) = enable_state_if_restored(&cfg, &marker)? {
                        crate::info!("state restored by the bot container; state sync enabled");
                        engine.enable_state(s).await;
                    }
                }
                if opts.watch_done.as_deref().is_some_and(Path::exists) {
                    crate::info!("done file present; final sync");
                    break;
                }
            }
        }
    }
    triggers.stop().await;
    engine.sync(Dirty::BOTH, true).await;
    if let Some(n) = nats {
        n.drain(Duration::from_secs(5)).await;
    }
    if let Some(reason) = engine.state_not_saved().await {
        crate::exit_reason::emit(&reason);
    }
    Ok(0)
}

fn enable_state_if_restored(cfg: &Config, marker: &Path) -> anyhow::Result<Option<StateSyncer>> {
    if !marker.exists() {
        return Ok(None);
    }
    let seed = Manifest::scan(&cfg.state_path).with_context(|| format!("cannot scan {}", cfg.state_path.display()))?;
    Ok(Some(StateSyncer::new(cfg, Some(seed))))
}

/// `daemon init`: code (if `--code-file`) and state, then exit 0; a failed restore exits 1 (D4).
pub async fn init(opts: InitOpts) -> anyhow::Result<i32> {
    let mut cfg = Config::from_process_env(false)?;
    cfg.bot_id = opts.bot_id;
    cfg.code_path = opts.code_path;
    cfg.state_path = opts.state_path;
    cfg.code_file = opts.code_file;
    crate::log::set_level(cfg.log_level);
    let store = the0_objstore::Store::open(cfg.storage()?)?;
    if cfg.code_file.is_some() {
        mkdir(&cfg.code_path)?;
        code::fetch(&store, &cfg).await.context("cannot fetch the bot's code")?;
    }
    mkdir(&cfg.state_path)?;
    let outcome = restore::restore(&store, &cfg).await.context("cannot restore state")?;
    crate::info!("init done", outcome = format!("{outcome:?}"));
    Ok(0)
}
