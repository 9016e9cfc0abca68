//! Warm query mode (`THE0_QUERY_WARM=1`, issue 15): the query server of a scheduled bot, kept
//! running by the host between queries so that they need not each start a container. It prepares
//! exactly as a normal run does (code, chmod, state restore: the shared
//! `run::fetch_and_restore`), then serves the :9476 front with the query program in
//! server mode (`BOT_TYPE=realtime`, no `QUERY_PATH`: [`ProgramSpec::from_config`]) until a stop
//! signal, and exits 0.
//!
//! The bot never runs, and nothing is ever synced or uploaded: no state, no logs. In server mode
//! the SDKs do not make the state read-only, so a handler could write to `/state`; such writes
//! stay in this container and go with it. A restore failure exits 1 before the front listens.

use tokio::sync::mpsc;

use super::{Limits, ProgramSpec, QueryServer, Timing};
use crate::config::Config;
use crate::supervise::signals;

/// Runs the warm query server; returns the exit code (0 when stopped by a signal).
pub async fn run(cfg: Config, mut signals_rx: mpsc::UnboundedReceiver<libc::c_int>) -> i32 {
    let Some(entry) = cfg.query_entrypoint.clone().filter(|e| !e.is_empty()) else {
        crate::error!("warm query mode needs QUERY_ENTRYPOINT");
        crate::exit_reason::emit("warm query mode needs QUERY_ENTRYPOINT");
        return 1;
    };
    let Some(reaper) = crate::supervise::start_init() else {
        return 1;
    };
    let prepared = tokio::select! {
        r = crate::run::fetch_and_restore(&cfg) => r,
        sig = crate::run::first_stop_signal(&mut signals_rx) => {
            crate::info!("warm query server stopped before serving", signal = signals::name(sig));
            return 0;
        }
    };
    if let Err(e) = prepared {
        crate::error!("warm query server cannot start", error = format!("{e:#}"));
        crate::exit_reason::emit(&format!("warm query server did not start: {e:#}"));
        return 1;
    }
    let limits = Limits { query_timeout: cfg.query_timeout, ..Limits::default() };
    let mut server = match QueryServer::bind(cfg.query_port, limits, true).await {
        Ok(s) => s,
        Err(e) => {
            crate::error!("warm query server cannot start", error = e);
            return 1;
        }
    };
    server.launch(ProgramSpec::from_config(&cfg, &entry), &reaper, Timing::default());
    crate::info!("warm query server serving; the bot does not run and nothing is uploaded");
    let sig = crate::run::first_stop_signal(&mut signals_rx).await;
    crate::info!("warm query server stopping", signal = signals::name(sig));
    server.stop().await;
    0
}
