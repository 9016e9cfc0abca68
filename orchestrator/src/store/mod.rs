//! The embedded store: one SQLite file in `--data-dir` (WAL), versioned migrations, every write one
//! transaction. It holds the bots exactly as their payloads gave them, the reconciler's per-bot
//! bookkeeping and the ingest cursor (so a redelivered event is applied once). Any write that
//! changes desired state bumps a version that the reconciler, the scheduler and the query index
//! watch ([`Store::watch`]). The event history is `events.rs`; what an event does to a stored bot
//! is the pure `merge.rs`, shared with Kubernetes mode's ConfigMap store.

pub mod changed;
pub mod events;
mod known;
pub mod manual_runs;
pub mod merge;
pub mod runs;

pub use known::known_ids;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use tokio::sync::watch;

use crate::model::{BotRecord, Change};
use crate::observed::BotStatus;
use events::{NewEvent, Retention};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store: cannot create {path}: {err}")]
    Dir { path: String, err: std::io::Error },
    #[error("store: stored JSON is corrupt: {0}")]
    Corrupt(String),
    /// Opening an existing store read-only failed (missing, unreadable, not a database).
    #[error("store: cannot open {path} read-only: {err}")]
    Open { path: String, err: rusqlite::Error },
    /// A store written by another version of the orchestrator (or never migrated).
    #[error("store: {path} has schema version {found}, this orchestrator reads version {want}")]
    Schema { path: String, found: i64, want: i64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The database file inside `--data-dir`.
pub(crate) const DB_FILE: &str = "orchestrator.db";

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
    // 3: the event history.
    events::SCHEMA,
    // 4: a restart asked for and not yet carried out (`restart ID`).
    "ALTER TABLE bot_status ADD COLUMN restart_at INTEGER;",
    // 5: `enable`/`disable` from this host: a layer over the0's root `enabled` that the next
    // `the0.bot.updated` clears (the0 is the source of truth when it is connected).
    "ALTER TABLE bots ADD COLUMN local_enabled TEXT;",
    // 6: on-demand runs (`run ID`): what was asked for, as JSON; NULL for a run of the schedule.
    "ALTER TABLE runs ADD COLUMN manual TEXT;",
];

/// How an upsert treats an existing record (docs/contract.md §5.1 handlers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `the0.bot.created`: no-op if the id exists.
    Create,
    /// `the0.bot.updated`: replace `config` and `custom`, keep the root `enabled` the0 gave, and
    /// drop a local `enable`/`disable` (the0 overrides a local change).
    Update,
    /// Admin `PUT`: replace everything.
    Put,
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// Bumped with every desired-state change; every watcher sees it.
    version: Arc<watch::Sender<u64>>,
    /// When each bot's last upsert that changed it was applied, until the reconciler takes it for
    /// `the0_event_to_running_seconds` or drops it (in memory only).
    arrivals: Arc<Mutex<HashMap<String, std::time::Instant>>>,
    /// Which bots each desired-state change touched ([`changed`]).
    changes: Arc<Mutex<changed::ChangeLog>>,
    /// How much event history is kept ([`events`]).
    retention: Retention,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn json(s: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored JSON column of bot `id`, or null (logged) when it does not parse.
fn lenient(id: &str, column: &str, s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| {
        tracing::warn!(bot = %id, column, error = %e, "stored column is not JSON: replaced by the next event");
        Value::Null
    })
}

impl Store {
    /// Opens (creating) `<dir>/orchestrator.db` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|err| StoreError::Dir { path: dir.display().to_string(), err })?;
        let mut conn = Connection::open(dir.join(DB_FILE))?;
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
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            version: Arc::new(watch::Sender::new(0)),
            arrivals: Arc::default(),
            changes: Arc::default(),
            retention: Retention::default(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// When the change now stored for `id` was applied, if it has not been taken or dropped.
    pub fn take_arrival(&self, id: &str) -> Option<std::time::Instant> {
        self.arrivals.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
    }

    /// Takes the arrival of `id` if it was applied before `seen` (a change the pass read, which the
    /// start it plans answers); a later one is left for the pass that reads it.
    pub fn take_arrival_before(&self, id: &str, seen: std::time::Instant) -> Option<std::time::Instant> {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        let at = *arrivals.get(id)?;
        (at < seen).then(|| arrivals.remove(id)).flatten()
    }

    /// Drops the arrivals applied before `seen` (a pass read them) except those of `keep` (bots the
    /// pass is starting), so a change that starts nothing is never timed against a later start.
    pub fn drop_arrivals(&self, seen: std::time::Instant, keep: &dyn Fn(&str) -> bool) {
        self.arrivals.lock().unwrap_or_else(|p| p.into_inner()).retain(|id, at| *at >= seen || keep(id));
    }

    /// A desired-state change of bot `id`: logged for [`Store::changed_since`], then every
    /// watcher is told the new version.
    pub(crate) fn bump(&self, id: &str) {
        let mut log = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let v = log.push(id);
        self.version.send_replace(v);
    }

    /// The bots whose desired state changed after version `seen` (of [`Store::version`]), and the
    /// version that brings the caller to; `bots: None` when the log no longer reaches back that
    /// far (read everything then).
    pub fn changed_since(&self, seen: u64) -> changed::Changed {
        self.changes.lock().unwrap_or_else(|p| p.into_inner()).since(seen)
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
            if let Change::Upsert(rec) = change {
                self.arrivals
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(rec.id.clone(), std::time::Instant::now());
            }
            self.bump(match change {
                Change::Upsert(rec) => &rec.id,
                Change::Delete(id) => id,
            });
        }
        Ok(changed)
    }

    /// `enable`/`disable`: sets the bot's root `enabled` as seen by the planner (which wins over
    /// `config.enabled` being absent or true, CONTRACT 5.2) in one statement, leaving its spec and
    /// the0's own root `enabled` as they are: the value is a local layer that the next
    /// `the0.bot.updated` for the bot clears. Returns `None` for an unknown bot, else whether
    /// desired state changed.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<Option<bool>> {
        let conn = self.lock();
        let value = Value::Bool(enabled).to_string();
        let changed = conn.execute(
            "UPDATE bots SET local_enabled = ?2, updated_ms = ?3
             WHERE id = ?1 AND COALESCE(local_enabled, enabled) IS NOT ?2",
            params![id, value, now_ms()],
        )? > 0;
        let exists =
            changed || conn.query_row("SELECT 1 FROM bots WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some();
        drop(conn);
        if changed {
            self.bump(id);
        }
        Ok(exists.then_some(changed))
    }

    /// Holds the bot stopped for an edit of its stored state (`state ID rm KEY --restart`): a
    /// local disable, as `disable` sets it. Returns the local layer it replaced, for
    /// [`Store::release`], or `None` for an unknown bot.
    pub fn hold(&self, id: &str) -> Result<Option<Option<String>>> {
        let conn = self.lock();
        let Some(prev) = conn
            .query_row("SELECT local_enabled FROM bots WHERE id = ?1", [id], |r| r.get::<_, Option<String>>(0))
            .optional()?
        else {
            return Ok(None);
        };
        let changed = conn.execute(
            "UPDATE bots SET local_enabled = 'false', updated_ms = ?2 WHERE id = ?1 AND local_enabled IS NOT 'false'",
            params![id, now_ms()],
        )? > 0;
        drop(conn);
        if changed {
            self.bump(id);
        }
        Ok(Some(prev))
    }

    /// Ends a [`Store::hold`]: puts back the local layer it replaced, unless the hold is gone
    /// already (a `the0.bot.updated` clears local layers, and the0 then decides).
    pub fn release(&self, id: &str, prev: Option<&str>) -> Result<()> {
        let changed = self.lock().execute(
            "UPDATE bots SET local_enabled = ?2, updated_ms = ?3 WHERE id = ?1 AND local_enabled = 'false'",
            params![id, prev, now_ms()],
        )? > 0;
        if changed {
            self.bump(id);
        }
        Ok(())
    }

    /// Records what was edited in the bot's stored state, as a `state-edited` event.
    pub fn record_state_edit(&self, id: &str, message: &str) -> Result<()> {
        self.record_events(&[NewEvent::new(now_ms(), id, events::Kind::StateEdited, message)])
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
        self.set_status_with(id, s, &[])
    }

    /// [`Store::set_status`] with the events that go with the change, in one transaction.
    pub fn set_status_with(&self, id: &str, s: &BotStatus, events: &[NewEvent]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        write_status(&tx, id, s)?;
        events::append(&tx, events, self.retention)?;
        tx.commit()?;
        Ok(())
    }

    /// Records `s` only if the bot's status is still `expected` as [`Store::get`] showed it
    /// (`None`: the bot was not stored), in one transaction. Returns false, writing nothing, when
    /// it changed meanwhile: a new spec resets it, a delete drops it (optimistic concurrency, so a
    /// status read once and written once never overwrites such a change). `events` are recorded
    /// in the same transaction (and not when nothing is written).
    pub fn set_status_if(
        &self,
        id: &str,
        expected: Option<&BotStatus>,
        s: &BotStatus,
        events: &[NewEvent],
    ) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let current = query(&tx, Some(id))?.pop().map(|(_, st)| st);
        if current.as_ref() != expected {
            return Ok(false);
        }
        write_status(&tx, id, s)?;
        events::append(&tx, events, self.retention)?;
        tx.commit()?;
        Ok(true)
    }

    /// `restart ID`: stores that a restart was asked for at `at_ms` (the reconciler stops a
    /// container started before then and starts the bot again), with its event, in one
    /// transaction. `None` for an unknown bot.
    pub fn request_restart(&self, id: &str, at_ms: i64) -> Result<Option<()>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "INSERT INTO bot_status (id, restart_at) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM bots WHERE id = ?1)
             ON CONFLICT(id) DO UPDATE SET restart_at = excluded.restart_at",
            params![id, at_ms],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let event = NewEvent::new(at_ms, id, events::Kind::RestartRequested, "restart requested");
        events::append(&tx, &[event], self.retention)?;
        tx.commit()?;
        drop(conn);
        self.bump(id);
        Ok(Some(()))
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
        "SELECT b.id, b.config, b.custom, COALESCE(b.local_enabled, b.enabled), s.restarts, s.consecutive,
                s.last_exit_code, s.last_exit_at, s.backoff_until, s.failure_reason, s.restart_at
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
                restart_at: r.get(10)?,
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
        "INSERT INTO bot_status (id, restarts, consecutive, last_exit_code, last_exit_at, backoff_until,
           failure_reason, restart_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM bots WHERE id = ?1)
         ON CONFLICT(id) DO UPDATE SET restarts = excluded.restarts, consecutive = excluded.consecutive,
           last_exit_code = excluded.last_exit_code, last_exit_at = excluded.last_exit_at,
           backoff_until = excluded.backoff_until, failure_reason = excluded.failure_reason,
           restart_at = excluded.restart_at",
        params![
            id,
            s.restarts,
            s.consecutive,
            s.last_exit_code,
            s.last_exit_at,
            s.backoff_until,
            s.failure_reason,
            s.restart_at
        ],
    )?;
    Ok(())
}

fn upsert(tx: &rusqlite::Transaction<'_>, rec: &BotRecord, mode: Mode) -> Result<bool> {
    let existing: Option<(String, String, Option<String>, Option<String>)> = tx
        .query_row("SELECT config, custom, enabled, local_enabled FROM bots WHERE id = ?1", [&rec.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    // A stored field that no longer parses counts as null (and a layer as absent): it then
    // differs from any payload, so an `updated` or `PUT` replaces the row, as it always did. An
    // error here would refuse every later event of the bot, and the row could never be repaired.
    let existing = existing.map(|(c, u, e, local)| merge::StoredBot {
        config: lenient(&rec.id, "config", &c),
        custom: lenient(&rec.id, "custom", &u),
        enabled: e.as_deref().map(|e| lenient(&rec.id, "enabled", e)),
        local_enabled: local.as_deref().map(|l| lenient(&rec.id, "local_enabled", l)),
    });
    let Some(row) = merge::merge(existing.as_ref(), rec, mode) else {
        return Ok(false);
    };
    let config = row.config.to_string();
    let custom = row.custom.to_string();
    let enabled = row.enabled.as_ref().map(Value::to_string);
    tx.execute(
        "INSERT INTO bots (id, config, custom, enabled, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET config = excluded.config, custom = excluded.custom,
           enabled = excluded.enabled, local_enabled = NULL, updated_ms = excluded.updated_ms",
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
