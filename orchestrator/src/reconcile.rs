//! The reconciler: level-triggered passes (observe Docker, read the store, [`plan`], dispatch) and
//! an action runner with bounded concurrency that never acts on one bot twice at once. Triggers:
//! the periodic tick, any store change (at once), Docker's die/oom/destroy events, the end of an
//! action that needs a follow-up, and the earliest backoff expiry. Docker being down makes passes
//! fail and be retried every 2 s; readiness reports it; nothing else stops.

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Notify, Semaphore};

use crate::docker::Docker;
use crate::metrics::Metrics;
use crate::model::{is_enabled, is_scheduled, validate, Launch};
use crate::plan::{plan, Action, BotStatus, Desired, Observed, State};
pub use crate::snapshot::Snapshot;
use crate::spec::{build, HostSettings};
use crate::store::{now_ms, Store};
use crate::{backoff, log, storage};

#[derive(Debug, Clone)]
pub struct Options {
    pub interval: Duration,
    pub max_parallel: usize,
    /// Docker stop timeout (`BOT_STOP_TIMEOUT_SEC`, D26).
    pub stop_grace: Duration,
    /// First crash-loop delay (10 s).
    pub backoff_base: Duration,
    pub stop_bots_on_shutdown: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            interval: Duration::from_secs(30),
            max_parallel: 8,
            stop_grace: Duration::from_secs(30),
            backoff_base: Duration::from_secs(10),
            stop_bots_on_shutdown: false,
        }
    }
}

#[derive(Clone)]
pub struct Reconciler {
    pub store: Store,
    pub docker: Docker,
    pub objects: Arc<the0_objstore::Store>,
    pub host: Arc<HostSettings>,
    pub metrics: Arc<Metrics>,
    pub opts: Options,
    pub snapshot: Arc<Snapshot>,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
}

impl Reconciler {
    pub fn new(
        store: Store,
        docker: Docker,
        objects: Arc<the0_objstore::Store>,
        host: Arc<HostSettings>,
        metrics: Arc<Metrics>,
        opts: Options,
    ) -> Reconciler {
        let permits = Arc::new(Semaphore::new(opts.max_parallel.max(1)));
        Reconciler {
            store,
            docker,
            objects,
            host,
            metrics,
            opts,
            snapshot: Arc::default(),
            wake: Arc::new(Notify::new()),
            permits,
        }
    }

    /// Asks for a pass as soon as possible.
    pub fn trigger(&self) {
        self.wake.notify_one();
    }

    /// Runs passes until `shutdown` resolves, then waits for actions under way (bounded) and, if
    /// asked to, stops every bot (D25).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let events = tokio::spawn(self.clone().watch_events());
        let mut changes = self.store.watch();
        loop {
            let wake_at = match self.pass().await {
                Ok(w) => w,
                Err(e) => {
                    log::warn("reconcile pass failed", &[("error", &e)]);
                    Some(now_ms() + 2000)
                }
            };
            let sleep = match wake_at {
                Some(at) => Duration::from_millis((at - now_ms()).clamp(0, i64::MAX) as u64).min(self.opts.interval),
                None => self.opts.interval,
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(sleep) => {}
                _ = changes.changed() => {}
                _ = self.wake.notified() => {}
            }
        }
        events.abort();
        let all = self.opts.max_parallel.max(1) as u32;
        let _ = tokio::time::timeout(Duration::from_secs(60), self.permits.acquire_many(all)).await;
        if self.opts.stop_bots_on_shutdown {
            let _ = stop_all(&self.docker, self.opts.stop_grace).await;
        }
    }

    /// One pass; returns when the next one is due at the latest.
    pub async fn pass(&self) -> Result<Option<i64>, String> {
        let t0 = Instant::now();
        let observed = match self.docker.observe().await {
            Ok(o) => {
                self.snapshot.docker_ok.store(true, Relaxed);
                o
            }
            Err(e) => {
                self.snapshot.docker_ok.store(false, Relaxed);
                return Err(e.to_string());
            }
        };
        let records = self.store.list().map_err(|e| e.to_string())?;
        let now = now_ms();
        // Scheduled bots are the scheduler's: to this pass they are not stored, so a bot that
        // became scheduled loses its realtime container.
        let desired: Vec<Desired> = records
            .into_iter()
            .filter(|(rec, _)| !is_scheduled(&rec.config))
            .map(|(rec, status)| Desired {
                enabled: is_enabled(rec.enabled.as_ref(), &rec.config),
                launch: validate(&rec, &self.host.images),
                id: rec.id,
                status,
            })
            .collect();
        let in_flight = self.snapshot.in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let p = plan(&desired, &observed, &in_flight, now, self.opts.backoff_base.as_millis() as i64);
        self.update_snapshot(&desired, observed, now);
        for a in p.actions {
            self.dispatch(a);
        }
        self.metrics.reconcile.observe(t0.elapsed());
        Ok(p.wake_at)
    }

    fn update_snapshot(&self, desired: &[Desired], observed: Vec<Observed>, now: i64) {
        let by_bot = crate::snapshot::group(observed);
        let (mut want, mut running, mut backing, mut failed) = (0, 0, 0, 0);
        for d in desired.iter().filter(|d| d.enabled) {
            want += 1;
            let up = by_bot.get(&d.id).is_some_and(|cs| cs.first().is_some_and(|c| c.state == State::Running));
            if d.launch.is_err() {
                failed += 1;
            } else if up {
                running += 1;
            } else if d.status.backoff_until.is_some_and(|u| u > now) {
                backing += 1;
            }
        }
        self.metrics.desired.store(want, Relaxed);
        self.metrics.running.store(running, Relaxed);
        self.metrics.backing_off.store(backing, Relaxed);
        self.metrics.failed.store(failed, Relaxed);
        self.snapshot.replace(by_bot);
    }

    fn dispatch(&self, a: Action) {
        self.snapshot.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(a.bot_id.clone());
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = me.permits.clone().acquire_owned().await else { return };
            let bot = a.bot_id.clone();
            let events = me.snapshot.events.load(Relaxed);
            let follow_up = me.execute(a).await;
            me.snapshot.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&bot);
            // A die/destroy seen while this bot was in flight may be this bot's: look again.
            if follow_up || me.snapshot.events.load(Relaxed) != events {
                me.trigger();
            }
        });
    }

    fn status(&self, bot: &str) -> Option<BotStatus> {
        self.store.get(bot).ok().flatten().map(|(_, s)| s)
    }

    fn save(&self, bot: &str, s: &BotStatus) {
        if let Err(e) = self.store.set_status(bot, s) {
            log::error("cannot record bot status", &[("bot_id", &bot), ("error", &e)]);
        }
    }

    /// Executes one bot's action; returns whether another pass is needed soon.
    async fn execute(&self, a: Action) -> bool {
        let bot = a.bot_id.as_str();
        let grace = self.opts.stop_grace;
        let stops = a.stop.iter().map(|c| self.docker.stop_and_remove(c, grace));
        for (c, r) in a.stop.iter().zip(futures_util::future::join_all(stops).await) {
            match r {
                Ok(()) => {
                    Metrics::inc(&self.metrics.stops);
                    let why = a.why.get(c).copied().unwrap_or("unknown");
                    log::info(
                        "container stopped and removed",
                        &[("bot_id", &bot), ("container", &short(c)), ("why", &why)],
                    );
                }
                Err(e) => {
                    // A failed stop keeps the old container; retry on a later pass.
                    log::error("stop failed", &[("bot_id", &bot), ("container", &short(c)), ("error", &e)]);
                    return true;
                }
            }
        }
        if let Some(x) = &a.exit {
            let tail = self.tail(&x.container, 50).await;
            let mut x = x.clone();
            let reason = crate::exit_reason::from_log_tail(&tail);
            let planned = x.status.failure_reason.clone().unwrap_or_default();
            x.status.failure_reason =
                Some(crate::exit_reason::describe(&planned, x.oom, self.host.memory_mb, reason.as_deref()));
            log::warn(
                "bot exited unrequested; restart after backoff",
                &[
                    ("bot_id", &bot),
                    ("exit_code", &x.code.map_or("none".to_string(), |c| c.to_string())),
                    ("restarts", &x.status.restarts),
                    ("reason", &x.status.failure_reason.as_deref().unwrap_or("")),
                    ("backoff_ms", &(x.status.backoff_until.unwrap_or(0) - now_ms()).max(0)),
                    ("last_lines", &tail),
                ],
            );
            Metrics::inc(&self.metrics.restarts);
            self.save(bot, &x.status);
        }
        for c in &a.remove {
            let why = a.why.get(c).copied().unwrap_or("unknown");
            match self.docker.remove(c).await {
                Ok(()) => log::info("container removed", &[("bot_id", &bot), ("container", &short(c)), ("why", &why)]),
                Err(e) => log::warn(
                    "remove failed",
                    &[("bot_id", &bot), ("container", &short(c)), ("why", &why), ("error", &e)],
                ),
            }
        }
        if let Some(reason) = &a.fail {
            log::error("bot cannot be run", &[("bot_id", &bot), ("reason", reason)]);
            let mut s = self.status(bot).unwrap_or_default();
            s.failure_reason = Some(reason.clone());
            s.backoff_until = None;
            self.save(bot, &s);
        }
        if a.reset_backoff {
            let mut s = self.status(bot).unwrap_or_default();
            s.consecutive = 0;
            s.backoff_until = None;
            self.save(bot, &s);
        }
        let gone: Vec<String> = a.stop.iter().chain(&a.remove).cloned().collect();
        let Some(l) = &a.start else {
            self.snapshot.record(bot, &gone, None);
            return a.exit.is_some() || !a.stop.is_empty() || !a.remove.is_empty();
        };
        match self.start(l).await {
            Ok(id) => {
                let now = now_ms();
                let o = Observed {
                    container: id.clone(),
                    name: crate::spec::container_name(bot, self.host.instance.as_deref()),
                    bot_id: bot.to_string(),
                    state: State::Running,
                    hash: Some(l.hash.clone()),
                    created_ms: now,
                    started_ms: Some(now),
                    finished_ms: None,
                    exit_code: None,
                    oom: false,
                };
                self.snapshot.record(bot, &gone, Some(o));
                Metrics::inc(&self.metrics.starts);
                log::info("bot started", &[("bot_id", &bot), ("container", &short(&id))]);
                if let Some(mut s) = self.status(bot) {
                    if s.failure_reason.is_some() || s.backoff_until.is_some() {
                        s.failure_reason = None;
                        s.backoff_until = None;
                        self.save(bot, &s);
                    }
                }
                // Follow up only if the bot changed while it was starting.
                !self.store.get(bot).ok().flatten().is_some_and(|(rec, _)| {
                    is_enabled(rec.enabled.as_ref(), &rec.config)
                        && validate(&rec, &self.host.images).is_ok_and(|v| v.hash == l.hash)
                })
            }
            Err(reason) => {
                self.snapshot.record(bot, &gone, None);
                Metrics::inc(&self.metrics.start_failures);
                let mut s = self.status(bot).unwrap_or_default();
                s.consecutive = s.consecutive.saturating_add(1);
                let delay = backoff::delay_ms(s.consecutive, self.opts.backoff_base.as_millis() as i64, bot);
                s.backoff_until = Some(now_ms() + delay);
                s.failure_reason = Some(reason.clone());
                log::error("bot start failed", &[("bot_id", &bot), ("reason", &reason), ("retry_in_ms", &delay)]);
                self.save(bot, &s);
                true
            }
        }
    }

    async fn start(&self, l: &Launch) -> Result<String, String> {
        storage::check_code(&self.objects, &self.host, l).await?;
        storage::prepare_local(&self.host, l)?;
        let spec = build(l, &self.host);
        crate::creds::issue(&self.host, &l.id, &l.code_file, &spec.name, None).await?;
        self.docker.run(&spec).await.map_err(|e| e.to_string())
    }

    async fn tail(&self, container: &str, lines: u32) -> String {
        let mut s = Box::pin(self.docker.logs(container, false, Some(lines)));
        let mut out = Vec::new();
        let read = async {
            while let Some(Ok(chunk)) = s.next().await {
                out.extend_from_slice(&chunk);
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Docker's event stream, reconnected with a 1 s pause; each die/oom/destroy asks for a pass.
    async fn watch_events(self) {
        loop {
            let mut s = Box::pin(self.docker.events());
            while let Some(ev) = s.next().await {
                match ev {
                    Ok(action) if action != "start" => {
                        log::debug("docker event", &[("action", &action)]);
                        self.snapshot.events.fetch_add(1, Relaxed);
                        self.trigger();
                        // Docker sends `die` before its listing shows the container exited.
                        let me = self.clone();
                        tokio::spawn(async move {
                            for ms in [150, 600] {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                me.trigger();
                            }
                        });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        log::debug("docker event stream broke", &[("error", &e)]);
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Whatever happened while disconnected is found by a pass.
            self.trigger();
        }
    }
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// How many containers `stop_all` stops at once.
const STOP_ALL_PARALLEL: usize = 8;

/// Stops and removes every managed container (of this instance), concurrently (D25, D26).
pub async fn stop_all(docker: &Docker, grace: Duration) -> Result<usize, String> {
    let all = docker.observe().await.map_err(|e| e.to_string())?;
    let n = all.len();
    let jobs = all.into_iter().map(|o| async move {
        if o.state == State::Running || o.state == State::Paused || o.state == State::Restarting {
            docker.stop_and_remove(&o.container, grace).await
        } else {
            docker.remove(&o.container).await
        }
    });
    // Concurrent (D26) but bounded: removing many containers at once can deadlock dockerd 20.10.
    let all_done = futures_util::stream::iter(jobs).buffer_unordered(STOP_ALL_PARALLEL).collect::<Vec<_>>();
    let budget = grace * (n.div_ceil(STOP_ALL_PARALLEL) as u32).max(1) + Duration::from_secs(90);
    let results =
        tokio::time::timeout(budget, all_done).await.map_err(|_| "stopping every bot timed out".to_string())?;
    for r in results {
        r.map_err(|e| e.to_string())?;
    }
    Ok(n)
}
