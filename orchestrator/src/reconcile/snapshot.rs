//! What the reconciler last saw and is doing, shared with the admin API and readiness: each bot's
//! containers as last observed (kept current by actions between passes), the bots with an action
//! in flight, whether Docker answered, and a count of Docker events.
//!
//! Between Docker listings the snapshot is what the reconciler plans from: every change to a
//! bot's containers is either this process's own action (recorded here when it ends) or shows up
//! as a Docker event, which marks the snapshot no longer current (see [`Snapshot::needs_listing`]) so that the next
//! pass lists again. That keeps the Docker work of a pass triggered by a store change independent
//! of the number of bots (issue #17).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
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
    /// No Docker event, failed action or broken event stream since the last listing: the
    /// containers above are what Docker holds. False until the first listing.
    current: AtomicBool,
    /// When the containers were last listed from Docker (ms since the epoch).
    listed_ms: AtomicI64,
}

/// Observed containers by bot, each bot's running ones first, then newest first; an update's
/// successor still waiting for its release comes last (the bot's container is the old one until then).
pub fn group(observed: Vec<Observed>) -> HashMap<String, Vec<Observed>> {
    let mut by_bot: HashMap<String, Vec<Observed>> = HashMap::new();
    for o in observed {
        by_bot.entry(o.bot_id.clone()).or_default().push(o);
    }
    for cs in by_bot.values_mut() {
        cs.sort_by_key(|c| (c.successor, c.state != State::Running, -c.created_ms));
    }
    by_bot
}

impl Snapshot {
    /// Replaces what is known with a fresh observation.
    pub fn replace(&self, by_bot: HashMap<String, Vec<Observed>>) {
        *self.containers.write().unwrap_or_else(|p| p.into_inner()) = by_bot;
    }

    /// Replaces what is known with an observation, except for the bots in `keep`: their actions
    /// were under way while it was taken and record their own outcome, which may be newer.
    pub fn replace_except(&self, mut by_bot: HashMap<String, Vec<Observed>>, keep: &HashSet<String>) {
        let mut m = self.containers.write().unwrap_or_else(|p| p.into_inner());
        for bot in keep {
            match m.remove(bot) {
                Some(cs) => by_bot.insert(bot.clone(), cs),
                None => by_bot.remove(bot),
            };
        }
        *m = by_bot;
    }

    /// Every container known, as a listing would show them.
    pub fn all(&self) -> Vec<Observed> {
        self.containers.read().unwrap_or_else(|p| p.into_inner()).values().flatten().cloned().collect()
    }

    /// Something may have changed in Docker that this process did not do: list again.
    pub fn mark_stale(&self) {
        self.current.store(false, Release);
    }

    /// Whether a pass at `now_ms` must list Docker's containers rather than plan from this
    /// snapshot: it is stale, or was listed `max_age_ms` ago or more. When it returns true the
    /// snapshot counts as current from now, as the caller lists next (a failed listing must call
    /// [`Snapshot::mark_stale`]); an event during that listing marks it stale again.
    pub fn needs_listing(&self, now_ms: i64, max_age_ms: i64) -> bool {
        let was_current = self.current.swap(true, AcqRel);
        let fresh = now_ms - self.listed_ms.load(Acquire) < max_age_ms;
        if was_current && fresh {
            return false;
        }
        self.listed_ms.store(now_ms, Release);
        true
    }

    /// Whether a pass at `now_ms` could plan from this snapshot without listing (see
    /// [`Snapshot::needs_listing`], which this only asks).
    pub fn is_current(&self, now_ms: i64, max_age_ms: i64) -> bool {
        self.current.load(Acquire) && now_ms - self.listed_ms.load(Acquire) < max_age_ms
    }

    /// The known containers of `bots`, as a listing would show them.
    pub fn of<'a>(&self, bots: impl Iterator<Item = &'a str>) -> Vec<Observed> {
        let m = self.containers.read().unwrap_or_else(|p| p.into_inner());
        bots.filter_map(|b| m.get(b)).flatten().cloned().collect()
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

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
