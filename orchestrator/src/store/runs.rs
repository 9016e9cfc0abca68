//! The scheduler's part of the store: per bot, the schedule its next due time was computed from
//! (so a changed cron or a re-enable recomputes it, D29), and every run with its due time, start,
//! end, exit code, outcome and last log lines. A run's row is written when it is dispatched, in
//! the same transaction as the next due time (D27), so a crash can neither repeat it nor lose it:
//! a row left `running` is settled by adoption at the next start.

use rusqlite::{params, OptionalExtension, Row};

use super::{now_ms, Result, Store, StoreError};

/// The tables of scheduled bots (migration 2 in [`super::MIGRATIONS`]): the schedule each next
/// due time was computed from, and every run.
pub(super) const SCHEMA: &str = "CREATE TABLE schedule_state (
        id TEXT PRIMARY KEY NOT NULL,
        expr TEXT NOT NULL,
        next_due_ms INTEGER,
        failure TEXT,
        enabled INTEGER NOT NULL
    );
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        bot_id TEXT NOT NULL,
        due_ms INTEGER NOT NULL,
        started_ms INTEGER,
        ended_ms INTEGER,
        outcome TEXT NOT NULL,
        exit_code INTEGER,
        reason TEXT,
        container TEXT,
        logs TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX runs_by_bot ON runs (bot_id, seq);";

/// Runs kept per bot (the oldest finished ones are dropped).
pub const HISTORY: i64 = 100;
/// Log lines kept per run.
pub const LOG_LINES: u32 = 50;

/// Where a scheduled bot stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedState {
    /// The schedule `next_due_ms` was computed from.
    pub expr: String,
    pub next_due_ms: Option<i64>,
    /// Why the schedule cannot run (does not parse, never fires); cleared when it changes.
    pub failure: Option<String>,
    /// Enabled as last seen: turning true recomputes the next due time from now (D29).
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    /// Due while the previous run was still going.
    Skipped,
    /// The orchestrator stopped before the run's container started.
    Interrupted,
    /// The container disappeared before its exit could be read.
    Lost,
    /// `run ID` asked for it; the scheduler starts it when the bot has no run going.
    Requested,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Skipped => "skipped",
            Outcome::Interrupted => "interrupted",
            Outcome::Lost => "lost",
            Outcome::Requested => "requested",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "running" => Outcome::Running,
            "succeeded" => Outcome::Succeeded,
            "timed_out" => Outcome::TimedOut,
            "skipped" => Outcome::Skipped,
            "interrupted" => Outcome::Interrupted,
            "lost" => Outcome::Lost,
            "requested" => Outcome::Requested,
            _ => Outcome::Failed,
        }
    }
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub seq: i64,
    pub bot_id: String,
    pub due_ms: i64,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub outcome: Outcome,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub container: Option<String>,
    pub logs: Vec<String>,
    /// What `run ID` asked for; `None` for a run of the schedule.
    pub manual: Option<ManualRun>,
}

/// An on-demand run (`run ID`): the config keys that override the bot's for this run, and its
/// deadline. Stored as JSON in the run's row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManualRun {
    /// Merged over the bot's `config` (top-level keys replaced); `None`: the bot's own.
    pub config: Option<serde_json::Value>,
    pub timeout_ms: i64,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub outcome: Outcome,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub logs: Vec<String>,
}

pub(super) const RUN_COLUMNS: &str =
    "seq, bot_id, due_ms, started_ms, ended_ms, outcome, exit_code, reason, container, logs, manual";

pub(super) fn run_of(r: &Row<'_>) -> rusqlite::Result<Run> {
    let logs: String = r.get(9)?;
    let manual: Option<String> = r.get(10)?;
    Ok(Run {
        seq: r.get(0)?,
        bot_id: r.get(1)?,
        due_ms: r.get(2)?,
        started_ms: r.get(3)?,
        ended_ms: r.get(4)?,
        outcome: Outcome::parse(&r.get::<_, String>(5)?),
        exit_code: r.get(6)?,
        reason: r.get(7)?,
        container: r.get(8)?,
        logs: serde_json::from_str(&logs).unwrap_or_default(),
        manual: manual.and_then(|m| serde_json::from_str(&m).ok()),
    })
}

fn save_state(tx: &rusqlite::Connection, id: &str, s: &SchedState) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO schedule_state (id, expr, next_due_ms, failure, enabled)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM bots WHERE id = ?1)
         ON CONFLICT(id) DO UPDATE SET expr = excluded.expr, next_due_ms = excluded.next_due_ms,
           failure = excluded.failure, enabled = excluded.enabled",
        params![id, s.expr, s.next_due_ms, s.failure, s.enabled],
    )
}

/// Inserts a run row (only for a stored bot) and trims the bot's history; the row's seq.
pub(super) fn insert_run(
    tx: &rusqlite::Connection,
    id: &str,
    due: i64,
    started: Option<i64>,
    outcome: Outcome,
    reason: Option<&str>,
    container: Option<&str>,
) -> rusqlite::Result<Option<i64>> {
    let n = tx.execute(
        "INSERT INTO runs (bot_id, due_ms, started_ms, ended_ms, outcome, reason, container)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM bots WHERE id = ?1)",
        params![
            id,
            due,
            started,
            (!matches!(outcome, Outcome::Running | Outcome::Requested)).then(now_ms),
            outcome.as_str(),
            reason,
            container
        ],
    )?;
    if n == 0 {
        return Ok(None);
    }
    let seq = tx.last_insert_rowid();
    tx.execute(
        "DELETE FROM runs WHERE bot_id = ?1 AND outcome NOT IN ('running', 'requested') AND seq NOT IN
           (SELECT seq FROM runs WHERE bot_id = ?1 ORDER BY seq DESC LIMIT ?2)",
        params![id, HISTORY],
    )?;
    Ok(Some(seq))
}

impl Store {
    /// Every scheduled bot's state, by id.
    pub fn schedule_states(&self) -> Result<Vec<(String, SchedState)>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT id, expr, next_due_ms, failure, enabled FROM schedule_state")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                SchedState { expr: r.get(1)?, next_due_ms: r.get(2)?, failure: r.get(3)?, enabled: r.get(4)? },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn schedule_state(&self, id: &str) -> Result<Option<SchedState>> {
        let conn = self.lock();
        let v = conn
            .query_row("SELECT expr, next_due_ms, failure, enabled FROM schedule_state WHERE id = ?1", [id], |r| {
                Ok(SchedState { expr: r.get(0)?, next_due_ms: r.get(1)?, failure: r.get(2)?, enabled: r.get(3)? })
            })
            .optional()?;
        Ok(v)
    }

    /// Whether the scheduler holds anything of `id`: a schedule state (the bot is or was
    /// scheduled) or an on-demand run waiting to start. Two indexed lookups.
    pub fn has_schedule_work(&self, id: &str) -> Result<bool> {
        let conn = self.lock();
        let v = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM schedule_state WHERE id = ?1)
                 OR EXISTS (SELECT 1 FROM runs WHERE bot_id = ?1 AND outcome = 'requested')",
            [id],
            |r| r.get(0),
        )?;
        Ok(v)
    }

    /// Stores a bot's state (ignored if the bot is gone).
    pub fn set_schedule_state(&self, id: &str, s: &SchedState) -> Result<()> {
        save_state(&self.lock(), id, s)?;
        Ok(())
    }

    /// Forgets the state of a bot that is no longer scheduled.
    pub fn forget_schedule(&self, id: &str) -> Result<()> {
        self.lock().execute("DELETE FROM schedule_state WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Dispatch: the next due time and the run's row, in one transaction. `None` if the bot is gone.
    pub fn begin_run(&self, id: &str, due: i64, next: &SchedState) -> Result<Option<i64>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        save_state(&tx, id, next)?;
        let seq = insert_run(&tx, id, due, Some(now_ms()), Outcome::Running, None, None)?;
        tx.commit()?;
        Ok(seq)
    }

    /// A due time skipped because the previous run is still going: recorded, next due time saved.
    pub fn skip_run(&self, id: &str, due: i64, next: &SchedState, reason: &str) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        save_state(&tx, id, next)?;
        insert_run(&tx, id, due, None, Outcome::Skipped, Some(reason), None)?;
        tx.commit()?;
        Ok(())
    }

    pub fn set_run_container(&self, seq: i64, container: &str) -> Result<()> {
        self.lock().execute("UPDATE runs SET container = ?2 WHERE seq = ?1", params![seq, container])?;
        Ok(())
    }

    /// Records how a run ended (the row is dropped if its bot was deleted meanwhile).
    pub fn finish_run(&self, seq: i64, e: &Ending) -> Result<()> {
        let logs = serde_json::to_string(&e.logs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let conn = self.lock();
        conn.execute(
            "UPDATE runs SET ended_ms = ?2, outcome = ?3, exit_code = ?4, reason = ?5, logs = ?6 WHERE seq = ?1",
            params![seq, now_ms(), e.outcome.as_str(), e.exit_code, e.reason, logs],
        )?;
        conn.execute(
            "DELETE FROM runs WHERE seq = ?1 AND NOT EXISTS (SELECT 1 FROM bots WHERE bots.id = runs.bot_id)",
            [seq],
        )?;
        Ok(())
    }

    /// Runs still marked running (at start: to be settled by adoption).
    pub fn open_runs(&self) -> Result<Vec<Run>> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE outcome = 'running' ORDER BY seq"))?;
        let rows = stmt.query_map([], run_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The open run of `id` due at `due`, else a new one for an adopted container (`None`: the
    /// bot is gone).
    pub fn adopt_run(&self, id: &str, due: i64, container: &str, started: i64) -> Result<Option<i64>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let open: Option<i64> = tx
            .query_row(
                "SELECT seq FROM runs WHERE bot_id = ?1 AND due_ms = ?2 AND outcome = 'running' ORDER BY seq DESC",
                params![id, due],
                |r| r.get(0),
            )
            .optional()?;
        let seq = match open {
            Some(seq) => {
                tx.execute("UPDATE runs SET container = ?2 WHERE seq = ?1", params![seq, container])?;
                Some(seq)
            }
            None => insert_run(&tx, id, due, Some(started), Outcome::Running, None, Some(container))?,
        };
        tx.commit()?;
        Ok(seq)
    }

    /// The bot's run going now, if any.
    pub fn open_run(&self, id: &str) -> Result<Option<Run>> {
        let conn = self.lock();
        let v = conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE bot_id = ?1 AND outcome = 'running' ORDER BY seq DESC"),
                [id],
                run_of,
            )
            .optional()?;
        Ok(v)
    }

    /// A bot's runs, newest first.
    pub fn runs(&self, id: &str, limit: i64) -> Result<Vec<Run>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE bot_id = ?1 ORDER BY seq DESC LIMIT ?2"))?;
        let rows = stmt.query_map(params![id, limit], run_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
