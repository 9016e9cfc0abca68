//! The reconciler: level-triggered passes (observe Docker, read the store, [`plan::plan`], dispatch) and
//! an action runner with bounded concurrency that never acts on one bot twice at once. Triggers:
//! the periodic tick, any store change (at once), Docker's die/oom/destroy events, the end of an
//! action that needs a follow-up, and the earliest backoff expiry. Docker being down makes passes
//! fail and be retried every 2 s; readiness reports it; nothing else stops. An update of a running
//! bot is a handover (`handover.rs`): its successor prepares beside it before it is stopped.

pub mod due;
pub mod error;
pub mod exit_reason;
pub mod handover;
pub mod plan;
pub mod policy;
pub mod record;
pub mod snapshot;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{Notify, Semaphore};

use crate::engine::Engine;
use crate::host::Host;
use crate::metrics::cpu_time::cpu_timed;
use crate::metrics::BotSample;
use crate::model::{is_enabled, is_scheduled, validate, Launch};
use crate::objects;
use crate::observed::{Observed, State};
use crate::spec::build;
pub use due::{Due, PassDone, FULL_PASS_AFTER_CHANGES_MS};
pub use error::{ReconcileError, StartError};
use plan::{plan, Action, Desired};
use record::{Record, Step};
pub use snapshot::Snapshot;

use crate::store::changed::MAX_CHANGED_BOTS;
use crate::store::events::{Kind, NewEvent};

#[derive(Debug, Clone)]
pub struct Options {
    pub interval: Duration,
    pub max_parallel: usize,
    /// Docker stop timeout (`BOT_STOP_TIMEOUT_SEC`, D26).
    pub stop_grace: Duration,
    /// First crash-loop delay (10 s).
    pub backoff_base: Duration,
    pub stop_bots_on_shutdown: bool,
    /// `--update-handover` (on by default): an update of a running bot starts its successor
    /// first and stops the old container only once the successor is prepared ([`plan::Handover`]).
    pub update_handover: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            interval: Duration::from_secs(30),
            max_parallel: 8,
            stop_grace: Duration::from_secs(30),
            backoff_base: Duration::from_secs(10),
            stop_bots_on_shutdown: false,
            update_handover: true,
        }
    }
}

#[derive(Clone)]
pub struct Reconciler {
    pub host: Host,
    pub opts: Options,
    pub snapshot: Arc<Snapshot>,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    /// Whether this process has listed Docker once: what that listing found running was adopted.
    listed_once: Arc<AtomicBool>,
}

impl Reconciler {
    pub fn new(host: Host, opts: Options) -> Reconciler {
        let permits = Arc::new(Semaphore::new(opts.max_parallel.max(1)));
        Reconciler {
            host,
            opts,
            snapshot: Arc::default(),
            wake: Arc::new(Notify::new()),
            permits,
            listed_once: Arc::default(),
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
        let mut changes = self.host.store.watch();
        // Woken only by stored changes: plan only the bots they touched. Anything else (the
        // first pass, the timer, a Docker event, an action's follow-up) plans every bot.
        let mut only_changes = false;
        let mut due = Due::default();
        let mut seen = self.host.store.version();
        loop {
            let now = self.host.clock.now_ms();
            let changed = self.host.store.changed_since(seen);
            seen = changed.version;
            let pass = async {
                match changed.bots.filter(|_| only_changes && !due.full_due(now)) {
                    Some(bots) => self.pass_changed(&bots).await,
                    None => self.pass().await.map(|w| PassDone { wake_at: w, full: true }),
                }
            };
            let (result, cpu) = cpu_timed(pass).await;
            self.host.metrics.reconcile_cpu.observe(cpu.as_secs_f64());
            let now = self.host.clock.now_ms();
            let wake_at = match result {
                Ok(done) => due.after(done, now),
                Err(e) => {
                    tracing::warn!(error = %e, "reconcile pass failed");
                    due.after(PassDone { wake_at: Some(now + 2000), full: true }, now)
                }
            };
            let sleep = match wake_at {
                Some(at) => Duration::from_millis((at - now).clamp(0, i64::MAX) as u64).min(self.opts.interval),
                None => self.opts.interval,
            };
            only_changes = tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(sleep) => false,
                _ = changes.changed() => true,
                _ = self.wake.notified() => false,
            };
        }
        events.abort();
        let all = self.opts.max_parallel.max(1) as u32;
        let _ = tokio::time::timeout(Duration::from_secs(60), self.permits.acquire_many(all)).await;
        if self.opts.stop_bots_on_shutdown {
            let _ = stop_all(&*self.host.engine, self.opts.stop_grace).await;
        }
    }

    /// One pass; returns when the next one is due at the latest.
    ///
    /// Docker is listed only when something may have changed there that this process did not do
    /// (an event, a failed action, a broken event stream) or the last listing is an interval old;
    /// otherwise the pass plans from the snapshot, which every action keeps current.
    pub async fn pass(&self) -> Result<Option<i64>, ReconcileError> {
        let t0 = Instant::now();
        // Read before observing: a bot whose action ends after this read has its outcome in
        // the snapshot and in a listing made after it, so it is never planned twice.
        let in_flight = self.snapshot.in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = self.host.clock.now_ms();
        let listed = self.snapshot.needs_listing(now, self.opts.interval.as_millis() as i64);
        let observed = if listed {
            match self.host.engine.observe().await {
                Ok(o) => {
                    self.snapshot.docker_ok.store(true, Relaxed);
                    o
                }
                Err(e) => {
                    self.snapshot.docker_ok.store(false, Relaxed);
                    self.snapshot.mark_stale();
                    return Err(e.into());
                }
            }
        } else {
            self.snapshot.all()
        };
        let seen = Instant::now();
        let records = self.host.store.list()?;
        let now = self.host.clock.now_ms();
        let desired: Vec<Desired> = records.into_iter().filter_map(|(rec, status)| self.desired(rec, status)).collect();
        if listed && !self.listed_once.swap(true, Relaxed) {
            self.record_adoptions(&desired, &observed, now);
        }
        let p = plan(&desired, &observed, &in_flight, now, self.opts.backoff_base.as_millis() as i64);
        self.host.metrics.bots_planned.inc_by(desired.len() as u64);
        self.update_snapshot(&desired, observed, &in_flight, now);
        self.dispatch_all(p.actions, seen, &|_| true);
        self.host.metrics.reconcile.observe(t0.elapsed().as_secs_f64());
        Ok(p.wake_at)
    }

    /// A pass over only the bots whose stored desired state changed (`changed`), planned from
    /// the snapshot: one change costs the same whatever the fleet's size (issue #17). It falls
    /// back to a full pass when the snapshot must be listed again, when nothing was listed yet,
    /// or when the change is not pinned to a few bots. Aggregate gauges are left to the full
    /// pass that [`Due`] brings within [`FULL_PASS_AFTER_CHANGES_MS`].
    pub async fn pass_changed(&self, changed: &BTreeSet<String>) -> Result<PassDone, ReconcileError> {
        let now = self.host.clock.now_ms();
        let interval = self.opts.interval.as_millis() as i64;
        if changed.len() > MAX_CHANGED_BOTS
            || !self.listed_once.load(Relaxed)
            || !self.snapshot.is_current(now, interval)
        {
            return self.pass().await.map(|w| PassDone { wake_at: w, full: true });
        }
        let t0 = Instant::now();
        let in_flight = self.snapshot.in_flight.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let observed = self.snapshot.of(changed.iter().map(String::as_str));
        let seen = Instant::now();
        let mut desired = Vec::with_capacity(changed.len());
        for id in changed {
            if let Some((rec, status)) = self.host.store.get(id)? {
                if let Some(d) = self.desired(rec, status) {
                    desired.push(d);
                }
            }
        }
        let now = self.host.clock.now_ms();
        let p = plan(&desired, &observed, &in_flight, now, self.opts.backoff_base.as_millis() as i64);
        self.host.metrics.bots_planned.inc_by(changed.len() as u64);
        self.dispatch_all(p.actions, seen, &|id| changed.contains(id));
        self.host.metrics.reconcile.observe(t0.elapsed().as_secs_f64());
        Ok(PassDone { wake_at: p.wake_at, full: false })
    }

    /// A stored bot as the planner sees it; `None` for a scheduled bot, which is the scheduler's:
    /// to the reconciler it is not stored, so a bot that became scheduled loses its realtime
    /// container.
    fn desired(&self, rec: crate::model::BotRecord, status: crate::observed::BotStatus) -> Option<Desired> {
        if is_scheduled(&rec.config) {
            return None;
        }
        Some(Desired {
            enabled: is_enabled(rec.enabled.as_ref(), &rec.config),
            launch: validate(&rec, &self.host.settings.images),
            id: rec.id,
            status,
            handover: self.opts.update_handover,
        })
    }

    /// Dispatches a pass's actions. Each start takes the arrival of the change it answers now: a
    /// later pass sees the bot in flight, starts nothing for it, and drops whatever arrival is
    /// left. Arrivals before `seen` of the bots the pass looked at (`looked`) that start nothing
    /// are dropped.
    fn dispatch_all(&self, actions: Vec<Action>, seen: Instant, looked: &dyn Fn(&str) -> bool) {
        let starting: HashSet<&str> =
            actions.iter().filter(|a| a.start.is_some() || a.handover.is_some()).map(|a| a.bot_id.as_str()).collect();
        let mut arrivals: HashMap<String, Instant> = starting
            .iter()
            .filter_map(|&id| self.host.store.take_arrival_before(id, seen).map(|at| (id.to_string(), at)))
            .collect();
        self.host.store.drop_arrivals(seen, &|id| starting.contains(id) || !looked(id));
        for a in actions {
            let arrival = arrivals.remove(&a.bot_id);
            self.dispatch(a, arrival);
        }
    }

    /// The first listing of this process: each stored live bot's running container is adopted
    /// (D25), one event each, in one transaction.
    fn record_adoptions(&self, desired: &[Desired], observed: &[Observed], now: i64) {
        let stored: HashSet<&str> = desired.iter().map(|d| d.id.as_str()).collect();
        let adopted: Vec<NewEvent> = observed
            .iter()
            .filter(|o| o.state == State::Running && !o.successor && stored.contains(o.bot_id.as_str()))
            .map(|o| {
                let since = crate::http::time(o.started_ms);
                let since = since.as_str().unwrap_or("at an unknown time");
                let msg = format!("adopted running container {} (started {since})", short(&o.container));
                NewEvent::new(now, &o.bot_id, Kind::Adopted, msg)
            })
            .collect();
        if let Err(e) = self.host.store.record_events(&adopted) {
            tracing::error!(error = %e, "cannot record adoption events");
        }
    }

    fn update_snapshot(&self, desired: &[Desired], observed: Vec<Observed>, in_flight: &HashSet<String>, now: i64) {
        let by_bot = crate::reconcile::snapshot::group(observed);
        let (mut want, mut running, mut backing, mut failed) = (0, 0, 0, 0);
        let mut samples = Vec::with_capacity(desired.len());
        for d in desired {
            let up = by_bot.get(&d.id).is_some_and(|cs| cs.first().is_some_and(|c| c.state == State::Running));
            let state = if !d.enabled {
                "disabled"
            } else if d.launch.is_err() {
                failed += 1;
                "failed"
            } else if up {
                running += 1;
                "running"
            } else if d.status.backoff_until.is_some_and(|u| u > now) {
                backing += 1;
                "backing_off"
            } else {
                "pending"
            };
            want += i64::from(d.enabled);
            samples.push(BotSample {
                id: &d.id,
                state,
                restarts: d.status.restarts,
                last_exit_code: d.status.last_exit_code,
            });
        }
        self.host.metrics.bots.update(&samples);
        self.host.metrics.desired.set(want);
        self.host.metrics.running.set(running);
        self.host.metrics.backing_off.set(backing);
        self.host.metrics.failed.set(failed);
        self.snapshot.replace_except(by_bot, in_flight);
    }

    /// Runs `a` in its own task; `arrival`: when the change its start answers was stored.
    ///
    /// The action's future (a large state machine: a start's code check, credentials and Docker
    /// calls, a handover's) is built, boxed, only once a permit is held: a task waiting for one
    /// holds just the action. So registering 1,000 bots at once does not keep 1,000 such futures
    /// in memory (issue #17).
    fn dispatch(&self, a: Action, arrival: Option<Instant>) {
        self.snapshot.in_flight.lock().unwrap_or_else(|p| p.into_inner()).insert(a.bot_id.clone());
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = me.permits.clone().acquire_owned().await else { return };
            let bot = a.bot_id.clone();
            let events = me.snapshot.events.load(Relaxed);
            let follow_up = Box::pin(me.execute(a, arrival)).await;
            me.snapshot.in_flight.lock().unwrap_or_else(|p| p.into_inner()).remove(&bot);
            // A die/destroy seen while this bot was in flight may be this bot's, and the listings
            // made meanwhile did not count for it (see `Snapshot::replace_except`): list again.
            let overlapped = me.snapshot.events.load(Relaxed) != events;
            if overlapped {
                me.snapshot.mark_stale();
            }
            if follow_up || overlapped {
                me.trigger();
            }
        });
    }

    /// Executes one bot's action; returns whether another pass is needed soon. The bot's status
    /// is read once, changed in memory by the crash policy ([`policy::decide`]) and written once
    /// ([`Record`]): before containers are removed when the action counts an exit (so a crash of
    /// this process cannot lose it), else at the end. Only an exit followed by a start writes twice.
    async fn execute(&self, a: Action, arrival: Option<Instant>) -> bool {
        let bot = a.bot_id.as_str();
        let grace = self.opts.stop_grace;
        let stops = a.stop.iter().map(|c| self.host.engine.stop_and_remove(c, grace));
        let mut stopped = Vec::new();
        for (c, r) in a.stop.iter().zip(futures_util::future::join_all(stops).await) {
            match r {
                Ok(()) => {
                    self.host.metrics.stops.inc();
                    let why = a.why.get(c).copied().unwrap_or("unknown");
                    tracing::info!(bot_id = %bot, container = %short(c), why = %why, "container stopped and removed");
                    stopped.push(self.note(bot, Kind::Stopped, format!("stopped container {}: {why}", short(c))));
                }
                Err(e) => {
                    // A failed stop keeps the old container; retry on a later pass.
                    self.snapshot.mark_stale();
                    tracing::error!(bot_id = %bot, container = %short(c), error = %e, "stop failed");
                    return true;
                }
            }
        }
        let base_ms = self.opts.backoff_base.as_millis() as i64;
        let mut record = Record::read(&self.host.store, bot, base_ms, self.host.clock.now_ms());
        for n in stopped {
            record.push(n);
        }
        if let Some(at) = a.restart_done {
            record.push(Step::RestartDone(at));
        }
        if let Some(x) = &a.exit {
            let tail = self.tail(&x.container, 50).await;
            let mut x = x.clone();
            let reason = exit_reason::from_log_tail(&tail);
            let planned = x.status.failure_reason.clone().unwrap_or_default();
            x.status.failure_reason =
                Some(exit_reason::describe(&planned, x.oom, self.host.settings.memory_mb, reason.as_deref()));
            tracing::warn!(
                bot_id = %bot,
                exit_code = %x.code.map_or("none".to_string(), |c| c.to_string()),
                restarts = %x.status.restarts,
                reason = %x.status.failure_reason.as_deref().unwrap_or(""),
                backoff_ms = %(x.status.backoff_until.unwrap_or(0) - self.host.clock.now_ms()).max(0),
                last_lines = %tail,
                "bot exited unrequested; restart after backoff",
            );
            self.host.metrics.restarts.inc();
            record.push(Step::Exit(x.status));
            record.write(&self.host.store);
        }
        for c in &a.remove {
            let why = a.why.get(c).copied().unwrap_or("unknown");
            match self.host.engine.remove(c).await {
                Ok(()) => {
                    tracing::info!(bot_id = %bot, container = %short(c), why = %why, "container removed");
                    // The exited container of a crash is told by its `crashed` event.
                    if a.exit.as_ref().is_none_or(|x| x.container != *c) {
                        record.push(self.note(bot, Kind::Removed, format!("removed container {}: {why}", short(c))));
                    }
                }
                Err(e) => {
                    self.snapshot.mark_stale();
                    tracing::warn!(bot_id = %bot, container = %short(c), why = %why, error = %e, "remove failed")
                }
            }
        }
        if let Some(reason) = &a.fail {
            tracing::error!(bot_id = %bot, reason = %reason, "bot cannot be run");
            record.push(Step::Unrunnable(reason.clone()));
        }
        if a.reset_backoff {
            record.push(Step::Steady);
        }
        let gone: Vec<String> = a.stop.iter().chain(&a.remove).cloned().collect();
        if let Some(h) = &a.handover {
            let follow_up = self.handover(bot, h, &mut record, &gone, arrival).await;
            record.write(&self.host.store);
            return follow_up;
        }
        let Some(l) = &a.start else {
            record.write(&self.host.store);
            self.snapshot.record(bot, &gone, None);
            return a.exit.is_some() || !a.stop.is_empty() || !a.remove.is_empty();
        };
        let t_start = Instant::now();
        let follow_up = match self.start(l).await {
            Ok(id) => {
                self.host.metrics.container_start.observe(t_start.elapsed().as_secs_f64());
                self.host.metrics.bots.set_state(bot, "running");
                if let Some(at) = arrival {
                    self.host.metrics.event_to_running.observe(at.elapsed().as_secs_f64());
                }
                let now = self.host.clock.now_ms();
                let o = Observed {
                    container: id.clone(),
                    name: crate::spec::container_name(bot, self.host.settings.instance.as_deref()),
                    bot_id: bot.to_string(),
                    state: State::Running,
                    hash: Some(l.hash.clone()),
                    created_ms: now,
                    started_ms: Some(now),
                    finished_ms: None,
                    exit_code: None,
                    oom: false,
                    successor: false,
                };
                self.snapshot.record(bot, &gone, Some(o));
                self.host.metrics.starts.inc();
                tracing::info!(bot_id = %bot, container = %short(&id), "bot started");
                record.push(Step::Started);
                let started = format!("started container {} ({})", short(&id), l.image);
                record.push(self.note(bot, Kind::Started, started));
                // Follow up only if the bot changed while it was starting.
                self.spec_changed_since(bot, l)
            }
            Err(err) => {
                let reason = err.to_string();
                self.snapshot.record(bot, &gone, None);
                // A failed start may have left a created container behind.
                self.snapshot.mark_stale();
                self.host.metrics.start_failures.inc();
                let at_ms = self.host.clock.now_ms();
                record.push(Step::StartFailed { reason: reason.clone(), at_ms });
                let delay = match record.status().backoff_until {
                    Some(until) => until - at_ms,
                    None => 0,
                };
                tracing::error!(bot_id = %bot, reason = %reason, retry_in_ms = %delay, "bot start failed");
                true
            }
        };
        record.write(&self.host.store);
        follow_up
    }

    /// An event of `bot` that changes no status, at the clock's now.
    fn note(&self, bot: &str, kind: Kind, message: String) -> Step {
        Step::Note(NewEvent::new(self.host.clock.now_ms(), bot, kind, message))
    }

    async fn start(&self, l: &Launch) -> Result<String, StartError> {
        objects::check_code(&self.host.objects, &self.host.settings, l).await?;
        objects::prepare_local(&self.host.settings, l)?;
        let spec = build(l, &self.host.settings);
        crate::creds::issue(&self.host.settings, &l.id, &l.code_file, &spec.name, None).await?;
        Ok(self.host.engine.run(&spec).await?)
    }

    async fn tail(&self, container: &str, lines: u32) -> String {
        let mut s = Box::pin(self.host.engine.logs(container, false, Some(lines)));
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
            let mut s = Box::pin(self.host.engine.events());
            while let Some(ev) = s.next().await {
                match ev {
                    Ok(action) if action != "start" => {
                        tracing::debug!(action = %action, "docker event");
                        self.snapshot.mark_stale();
                        self.snapshot.events.fetch_add(1, Relaxed);
                        self.trigger();
                        // Docker sends `die` before its listing shows the container exited.
                        let me = self.clone();
                        tokio::spawn(async move {
                            for ms in [150, 600] {
                                tokio::time::sleep(Duration::from_millis(ms)).await;
                                me.snapshot.mark_stale();
                                me.trigger();
                            }
                        });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "docker event stream broke");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Whatever happened while disconnected is found by a pass that lists.
            self.snapshot.mark_stale();
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
pub async fn stop_all(docker: &dyn Engine, grace: Duration) -> Result<usize, ReconcileError> {
    let all = docker.observe().await?;
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
    let results = tokio::time::timeout(budget, all_done).await.map_err(|_| ReconcileError::StopAllTimedOut)?;
    for r in results {
        r?;
    }
    Ok(n)
}
