//! On-demand runs (`run ID`) in the store: a request is a `runs` row with outcome `requested` and
//! what was asked for in its `manual` column, so it survives an orchestrator restart and any
//! process with the scheduler role that shares the store starts it (level-triggered, as a
//! `restart` request is). At most one per bot is waiting or running at a time.

use rusqlite::{params, OptionalExtension};

use super::runs::{insert_run, run_of, ManualRun, Outcome, Run, RUN_COLUMNS};
use super::{now_ms, Result, Store, StoreError};

/// What a request for a run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Stored as run `seq`.
    Queued(i64),
    /// The bot already has an on-demand run waiting or going: run `seq`.
    Busy(i64),
    /// No such bot.
    NoBot,
}

impl Store {
    /// Stores a request for an on-demand run of `id`, due now.
    pub fn request_run(&self, id: &str, run: &ManualRun) -> Result<Requested> {
        let manual = serde_json::to_string(run).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let busy: Option<i64> = tx
            .query_row(
                "SELECT seq FROM runs WHERE bot_id = ?1 AND manual IS NOT NULL
                   AND outcome IN ('requested', 'running') ORDER BY seq LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(seq) = busy {
            return Ok(Requested::Busy(seq));
        }
        let Some(seq) = insert_run(&tx, id, now_ms(), None, Outcome::Requested, None, None)? else {
            return Ok(Requested::NoBot);
        };
        tx.execute("UPDATE runs SET manual = ?2 WHERE seq = ?1", params![seq, manual])?;
        tx.commit()?;
        drop(conn);
        self.bump(id);
        Ok(Requested::Queued(seq))
    }

    /// Requests not started yet, oldest first.
    pub fn requested_runs(&self) -> Result<Vec<Run>> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE outcome = 'requested' ORDER BY seq"))?;
        let rows = stmt.query_map([], run_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Marks a request started (`running`, started now); `false` if it is no longer waiting.
    pub fn start_requested(&self, seq: i64) -> Result<bool> {
        let n = self.lock().execute(
            "UPDATE runs SET outcome = 'running', started_ms = ?2 WHERE seq = ?1 AND outcome = 'requested'",
            params![seq, now_ms()],
        )?;
        Ok(n > 0)
    }

    /// One run by its number.
    pub fn run(&self, seq: i64) -> Result<Option<Run>> {
        let conn = self.lock();
        let v = conn.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE seq = ?1"), [seq], run_of).optional()?;
        Ok(v)
    }
}

#[cfg(test)]
#[path = "manual_runs_tests.rs"]
mod tests;
