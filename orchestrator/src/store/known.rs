//! The bot ids the store knows, read by `gc` through its own read-only connection, so that `gc`
//! can run beside a serving orchestrator (WAL lets a reader in while the server writes) without
//! ever creating, migrating or writing the file: a missing file or a schema of another version is
//! an error, and an error makes `gc` delete nothing (D33).

use std::collections::BTreeSet;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::{Result, StoreError, DB_FILE, MIGRATIONS};

/// Every id in `bots`, in `schedule_state`, or with a run still `running` (a scheduled bot
/// deleted mid-run keeps that row until the run is settled), from `<dir>/orchestrator.db`
/// opened read-only.
pub fn known_ids(dir: &Path) -> Result<BTreeSet<String>> {
    let path = dir.join(DB_FILE);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&path, flags)
        .map_err(|err| StoreError::Open { path: path.display().to_string(), err })?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let want = MIGRATIONS.len() as i64;
    if version != want {
        return Err(StoreError::Schema { path: path.display().to_string(), found: version, want });
    }
    let mut stmt = conn.prepare(
        "SELECT id FROM bots UNION SELECT id FROM schedule_state
         UNION SELECT bot_id FROM runs WHERE outcome = 'running'",
    )?;
    let ids = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<BTreeSet<_>>>()?;
    Ok(ids)
}
