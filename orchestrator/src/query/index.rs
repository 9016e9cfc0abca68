//! Which bot a query is for, answered from memory (no store scan per request, docs/contract.md D21): an
//! index of every stored bot, reloaded whenever the store reports a change, and the pure routing
//! rule of §4.3: unknown bot or no `custom.config.entrypoints.query` → 404; a realtime bot (not
//! [`is_scheduled`]) with a running container → proxy to it; otherwise a one-shot container.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::images::RuntimeImages;
use crate::model::{is_scheduled, validate, BotRecord, Launch, SpecError};
use crate::observed::{Observed, State};
use crate::store::Store;

/// What the query server needs to know about one stored bot.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedBot {
    pub scheduled: bool,
    /// `custom.config.entrypoints.query` is a non-empty string.
    pub has_query: bool,
    /// The checked spec, or why no container can be made from it.
    pub launch: Result<Launch, SpecError>,
}

impl IndexedBot {
    pub fn of(rec: &BotRecord, images: &RuntimeImages) -> IndexedBot {
        let q = rec.custom.pointer("/config/entrypoints/query");
        IndexedBot {
            scheduled: is_scheduled(&rec.config),
            has_query: q.and_then(Value::as_str).is_some_and(|s| !s.is_empty()),
            launch: validate(rec, images),
        }
    }
}

/// Where a query goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// 404 with this message.
    NotFound(String),
    /// The bot exists but no container can be made from it (error envelope, 500).
    Unrunnable(String),
    /// HTTP to the running realtime container (its id).
    Proxy(String),
    /// A one-shot query container.
    OneShot(Launch),
}

/// §4.3 resolution. `running` is the bot's first observed realtime container, if any.
pub fn route(id: &str, bot: Option<&IndexedBot>, running: Option<&Observed>) -> Route {
    let Some(bot) = bot else { return Route::NotFound(format!("bot {id:?} not found")) };
    if !bot.has_query {
        return Route::NotFound(format!("bot {id:?} has no query entrypoint (custom.config.entrypoints.query)"));
    }
    let launch = match &bot.launch {
        Ok(l) => l,
        Err(reason) => return Route::Unrunnable(format!("bot {id:?} cannot be queried: {reason}")),
    };
    match running {
        Some(o) if !bot.scheduled && o.state == State::Running => Route::Proxy(o.container.clone()),
        _ => Route::OneShot(launch.clone()),
    }
}

/// How often another process's writes to the store are looked for.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Every stored bot, kept current from [`Store::watch`] and the store's `data_version`.
///
/// Reads see this process's own writes: a `PUT /bots/{id}` that has returned is never answered
/// "not found" because the reload it triggered has not run yet. While the index lags the store,
/// a query looks its bot up by key instead (one indexed row, not a scan).
pub struct BotIndex {
    store: Store,
    images: Arc<RuntimeImages>,
    bots: RwLock<HashMap<String, Arc<IndexedBot>>>,
    /// The [`Store::version`] the map was loaded at.
    loaded: AtomicU64,
}

impl BotIndex {
    /// Loads the index once.
    pub fn load(store: Store, images: Arc<RuntimeImages>) -> Result<Arc<BotIndex>, crate::store::StoreError> {
        let index = Arc::new(BotIndex { store, images, bots: RwLock::default(), loaded: AtomicU64::new(0) });
        index.reload()?;
        Ok(index)
    }

    fn reload(&self) -> Result<(), crate::store::StoreError> {
        // Read before the list: a write racing it leaves the index marked behind, never ahead.
        let version = self.store.version();
        let fresh: HashMap<String, Arc<IndexedBot>> = self
            .store
            .list()?
            .into_iter()
            .map(|(rec, _)| (rec.id.clone(), Arc::new(IndexedBot::of(&rec, &self.images))))
            .collect();
        *self.bots.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        self.loaded.store(version, Ordering::Release);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Arc<IndexedBot>> {
        if self.store.version() > self.loaded.load(Ordering::Acquire) {
            match self.store.get(id) {
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
    pub async fn follow(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut rx = self.store.watch();
        let mut seen = self.store.data_version().ok();
        // Changes between the first load and the subscription are caught by one more reload.
        let mut retry = self.reload().is_err();
        let mut tick = tokio::time::interval(POLL);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                r = rx.changed() => if r.is_err() { return },
                _ = tick.tick() => {
                    let now = self.store.data_version().ok();
                    if now == seen && !retry {
                        continue;
                    }
                    seen = now;
                }
            }
            rx.mark_unchanged();
            retry = match self.reload() {
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
