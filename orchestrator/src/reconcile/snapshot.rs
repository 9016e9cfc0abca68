//! What the reconciler last saw and is doing, shared with the admin API and readiness: each bot's
//! containers as last observed (kept current by actions between passes), the bots with an action
//! in flight, whether Docker answered, and a count of Docker events.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Mutex, RwLock};

use crate::observed::{Observed, State};

/// What the last pass saw, for the admin API and readiness.
#[derive(Default)]
pub struct Snapshot {
    /// Per bot: its containers as last observed (running first).
    pub containers: RwLock<HashMap<String, Vec<Observed>>>,
    pub in_flight: Mutex<HashSet<String>>,
    pub docker_ok: AtomicBool,
    /// Docker events seen; an action that overlapped one asks for another pass when it ends.
    pub events: AtomicU64,
}

/// Observed containers by bot, each bot's running ones first, then newest first.
pub fn group(observed: Vec<Observed>) -> HashMap<String, Vec<Observed>> {
    let mut by_bot: HashMap<String, Vec<Observed>> = HashMap::new();
    for o in observed {
        by_bot.entry(o.bot_id.clone()).or_default().push(o);
    }
    for cs in by_bot.values_mut() {
        cs.sort_by_key(|c| (c.state != State::Running, -c.created_ms));
    }
    by_bot
}

impl Snapshot {
    /// Replaces what is known with a fresh observation.
    pub fn replace(&self, by_bot: HashMap<String, Vec<Observed>>) {
        *self.containers.write().unwrap_or_else(|p| p.into_inner()) = by_bot;
    }

    pub fn primary(&self, bot: &str) -> Option<Observed> {
        let m = self.containers.read().unwrap_or_else(|p| p.into_inner());
        m.get(bot).and_then(|cs| cs.first().cloned())
    }
    /// Records what an action did, so readers see it before the next pass.
    pub(crate) fn record(&self, bot: &str, gone: &[String], started: Option<Observed>) {
        let mut m = self.containers.write().unwrap_or_else(|p| p.into_inner());
        let cs = m.entry(bot.to_string()).or_default();
        cs.retain(|c| !gone.contains(&c.container));
        if let Some(o) = started {
            cs.insert(0, o);
        }
    }
    pub fn is_in_flight(&self, bot: &str) -> bool {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).contains(bot)
    }
}
