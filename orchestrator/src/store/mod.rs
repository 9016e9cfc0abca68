//! The embedded store: one SQLite file in `--data-dir` (WAL), versioned migrations, every write one
//! transaction. It holds the bots exactly as their payloads gave them, the reconciler's per-bot
//! bookkeeping and the ingest cursor (so a redelivered event is applied once). Any write that
//! changes desired state bumps a version that the reconciler, the scheduler and the query index
//! watch ([`Store::watch`]).

pub mod runs;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::watch;

use crate::model::{BotRecord, Change};
use crate::observed::BotStatus;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store: cannot create {path}: {err}")]
    Dir { path: String, err: std::io::Error },
    #[error("store: stored JSON is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Schema versions, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE bots (
        id TEXT PRIMARY KEY NOT NULL,
        config TEXT NOT NULL,
        custom TEXT NOT NULL,
        enabled TEXT,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE bot_status (
        id TEXT PRIMARY KEY NOT NULL,
        restarts INTEGER NOT NULL DEFAULT 0,
        consecutive INTEGER NOT NULL DEFAULT 0,
        last_exit_code INTEGER,
        last_exit_at INTEGER,
        backoff_until INTEGER,
        failure_reason TEXT
    );
    CREATE TABLE ingest_cursor (
        stream TEXT PRIMARY KEY NOT NULL,
        seq INTEGER NOT NULL
    );",
    runs::SCHEMA,
];

/// How an upsert treats an existing record (docs/contract.md §5.1 handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `the0.bot.created`: no-op if the id exists.
    Create,
    /// `the0.bot.updated`: replace `config` and `custom`, keep the stored root `enabled`.
    Update,
    /// Admin `PUT`: replace everything.
    Put,
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Bumped with every desired-state change; every watcher sees it.
    version: Arc<watch::Sender<u64>>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn json(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Opens (creating) `<dir>/orchestrator.db` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|err| StoreError::Dir { path: dir.display().to_string(), err })?;
        let mut conn = Connection::open(dir.join("orchestrator.db"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Store { conn: Arc::new(Mutex::new(conn)), version: Arc::new(watch::Sender::new(0)) })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sees every write that changes desired state, however many watchers there are.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// How many desired-state writes this process has made (what [`Store::watch`] carries).
    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    /// Applies a change; with `cursor`, only if its sequence is newer than the stored one, and the
    /// cursor moves in the same transaction. Returns whether desired state changed.
    pub fn apply(&self, change: &Change, mode: Mode, cursor: Option<(&str, u64)>) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        if let Some((stream, seq)) = cursor {
            let last: Option<i64> =
                tx.query_row("SELECT seq FROM ingest_cursor WHERE stream = ?1", [stream], |r| r.get(0)).optional()?;
            if last.is_some_and(|l| l >= seq as i64) {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO ingest_cursor (stream, seq) VALUES (?1, ?2)
                 ON CONFLICT(stream) DO UPDATE SET seq = excluded.seq",
                params![stream, seq as i64],
            )?;
        }
        let changed = match change {
            Change::Delete(id) => {
                tx.execute("DELETE FROM bot_status WHERE id = ?1", [id])?;
                tx.execute("DELETE FROM schedule_state WHERE id = ?1", [id])?;
                tx.execute("DELETE FROM runs WHERE bot_id = ?1 AND outcome != 'running'", [id])?;
                tx.execute("DELETE FROM bots WHERE id = ?1", [id])? > 0
            }
            Change::Upsert(rec) => upsert(&tx, rec, mode)?,
        };
        tx.commit()?;
        drop(conn);
        if changed {
            self.version.send_modify(|v| *v += 1);
        }
        Ok(changed)
    }

    pub fn get(&self, id: &str) -> Result<Option<(BotRecord, BotStatus)>> {
        Ok(self.query(Some(id))?.pop())
    }

    pub fn list(&self) -> Result<Vec<(BotRecord, BotStatus)>> {
        self.query(None)
    }

    fn query(&self, id: Option<&str>) -> Result<Vec<(BotRecord, BotStatus)>> {
        query(&self.lock(), id)
    }

    /// Records the reconciler's bookkeeping for a bot that is still stored.
    pub fn set_status(&self, id: &str, s: &BotStatus) -> Result<()> {
        write_status(&self.lock(), id, s)
    }

    /// Records `s` only if the bot's status is still `expected` as [`Store::get`] showed it
    /// (`None`: the bot was not stored), in one transaction. Returns false, writing nothing, when
    /// it changed meanwhile: a new spec resets it, a delete drops it (optimistic concurrency, so a
    /// status read once and written once never overwrites such a change).
    pub fn set_status_if(&self, id: &str, expected: Option<&BotStatus>, s: &BotStatus) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let current = query(&tx, Some(id))?.pop().map(|(_, st)| st);
        if current.as_ref() != expected {
            return Ok(false);
        }
        write_status(&tx, id, s)?;
        tx.commit()?;
        Ok(true)
    }

    pub fn cursor(&self, stream: &str) -> Result<Option<u64>> {
        let conn = self.lock();
        let v: Option<i64> =
            conn.query_row("SELECT seq FROM ingest_cursor WHERE stream = ?1", [stream], |r| r.get(0)).optional()?;
        Ok(v.map(|v| v as u64))
    }

    /// SQLite's `data_version`: changes whenever another connection (another process sharing
    /// the data dir, such as `query-server` beside `bot-runner`) commits. Cheap: no table is read.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self.lock().pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// Readiness: the database answers.
    pub fn ping(&self) -> Result<()> {
        self.lock().query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

fn query(conn: &Connection, id: Option<&str>) -> Result<Vec<(BotRecord, BotStatus)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.id, b.config, b.custom, b.enabled, s.restarts, s.consecutive, s.last_exit_code,
                s.last_exit_at, s.backoff_until, s.failure_reason
         FROM bots b LEFT JOIN bot_status s ON s.id = b.id
         WHERE ?1 IS NULL OR b.id = ?1 ORDER BY b.id",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            BotStatus {
                restarts: r.get::<_, Option<u32>>(4)?.unwrap_or(0),
                consecutive: r.get::<_, Option<u32>>(5)?.unwrap_or(0),
                last_exit_code: r.get(6)?,
                last_exit_at: r.get(7)?,
                backoff_until: r.get(8)?,
                failure_reason: r.get(9)?,
            },
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, config, custom, enabled, status) = row?;
        let enabled = enabled.as_deref().map(json).transpose()?;
        out.push((BotRecord { id, config: json(&config)?, custom: json(&custom)?, enabled }, status));
    }
    Ok(out)
}

fn write_status(conn: &Connection, id: &str, s: &BotStatus) -> Result<()> {
    conn.execute(
        "INSERT INTO bot_status (id, restarts, consecutive, last_exit_code, last_exit_at, backoff_until, failure_reason)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM bots WHERE id = ?1)
         ON CONFLICT(id) DO UPDATE SET restarts = excluded.restarts, consecutive = excluded.consecutive,
           last_exit_code = excluded.last_exit_code, last_exit_at = excluded.last_exit_at,
           backoff_until = excluded.backoff_until, failure_reason = excluded.failure_reason",
        params![id, s.restarts, s.consecutive, s.last_exit_code, s.last_exit_at, s.backoff_until, s.failure_reason],
    )?;
    Ok(())
}

fn upsert(tx: &rusqlite::Transaction<'_>, rec: &BotRecord, mode: Mode) -> Result<bool> {
    let existing: Option<(String, String, Option<String>)> = tx
        .query_row("SELECT config, custom, enabled FROM bots WHERE id = ?1", [&rec.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let config = rec.config.to_string();
    let custom = rec.custom.to_string();
    let mut enabled = rec.enabled.as_ref().map(Value::to_string);
    if let Some((c, u, e)) = &existing {
        if mode == Mode::Create {
            return Ok(false);
        }
        if mode == Mode::Update {
            enabled = e.clone();
        }
        if *c == config && *u == custom && *e == enabled {
            return Ok(false);
        }
    }
    tx.execute(
        "INSERT INTO bots (id, config, custom, enabled, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET config = excluded.config, custom = excluded.custom,
           enabled = excluded.enabled, updated_ms = excluded.updated_ms",
        params![rec.id, config, custom, enabled, now_ms()],
    )?;
    // A new spec gets a fresh chance: no backoff or failure carried over (restart count kept).
    tx.execute(
        "UPDATE bot_status SET consecutive = 0, backoff_until = NULL, failure_reason = NULL WHERE id = ?1",
        [&rec.id],
    )?;
    Ok(true)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
