//! The event history (`orchestrator events`, `GET /events`): one row per thing the orchestrator
//! did to a bot and why (started, stopped, crashed with its exit code, backing off until when,
//! adopted, failed spec, restart requested), numbered by a `seq` that only grows, so a follower
//! polls with `since`. Rows are written where the status changes, in the same transaction as the
//! status ([`super::Store::set_status_if`]), or alone for what changes no status (a start, a
//! stop); never once per pass. The table is bounded on every write: at most [`Retention::keep`]
//! rows and none older than [`Retention::max_age`], oldest first, through the primary key only.
//! History outlives its bot: deleting a bot keeps its events until they age out.

use std::collections::HashMap;
use std::time::Duration;

use rusqlite::{params, Connection, Row};

use super::{Result, Store};

/// The table (migration 3 in [`super::MIGRATIONS`]).
pub(super) const SCHEMA: &str = "CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        bot_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        message TEXT NOT NULL,
        exit_code INTEGER,
        until_ms INTEGER
    );
    CREATE INDEX events_by_bot ON events (bot_id, seq);";

/// How much history is kept (`--events-keep`, `--events-max-age`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Rows kept at most, over all bots.
    pub keep: i64,
    /// Rows older than this (by their time) are dropped.
    pub max_age: Duration,
}

/// Default `--events-keep`.
pub const DEFAULT_KEEP: i64 = 10_000;
/// Default `--events-max-age`: a week.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

impl Default for Retention {
    fn default() -> Self {
        Retention { keep: DEFAULT_KEEP, max_age: DEFAULT_MAX_AGE }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A container was started for the bot.
    Started,
    /// A live container was stopped and removed (the message says why).
    Stopped,
    /// A dead container was removed (the message says why).
    Removed,
    /// The bot's container exited without being asked to (`exit_code`).
    Crashed,
    /// Starting the bot's container failed.
    StartFailed,
    /// The bot waits before its next start (`until_ms`).
    BackingOff,
    /// The stored spec cannot be run until it changes.
    Failed,
    /// Up for ten minutes: the crash history was forgotten.
    Steady,
    /// A container found running when this process started was kept.
    Adopted,
    /// `restart` was asked for.
    RestartRequested,
    /// The bot's stored state was edited from the host (`state ID rm KEY`).
    StateEdited,
    /// An update's successor was released (with the state version the old container left) and
    /// is now the bot's container.
    Released,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Started,
        Kind::Stopped,
        Kind::Removed,
        Kind::Crashed,
        Kind::StartFailed,
        Kind::BackingOff,
        Kind::Failed,
        Kind::Steady,
        Kind::Adopted,
        Kind::RestartRequested,
        Kind::StateEdited,
        Kind::Released,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Started => "started",
            Kind::Stopped => "stopped",
            Kind::Removed => "removed",
            Kind::Crashed => "crashed",
            Kind::StartFailed => "start-failed",
            Kind::BackingOff => "backing-off",
            Kind::Failed => "failed",
            Kind::Steady => "steady",
            Kind::Adopted => "adopted",
            Kind::RestartRequested => "restart-requested",
            Kind::StateEdited => "state-edited",
            Kind::Released => "released",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An event to record (the store numbers it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at_ms: i64,
    pub bot_id: String,
    pub kind: Kind,
    pub message: String,
    pub exit_code: Option<i64>,
    pub until_ms: Option<i64>,
}

impl NewEvent {
    pub fn new(at_ms: i64, bot_id: &str, kind: Kind, message: impl Into<String>) -> NewEvent {
        NewEvent { at_ms, bot_id: bot_id.to_string(), kind, message: message.into(), exit_code: None, until_ms: None }
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub at_ms: i64,
    pub bot_id: String,
    /// `None`: a kind this version does not know (written by a newer one).
    pub kind: Option<Kind>,
    pub kind_text: String,
    pub message: String,
    pub exit_code: Option<i64>,
    pub until_ms: Option<i64>,
}

const COLUMNS: &str = "seq, at_ms, bot_id, kind, message, exit_code, until_ms";

fn event_of(r: &Row<'_>) -> rusqlite::Result<Event> {
    let kind_text: String = r.get(3)?;
    Ok(Event {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        bot_id: r.get(2)?,
        kind: Kind::parse(&kind_text),
        kind_text,
        message: r.get(4)?,
        exit_code: r.get(5)?,
        until_ms: r.get(6)?,
    })
}

/// Appends `events` and prunes by `r`, on `conn` (inside the caller's transaction). The age is
/// measured from the newest event written; both deletions walk the primary key from its start.
pub(super) fn append(conn: &Connection, events: &[NewEvent], r: Retention) -> rusqlite::Result<()> {
    let Some(newest) = events.iter().map(|e| e.at_ms).max() else { return Ok(()) };
    let mut stmt = conn.prepare_cached(
        "INSERT INTO events (at_ms, bot_id, kind, message, exit_code, until_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for e in events {
        stmt.execute(params![e.at_ms, e.bot_id, e.kind.as_str(), e.message, e.exit_code, e.until_ms])?;
    }
    let last = conn.last_insert_rowid();
    conn.prepare_cached("DELETE FROM events WHERE seq <= ?1")?.execute([last - r.keep.max(1)])?;
    let cutoff = newest.saturating_sub(r.max_age.as_millis().min(i64::MAX as u128) as i64);
    conn.prepare_cached(
        "DELETE FROM events WHERE seq < COALESCE(
           (SELECT seq FROM events WHERE at_ms >= ?1 ORDER BY seq LIMIT 1), ?2 + 1)",
    )?
    .execute(params![cutoff, last])?;
    Ok(())
}

impl Store {
    /// Sets how much history is kept from now on (the server does, before sharing the store).
    pub fn set_event_retention(&mut self, r: Retention) {
        self.retention = r;
    }

    /// Records events that go with no status change (a start, a stop, an adoption). A failure is
    /// the caller's to log: it never stops what the event describes.
    pub fn record_events(&self, events: &[NewEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        append(&tx, events, self.retention)?;
        tx.commit()?;
        Ok(())
    }

    /// When each bot (or `bot`) restarted since `since_ms` (it crashed, or a restart was asked
    /// for), by bot, oldest first: the live bots' restart sparklines on the status page. One
    /// query for the whole fleet; bounded by the retention.
    pub fn restart_times(&self, bot: Option<&str>, since_ms: i64) -> Result<HashMap<String, Vec<i64>>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT bot_id, at_ms FROM events
             WHERE at_ms >= ?1 AND kind IN (?2, ?3) AND (?4 IS NULL OR bot_id = ?4) ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(params![since_ms, Kind::Crashed.as_str(), Kind::RestartRequested.as_str(), bot], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
        let mut out: HashMap<String, Vec<i64>> = HashMap::new();
        for row in rows {
            let (bot, at) = row?;
            out.entry(bot).or_default().push(at);
        }
        Ok(out)
    }

    /// The newest `limit` events (of `bot`, or of every bot), newest first: what a status page
    /// shows.
    pub fn recent_events(&self, bot: Option<&str>, limit: i64) -> Result<Vec<Event>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE ?1 IS NULL OR bot_id = ?1 ORDER BY seq DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![bot, limit.max(0)], event_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The first `limit` events after `since` (of `bot`, or of every bot), oldest first: what a
    /// follower asks for next.
    pub fn events_since(&self, bot: Option<&str>, since: i64, limit: i64) -> Result<Vec<Event>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM events WHERE seq > ?1 AND (?2 IS NULL OR bot_id = ?2) ORDER BY seq LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![since, bot, limit.max(0)], event_of)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
