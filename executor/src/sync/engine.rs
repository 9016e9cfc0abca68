//! One lock around the state syncer and the log shipper: every trigger runs `[state, logs]` in
//! that order, never two syncs at once (docs/contract.md §2.8). Failures are logged and retried at the
//! next trigger; nothing partial is ever uploaded (the syncers guarantee it).

use std::sync::Arc;

use the0_objstore::Store;
use tokio::sync::Mutex;

use super::debounce::Dirty;
use crate::logs::shipper::LogShipper;
use crate::state::upload::StateSyncer;

/// Bound on back-to-back log rounds in one sync (each ships up to 32 MiB of `bot.log`).
const MAX_LOG_ROUNDS: usize = 64;

pub struct SyncEngine {
    store: Arc<Store>,
    parts: Mutex<Parts>,
}

struct Parts {
    /// `None` until state syncing is enabled (the sidecar waits for the `state-restored` marker).
    state: Option<StateSyncer>,
    logs: LogShipper,
}

impl SyncEngine {
    pub fn new(store: Arc<Store>, state: Option<StateSyncer>, logs: LogShipper) -> Arc<SyncEngine> {
        Arc::new(SyncEngine { store, parts: Mutex::new(Parts { state, logs }) })
    }

    pub async fn has_state_syncer(&self) -> bool {
        self.parts.lock().await.state.is_some()
    }

    /// Why state stopped being saved, if it did: another writer replaced the remote archive
    /// (see [`StateSyncer::not_saved`]); for the exit reason.
    pub async fn state_not_saved(&self) -> Option<String> {
        self.parts.lock().await.state.as_ref().and_then(|s| s.not_saved().map(str::to_owned))
    }

    pub async fn enable_state(&self, syncer: StateSyncer) {
        self.parts.lock().await.state = Some(syncer);
    }

    /// Runs the requested halves, state first. `final_sync` ships held log tails too.
    pub async fn sync(&self, what: Dirty, final_sync: bool) {
        let mut parts = self.parts.lock().await;
        if what.state {
            if let Some(state) = parts.state.as_mut() {
                match state.sync(&self.store).await {
                    Ok(outcome) => crate::debug!("state sync", outcome = format!("{outcome:?}")),
                    Err(e) => crate::warn!("state sync failed; will retry", error = e),
                }
            }
        }
        if what.logs {
            // One append per round (D9); a backlog bigger than one round takes several, at once.
            for _ in 0..MAX_LOG_ROUNDS {
                match parts.logs.sync(&self.store, final_sync).await {
                    Ok(outcome) => {
                        crate::debug!("log sync", outcome = format!("{outcome:?}"));
                        if !outcome.more {
                            break;
                        }
                    }
                    Err(e) => {
                        crate::warn!("log sync failed; will retry", error = e);
                        break;
                    }
                }
            }
        }
    }
}
