//! The status page's view model: per bot, what the admin API's `show` and `runs` read (the
//! stored status, the observed container, the runs table, the schedule), reduced to what a
//! person scans for. Pure and table-tested; [`super::render`] turns it into HTML.
//!
//! A sparkline is a [`Spark`] of bars, so any series fits it: a scheduled bot's recent runs
//! ([`runs_spark`]) today, and a live bot's restarts over time ([`restarts_spark`], from restart
//! times) once the store keeps them.

use serde_json::Value;

use crate::observed::{BotStatus, Observed, State};
use crate::store::runs::{Outcome, Run, SchedState};

/// Runs drawn in a scheduled bot's sparkline.
pub const SPARK_RUNS: usize = 30;
/// Hours drawn in a live bot's restart sparkline (one bar per hour).
pub const SPARK_HOURS: usize = 24;
/// The restart sparkline's window, [`SPARK_HOURS`] in milliseconds.
pub const SPARK_WINDOW_MS: i64 = SPARK_HOURS as i64 * 3_600_000;

/// Whether the bot runs all the time or on a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Realtime,
    Scheduled,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Realtime => "realtime",
            Kind::Scheduled => "scheduled",
        }
    }
}

/// How a state or a sparkline bar is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Warn,
    Busy,
    Idle,
}

impl Tone {
    /// The CSS class of the colour.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Bad => "bad",
            Tone::Warn => "warn",
            Tone::Busy => "busy",
            Tone::Idle => "idle",
        }
    }

    /// The colour of a state as the admin API names it.
    pub fn of_state(state: &str) -> Tone {
        match state {
            "running" | "scheduled" => Tone::Good,
            "failed" => Tone::Bad,
            "backing-off" => Tone::Warn,
            "starting" | "pending" | "stopping" => Tone::Busy,
            _ => Tone::Idle,
        }
    }

    fn of_outcome(o: Outcome) -> Tone {
        match o {
            Outcome::Succeeded => Tone::Good,
            Outcome::Failed | Outcome::TimedOut => Tone::Bad,
            Outcome::Running | Outcome::Requested => Tone::Busy,
            Outcome::Skipped | Outcome::Interrupted | Outcome::Lost => Tone::Warn,
        }
    }
}

/// One bar: its value (drawn relative to the largest of its sparkline), colour and tooltip.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub value: f64,
    pub tone: Tone,
    pub title: String,
}

/// A sparkline: what its bars measure and the bars, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spark {
    pub label: String,
    pub bars: Vec<Bar>,
}

/// One bot as the overview lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub kind: Kind,
    /// The state the admin API shows (`running`, `backing-off`, `scheduled`, …).
    pub state: String,
    /// Restarts after unrequested exits (live bots; a scheduled bot is not restarted).
    pub restarts: Option<u32>,
    pub last_exit_code: Option<i64>,
    pub last_exit_ms: Option<i64>,
    pub reason: Option<String>,
    /// When the running container (or run) started.
    pub up_since_ms: Option<i64>,
    pub next_run_ms: Option<i64>,
    pub schedule: Option<String>,
    pub spark: Spark,
}

/// What the admin API knows of one bot, the inputs of [`row`].
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The bot as `GET /bots/{id}` shows it (state, failure reason, schedule).
    pub shown: &'a Value,
    pub status: &'a BotStatus,
    /// The bot's container as last observed (live bots).
    pub container: Option<&'a Observed>,
    pub sched: Option<&'a SchedState>,
    /// Its recorded runs, newest first (scheduled bots).
    pub runs: &'a [Run],
    /// When it restarted, oldest first; empty while the store does not keep restart times.
    pub restart_times_ms: &'a [i64],
}

/// The overview's row of one bot.
pub fn row(f: &Facts<'_>, now_ms: i64) -> Row {
    let status = &f.shown["status"];
    let state = status["state"].as_str().unwrap_or("unknown").to_string();
    let id = f.shown["id"].as_str().unwrap_or_default().to_string();
    let failure = status["failure_reason"].as_str().map(str::to_string);
    if status["kind"] == "scheduled" {
        let newest_done = f.runs.iter().find(|r| r.outcome != Outcome::Running);
        let open = f.runs.first().filter(|r| r.outcome == Outcome::Running);
        let next = f.sched.and_then(|s| s.next_due_ms).filter(|_| status["next_due_at"].is_string());
        return Row {
            id,
            kind: Kind::Scheduled,
            state,
            restarts: None,
            last_exit_code: newest_done.and_then(|r| r.exit_code),
            last_exit_ms: newest_done.and_then(|r| r.ended_ms),
            reason: failure.or_else(|| newest_done.and_then(|r| r.reason.clone())),
            up_since_ms: open.and_then(|r| r.started_ms),
            next_run_ms: next,
            schedule: status["schedule"].as_str().map(str::to_string),
            spark: runs_spark(f.runs, now_ms),
        };
    }
    let running = f.container.filter(|c| c.state == State::Running);
    Row {
        id,
        kind: Kind::Realtime,
        state,
        restarts: Some(f.status.restarts),
        last_exit_code: f.status.last_exit_code,
        last_exit_ms: f.status.last_exit_at,
        reason: failure,
        up_since_ms: running.and_then(|c| c.started_ms),
        next_run_ms: None,
        schedule: None,
        spark: restarts_spark(f.restart_times_ms, now_ms),
    }
}

/// A scheduled bot's last [`SPARK_RUNS`] runs (`runs` newest first), oldest bar first: height
/// is the run's duration (a running one's so far), colour its outcome.
pub fn runs_spark(runs: &[Run], now_ms: i64) -> Spark {
    let bars: Vec<Bar> = runs
        .iter()
        .take(SPARK_RUNS)
        .rev()
        .map(|r| {
            let end = r.ended_ms.or((r.outcome == Outcome::Running).then_some(now_ms));
            let ms = match (r.started_ms, end) {
                (Some(s), Some(e)) => (e - s).max(0),
                _ => 0,
            };
            let secs = ms as f64 / 1000.0;
            Bar {
                value: secs,
                tone: Tone::of_outcome(r.outcome),
                title: format!("{}, {secs:.1} s", r.outcome.as_str()),
            }
        })
        .collect();
    let label = if bars.is_empty() { String::new() } else { format!("last {} runs: duration, outcome", bars.len()) };
    Spark { label, bars }
}

/// Restarts per hour over the last [`SPARK_HOURS`] hours, oldest hour first; no bars when
/// there are no restart times to draw.
pub fn restarts_spark(times_ms: &[i64], now_ms: i64) -> Spark {
    if times_ms.is_empty() {
        return Spark::default();
    }
    const HOUR: i64 = 3_600_000;
    let mut counts = [0u32; SPARK_HOURS];
    for t in times_ms {
        let age = now_ms - t;
        if (0..SPARK_WINDOW_MS).contains(&age) {
            counts[SPARK_HOURS - 1 - (age / HOUR) as usize] += 1;
        }
    }
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| Bar {
            value: f64::from(n),
            tone: if n == 0 { Tone::Idle } else { Tone::Warn },
            title: format!("{n} restarts, {} h ago", SPARK_HOURS - 1 - i),
        })
        .collect();
    Spark { label: format!("restarts per hour, last {SPARK_HOURS} h"), bars }
}

/// A run as the bot page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLine {
    pub due_ms: i64,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub outcome: &'static str,
    pub tone: Tone,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
}

impl From<&Run> for RunLine {
    fn from(r: &Run) -> RunLine {
        RunLine {
            due_ms: r.due_ms,
            started_ms: r.started_ms,
            ended_ms: r.ended_ms,
            outcome: r.outcome.as_str(),
            tone: Tone::of_outcome(r.outcome),
            exit_code: r.exit_code,
            reason: r.reason.clone(),
        }
    }
}

/// The page of one bot: its row and what only that page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub row: Row,
    pub enabled: bool,
    pub runtime: Option<String>,
    pub image: Option<String>,
    pub container: Option<String>,
    /// Its recent runs, newest first (scheduled bots).
    pub runs: Vec<RunLine>,
    /// Its last log lines, or why they could not be read.
    pub logs: Result<Vec<String>, String>,
}

/// The bot page's facts beyond the row: runtime, image and container from `shown`.
pub fn detail(f: &Facts<'_>, now_ms: i64, runs_shown: usize, logs: Result<Vec<String>, String>) -> Detail {
    let s = f.shown;
    Detail {
        row: row(f, now_ms),
        enabled: s["enabled"].as_bool().unwrap_or(false),
        runtime: s["custom"]["config"]["runtime"].as_str().map(str::to_string),
        image: s["image"].as_str().map(str::to_string),
        container: s["status"]["container"]
            .as_str()
            .or_else(|| s["status"]["container_id"].as_str())
            .map(str::to_string),
        runs: f.runs.iter().take(runs_shown).map(RunLine::from).collect(),
        logs,
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
