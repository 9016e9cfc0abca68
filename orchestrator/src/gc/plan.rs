//! The garbage collector's decision, pure: from what the buckets hold, the bot ids the store
//! knows, the bots that have a container and the time, what to delete and why. Everything that
//! touches storage, SQLite or Docker is in the runner (`gc/mod.rs`); this file is table-tested in
//! `plan_tests.rs`.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use the0_contract::buckets::Buckets;
use the0_objstore::{ObjectInfo, PendingUpload};

/// Age after which an unfinished upload, a temp object or a query result is garbage: no writer
/// of this runtime keeps one that long (§5.8, D19).
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// What one pass found in the buckets it looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The state bucket's objects.
    pub state: Vec<ObjectInfo>,
    /// The logs bucket's objects.
    pub logs: Vec<ObjectInfo>,
    /// The query-results bucket's objects.
    pub query_results: Vec<ObjectInfo>,
    /// Unfinished uploads of those buckets, with the bucket each is in.
    pub uploads: Vec<(String, PendingUpload)>,
}

/// What protects a bot's objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protected {
    /// Ids in the store's `bots` or schedule tables (D33: empty means "unknown", not "none").
    pub known: BTreeSet<String>,
    /// Ids with a managed container, in any state.
    pub with_container: BTreeSet<String>,
}

/// Why something is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// An unfinished upload (S3 multipart upload, local temp file) older than [`MAX_AGE`].
    StaleUpload { age: Duration },
    /// A temporary log object (`logs/**/.tmp-*`, as the original executor wrote) older than [`MAX_AGE`].
    StaleTemp { age: Duration },
    /// A query result older than [`MAX_AGE`] (D19).
    StaleQueryResult { age: Duration },
    /// The state archive of a bot the store does not know and that has no container.
    OrphanState { bot: String },
    /// A log object of a bot the store does not know and that has no container.
    OrphanLogs { bot: String },
}

impl Reason {
    /// A short stable name (for `-o json` and counting).
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::StaleUpload { .. } => "stale-upload",
            Reason::StaleTemp { .. } => "stale-temp",
            Reason::StaleQueryResult { .. } => "stale-query-result",
            Reason::OrphanState { .. } => "orphan-state",
            Reason::OrphanLogs { .. } => "orphan-logs",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mins = |d: &Duration| d.as_secs() / 60;
        match self {
            Reason::StaleUpload { age } => write!(f, "unfinished upload started {} min ago", mins(age)),
            Reason::StaleTemp { age } => write!(f, "temporary object written {} min ago", mins(age)),
            Reason::StaleQueryResult { age } => write!(f, "query result written {} min ago", mins(age)),
            Reason::OrphanState { bot } | Reason::OrphanLogs { bot } => {
                write!(f, "bot {bot:?} is in neither the bots nor the schedules table and has no container")
            }
        }
    }
}

/// One deletion: an object, or an unfinished upload to abort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub bucket: String,
    pub key: String,
    /// The upload to abort; `None`: delete the object `bucket/key`.
    pub upload: Option<PendingUpload>,
    pub reason: Reason,
}

impl fmt::Display for Deletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.upload.is_some() { "abort upload" } else { "delete" };
        write!(f, "{verb} {}/{}: {}", self.bucket, self.key, self.reason)
    }
}

impl Deletion {
    /// The line of `gc -o json`: one object per deletion.
    pub fn to_json(&self) -> serde_json::Value {
        let (bot, age) = match &self.reason {
            Reason::OrphanState { bot } | Reason::OrphanLogs { bot } => (Some(bot.as_str()), None),
            Reason::StaleUpload { age } | Reason::StaleTemp { age } | Reason::StaleQueryResult { age } => {
                (None, Some(age.as_secs()))
            }
        };
        serde_json::json!({
            "action": if self.upload.is_some() { "abort-upload" } else { "delete" },
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload.as_ref().map(|u| u.upload_id.as_str()).filter(|i| !i.is_empty()),
            "reason": self.reason.kind(),
            "bot": bot,
            "age_secs": age,
            "detail": self.reason.to_string(),
        })
    }
}

/// The decision of one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// D33: the store knows no bot, so nothing is deleted (an empty or wrong store must not wipe
    /// every bot's state).
    NoKnownBots,
    /// What to delete, in listing order (uploads, state, logs, query results).
    Delete(Vec<Deletion>),
}

impl Plan {
    /// The deletions (none for [`Plan::NoKnownBots`]).
    pub fn deletions(&self) -> &[Deletion] {
        match self {
            Plan::NoKnownBots => &[],
            Plan::Delete(d) => d,
        }
    }
}

/// Decides what one pass deletes.
///
/// - Nothing at all when `protected.known` is empty (D33).
/// - Unfinished uploads older than [`MAX_AGE`], whoever started them: every writer bounds its
///   uploads far below an hour, and they are what leaks (the original leaked 70 GB of them).
/// - Otherwise only objects of bots without a container: `<id>/state.tar.gz` and `logs/<id>/*`
///   of ids the store does not know; `logs/<id>/…/.tmp-*` and `<id>/<run>/result.json` query
///   results older than [`MAX_AGE`]. Keys of any other shape are never touched.
pub fn plan(listing: &Listing, buckets: &Buckets, protected: &Protected, now: SystemTime) -> Plan {
    if protected.known.is_empty() {
        return Plan::NoKnownBots;
    }
    let age = |t: SystemTime| now.duration_since(t).ok().filter(|a| *a > MAX_AGE);
    let untouchable = |bot: &str| protected.with_container.contains(bot);
    let orphan = |bot: &str| !protected.known.contains(bot) && !untouchable(bot);
    let mut out: Vec<Deletion> = Vec::new();
    let mut push = |bucket: &str, key: &str, upload: Option<&PendingUpload>, reason: Reason| {
        let dup = out.iter().any(|d| d.bucket == bucket && d.key == key && d.upload.as_ref() == upload);
        if !dup {
            out.push(Deletion { bucket: bucket.into(), key: key.into(), upload: upload.cloned(), reason });
        }
    };
    for (bucket, u) in &listing.uploads {
        if let Some(age) = age(u.initiated) {
            push(bucket, &u.key, Some(u), Reason::StaleUpload { age });
        }
    }
    for o in &listing.state {
        if let Some(bot) = state_owner(&o.key).filter(|b| orphan(b)) {
            push(&buckets.state, &o.key, None, Reason::OrphanState { bot: bot.into() });
        }
    }
    for o in &listing.logs {
        let Some((bot, leaf)) = log_owner(&o.key) else { continue };
        if orphan(bot) {
            push(&buckets.logs, &o.key, None, Reason::OrphanLogs { bot: bot.into() });
        } else if let Some(age) = age(o.last_modified).filter(|_| is_log_temp(leaf) && !untouchable(bot)) {
            push(&buckets.logs, &o.key, None, Reason::StaleTemp { age });
        }
    }
    for o in &listing.query_results {
        let Some(bot) = result_owner(&o.key) else { continue };
        if let Some(age) = age(o.last_modified).filter(|_| !untouchable(bot)) {
            push(&buckets.query_results, &o.key, None, Reason::StaleQueryResult { age });
        }
    }
    Plan::Delete(out)
}

/// `<id>/state.tar.gz` → `id`.
fn state_owner(key: &str) -> Option<&str> {
    key.strip_suffix("/state.tar.gz").filter(|id| !id.is_empty() && !id.contains('/'))
}

/// `logs/<id>/<rest>` → (`id`, the last segment).
fn log_owner(key: &str) -> Option<(&str, &str)> {
    let (bot, rest) = key.strip_prefix("logs/")?.split_once('/')?;
    let leaf = rest.rsplit('/').next()?;
    (!bot.is_empty() && !leaf.is_empty()).then_some((bot, leaf))
}

/// The original executor's temporary log objects: `.tmp-<unixNano>`.
fn is_log_temp(leaf: &str) -> bool {
    leaf.strip_prefix(".tmp-").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `<id>/<run>/result.json` → `id` (the shape both the Docker and the Kubernetes hosts write).
fn result_owner(key: &str) -> Option<&str> {
    let mut segs = key.split('/');
    match (segs.next(), segs.next(), segs.next(), segs.next()) {
        (Some(bot), Some(run), Some("result.json"), None) if !bot.is_empty() && !run.is_empty() => Some(bot),
        _ => None,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
