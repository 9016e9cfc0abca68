//! The pure planner: `plan(desired, observed, in_flight, now) → actions` (docs/contract.md §5.3, D23–D26).
//!
//! Level-triggered and idempotent: it looks only at what is stored and what Docker shows, and at
//! most one [`Action`] per bot comes out of one pass, so the runner can key its in-flight guard by
//! bot id. Times are Unix milliseconds. Every rule is a table test in `plan_tests.rs`.
//!
//! A restart (`restart ID`) is stored as the time it was asked for (`BotStatus::restart_at`) and
//! planned like everything else, by comparing it with what Docker shows: a live container that
//! started at or before that time is stopped and the bot started again (at once, whatever its
//! backoff), and the action marks the request carried out in the status it writes. Because the
//! request is in the store and the comparison is with the container's own start time, it
//! survives an orchestrator restart at any point: killed before the stop, the next process stops
//! the old container; killed after the start but before the request was marked done, the next
//! process sees a container started after the request and only marks it done. (Stopping the
//! container from the admin API and nudging the reconciler would instead race the reconciler's
//! own action on the bot, hold the HTTP request for the stop's grace, and be lost with the
//! process between the answer and the stop.)

use std::collections::{BTreeMap, HashSet};

use super::policy::{self, Event};
use crate::model::{Launch, SpecError};
use crate::observed::{BotStatus, Observed, State};

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub id: String,
    pub enabled: bool,
    pub launch: Result<Launch, SpecError>,
    pub status: BotStatus,
    /// An update of the bot's running container is a handover ([`Handover`]) rather than a stop
    /// and a start (`--update-handover`, on by default).
    pub handover: bool,
}

/// An update of a running bot with a small gap (issue #15): the successor (created in the
/// executor's waiting mode, named `…-next`) fetches its code beside the old container; only once
/// it is prepared is the old one stopped (TERM, grace, final sync), and then the successor is
/// released with the version of the state archive the old one left, and takes the bot's name.
/// Each step is visible in Docker (the two containers, the successor's label and name), so a
/// restarted orchestrator goes on from what it sees: a successor beside the old container
/// continues the handover; a successor alone is released (again: a second release is ignored
/// by its executor) and renamed; an old container with a stale spec and no successor starts over.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    /// The bot's running container, stopped once the successor is prepared; `None`: it is gone.
    pub old: Option<String>,
    /// The waiting successor; `None`: create it.
    pub next: Option<String>,
    pub launch: Launch,
}

/// An unrequested exit, to be counted before the container is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitRecord {
    pub container: String,
    pub code: Option<i64>,
    pub finished_ms: i64,
    pub oom: bool,
    /// The bot's status after counting this exit.
    pub status: BotStatus,
}

/// Everything to do for one bot in one pass, executed in this order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Action {
    pub bot_id: String,
    /// Live containers to stop (SIGTERM, grace) and then remove.
    pub stop: Vec<String>,
    /// Dead containers (exited, created, dead) to remove.
    pub remove: Vec<String>,
    /// Why each container in `stop` or `remove` goes, for the log line.
    pub why: BTreeMap<String, &'static str>,
    pub exit: Option<ExitRecord>,
    /// Permanently failed: the stored spec cannot be run until it changes.
    pub fail: Option<String>,
    /// The bot has been up for 10 minutes: forget its crash history.
    pub reset_backoff: bool,
    pub start: Option<Launch>,
    /// The restart asked for at this time is carried out by this action (or has nothing to do).
    pub restart_done: Option<i64>,
    /// The bot's running container is replaced by a handover (done after `stop` and `remove`).
    pub handover: Option<Handover>,
}

impl Action {
    fn new(bot_id: &str) -> Action {
        Action { bot_id: bot_id.to_string(), ..Default::default() }
    }
    fn is_empty(&self) -> bool {
        self.stop.is_empty()
            && self.remove.is_empty()
            && self.exit.is_none()
            && self.fail.is_none()
            && !self.reset_backoff
            && self.start.is_none()
            && self.restart_done.is_none()
            && self.handover.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// When the next pass is needed even if nothing happens (earliest backoff expiry, reset).
    pub wake_at: Option<i64>,
}

pub use super::policy::RESET_AFTER_MS;

/// How long a container may stay `created` before it counts as abandoned (D23's grace). Before
/// that it may be starting: another orchestrator process (say, one killed with -9 a moment ago)
/// sent its create and its start may still be on its way, so removing it would kill a starting
/// bot and make a second one.
pub const CREATED_GRACE_MS: i64 = 2 * 60 * 1000;

impl Action {
    fn drop_live(&mut self, c: &str, why: &'static str) {
        self.stop.push(c.to_string());
        self.why.insert(c.to_string(), why);
    }
    fn drop_dead(&mut self, c: &str, why: &'static str) {
        self.remove.push(c.to_string());
        self.why.insert(c.to_string(), why);
    }
}

fn wake(plan: &mut Plan, at: i64) {
    plan.wake_at = Some(plan.wake_at.map_or(at, |w| w.min(at)));
}

/// Splits a bot's containers: all live ones to stop, all dead ones to remove.
fn clear_all(a: &mut Action, cs: &[&Observed], why: &'static str) {
    for c in cs {
        if c.state.is_live() {
            a.drop_live(&c.container, why);
        } else if c.state != State::Removing {
            a.drop_dead(&c.container, why);
        }
    }
}

/// The pass. `base_ms` is the first crash-loop delay (10 s by default).
pub fn plan(desired: &[Desired], observed: &[Observed], in_flight: &HashSet<String>, now: i64, base_ms: i64) -> Plan {
    let mut by_bot: BTreeMap<&str, Vec<&Observed>> = BTreeMap::new();
    for o in observed {
        by_bot.entry(o.bot_id.as_str()).or_default().push(o);
    }
    let mut out = Plan::default();
    for d in desired {
        let cs = by_bot.remove(d.id.as_str()).unwrap_or_default();
        if in_flight.contains(&d.id) {
            continue;
        }
        let a = plan_bot(d, cs, now, base_ms, &mut out);
        if !a.is_empty() {
            out.actions.push(a);
        }
    }
    // Containers of bots that are not stored at all.
    for (bot, cs) in by_bot {
        if in_flight.contains(bot) {
            continue;
        }
        let mut a = Action::new(bot);
        clear_all(&mut a, &cs, "the bot is not stored (deleted)");
        if !a.is_empty() {
            out.actions.push(a);
        }
    }
    out
}

fn plan_bot(d: &Desired, cs: Vec<&Observed>, now: i64, base_ms: i64, out: &mut Plan) -> Action {
    let mut a = Action::new(&d.id);
    let restart = d.status.restart_at;
    // Whatever the action, the request is settled by it.
    a.restart_done = restart;
    if !d.enabled {
        clear_all(&mut a, &cs, "the bot is disabled");
        return a;
    }
    let launch = match &d.launch {
        Ok(l) => l,
        Err(e) => {
            clear_all(&mut a, &cs, "the bot's stored spec cannot be run");
            let reason = e.to_string();
            let (failed, _) = policy::decide(&d.status, Event::Unrunnable { reason: &reason }, &d.id, base_ms);
            if failed != d.status {
                a.fail = Some(reason);
            }
            return a;
        }
    };
    // An update's successors waiting for their release are not the bot's containers (issue #15).
    let (successors, mut cs): (Vec<&Observed>, Vec<&Observed>) = cs.into_iter().partition(|c| c.successor);
    // Newest first: the one to keep when several run (§5.3).
    cs.sort_by(|x, y| y.created_ms.cmp(&x.created_ms).then_with(|| x.container.cmp(&y.container)));
    let mut kept: Option<&Observed> = None;
    let mut newest_exit: Option<&Observed> = None;
    for c in &cs {
        let current = c.hash.as_deref().is_none_or(|h| h == launch.hash);
        match c.state {
            s if s.is_live() && kept.is_none() => kept = Some(c),
            s if s.is_live() => a.drop_live(&c.container, "a newer container of the bot runs"),
            State::Exited if newest_exit.is_none() => {
                newest_exit = Some(c);
                a.drop_dead(&c.container, "the bot exited");
            }
            State::Removing => {}
            // Possibly starting: never removed before the grace period ends. The start below
            // adopts it (the Docker driver starts a `created` container of the same spec that
            // holds the bot's name instead of making another).
            State::Created if current && now - c.created_ms < CREATED_GRACE_MS => {
                wake(out, c.created_ms + CREATED_GRACE_MS);
            }
            State::Created if current => a.drop_dead(&c.container, "created but not started within the grace period"),
            State::Created => a.drop_dead(&c.container, "created with an older spec, never started"),
            _ => a.drop_dead(&c.container, "dead container"),
        }
    }
    let stale = kept.is_some_and(|k| k.hash.as_deref().is_some_and(|h| h != launch.hash));
    // The successor a handover goes on with: a live one of the current spec, beside an old
    // container of another spec or alone; any other successor goes.
    let next = successors
        .iter()
        .filter(|s| d.handover && s.state.is_live() && s.hash.as_deref() == Some(launch.hash.as_str()))
        .max_by_key(|s| s.created_ms)
        .copied()
        .filter(|_| kept.is_none() || stale);
    for s in &successors {
        if next.is_some_and(|n| n.container == s.container) {
            continue;
        }
        if s.state.is_live() {
            a.drop_live(&s.container, "an update's successor no longer needed");
        } else if s.state != State::Removing {
            a.drop_dead(&s.container, "an update's successor that ended before its release");
        }
    }
    let handover = |old: Option<&Observed>, next: Option<&Observed>| Handover {
        old: old.map(|o| o.container.clone()),
        next: next.map(|n| n.container.clone()),
        launch: launch.clone(),
    };
    match (kept, next) {
        // Prepared or preparing beside the old container: go on.
        (Some(k), Some(n)) => {
            a.handover = Some(handover(Some(k), Some(n)));
            return a;
        }
        // The old container is gone (stopped by a handover cut short, or crashed): release the
        // successor, which starts the bot from the stored state (its exit is not counted).
        (None, Some(n)) => {
            a.handover = Some(handover(None, Some(n)));
            return a;
        }
        // An update of a running bot: hand over, once any backoff of a failed one is over.
        (Some(k), None) if stale && d.handover => {
            match d.status.backoff_until {
                Some(until) if until > now && restart.is_none() => wake(out, until),
                _ => a.handover = Some(handover(Some(k), None)),
            }
            return a;
        }
        _ => {}
    }
    if let Some(k) = kept {
        match &k.hash {
            Some(h) if *h != launch.hash => {
                // Spec changed (D24): replace, once.
                a.drop_live(&k.container, "the bot's spec changed");
                a.start = Some(launch.clone());
            }
            _ if restart.is_some_and(|at| k.started_ms.unwrap_or(k.created_ms) <= at) => {
                a.drop_live(&k.container, "a restart was requested");
                a.start = Some(launch.clone());
            }
            _ => {
                let up_since = k.started_ms.unwrap_or(k.created_ms);
                if d.status.consecutive > 0 || d.status.backoff_until.is_some() {
                    if now - up_since >= RESET_AFTER_MS {
                        a.reset_backoff = true;
                    } else {
                        wake(out, up_since + RESET_AFTER_MS);
                    }
                }
            }
        }
        return a;
    }
    let mut status = d.status.clone();
    if let Some(e) = newest_exit {
        let finished = e.finished_ms.unwrap_or(now);
        if status.last_exit_at != Some(finished) {
            // An unrequested exit is a crash (D23), whatever its code.
            let exit = Event::Exited { code: e.exit_code, oom: e.oom, started_ms: e.started_ms, finished_ms: finished };
            status = policy::decide(&status, exit, &d.id, base_ms).0;
            a.exit = Some(ExitRecord {
                container: e.container.clone(),
                code: e.exit_code,
                finished_ms: finished,
                oom: e.oom,
                status: status.clone(),
            });
        }
    }
    match status.backoff_until {
        // A restart asked for starts the bot now, backing off or not.
        Some(until) if until > now && restart.is_none() => wake(out, until),
        _ => a.start = Some(launch.clone()),
    }
    a
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
