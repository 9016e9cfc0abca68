//! Per-container scoped credentials (`--scoped-credentials`, issue #10). Before a bot container
//! is created, the orchestrator asks STS (AssumeRole on the S3 endpoint, with the shared keys)
//! for temporary keys limited by the bot's session policy (`the0_contract::botpolicy`), and
//! writes them to `<data dir>/credentials/<bot>/<container>/credentials.json` (temp + rename,
//! 0644: the container's uid 1000 reads it). That directory is bind-mounted read-only at
//! `/run/the0`, where the executor re-reads the file whenever it changes. Beside the directory,
//! `<container>.json` records what the keys were issued for, so the renewer ([`renew`]) can issue
//! them again at half their life, also after an orchestrator restart, and remove both once the
//! container is gone.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use the0_contract::botpolicy::{bot_session_policy, BotObjects};
use the0_objstore::s3::{AssumeRole, Credentials, S3Store};
use the0_objstore::Store;

use crate::spec::{credentials_dir, HostSettings, Scoped};

pub mod renew;

/// The file's name inside the mounted directory (`/run/the0/credentials.json`).
pub const FILE: &str = "credentials.json";

#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    #[error("scoped credentials need S3 storage")]
    NotS3,
    #[error(transparent)]
    Policy(#[from] Box<the0_contract::botpolicy::PolicyError>),
    #[error("cannot obtain scoped credentials for bot {bot}: {source}")]
    Sts {
        bot: String,
        #[source]
        source: Box<the0_objstore::Error>,
    },
    #[error("cannot write scoped credentials {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read scoped credentials record {path}: {source}")]
    ReadRecord {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("scoped credentials record {path}: {source}")]
    Record {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What one container's keys were issued for (the `<container>.json` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub bot_id: String,
    pub container: String,
    pub code_key: String,
    pub query_result_key: Option<String>,
    /// Unix seconds of the last issue, and when those keys expire.
    pub issued_unix: u64,
    pub expires_unix: u64,
}

/// `the0-<bot>` reduced to STS's `[A-Za-z0-9_+=,.@-]`, 2 to 64 characters.
pub fn session_name(bot_id: &str) -> String {
    let mut s: String = format!("the0-{bot_id}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) { c } else { '-' })
        .collect();
    s.truncate(64);
    s
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CredsError + '_ {
    move |source| CredsError::Io { path: path.to_path_buf(), source }
}

/// The STS client: the host's own S3 settings (the shared keys never leave the orchestrator).
fn sts(h: &HostSettings, s: &Scoped) -> Result<S3Store, CredsError> {
    // The host's own S3 connection, with the region the STS calls are signed for.
    match Store::open(&crate::objects::store_settings(&h.storage, &s.region)) {
        Ok(Store::S3(store)) => Ok(store),
        Ok(Store::Local(_)) => Err(CredsError::NotS3),
        Err(source) => Err(CredsError::Sts { bot: String::new(), source: Box::new(source) }),
    }
}

/// Obtains the keys `g` describes (one AssumeRole call).
async fn obtain(h: &HostSettings, s: &Scoped, g: &Grant) -> Result<Credentials, CredsError> {
    let policy = bot_session_policy(&BotObjects {
        bot_id: &g.bot_id,
        buckets: &h.buckets,
        code_key: &g.code_key,
        query_result_key: g.query_result_key.as_deref(),
    })
    .map_err(Box::new)?;
    let req = AssumeRole {
        role_arn: s.role_arn.clone(),
        session_name: session_name(&g.bot_id),
        policy: Some(policy),
        duration: s.duration,
    };
    let sts = sts(h, s)?;
    sts.assume_role(&req).await.map_err(|source| CredsError::Sts { bot: g.bot_id.clone(), source: Box::new(source) })
}

/// Writes `data` to `path` atomically (`the0_objstore::atomic`): a temp file in `tmp_dir` (same
/// file system, outside the directory the container sees), 0644, synced, then renamed over `path`.
fn write_atomic(tmp_dir: &Path, path: &Path, data: &[u8]) -> Result<(), CredsError> {
    the0_objstore::atomic::write_file_via(tmp_dir, path, data, 0o644).map_err(io(path))
}

/// `<dir>/<bot>/<container>.json`: the record beside the mounted directory.
fn record_path(s: &Scoped, bot_id: &str, container: &str) -> PathBuf {
    s.dir.join(bot_id).join(format!("{container}.json"))
}

/// Obtains keys for `g` and writes them (then the record) for its container. The directory is
/// created 0755 so that the container's user can enter it.
async fn write_grant(h: &HostSettings, s: &Scoped, g: &mut Grant) -> Result<(), CredsError> {
    use std::os::unix::fs::PermissionsExt;
    let creds = obtain(h, s, g).await?;
    let dir = credentials_dir(s, &g.bot_id, &g.container);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    for d in [&s.dir, &s.dir.join(&g.bot_id), &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).map_err(io(d))?;
    }
    let parent = s.dir.join(&g.bot_id);
    write_atomic(&parent, &dir.join(FILE), creds.to_json().as_bytes())?;
    let now = SystemTime::now();
    g.issued_unix = unix(now);
    g.expires_unix = creds.expiration.map_or(unix(now + s.duration), unix);
    let record = serde_json::to_vec(g)
        .map_err(|source| CredsError::Record { path: record_path(s, &g.bot_id, &g.container), source })?;
    write_atomic(&parent, &record_path(s, &g.bot_id, &g.container), &record)
}

/// Issues the credentials of a container about to be created (no-op without
/// `--scoped-credentials`). An error is a failed start, with this reason.
pub async fn issue(
    h: &HostSettings,
    bot_id: &str,
    code_key: &str,
    container: &str,
    query_result_key: Option<&str>,
) -> Result<(), CredsError> {
    let Some(s) = &h.scoped else { return Ok(()) };
    let mut g = Grant {
        bot_id: bot_id.to_string(),
        container: container.to_string(),
        code_key: code_key.to_string(),
        query_result_key: query_result_key.map(str::to_string),
        issued_unix: 0,
        expires_unix: 0,
    };
    write_grant(h, s, &mut g).await
}

/// Issues `g`'s keys again (renewal).
pub async fn reissue(h: &HostSettings, g: &mut Grant) -> Result<(), CredsError> {
    let Some(s) = &h.scoped else { return Ok(()) };
    write_grant(h, s, g).await
}

/// Removes a container's credentials directory and record (no-op when absent or not scoped).
pub fn forget(h: &HostSettings, bot_id: &str, container: &str) {
    let Some(s) = &h.scoped else { return };
    let _ = std::fs::remove_dir_all(credentials_dir(s, bot_id, container));
    let _ = std::fs::remove_file(record_path(s, bot_id, container));
    // The bot's directory goes once it holds nothing (fails harmlessly otherwise).
    let _ = std::fs::remove_dir(s.dir.join(bot_id));
}

/// Every record under the credentials directory; unreadable ones are skipped with a warning.
pub fn grants(s: &Scoped) -> Vec<Grant> {
    let mut out = Vec::new();
    let Ok(bots) = std::fs::read_dir(&s.dir) else { return out };
    for bot in bots.flatten() {
        let Ok(entries) = std::fs::read_dir(bot.path()) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match read_grant(&path) {
                Ok(g) => out.push(g),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "unreadable scoped-credentials record"),
            }
        }
    }
    out
}

/// One `<container>.json` record.
fn read_grant(path: &Path) -> Result<Grant, CredsError> {
    let b = std::fs::read(path).map_err(|source| CredsError::ReadRecord { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&b).map_err(|source| CredsError::Record { path: path.to_path_buf(), source })
}

/// How long keys of `duration` may live before renewal: half of it.
pub fn renew_after(duration: Duration) -> Duration {
    duration / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_sanitised_and_bounded() {
        assert_eq!(session_name("bot-1"), "the0-bot-1");
        assert_eq!(session_name("a b/c"), "the0-a-b-c");
        assert_eq!(session_name("x.y_z"), "the0-x.y_z");
        let long = session_name(&"b".repeat(200));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("the0-"));
        assert_eq!(session_name("é"), "the0--");
    }

    #[test]
    fn atomic_write_is_0644_and_replaces() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f.json");
        write_atomic(d.path(), &p, b"one").expect("write");
        let ino1 = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).expect("meta"));
        write_atomic(d.path(), &p, b"two").expect("write");
        let meta = std::fs::metadata(&p).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_ne!(std::os::unix::fs::MetadataExt::ino(&meta), ino1, "a rename, not an overwrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(d.path()).expect("ls").count(), 1, "no temp file left");
    }

    #[test]
    fn records_round_trip_and_forget_removes_them() {
        let d = tempfile::tempdir().expect("tempdir");
        let s = Scoped {
            dir: d.path().join("credentials"),
            role_arn: "arn:x".into(),
            duration: Duration::from_secs(900),
            region: "us-east-1".into(),
        };
        let g = Grant {
            bot_id: "b1".into(),
            container: "the0-bot-b1".into(),
            code_key: "b1/v1.zip".into(),
            query_result_key: None,
            issued_unix: 10,
            expires_unix: 910,
        };
        let dir = credentials_dir(&s, "b1", "the0-bot-b1");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(FILE), "{}").expect("write");
        std::fs::write(record_path(&s, "b1", "the0-bot-b1"), serde_json::to_vec(&g).expect("json")).expect("write");
        std::fs::write(s.dir.join("b1").join("junk.json"), "nope").expect("write");
        assert_eq!(grants(&s), vec![g]);
        let h = HostSettings { scoped: Some(s.clone()), ..Default::default() };
        forget(&h, "b1", "the0-bot-b1");
        assert!(!dir.exists() && !record_path(&s, "b1", "the0-bot-b1").exists());
        assert!(grants(&s).is_empty());
    }
}
