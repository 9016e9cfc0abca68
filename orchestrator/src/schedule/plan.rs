//! The pure planner of scheduled runs: `plan(bots, running, now, cap) → steps` (docs/contract.md §5.5,
//! D27–D29). It decides, from what is stored and which bots have a run going, which state to save,
//! which due times to skip and which runs to start; the runner only carries the steps out.
//!
//! Rules: a new schedule, a changed one and a re-enabled bot get their first fire after now (never
//! a stale run, D29); a schedule that does not parse or never fires is failed until it changes
//! and never runs; a due run saves its next due time, computed from the scheduled time, at
//! dispatch (D27), so a downtime gives exactly one catch-up run; a due time that finds the bot's
//! run still going is skipped; at most `cap` runs at once (0 = no cap), the longest-due first.

use std::collections::HashSet;

use crate::model::{Launch, SpecError};
use crate::schedule::cron;
use crate::store::runs::SchedState;

/// One scheduled bot as stored.
#[derive(Debug, Clone)]
pub struct Bot {
    pub id: String,
    pub enabled: bool,
    /// `config.schedule`.
    pub expr: String,
    pub launch: Result<Launch, SpecError>,
    pub state: Option<SchedState>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Save {
        id: String,
        state: SchedState,
    },
    /// Due while its previous run is still going: recorded and counted, next due time saved.
    Skip {
        id: String,
        due: i64,
        state: SchedState,
    },
    /// Start a run for `due`, saving `state` (the next due time) with it.
    Dispatch {
        id: String,
        due: i64,
        state: SchedState,
        launch: Launch,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The earliest next due time (the runner sleeps until then at the longest).
    pub wake_at: Option<i64>,
    /// Runs that are due but wait for a free slot under the cap.
    pub waiting: usize,
}

fn wake(p: &mut Plan, at: i64) {
    p.wake_at = Some(p.wake_at.map_or(at, |w| w.min(at)));
}

/// A fresh state for `expr` at `now`: the first fire after now, or why there is none.
pub fn fresh(expr: &str, now: i64) -> SchedState {
    let (next_due_ms, failure) = match cron::parse(expr) {
        Err(e) => (None, Some(e.to_string())),
        Ok(s) => match s.next_after(now) {
            Some(n) => (Some(n), None),
            None => (None, Some(format!("schedule {expr:?} never fires (no match within 5 years)"))),
        },
    };
    SchedState { expr: expr.to_string(), next_due_ms, failure, enabled: true }
}

/// The state after a run due at `due` is dispatched (or skipped) at `now`.
fn advanced(st: &SchedState, due: i64, now: i64) -> SchedState {
    let next = cron::parse(&st.expr).ok().and_then(|s| s.first_after(due, now));
    SchedState {
        expr: st.expr.clone(),
        next_due_ms: next,
        failure: next.is_none().then(|| format!("schedule {:?} never fires again (no match within 5 years)", st.expr)),
        enabled: true,
    }
}

/// The pass. `cap` 0 means no cap.
pub fn plan(bots: &[Bot], running: &HashSet<String>, now: i64, cap: usize) -> Plan {
    let mut p = Plan::default();
    let mut due: Vec<(i64, &Bot, &SchedState)> = Vec::new();
    for b in bots {
        let Some(st) = b.state.as_ref().filter(|s| s.expr == b.expr && (s.enabled || !b.enabled)) else {
            // New, changed, or re-enabled: first fire after now.
            let mut state = fresh(&b.expr, now);
            state.enabled = b.enabled;
            if b.enabled {
                if let Some(n) = state.next_due_ms {
                    wake(&mut p, n);
                }
            }
            p.steps.push(Step::Save { id: b.id.clone(), state });
            continue;
        };
        if !b.enabled {
            if st.enabled {
                p.steps.push(Step::Save { id: b.id.clone(), state: SchedState { enabled: false, ..st.clone() } });
            }
            continue;
        }
        match st.next_due_ms {
            _ if st.failure.is_some() => {}
            None => {}
            Some(d) if d > now => wake(&mut p, d),
            Some(d) => due.push((d, b, st)),
        }
    }
    due.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.id.cmp(&y.1.id)));
    let mut busy = running.len();
    for (d, b, st) in due {
        let state = advanced(st, d, now);
        let next = state.next_due_ms;
        let id = b.id.clone();
        let step = if running.contains(&b.id) {
            Step::Skip { id, due: d, state }
        } else {
            match &b.launch {
                // The bot cannot run (shown as failed): its due times pass without a run.
                Err(_) => Step::Save { id, state },
                // Still due; a run that ends wakes the runner.
                Ok(_) if cap > 0 && busy >= cap => {
                    p.waiting += 1;
                    continue;
                }
                Ok(l) => {
                    busy += 1;
                    Step::Dispatch { id, due: d, state, launch: l.clone() }
                }
            }
        };
        if let Some(n) = next {
            wake(&mut p, n);
        }
        p.steps.push(step);
    }
    p
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
