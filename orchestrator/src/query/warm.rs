//! Warm query servers for scheduled bots (issue 15, Docker mode). A query to a scheduled bot
//! starts a container (about as long as a `docker run --rm`); a dashboard polling it pays that
//! every time. After a one-shot query of a scheduled bot succeeds, its query program is kept
//! serving in a container of its own ([`Role::Warm`]: the executor's warm query mode, the state
//! restored and never uploaded), and the queries that follow within `--query-warm-for` of the
//! last one are proxied to it like a realtime bot's.
//!
//! Freshness: the state object's ETag is read before the server starts (its state is never older
//! than that), and again, at most every [`CHECK_EVERY`] per bot, before a query is proxied to it; a
//! different ETag (a run synced, the state was edited) removes the server and that query goes the
//! one-shot way, which starts a fresh one. A scheduled run's end removes it too
//! ([`WarmPool::drop_bot`], told by the scheduler through the server), and so does a change of
//! the bot's spec, its removal or disabling ([`keeps`]).
//!
//! Bounded: at most `--max-warm-query-servers`, the least recently used removed first; each one
//! removed [`Book::expire`] after its last query. A server whose query program does not answer
//! within [`READY_WITHIN`] (an SDK that cannot serve) is removed and its bot keeps the one-shot
//! path for [`COLD_FOR`]. Until a server is ready, queries take the one-shot path.
//!
//! The pure part is [`Book`] in [`super::warmbook`] (which server, when, and what to remove),
//! with every time passed in; [`WarmPool`] here is the thin edge around it (engine, object
//! storage, the proxy's probe).

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::index::{BotIndex, IndexedBot};
use super::oneshot::{fresh_key, remove_in_eights};
use super::realtime::Realtime;
pub use super::warmbook::{is_warm_container, keeps, Book, Decision, Removal, Verdict, CHECK_EVERY, COLD_FOR};
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::model::Launch;
use crate::spec::{build_for, warm_container_name, HostSettings, Role};

/// `--query-warm-for` unless told.
pub const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(60);
/// `--max-warm-query-servers` unless told.
pub const DEFAULT_MAX: usize = 16;
/// Longest wait for a started server's query program to answer.
pub const READY_WITHIN: Duration = Duration::from_secs(30);
/// Between two readiness probes, and the bound on one.
const PROBE_EVERY: Duration = Duration::from_millis(25);
const PROBE_BOUND: Duration = Duration::from_secs(2);
/// How often idle and outdated servers are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The edge around [`Book`]: starts, probes and removes the containers.
pub struct WarmPool {
    engine: Arc<dyn Engine>,
    objects: Arc<the0_objstore::Store>,
    host: Arc<HostSettings>,
    realtime: Arc<Realtime>,
    metrics: Arc<Metrics>,
    index: Arc<BotIndex>,
    keep_for: Duration,
    max: usize,
    book: Mutex<Book>,
}

/// What a readiness wait found.
enum Readiness {
    Ready,
    /// Not within [`READY_WITHIN`].
    Never,
    /// The server left the book meanwhile.
    Dropped,
}

impl WarmPool {
    pub fn new(
        engine: Arc<dyn Engine>,
        objects: Arc<the0_objstore::Store>,
        host: Arc<HostSettings>,
        realtime: Arc<Realtime>,
        metrics: Arc<Metrics>,
        index: Arc<BotIndex>,
        keep_for: Duration,
        max: usize,
    ) -> WarmPool {
        WarmPool { engine, objects, host, realtime, metrics, index, keep_for, max, book: Mutex::default() }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self) {
        let n = self.book().len();
        self.metrics.warm_servers.set(n as i64);
    }

    /// The state object's ETag (`None`: no state object).
    async fn state_etag(&self, id: &str) -> Result<Option<String>, the0_objstore::Error> {
        let key = the0_contract::keys::state_key(id);
        Ok(self.objects.head(&self.host.buckets.state, &key).await?.map(|m| m.etag))
    }

    /// Removes `gone` in its own task (a query does not wait for it).
    fn remove(&self, gone: Vec<Removal>) {
        if gone.is_empty() {
            return;
        }
        let (engine, realtime) = (self.engine.clone(), self.realtime.clone());
        tokio::spawn(async move { remove_now(&*engine, None, &realtime, gone).await });
    }

    /// The container to proxy this query of a scheduled bot to, or `None`: the one-shot way.
    pub async fn route(&self, bot: &IndexedBot, launch: &Launch) -> Option<String> {
        let id = launch.id.as_str();
        if !keeps(Some(bot), &launch.hash) {
            self.drop_bot(id);
            return None;
        }
        let decision = self.book().decide(id, &launch.hash, Instant::now());
        match decision {
            Decision::OneShot { remove } => {
                self.remove(remove.into_iter().collect());
                self.count();
                None
            }
            Decision::Proxy { container, check: false, .. } => Some(container),
            Decision::Proxy { container, generation, check: true } => match self.state_etag(id).await {
                Ok(etag) => {
                    let verdict = self.book().verify(id, generation, &etag);
                    match verdict {
                        Verdict::Fresh => Some(container),
                        Verdict::Stale(gone) => {
                            tracing::info!(bot_id = %id, "the bot's state changed; replacing its warm query server");
                            self.remove(gone.into_iter().collect());
                            self.count();
                            None
                        }
                        Verdict::Gone => None,
                    }
                }
                Err(e) => {
                    tracing::warn!(bot_id = %id, error = %e, "cannot read the state's ETag; answering by a one-shot query");
                    self.book().recheck(id, generation);
                    None
                }
            },
        }
    }

    /// After a one-shot query of a scheduled bot succeeded: starts its warm server (in its own
    /// task) unless it has one, is cold, or cannot have one.
    pub fn after_one_shot(self: &Arc<Self>, bot: &IndexedBot, launch: Launch) {
        if launch.query_entrypoint.is_none() || !keeps(Some(bot), &launch.hash) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move { me.start(launch).await });
    }

    async fn start(&self, launch: Launch) {
        let id = launch.id.clone();
        // Read first: whatever the server restores is at least this state.
        let etag = match self.state_etag(&id).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(bot_id = %id, error = %e, "cannot read the state's ETag; no warm query server");
                return;
            }
        };
        let begun = self.book().begin(&id, &launch.hash, etag, Instant::now(), self.max);
        let Some((generation, evicted)) = begun else { return };
        // Gone before this one is created: never more than the cap at once.
        remove_now(&*self.engine, None, &self.realtime, evicted).await;
        self.count();
        let container = match self.create(&launch).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(bot_id = %id, error = %e, "cannot start a warm query server; one-shot queries for a while");
                let gone = self.book().abandon(&id, generation, Some(Instant::now() + COLD_FOR));
                self.remove(gone.into_iter().collect());
                self.count();
                return;
            }
        };
        if !self.book().created(&id, generation, &container) {
            self.remove(vec![(id, container)]);
            return;
        }
        match self.await_ready(&id, generation, &container).await {
            Readiness::Ready => {
                if self.book().ready(&id, generation) {
                    tracing::info!(bot_id = %id, container = %container, "warm query server ready");
                }
            }
            Readiness::Dropped => {}
            Readiness::Never => {
                tracing::warn!(
                    bot_id = %id,
                    within = ?READY_WITHIN,
                    cold_for = ?COLD_FOR,
                    "the warm query server's program never answered (an SDK that cannot serve?); one-shot queries for this bot",
                );
                let gone = self.book().abandon(&id, generation, Some(Instant::now() + COLD_FOR));
                self.remove(gone.into_iter().collect());
            }
        }
        self.count();
    }

    /// Creates and starts the warm container of `launch`.
    async fn create(&self, launch: &Launch) -> Result<String, String> {
        crate::objects::prepare_local(&self.host, launch).map_err(|e| e.to_string())?;
        let spec = build_for(launch, &self.host, &Role::Warm);
        // One left by an earlier start of this bot, or still being removed.
        if let Err(e) = self.engine.remove(&spec.name).await {
            tracing::debug!(name = %spec.name, error = %e, "no earlier warm query server removed");
        }
        // Scoped credentials as a one-shot query's: read the code and the state, write only a
        // result key that this server never uses (so never the state).
        let key = fresh_key(&launch.id);
        crate::creds::issue(&self.host, &launch.id, &launch.code_file, &spec.name, Some(&key))
            .await
            .map_err(|e| e.to_string())?;
        self.engine.start_oneshot(&spec).await.map_err(|e| e.to_string())
    }

    async fn await_ready(&self, id: &str, generation: u64, container: &str) -> Readiness {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if !self.book().holds(id, generation) {
                return Readiness::Dropped;
            }
            if self.realtime.ready(container, PROBE_BOUND).await {
                return Readiness::Ready;
            }
            if Instant::now() >= deadline {
                return Readiness::Never;
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// Removes the bot's server, if any (its scheduled run ended, it was removed or changed).
    pub fn drop_bot(&self, id: &str) {
        let gone = self.book().drop_bot(id);
        if gone.is_some() {
            self.remove(gone.into_iter().collect());
            self.count();
        }
    }

    /// The server at `container` did not answer: removed, the next query goes the one-shot way.
    pub fn lost(&self, id: &str, container: &str) {
        let gone = self.book().lost(id, container);
        if gone.is_some() {
            self.remove(gone.into_iter().collect());
            self.count();
        }
    }

    /// Removes idle servers and those whose bot changed, was removed or disabled.
    pub fn sweep(&self, now: Instant) {
        let mut gone = self.book().expire(now, self.keep_for);
        let bots = self.book().bots();
        let outdated: HashSet<String> = bots
            .into_iter()
            .filter(|(id, hash)| !keeps(self.index.get(id).as_deref(), hash))
            .map(|(id, _)| id)
            .collect();
        {
            let mut book = self.book();
            gone.extend(outdated.iter().filter_map(|id| book.drop_bot(id)));
        }
        self.remove(gone);
        self.count();
    }

    /// Sweeps every [`SWEEP_EVERY`] until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => self.sweep(Instant::now()),
            }
        }
    }

    /// Before serving: removes the warm servers a previous process left. Returns how many.
    pub async fn remove_leftovers(&self) -> Result<usize, crate::docker::DockerError> {
        let list = self.engine.list_oneshots().await?;
        let gone: Vec<Removal> =
            list.into_iter().filter(is_warm_container).map(|o| (o.bot_id.clone(), o.container)).collect();
        let n = gone.len();
        remove_now(&*self.engine, Some(&*self.host), &self.realtime, gone).await;
        Ok(n)
    }

    /// Shutdown: removes every warm server, eight at a time, and starts none any more.
    pub async fn shutdown(&self) {
        let gone = self.book().drain();
        remove_now(&*self.engine, Some(&*self.host), &self.realtime, gone).await;
        self.count();
        // One whose start was under way is found by the next start's leftover sweep.
        if let Err(e) = self.remove_leftovers().await {
            tracing::warn!(error = %e, "cannot list warm query servers at shutdown");
        }
    }
}

/// Removes the containers (eight at a time) and their cached addresses; with `host`, their
/// scoped credentials too. Only when no server can start any more (at start-up and shutdown):
/// the next server of a bot has the same name and so the same credentials directory; meanwhile
/// `creds::renew` drops the credentials of containers that are gone.
async fn remove_now(engine: &dyn Engine, host: Option<&HostSettings>, realtime: &Realtime, gone: Vec<Removal>) {
    let ids: Vec<String> = gone.iter().map(|(_, c)| c.clone()).collect();
    remove_in_eights(engine, &ids, "warm query server").await;
    for (bot, container) in &gone {
        realtime.forget(container);
        if let Some(h) = host {
            crate::creds::forget(h, bot, &warm_container_name(bot, h.instance.as_deref()));
        }
    }
}
