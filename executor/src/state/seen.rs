//! The version of the remote state archive this pod last saw: the restored object's ETag (or
//! "absent" when there was none), then the ETag of each upload of ours. Every state write is
//! conditional on it ([`Seen::precondition`]: `If-Match`, or `If-None-Match: *`), so a newer
//! archive written by another writer (a second container of the same bot) is never overwritten
//! unseen (issue #10, item 5; `docs/security/storage.md`, "Conditional writes").
//!
//! Kept in `<run dir>/.state-seen.json` (written atomically) as well as in memory: the restore
//! may run in another process (`daemon init`, or the bot container while a sidecar syncs), and a
//! container restarted inside its pod skips the restore (D5) but must still write conditionally.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use the0_objstore::Precondition;

use super::tree;

/// File name of the saved record in the run directory.
pub const SEEN_FILE: &str = ".state-seen.json";

/// What the remote archive was when this pod last read or wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// There was no archive.
    Absent,
    /// The archive had this ETag.
    Etag(String),
}

/// The saved form: which object, and its ETag (`null`: absent).
#[derive(Serialize, Deserialize)]
struct Saved {
    bucket: String,
    key: String,
    etag: Option<String>,
}

impl Seen {
    /// The condition a write must carry to replace only this version.
    pub fn precondition(&self) -> Precondition {
        match self {
            Seen::Absent => Precondition::Absent,
            Seen::Etag(e) => Precondition::Etag(e.clone()),
        }
    }

    /// Whether the remote object, as HEAD shows it (`None`: absent), is still this version.
    pub fn matches(&self, current: Option<&str>) -> bool {
        self.precondition().holds(current)
    }

    /// The version of an object with ETag `etag` as a store reported it; `None` when the store
    /// gave no ETag (the object cannot be recognised later).
    pub fn of_etag(etag: &str) -> Option<Seen> {
        let bare = etag.trim().trim_matches('"');
        (!bare.is_empty()).then(|| Seen::Etag(etag.trim().to_owned()))
    }

    /// Short text for logs: the ETag, or "no archive".
    pub fn describe(&self) -> String {
        match self {
            Seen::Absent => "no archive".to_owned(),
            Seen::Etag(e) => format!("ETag {e}"),
        }
    }

    /// The record saved in `run_dir` for `bucket/key`; `None` when there is none (or it is for
    /// another object, or unreadable: then the version is unknown).
    pub fn load(run_dir: &Path, bucket: &str, key: &str) -> Option<Seen> {
        let path = run_dir.join(SEEN_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                crate::warn!("could not read the state archive version", path = path.display(), error = e);
                return None;
            }
        };
        match serde_json::from_slice::<Saved>(&text) {
            Ok(s) if s.bucket == bucket && s.key == key => match s.etag {
                None => Some(Seen::Absent),
                Some(e) => Seen::of_etag(&e),
            },
            Ok(_) => None,
            Err(e) => {
                crate::warn!("unusable state archive version record", path = path.display(), error = e);
                None
            }
        }
    }

    /// Saves the record in `run_dir` (atomically). A failure is logged: a later container of this
    /// pod then does not know the version and writes unconditionally.
    pub fn save(&self, run_dir: &Path, bucket: &str, key: &str) {
        let path = run_dir.join(SEEN_FILE);
        let etag = match self {
            Seen::Absent => None,
            Seen::Etag(e) => Some(e.clone()),
        };
        let saved = Saved { bucket: bucket.to_owned(), key: key.to_owned(), etag };
        let res = serde_json::to_vec(&saved).map_err(io::Error::other).and_then(|text| {
            tree::mkdir_all(run_dir, 0o755).and_then(|()| the0_objstore::atomic::write_file(&path, &text, 0o644))
        });
        if let Err(e) = res {
            crate::warn!("could not save the state archive version", path = path.display(), error = e);
        }
    }

    /// Removes the record (the version is unknown).
    pub fn forget(run_dir: &Path) {
        let _ = tree::remove_any(&run_dir.join(SEEN_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_and_make_preconditions() {
        let e = |s: &str| Seen::Etag(s.into());
        let table: &[(Seen, Option<&str>, bool)] = &[
            (Seen::Absent, None, true),
            (Seen::Absent, Some("\"a\""), false),
            (e("\"a\""), Some("\"a\""), true),
            (e("\"a\""), Some("a"), true),
            (e("\"a\""), Some("\"b\""), false),
            (e("\"a\""), None, false),
        ];
        for (seen, current, want) in table {
            assert_eq!(seen.matches(*current), *want, "{seen:?} vs {current:?}");
        }
        assert_eq!(Seen::Absent.precondition(), Precondition::Absent);
        assert_eq!(e("\"a\"").precondition(), Precondition::Etag("\"a\"".into()));
        assert_eq!(Seen::of_etag(" \"a\" "), Some(e("\"a\"")));
        assert_eq!(Seen::of_etag("\"\""), None);
        assert_eq!(Seen::of_etag(""), None);
    }

    #[test]
    fn save_load_forget() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(Seen::load(d.path(), "b", "k"), None);
        for seen in [Seen::Absent, Seen::Etag("\"e-2\"".into())] {
            seen.save(d.path(), "b", "k");
            assert_eq!(Seen::load(d.path(), "b", "k"), Some(seen.clone()));
            assert_eq!(Seen::load(d.path(), "b", "other"), None, "another key's record");
        }
        std::fs::write(d.path().join(SEEN_FILE), b"{not json").unwrap();
        assert_eq!(Seen::load(d.path(), "b", "k"), None);
        Seen::forget(d.path());
        assert!(!d.path().join(SEEN_FILE).exists());
    }
}
