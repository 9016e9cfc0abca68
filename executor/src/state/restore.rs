//! Restoring `STATE_PATH` from `<state bucket>/<BOT_ID>/state.tar.gz` once per pod (docs/contract.md
//! §2.7 step 4, D4, D5).
//!
//! The archive is streamed (gunzip + untar) into a temp directory inside `STATE_PATH` (which may
//! be a mount point and so cannot be renamed itself); only a complete extract is moved into
//! place. Errors are retried; when every attempt failed the state is emptied and the
//! `state-restore-failed` marker blocks every syncer from touching the remote archive, so a
//! partial or empty tree can never overwrite the good copy.
//!
//! A restore also saves which members of the downloaded object hold which segments of the
//! restored tree ([`restored::layout`]), so the pod's first upload is already incremental, and
//! which version of the archive it read ([`Seen`]: its ETag, or "absent"), so every later state
//! write is conditional on it and a newer archive of another writer is never overwritten unseen.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use the0_contract::{keys, paths};
use the0_objstore::Store;

use super::archive::ArchiveError;
use super::extract::extract_tar_gz_mapped;
use super::fingerprint::Manifest;
use super::layout::Layout;
use super::seen::Seen;
use super::{pipe, restored, tree};
use crate::config::Config;
use crate::release::Expect;

/// Name of the temp directory inside `STATE_PATH` that a restore extracts into.
pub const RESTORE_TMP: &str = ".the0-restore-tmp";

/// Pauses between attempts; one attempt plus one more per delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub delays: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// D4: retry 3 times after 1, 2 and 4 seconds.
    fn default() -> Self {
        RetryPolicy { delays: vec![Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)] }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// The archive was extracted; the manifest of the restored tree seeds change detection.
    Restored(Manifest),
    /// No archive (no such key or bucket): the state starts empty.
    FirstRun,
    /// `state-restored` exists: this container restarted inside its pod (D5).
    Skipped,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("state download failed: {source}")]
    Download { bucket: String, key: String, source: Box<the0_objstore::Error> },
    #[error("extracting {bucket}/{key}: {source}")]
    Extract { bucket: String, key: String, source: ArchiveError },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("the state archive {bucket}/{key} is {got}, not {want}, the version the bot's previous container saved")]
    NotTheSaved { bucket: String, key: String, want: String, got: String },
    #[error("state restore task failed: {0}")]
    Task(String),
    #[error("state restore failed after {attempts} attempts: {last}")]
    Failed { attempts: usize, last: Box<RestoreError> },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RestoreError + 'a {
    move |source| RestoreError::Io { what, path: path.to_path_buf(), source }
}

/// [`restore_with`] the default retry policy.
pub async fn restore(store: &Store, cfg: &Config) -> Result<RestoreOutcome, RestoreError> {
    restore_with(store, cfg, &RetryPolicy::default()).await
}

/// Restores the state unless this pod already did; see the module docs.
pub async fn restore_with(store: &Store, cfg: &Config, policy: &RetryPolicy) -> Result<RestoreOutcome, RestoreError> {
    restore_inner(store, cfg, policy, true, &Expect::Any).await
}

/// How a released successor retries when storage does not show the expected version yet: short
/// pauses first (a read right after the old container's final upload), about 7 s in all.
pub fn expecting_policy() -> RetryPolicy {
    let ms = [100, 200, 400, 800, 1600, 2000, 2000];
    RetryPolicy { delays: ms.into_iter().map(Duration::from_millis).collect() }
}

/// The restore of a successor released by an update handover (`crate::release`): as
/// [`restore_with`], but only an archive `expect` accepts is installed; any other version (older,
/// or not visible yet) is an error of the attempt, retried with `policy`, and never extracted.
pub async fn restore_expecting(
    store: &Store,
    cfg: &Config,
    policy: &RetryPolicy,
    expect: &Expect,
) -> Result<RestoreOutcome, RestoreError> {
    restore_inner(store, cfg, policy, true, expect).await
}

/// The restore of a one-shot query, whose state is read-only: the same download, retries and
/// atomic install, but no marker is written either way (`state-restored` would let a later run in
/// this pod skip its restore and upload whatever the query left), no `bot.log` line and no
/// emptying of the state on failure: nothing of this mode may ever reach remote state.
pub async fn restore_read_only(store: &Store, cfg: &Config) -> Result<RestoreOutcome, RestoreError> {
    restore_inner(store, cfg, &RetryPolicy::default(), false, &Expect::Any).await
}

async fn restore_inner(
    store: &Store,
    cfg: &Config,
    policy: &RetryPolicy,
    mark: bool,
    expect: &Expect,
) -> Result<RestoreOutcome, RestoreError> {
    let run_dir = cfg.run_dir();
    if run_dir.join(paths::STATE_RESTORED).exists() {
        crate::info!(
            "state already restored in this pod; keeping the local state",
            state_path = cfg.state_path.display()
        );
        return Ok(RestoreOutcome::Skipped);
    }
    let mut attempts = 0;
    let last = loop {
        attempts += 1;
        match attempt(store, cfg, expect).await {
            Ok(found) => {
                if mark {
                    let (bucket, key) = (&cfg.buckets.state, keys::state_key(&cfg.bot_id));
                    match found.as_ref().map(|f| Seen::of_etag(&f.2)) {
                        None => Seen::Absent.save(&run_dir, bucket, &key),
                        Some(Some(seen)) => seen.save(&run_dir, bucket, &key),
                        Some(None) => {
                            crate::warn!(
                                "the state archive has no ETag; state writes will not be conditional",
                                key = key
                            );
                            Seen::forget(&run_dir);
                        }
                    }
                    mark_restored(cfg);
                    match found.as_ref().and_then(|(_, layout, _)| layout.as_ref()) {
                        Some(layout) => layout.save(&run_dir),
                        None => Layout::forget(&run_dir),
                    }
                }
                return Ok(match found {
                    Some((manifest, _, _)) => {
                        crate::info!(
                            "state restored",
                            files = manifest.file_count(),
                            bytes = manifest.total_file_size()
                        );
                        RestoreOutcome::Restored(manifest)
                    }
                    None => {
                        crate::info!("no state archive; first run", bot_id = cfg.bot_id);
                        RestoreOutcome::FirstRun
                    }
                });
            }
            Err(e) => match policy.delays.get(attempts - 1) {
                Some(delay) => {
                    crate::warn!(
                        "state restore failed; retrying",
                        attempt = attempts,
                        retry_in = format!("{delay:?}"),
                        error = e
                    );
                    tokio::time::sleep(*delay).await;
                }
                None => break e,
            },
        }
    };
    if !mark {
        crate::error!("state restore failed", attempts = attempts, error = last);
        return Err(RestoreError::Failed { attempts, last: Box::new(last) });
    }
    Err(give_up(cfg, attempts, last))
}

/// What one successful attempt installed: the restored tree's manifest, the archive's layout if
/// any member of it can be reused, and the archive's ETag.
type Installed = (Manifest, Option<Layout>, String);

/// One attempt: `Some` when an archive was installed, `None` when there is none.
async fn attempt(store: &Store, cfg: &Config, expect: &Expect) -> Result<Option<Installed>, RestoreError> {
    let state = cfg.state_path.clone();
    tree::mkdir_all(&state, 0o755).map_err(io_err("creating", &state))?;
    let tmp = state.join(RESTORE_TMP);
    tree::remove_any(&tmp).map_err(io_err("removing", &tmp))?;
    let (bucket, key) = (cfg.buckets.state.clone(), keys::state_key(&cfg.bot_id));
    let Some(obj) = store.get(&bucket, &key).await.map_err(|source| RestoreError::Download {
        bucket: bucket.clone(),
        key: key.clone(),
        source: Box::new(source),
    })?
    else {
        if !expect.accepts(None) {
            return Err(not_the_saved(bucket, key, expect, "absent"));
        }
        return Ok(None);
    };
    if !expect.accepts(Some(&obj.meta.etag)) {
        return Err(not_the_saved(bucket, key, expect, &obj.meta.etag));
    }
    let reader = pipe::async_to_sync(obj.body);
    let (limits, meta) = (cfg.limits, obj.meta);
    let job = tokio::task::spawn_blocking(move || -> Result<Installed, RestoreError> {
        let map = match extract_tar_gz_mapped(reader, &tmp, &limits) {
            Ok((_, map)) => map,
            Err(source) => {
                let _ = tree::remove_any(&tmp);
                return Err(RestoreError::Extract { bucket, key, source });
            }
        };
        install(&tmp, &state)?;
        let manifest = Manifest::scan(&state).map_err(io_err("scanning", &state))?;
        let layout = map.and_then(|m| restored::layout(&m, &manifest, &bucket, &key, &meta.etag, meta.size));
        Ok((manifest, layout, meta.etag))
    });
    job.await.map_err(|e| RestoreError::Task(e.to_string()))?.map(Some)
}

fn not_the_saved(bucket: String, key: String, expect: &Expect, got: &str) -> RestoreError {
    let want = match expect {
        Expect::Any => "any version".to_string(),
        Expect::Etag(e) => format!("ETag {e}"),
    };
    let got = if got == "absent" { "absent".to_string() } else { format!("ETag {got}") };
    RestoreError::NotTheSaved { bucket, key, want, got }
}

/// Moves each top-level entry of `tmp` over the same name in `state`, then removes `tmp`.
/// Local entries that the archive does not have are left alone.
fn install(tmp: &Path, state: &Path) -> Result<(), RestoreError> {
    let rd = std::fs::read_dir(tmp).map_err(io_err("reading", tmp))?;
    for de in rd {
        let de = de.map_err(io_err("reading", tmp))?;
        if de.file_name() == RESTORE_TMP {
            // Replacing it would delete the tree being installed.
            crate::warn!("restored state holds an entry named like the restore temp dir; dropped", name = RESTORE_TMP);
            continue;
        }
        let target = state.join(de.file_name());
        tree::remove_any(&target).map_err(io_err("replacing", &target))?;
        std::fs::rename(de.path(), &target).map_err(io_err("moving restored state to", &target))?;
    }
    tree::remove_any(tmp).map_err(io_err("removing", tmp))
}

/// Records success (D5) and lifts an earlier failure marker: the local tree is now the remote one.
fn mark_restored(cfg: &Config) {
    let run_dir = cfg.run_dir();
    let _ = tree::remove_any(&run_dir.join(paths::STATE_RESTORE_FAILED));
    let marker = run_dir.join(paths::STATE_RESTORED);
    let res = tree::mkdir_all(&run_dir, 0o755).and_then(|()| the0_objstore::atomic::write_file(&marker, b"", 0o644));
    if let Err(e) = res {
        crate::warn!("could not create the state-restored marker", path = marker.display(), error = e);
    }
}

/// D4: empty the state, block syncers with the failure marker, tell the user in `bot.log`.
fn give_up(cfg: &Config, attempts: usize, last: RestoreError) -> RestoreError {
    crate::error!("state restore failed; the bot will not start", attempts = attempts, error = last);
    if let Err(e) = tree::empty_dir(&cfg.state_path, &[]) {
        crate::error!("could not empty the state directory", path = cfg.state_path.display(), error = e);
    }
    let run_dir = cfg.run_dir();
    let marker = run_dir.join(paths::STATE_RESTORE_FAILED);
    let res = tree::mkdir_all(&run_dir, 0o755)
        .and_then(|()| the0_objstore::atomic::write_file(&marker, last.to_string().as_bytes(), 0o644));
    if let Err(e) = res {
        crate::error!("could not create the state-restore-failed marker", path = marker.display(), error = e);
    }
    let line = serde_json::json!({
        "level": "error",
        "message": format!("State restore failed: {last}"),
        "timestamp": the0_contract::timefmt::rfc3339_seconds(SystemTime::now()),
    });
    let res = crate::logs::botlog::BotLog::open(&cfg.bot_log_path())
        .and_then(|log| log.append(format!("{line}\n").as_bytes()));
    if let Err(e) = res {
        crate::error!("could not write to bot.log", path = cfg.bot_log_path().display(), error = e);
    }
    RestoreError::Failed { attempts, last: Box::new(last) }
}
