//! Which bot a query is for, answered from memory (no store scan per request, docs/contract.md D21): an
//! index of every stored bot, reloaded whenever the store reports a change (or, in Kubernetes mode
//! with `--desired-state configmaps`, replaced by whoever lists the desired bots:
//! [`BotIndex::pushed`]), and the pure routing rule of §4.3, the same in both modes: unknown bot
//! or no `custom.config.entrypoints.query` → 404; a realtime bot (not [`is_scheduled`]) with a
//! running instance (a container, a pod) → proxy to it; otherwise a one-shot query (a container,
//! a Job).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::images::RuntimeImages;
use crate::model::{is_scheduled, validate, BotRecord, Launch, SpecError};
use crate::store::Store;

/// What the query server needs to know about one stored bot.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedBot {
    pub scheduled: bool,
    /// `custom.config.entrypoints.query` is a non-empty string.
    pub has_query: bool,
    /// The checked spec, or why no container can be made from it.
    pub launch: Result<Launch, SpecError>,
    /// The record itself (Kubernetes mode builds a query Job from it).
    pub record: BotRecord,
}

impl IndexedBot {
    pub fn of(rec: &BotRecord, images: &RuntimeImages) -> IndexedBot {
        let q = rec.custom.pointer("/config/entrypoints/query");
        IndexedBot {
            scheduled: is_scheduled(&rec.config),
            has_query: q.and_then(Value::as_str).is_some_and(|s| !s.is_empty()),
            launch: validate(rec, images),
            record: rec.clone(),
        }
    }

    /// Whether a query for this bot goes to its running instance when there is one (a realtime
    /// bot with a query entrypoint and a valid spec): only then is a running instance looked for.
    pub fn proxied(&self) -> bool {
        self.has_query && !self.scheduled && self.launch.is_ok()
    }
}

/// Where a query goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// 404 with this message.
    NotFound(String),
    /// The bot exists but no container can be made from it (error envelope, 500).
    Unrunnable(String),
    /// HTTP to the running realtime instance (the key its address is found by: a container id,
    /// a pod name).
    Proxy(String),
    /// A one-shot query (a container, a Job).
    OneShot(Launch),
}

/// §4.3 resolution. `running` is the key of the bot's running realtime instance, if it has one
/// (Docker: its first observed container, when running; Kubernetes: its pod, when Running with
/// an address).
pub fn route(id: &str, bot: Option<&IndexedBot>, running: Option<&str>) -> Route {
    let Some(bot) = bot else { return Route::NotFound(format!("bot {id:?} not found")) };
    if !bot.has_query {
        return Route::NotFound(format!("bot {id:?} has no query entrypoint (custom.config.entrypoints.query)"));
    }
    let launch = match &bot.launch {
        Ok(l) => l,
        Err(reason) => return Route::Unrunnable(format!("bot {id:?} cannot be queried: {reason}")),
    };
    match running {
        Some(key) if bot.proxied() => Route::Proxy(key.to_string()),
        _ => Route::OneShot(launch.clone()),
    }
}

/// How often another process's writes to the store are looked for.
/// Beyond this many changed bots the index reads every bot at once.
const MAX_SINGLE_READS: usize = 64;

pub const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Every stored bot, kept current from [`Store::watch`] and the store's `data_version`.
///
/// Reads see this process's own writes: a `PUT /bots/{id}` that has returned is never answered
/// "not found" because the reload it triggered has not run yet. While the index lags the store,
/// a query looks its bot up by key instead (one indexed row, not a scan).
pub struct BotIndex {
    /// `None`: the index is [`BotIndex::pushed`], filled by [`BotIndex::replace`].
    store: Option<Store>,
    images: Arc<RuntimeImages>,
    bots: RwLock<HashMap<String, Arc<IndexedBot>>>,
    /// The [`Store::version`] the map was loaded at.
    loaded: AtomicU64,
}

impl BotIndex {
    /// Loads the index once.
    pub fn load(store: Store, images: Arc<RuntimeImages>) -> Result<Arc<BotIndex>, crate::store::StoreError> {
        let index =
            Arc::new(BotIndex { store: Some(store), images, bots: RwLock::default(), loaded: AtomicU64::new(0) });
        index.reload()?;
        Ok(index)
    }

    /// An empty index with no store behind it: its bots are whatever [`BotIndex::replace`] last
    /// gave (Kubernetes mode's desired-state ConfigMaps, listed by `kube::queryserve`).
    pub fn pushed(images: Arc<RuntimeImages>) -> Arc<BotIndex> {
        Arc::new(BotIndex { store: None, images, bots: RwLock::default(), loaded: AtomicU64::new(0) })
    }

    /// Replaces every bot of the index with `records`.
    pub fn replace(&self, records: &[BotRecord]) {
        let fresh = records.iter().map(|rec| (rec.id.clone(), Arc::new(IndexedBot::of(rec, &self.images)))).collect();
        *self.bots.write().unwrap_or_else(|p| p.into_inner()) = fresh;
    }

    fn reload(&self) -> Result<(), crate::store::StoreError> {
        let Some(store) = &self.store else { return Ok(()) };
        // Read before the list: a write racing it leaves the index marked behind, never ahead.
        let version = store.version();
        let records: Vec<BotRecord> = store.list()?.into_iter().map(|(rec, _)| rec).collect();
        self.replace(&records);
        self.loaded.store(version, Ordering::Release);
        Ok(())
    }

    /// Brings the index up to date by reading only the bots changed since it was last loaded
    /// (issue #17), or everything when the store's change log no longer reaches back that far.
    fn update(&self, store: &Store) -> Result<(), crate::store::StoreError> {
        let changed = store.changed_since(self.loaded.load(Ordering::Acquire));
        let Some(bots) = changed.bots.filter(|b| b.len() <= MAX_SINGLE_READS) else { return self.reload() };
        let mut fresh = Vec::with_capacity(bots.len());
        for id in bots {
            let bot = store.get(&id)?.map(|(rec, _)| Arc::new(IndexedBot::of(&rec, &self.images)));
            fresh.push((id, bot));
        }
        let mut map = self.bots.write().unwrap_or_else(|p| p.into_inner());
        for (id, bot) in fresh {
            match bot {
                Some(b) => map.insert(id, b),
                None => map.remove(&id),
            };
        }
        drop(map);
        self.loaded.fetch_max(changed.version, Ordering::AcqRel);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Arc<IndexedBot>> {
        if let Some(store) = self.store.as_ref().filter(|s| s.version() > self.loaded.load(Ordering::Acquire)) {
            match store.get(id) {
                Ok(found) => return found.map(|(rec, _)| Arc::new(IndexedBot::of(&rec, &self.images))),
                Err(e) => tracing::warn!(error = %e, "query index lookup failed; answering from the index"),
            }
        }
        self.bots.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    /// Reloads after every store change until `shutdown`: this process's writes are announced by
    /// [`Store::watch`]; another process's (a `bot-runner` beside `query-server`) show in the
    /// store's `data_version`, checked every [`POLL`]. A failed reload keeps the old view and is
    /// retried at the next tick.
    /// A [`BotIndex::pushed`] index has nothing to follow: it waits for `shutdown`.
    pub async fn follow(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let Some(store) = self.store.clone() else { return shutdown.await };
        let mut rx = store.watch();
        let mut seen = store.data_version().ok();
        // Changes between the first load and the subscription are caught by one more reload.
        let mut retry = self.reload().is_err();
        let mut tick = tokio::time::interval(POLL);
        loop {
            // This process's own writes name the bots they changed; another process's writes
            // (seen by SQLite's data version) do not.
            let mut own = false;
            tokio::select! {
                _ = &mut shutdown => return,
                r = rx.changed() => if r.is_err() { return } else { own = !retry },
                _ = tick.tick() => {
                    let now = store.data_version().ok();
                    if now == seen && !retry {
                        continue;
                    }
                    seen = now;
                }
            }
            rx.mark_unchanged();
            let reloaded = if own { self.update(&store) } else { self.reload() };
            retry = match reloaded {
                Ok(()) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "query index reload failed");
                    true
                }
            };
        }
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
