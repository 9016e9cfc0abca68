//! What differs behind :9477 between Docker mode and Kubernetes mode, as one trait: whether a
//! bot's realtime instance runs, and how a one-shot query runs (a container or a Job), with its
//! slots, its start-up and shutdown work. Everything else (the wire format, the index, the routing
//! rule, the proxy's HTTP exchange, metrics) is the same code in both modes ([`super::handler`]).
//!
//! Why it exists: Kubernetes mode must answer exactly as Docker mode does, so it plugs into the
//! same server instead of copying it. Docker mode's half is [`Docker`]; Kubernetes mode's is
//! `kube::queryjobs`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use the0_contract::query::Envelope;
use tokio::sync::OwnedSemaphorePermit;

use super::index::IndexedBot;
use super::oneshot::OneShots;
use super::realtime::Realtime;
use super::request::QueryRequest;
use super::result::Results;
use super::warm::WarmPool;
use crate::model::Launch;
use crate::observed::State;
use crate::reconcile::snapshot::Snapshot;

/// How often result objects older than an hour are looked for (D19).
pub const GC_INTERVAL: Duration = Duration::from_secs(600);

/// One mode's half of the query server.
pub trait Backend: Send + Sync + 'static {
    /// The key `realtime` reaches the bot's running realtime instance by, if one runs; asked only
    /// for bots [`IndexedBot::proxied`]. An error is answered as an error envelope.
    fn running<'a>(&'a self, id: &'a str, realtime: &'a Realtime) -> BoxFuture<'a, Result<Option<String>, String>>;
    /// A slot for one one-shot query, or `None` when all [`Backend::max_oneshots`] are taken.
    fn try_slot(&self) -> Option<OwnedSemaphorePermit>;
    /// `--max-query-containers`.
    fn max_oneshots(&self) -> usize;
    /// Runs one one-shot query; `slot` is held until it is over. The caller spawns it as its own
    /// task, so a client that hangs up leaves nothing behind.
    fn one_shot(
        self: Arc<Self>,
        slot: OwnedSemaphorePermit,
        launch: Launch,
        bot: Arc<IndexedBot>,
        req: QueryRequest,
    ) -> BoxFuture<'static, Envelope>;
    /// Before serving: removes what a previous process left (Docker: query containers).
    fn start(&self) -> BoxFuture<'_, ()>;
    /// The query-results bucket, collected every [`GC_INTERVAL`] while serving.
    fn results(&self) -> &Results;
    /// After serving: waits (bounded) for one-shot queries under way, then cleans up.
    fn drain(&self, limit: Duration) -> BoxFuture<'_, ()>;
    /// The key of a ready, current warm query server of this scheduled bot (Docker mode, issue
    /// 15), which the caller proxies the query to; `None`: the one-shot way.
    fn warm<'a>(&'a self, _bot: &'a IndexedBot, _launch: &'a Launch) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
    /// The warm server at `key` could not be reached: the next query goes the one-shot way.
    fn warm_lost(&self, _bot_id: &str, _key: &str) {}
    /// A scheduled run of the bot ended: its warm server, if any, goes (the next one-shot query
    /// starts a fresh one).
    fn run_ended(&self, _bot_id: &str) {}
    /// Work beside serving until `shutdown` (Docker mode: removing idle warm servers).
    fn upkeep(self: Arc<Self>, _shutdown: BoxFuture<'static, ()>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Docker mode: running containers from the reconciler's (or the watcher's) snapshot, one-shot
/// queries in query containers, and scheduled bots' warm query servers (`None`:
/// `--query-warm-for 0`).
pub struct Docker {
    pub snapshot: Arc<Snapshot>,
    pub oneshots: Arc<OneShots>,
    pub warm: Option<Arc<WarmPool>>,
}

impl Backend for Docker {
    fn running<'a>(&'a self, id: &'a str, _: &'a Realtime) -> BoxFuture<'a, Result<Option<String>, String>> {
        let running = self.snapshot.primary(id).filter(|o| o.state == State::Running).map(|o| o.container);
        Box::pin(async move { Ok(running) })
    }

    fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.oneshots.try_slot()
    }

    fn max_oneshots(&self) -> usize {
        self.oneshots.max
    }

    fn one_shot(
        self: Arc<Self>,
        slot: OwnedSemaphorePermit,
        launch: Launch,
        bot: Arc<IndexedBot>,
        req: QueryRequest,
    ) -> BoxFuture<'static, Envelope> {
        Box::pin(async move {
            let warm = self.warm.as_ref().filter(|_| bot.scheduled).map(|w| (w.clone(), launch.clone()));
            let env = self.oneshots.clone().run(slot, launch, req).await;
            if let Some((pool, launch)) = warm.filter(|_| env.status == "ok") {
                pool.after_one_shot(&bot, launch);
            }
            env
        })
    }

    fn start(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            match self.oneshots.remove_leftovers().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(count = %n, "removed leftover query containers"),
                Err(e) => tracing::warn!(error = %e, "cannot list leftover query containers"),
            }
            if let Some(w) = &self.warm {
                match w.remove_leftovers().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = %n, "removed leftover warm query servers"),
                    Err(e) => tracing::warn!(error = %e, "cannot list leftover warm query servers"),
                }
            }
        })
    }

    fn results(&self) -> &Results {
        &self.oneshots.results
    }

    fn drain(&self, limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.oneshots.drain(limit).await;
            if let Some(w) = &self.warm {
                w.shutdown().await;
            }
        })
    }

    fn warm<'a>(&'a self, bot: &'a IndexedBot, launch: &'a Launch) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            match &self.warm {
                Some(w) if bot.scheduled => w.route(bot, launch).await,
                _ => None,
            }
        })
    }

    fn warm_lost(&self, bot_id: &str, key: &str) {
        if let Some(w) = &self.warm {
            w.lost(bot_id, key);
        }
    }

    fn run_ended(&self, bot_id: &str) {
        if let Some(w) = &self.warm {
            w.drop_bot(bot_id);
        }
    }

    fn upkeep(self: Arc<Self>, shutdown: BoxFuture<'static, ()>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            match self.warm.clone() {
                Some(w) => w.run(shutdown).await,
                None => shutdown.await,
            }
        })
    }
}

/// Deletes result objects older than an hour (D19) every [`GC_INTERVAL`] until `shutdown`.
pub async fn collect_garbage(results: Results, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        match results.collect_garbage(SystemTime::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = %n, "deleted stale query results"),
            Err(e) => tracing::warn!(error = %e, "cannot list query results"),
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(GC_INTERVAL) => {}
        }
    }
}
