//! The scheduler's thin runner: each pass reads the store, asks [`plan`] what to do and does it;
//! each run is its own task (start the container, await it under the deadline, keep its last log
//! lines, remove it, record it). It sleeps until the next due time (at most `--check-interval`)
//! and wakes at once on a store change that touches a scheduled bot, or when a run ends.
//!
//! Restart safety: at start, every run container (`runtime.type=scheduled` with a due time) is
//! adopted: a running one is awaited, never started again; an exited one is recorded from its exit
//! code and logs; then it is removed. A run row left open with no container is settled as
//! interrupted. On shutdown, runs keep running and their rows stay open for that adoption (D25).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::docker::{OneShot, WaitOutcome};
use crate::host::Host;
use crate::images::RuntimeImages;
use crate::model::{is_enabled, is_scheduled, validate, BotRecord, Launch};
use crate::objects;
use crate::observed::State;
use crate::schedule::error::{RunStartError, ScheduleError};
use crate::schedule::plan::{plan, Bot, Step};
use crate::spec::{build_for, Role};
use crate::store::changed::MAX_CHANGED_BOTS;
use crate::store::runs::{Ending, ManualRun, Outcome, LOG_LINES};

#[derive(Debug, Clone)]
pub struct Options {
    /// The longest sleep between passes (`--check-interval`, 10 s).
    pub check_interval: Duration,
    /// Runs at once, 0 = no cap (`--max-concurrent`, D28).
    pub max_concurrent: usize,
    /// Per-run deadline, `None` = none (`--execution-timeout`, D28).
    pub execution_timeout: Option<Duration>,
    /// Docker stop grace when a deadline stops a run.
    pub stop_grace: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            check_interval: Duration::from_secs(10),
            max_concurrent: 0,
            execution_timeout: None,
            stop_grace: Duration::from_secs(30),
        }
    }
}

/// Told the bot id whenever one of its runs ends (`serve` wires the query server's warm query
/// servers to it, issue 15, without this module knowing them).
pub type RunEnded = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub struct Scheduler {
    pub host: Host,
    pub opts: Options,
    /// Bots with a run going (started or adopted).
    running: Arc<Mutex<HashSet<String>>>,
    wake: Arc<Notify>,
    run_ended: Option<RunEnded>,
}

impl Scheduler {
    pub fn new(host: Host, opts: Options) -> Scheduler {
        Scheduler { host, opts, running: Arc::default(), wake: Arc::default(), run_ended: None }
    }

    /// Calls `f` with the bot id after each run is recorded.
    pub fn on_run_end(&mut self, f: RunEnded) {
        self.run_ended = Some(f);
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adopts the runs left by a previous process, then runs passes until `shutdown`. Runs under
    /// way are left running (and open in the store) for the next start to adopt.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let (stop_tx, stop_rx) = watch::channel(false);
        loop {
            match self.adopt(&stop_rx).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(count = %n, "scheduled runs adopted");
                    }
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "cannot adopt scheduled runs yet"),
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        let mut changes = self.host.store.watch();
        let mut seen = self.host.store.version();
        let mut only_changes = false;
        let mut wake_at = None;
        loop {
            // Woken only by stored changes that none of the scheduler's bots are in (a realtime
            // bot registered, updated, deleted): nothing to plan, and the last pass's wake time
            // stands. So a change costs the same whatever the fleet's size (issue #17).
            let changed = self.host.store.changed_since(seen);
            seen = changed.version;
            let idle = only_changes && changed.bots.is_some_and(|bots| !self.concern_schedules(&bots));
            if !idle {
                wake_at = match self.pass(&stop_rx) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(error = %e, "schedule pass failed");
                        Some(self.host.clock.now_ms() + 2000)
                    }
                };
            }
            let sleep = wake_at.map_or(self.opts.check_interval, |at| {
                Duration::from_millis((at - self.host.clock.now_ms()).max(0) as u64).min(self.opts.check_interval)
            });
            only_changes = tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(sleep) => false,
                _ = changes.changed() => true,
                _ = self.wake.notified() => false,
            };
        }
        let _ = stop_tx.send(true);
    }

    /// Whether any of the `changed` bots is the scheduler's business: stored as scheduled now, or
    /// holding a schedule state or a requested run. Beyond [`MAX_CHANGED_BOTS`], or when the
    /// store cannot say, it is assumed to be (a pass then reads everything).
    pub fn concern_schedules(&self, changed: &BTreeSet<String>) -> bool {
        if changed.len() > MAX_CHANGED_BOTS {
            return true;
        }
        let store = &self.host.store;
        changed.iter().any(|id| {
            let scheduled = store.get(id).map(|r| r.is_some_and(|(rec, _)| is_scheduled(&rec.config)));
            !matches!((scheduled, store.has_schedule_work(id)), (Ok(false), Ok(false)))
        })
    }

    /// One pass; returns the next due time.
    pub fn pass(&self, stop: &watch::Receiver<bool>) -> Result<Option<i64>, ScheduleError> {
        let records = self.host.store.list()?;
        let mut states: HashMap<String, _> = self.host.store.schedule_states()?.into_iter().collect();
        let bots: Vec<Bot> = records
            .into_iter()
            .filter(|(rec, _)| is_scheduled(&rec.config))
            .map(|(rec, _)| Bot {
                enabled: is_enabled(rec.enabled.as_ref(), &rec.config),
                expr: rec.config.get("schedule").and_then(|s| s.as_str()).unwrap_or_default().to_string(),
                launch: validate(&rec, &self.host.settings.images),
                state: states.remove(&rec.id),
                id: rec.id,
            })
            .collect();
        // States of bots that are no longer scheduled.
        for id in states.keys() {
            self.host.store.forget_schedule(id)?;
        }
        let running = self.running().clone();
        let now = self.host.clock.now_ms();
        let p = plan(&bots, &running, now, self.opts.max_concurrent);
        for step in p.steps {
            match step {
                Step::Save { id, state } => {
                    if let Some(f) = &state.failure {
                        tracing::error!(bot_id = %id, reason = %f, "schedule cannot run");
                    }
                    self.host.store.set_schedule_state(&id, &state)?;
                }
                Step::Skip { id, due, state } => {
                    self.host.metrics.runs_skipped.inc();
                    tracing::warn!(bot_id = %id, due_ms = %due, "due time skipped: the previous run is still going");
                    let reason = "the previous run was still going";
                    self.host.store.skip_run(&id, due, &state, reason)?;
                }
                Step::Dispatch { id, due, state, launch } => {
                    let Some(seq) = self.host.store.begin_run(&id, due, &state)? else {
                        continue;
                    };
                    let deadline = self.opts.execution_timeout;
                    self.spawn(
                        id,
                        stop.clone(),
                        Work::Start { seq, launch: Box::new(launch), role: Role::Scheduled { due_ms: due }, deadline },
                    );
                }
            }
        }
        self.start_requested(stop)?;
        if p.waiting > 0 {
            tracing::debug!(waiting = %p.waiting, "runs waiting for a free slot");
        }
        Ok(p.wake_at)
    }

    /// Starts the on-demand runs (`run ID`) of bots that have no run going, each with its config
    /// override merged over the bot's config; a request that cannot run is recorded as failed.
    fn start_requested(&self, stop: &watch::Receiver<bool>) -> Result<(), ScheduleError> {
        for r in self.host.store.requested_runs()? {
            if self.running().contains(&r.bot_id) {
                continue;
            }
            let Some(manual) = r.manual.clone() else { continue };
            let launch = match self.host.store.get(&r.bot_id)? {
                Some((rec, _)) => manual_launch(rec, &manual, &self.host.settings.images),
                None => Err("the bot was removed before its run started".to_string()),
            };
            let launch = match launch {
                Ok(l) => l,
                Err(reason) => {
                    let e = Ending { outcome: Outcome::Failed, exit_code: None, reason: Some(reason), logs: vec![] };
                    self.finish(&r.bot_id, Some(r.seq), &e);
                    continue;
                }
            };
            if !self.host.store.start_requested(r.seq)? {
                continue;
            }
            let work = Work::Start {
                seq: r.seq,
                launch: Box::new(launch),
                role: Role::Manual { due_ms: r.due_ms },
                deadline: Some(manual_deadline(&manual)),
            };
            self.spawn(r.bot_id.clone(), stop.clone(), work);
        }
        Ok(())
    }

    /// Runs `work` as the bot's run task; the bot counts as running until it ends.
    fn spawn(&self, bot: String, mut stop: watch::Receiver<bool>, work: Work) {
        self.running().insert(bot.clone());
        self.host.metrics.runs_running.set(self.running().len() as i64);
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = me.work(&bot, work) => {}
            }
            me.running().remove(&bot);
            me.host.metrics.runs_running.set(me.running().len() as i64);
            me.wake.notify_one();
        });
    }

    async fn work(&self, bot: &str, work: Work) {
        let (seq, container, started, deadline) = match work {
            Work::Start { seq, launch, role, deadline } => match self.start(&launch, &role).await {
                Ok(c) => {
                    self.host.metrics.runs_started.inc();
                    let manual = matches!(role, Role::Manual { .. });
                    tracing::info!(bot_id = %bot, container = %c, manual = %manual, "scheduled run started");
                    if let Err(e) = self.host.store.set_run_container(seq, &c) {
                        tracing::warn!(bot_id = %bot, error = %e, "cannot record the run's container");
                    }
                    (Some(seq), c, self.host.clock.now_ms(), deadline)
                }
                Err(err) => {
                    let reason = Some(err.to_string());
                    let e = Ending { outcome: Outcome::Failed, exit_code: None, reason, logs: vec![] };
                    self.finish(bot, Some(seq), &e);
                    return;
                }
            },
            Work::Await { seq, container, started_ms, deadline } => (seq, container, started_ms, deadline),
        };
        let ending = self.await_exit(&container, started, deadline).await;
        let took_ms = (self.host.clock.now_ms() - started).max(0);
        self.host.metrics.run_duration.observe(took_ms as f64 / 1000.0);
        self.finish(bot, seq, &ending);
    }

    async fn start(&self, l: &Launch, role: &Role) -> Result<String, RunStartError> {
        objects::check_code(&self.host.objects, &self.host.settings, l).await?;
        objects::prepare_local(&self.host.settings, l)?;
        let spec = build_for(l, &self.host.settings, role);
        crate::creds::issue(&self.host.settings, &l.id, &l.code_file, &spec.name, None).await?;
        Ok(self.host.engine.start_oneshot(&spec).await?)
    }

    /// Waits for the run to end (under `deadline`, counted from its start), keeps its last
    /// lines and removes it. A Docker outage only delays this.
    async fn await_exit(&self, container: &str, started_ms: i64, deadline: Option<Duration>) -> Ending {
        let grace = self.opts.stop_grace;
        loop {
            let left = deadline.map(|t| {
                Duration::from_millis((t.as_millis() as i64 - (self.host.clock.now_ms() - started_ms)).max(0) as u64)
            });
            let waited = match left {
                Some(left) => tokio::time::timeout(left, self.host.engine.wait_exit(container, None, grace)).await.ok(),
                None => Some(self.host.engine.wait_exit(container, None, grace).await),
            };
            match waited {
                None | Some(Ok(WaitOutcome::TimedOut)) => {
                    let logs = self.host.engine.tail(container, LOG_LINES).await.unwrap_or_default();
                    if let Err(e) = self.host.engine.stop_and_remove(container, grace).await {
                        tracing::warn!(container = %container, error = %e, "cannot stop a run past its deadline");
                    }
                    let t = deadline.unwrap_or_default();
                    let reason = format!("run exceeded the execution timeout of {t:?} and was stopped");
                    return Ending { outcome: Outcome::TimedOut, exit_code: None, reason: Some(reason), logs };
                }
                Some(Ok(WaitOutcome::Exited { code, oom })) => {
                    let logs = self.host.engine.tail(container, LOG_LINES).await.unwrap_or_default();
                    if let Err(e) = self.host.engine.remove(container).await {
                        tracing::warn!(container = %container, error = %e, "cannot remove a finished run");
                    }
                    let (outcome, reason) = match code {
                        _ if oom => (Outcome::Failed, Some("killed for exceeding its memory limit (OOM)".to_string())),
                        0 => (Outcome::Succeeded, None),
                        c => (Outcome::Failed, Some(format!("Container exited with code {c}"))),
                    };
                    return Ending { outcome, exit_code: Some(code), reason, logs };
                }
                Some(Ok(WaitOutcome::Gone)) => {
                    let reason = "the run's container was removed before its exit could be read".to_string();
                    return Ending { outcome: Outcome::Lost, exit_code: None, reason: Some(reason), logs: vec![] };
                }
                Some(Err(e)) => {
                    tracing::warn!(container = %container, error = %e, "waiting for a run failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }

    fn finish(&self, bot: &str, seq: Option<i64>, e: &Ending) {
        let counter = match e.outcome {
            Outcome::Succeeded => &self.host.metrics.runs_succeeded,
            Outcome::TimedOut => {
                self.host.metrics.runs_timed_out.inc();
                &self.host.metrics.runs_failed
            }
            _ => &self.host.metrics.runs_failed,
        };
        counter.inc();
        let code = e.exit_code.map_or("none".to_string(), |c| c.to_string());
        let reason = e.reason.as_deref().unwrap_or("");
        let outcome = e.outcome.as_str();
        if e.outcome == Outcome::Succeeded {
            tracing::info!(
                bot_id = %bot,
                outcome = %outcome,
                exit_code = %code,
                reason = %reason,
                "scheduled run ended",
            );
        } else {
            tracing::warn!(
                bot_id = %bot,
                outcome = %outcome,
                exit_code = %code,
                reason = %reason,
                "scheduled run ended",
            );
        }
        if let Some(seq) = seq {
            if let Err(err) = self.host.store.finish_run(seq, e) {
                tracing::error!(bot_id = %bot, error = %err, "cannot record a run");
            }
        }
        if let Some(f) = &self.run_ended {
            f(bot);
        }
    }

    /// Takes over the run containers and open run rows a previous process left. Returns how many
    /// containers were adopted.
    pub async fn adopt(&self, stop: &watch::Receiver<bool>) -> Result<usize, ScheduleError> {
        let found: Vec<OneShot> =
            self.host.engine.list_oneshots().await?.into_iter().filter(|o| o.due_ms.is_some()).collect();
        let open = self.host.store.open_runs()?;
        let mut adopted = HashSet::new();
        for o in &found {
            let due = o.due_ms.unwrap_or_default();
            if self.running().contains(&o.bot_id) {
                continue;
            }
            let seq = self.host.store.adopt_run(&o.bot_id, due, &o.container, o.created_ms)?;
            if let Some(seq) = seq {
                adopted.insert(seq);
            }
            if o.state == State::Created {
                // Created but never started: the orchestrator died in between.
                let _ = self.host.engine.remove(&o.container).await;
                let reason = "the orchestrator stopped before the run's container started".to_string();
                let e = Ending { outcome: Outcome::Interrupted, exit_code: None, reason: Some(reason), logs: vec![] };
                self.finish(&o.bot_id, seq, &e);
                continue;
            }
            tracing::info!(bot_id = %o.bot_id, due_ms = %due, state = %o.state.as_str(), "adopting a scheduled run");
            // An on-demand run keeps the deadline it was asked with.
            let manual = open.iter().find(|r| Some(r.seq) == seq).and_then(|r| r.manual.as_ref());
            let deadline = manual.map_or(self.opts.execution_timeout, |m| Some(manual_deadline(m)));
            self.spawn(
                o.bot_id.clone(),
                stop.clone(),
                Work::Await { seq, container: o.container.clone(), started_ms: o.created_ms, deadline },
            );
        }
        for r in open.iter().filter(|r| !adopted.contains(&r.seq)) {
            let reason = if r.container.is_some() {
                "the run's container disappeared while the orchestrator was down"
            } else {
                "the orchestrator stopped before the run's container started"
            };
            let outcome = if r.container.is_some() { Outcome::Lost } else { Outcome::Interrupted };
            let e = Ending { outcome, exit_code: None, reason: Some(reason.into()), logs: vec![] };
            self.finish(&r.bot_id, Some(r.seq), &e);
        }
        Ok(found.len())
    }
}

/// The deadline an on-demand run was asked with.
fn manual_deadline(m: &ManualRun) -> Duration {
    Duration::from_millis(m.timeout_ms.max(0) as u64)
}

/// The launch of an on-demand run: the bot's record with the override's top-level keys replacing
/// its config's, validated as any spec (the error is the failed run's reason). Pure.
pub fn manual_launch(mut rec: BotRecord, m: &ManualRun, images: &RuntimeImages) -> Result<Launch, String> {
    if let Some(serde_json::Value::Object(over)) = &m.config {
        match &mut rec.config {
            serde_json::Value::Object(config) => config.extend(over.clone()),
            other => *other = serde_json::Value::Object(over.clone()),
        }
    }
    validate(&rec, images).map_err(|e| e.to_string())
}

/// What a run task does.
enum Work {
    /// Start the run's container in `role`, then await it.
    Start { seq: i64, launch: Box<Launch>, role: Role, deadline: Option<Duration> },
    /// Await a container found running (or exited) at start.
    Await { seq: Option<i64>, container: String, started_ms: i64, deadline: Option<Duration> },
}
