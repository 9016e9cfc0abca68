//! The query system of the executor (docs/contract.md §4.1, D16, D20): the :9476 front that owns the
//! port and proxies to the bot's query program, the program's lifecycle behind it, one-shot
//! queries (`execute --query P` / `QUERY_PATH`) and the Kubernetes query sidecar
//! (`execute --query-server-only`).
//!
//! * [`http`], [`reply`]: pure rules (wire format, statuses); the parameter merge and path checks
//!   are shared with the host's :9477 server (`the0_contract::querytarget`).
//! * [`upstream`]: the tolerant client toward SDK query servers.
//! * [`front`]: the server on :9476. [`program`]: the query program's lifecycle.
//! * [`QueryServer`]: the two together, as the normal run and the sidecar use them.
//! * [`oneshot`], [`sidecar`], [`warm`]: the three query modes of `execute`.

pub mod front;
pub mod http;
pub mod oneshot;
pub mod program;
pub mod reply;
pub mod sidecar;
pub mod upstream;
pub mod warm;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use front::Limits;
pub use program::{Phase, ProgramSpec, Timing};

use crate::config::Config;
use crate::supervise::Reaper;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// The front and, once launched, the program behind it.
pub struct QueryServer {
    port: u16,
    phase_rx: watch::Receiver<Phase>,
    /// Until [`QueryServer::launch`]: the sender and the hung-report receiver the lifecycle takes.
    pending: Option<(watch::Sender<Phase>, mpsc::UnboundedReceiver<u64>)>,
    stop_tx: watch::Sender<bool>,
    accept: JoinHandle<()>,
    program: Option<JoinHandle<()>>,
}

impl QueryServer {
    /// Listens on `0.0.0.0:port` (0: any free port) and answers at once: `Absent` for a bot
    /// without a query entrypoint, else `Starting` until [`QueryServer::launch`].
    pub async fn bind(port: u16, limits: Limits, has_program: bool) -> Result<QueryServer, QueryError> {
        let addr = SocketAddr::from(([0, 0, 0, 0], port));
        let listener = TcpListener::bind(addr).await.map_err(|source| QueryError::Bind { addr, source })?;
        let port = listener.local_addr().map_err(|source| QueryError::Bind { addr, source })?.port();
        let (phase_tx, phase_rx) = watch::channel(if has_program { Phase::Starting } else { Phase::Absent });
        let (hung_tx, hung_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(front::Shared::new(limits, phase_rx.clone(), hung_tx, stop_rx));
        let accept = tokio::spawn(front::accept_loop(listener, shared));
        crate::info!("query front listening", port = port);
        Ok(QueryServer { port, phase_rx, pending: Some((phase_tx, hung_rx)), stop_tx, accept, program: None })
    }

    /// The port the front listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn phase(&self) -> Phase {
        self.phase_rx.borrow().clone()
    }

    /// Starts the query program's lifecycle (once; later calls do nothing).
    pub fn launch(&mut self, spec: ProgramSpec, reaper: &Reaper, timing: Timing) {
        let Some((phase, hung)) = self.pending.take() else { return };
        let ctl = program::Control { phase, hung, stop: self.stop_tx.subscribe() };
        self.program = Some(tokio::spawn(program::supervise(spec, reaper.clone(), ctl, timing)));
    }

    /// Stops the program (TERM, its grace, KILL) and the front. Bounded.
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        if let Some(task) = self.program {
            if tokio::time::timeout(Duration::from_secs(30), task).await.is_err() {
                crate::warn!("query program did not stop in time");
            }
        }
        self.accept.abort();
        crate::info!("query front stopped", port = self.port);
    }
}

/// The normal run's query server (docs/contract.md §2.7 step 7): the front for a realtime bot, and the
/// program behind it when there is a `QUERY_ENTRYPOINT`. A front that cannot start is logged and
/// the bot runs without it.
pub async fn start_for_bot(cfg: &Config, reaper: &Reaper) -> Option<QueryServer> {
    let entry = cfg.query_entrypoint.as_deref().filter(|e| !e.is_empty());
    let limits = Limits { query_timeout: cfg.query_timeout, ..Limits::default() };
    let mut server = match QueryServer::bind(cfg.query_port, limits, entry.is_some()).await {
        Ok(s) => s,
        Err(e) => {
            crate::warn!("query front unavailable; the bot runs without it", error = e);
            return None;
        }
    };
    if let Some(entry) = entry {
        server.launch(ProgramSpec::from_config(cfg, entry), reaper, Timing::default());
    }
    Some(server)
}
