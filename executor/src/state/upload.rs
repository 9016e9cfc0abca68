//! Uploading `STATE_PATH` when it changed (docs/contract.md §2.8 "State upload", D4, D6, D7, D8).
//!
//! One [`StateSyncer`] lives as long as the sync engine. Each [`StateSyncer::sync`] scans the
//! tree, compares the fingerprint with the last one that reached storage, and uploads only when
//! something changed: incrementally ([`super::incremental`]) when the remote archive is still the
//! one it last wrote, else by streaming the whole archive, written on a blocking thread into a
//! bounded pipe that the object store reads from, so neither memory nor disk ever holds it whole.
//!
//! Every write (full, incremental, or the delete of an emptied state) is conditional on the
//! version of the remote archive this pod last read or wrote ([`Seen`]): a HEAD first, then the
//! write itself carries `If-Match` / `If-None-Match: *` (honoured or not depending on the server,
//! see `docs/security/storage.md`). When the remote archive is not that version, another writer
//! (a second container of this bot?) replaced it: nothing is written, the error is logged (and
//! appended to `bot.log`), and this syncer uploads nothing more for the rest of its life
//! ([`StateSyncOutcome::NotSaved`]); the executor's exit reason says so
//! ([`StateSyncer::not_saved`]). The local state stays as it is.

use std::path::PathBuf;
use std::time::Duration;

use the0_contract::{keys, paths};
use the0_objstore::{Error as StoreError, Store, StreamOptions};

use super::archive::{write_tar_gz, ArchiveError};
use super::fingerprint::Manifest;
use super::incremental::{self, Incremental};
use super::layout::Layout;
use super::seen::Seen;
use super::{pipe, segment};
use crate::config::{Config, Limits};

/// Bound on one state upload (docs/contract.md §2.8).
pub const UPLOAD_DEADLINE: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSyncOutcome {
    /// `state-restore-failed` exists: remote state must not be touched (D4).
    Blocked,
    /// No files now and none since this process started (or since the last delete).
    Empty,
    /// Same fingerprint as the last upload (or the restored tree).
    Unchanged,
    /// Over a cap; nothing was uploaded (the bot keeps running).
    Refused { reason: String },
    /// A new archive of `bytes` is in place; `sent` of them were uploaded (fewer when unchanged
    /// segments were copied server-side from the previous archive).
    Uploaded { bytes: u64, sent: u64, files: usize },
    /// The state became empty after having files: the remote archive was deleted (D8).
    Deleted,
    /// Another writer replaced the remote archive since this pod read it: this syncer writes
    /// nothing more (sticky); `reason` says so.
    NotSaved { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum StateSyncError {
    #[error("scanning {path}: {source}")]
    Scan { path: PathBuf, source: std::io::Error },
    #[error("creating the state bucket failed: {source}")]
    Bucket { bucket: String, source: Box<the0_objstore::Error> },
    #[error("archiving {path}: {source}")]
    Archive { path: PathBuf, source: ArchiveError },
    #[error("state upload failed: {source}")]
    Upload { bucket: String, key: String, source: Box<the0_objstore::Error> },
    #[error("deleting the state archive failed: {source}")]
    Delete { bucket: String, key: String, source: Box<the0_objstore::Error> },
    #[error("state sync task failed: {0}")]
    Task(String),
}

/// Change detection and upload of one bot's state.
#[derive(Debug)]
pub struct StateSyncer {
    state_path: PathBuf,
    run_dir: PathBuf,
    failed_marker: PathBuf,
    bucket: String,
    key: String,
    limits: Limits,
    /// The fingerprint that storage holds (last upload, or the restored tree).
    last: Option<Manifest>,
    /// Whether the remote archive may hold files, so an emptied tree must delete it (D8).
    had_files: bool,
    bucket_ready: bool,
    /// The last refused fingerprint, so an unchanged over-cap tree is not re-logged each trigger.
    refused: Option<Manifest>,
    /// Where the segments of the archive this executor last uploaded lie in it.
    layout: Option<Layout>,
    /// The remote archive's version as this pod last read or wrote it; `None`: unknown (no
    /// record from the restore), then writes are unconditional.
    seen: Option<Seen>,
    /// Set once another writer's archive was found in place of ours: nothing more is written.
    not_saved: Option<String>,
    /// Why the last incremental attempt fell back to a full upload, so that a reason that holds
    /// at every sync (a one-file state that changes each tick) is logged once, not once a
    /// second into the bot's own logs; cleared by an incremental upload.
    fallback: Option<&'static str>,
    bot_log: PathBuf,
}

impl StateSyncer {
    /// `seed` is the manifest returned by a restore ([`super::RestoreOutcome::Restored`]).
    pub fn new(cfg: &Config, seed: Option<Manifest>) -> StateSyncer {
        let (run_dir, bucket, key) = (cfg.run_dir(), cfg.buckets.state.clone(), keys::state_key(&cfg.bot_id));
        let seen = Seen::load(&run_dir, &bucket, &key);
        if seen.is_none() {
            crate::warn!(
                "the version of the remote state archive this pod read is unknown; state writes are not conditional",
                key = key
            );
        }
        StateSyncer {
            state_path: cfg.state_path.clone(),
            failed_marker: run_dir.join(paths::STATE_RESTORE_FAILED),
            layout: Layout::load(&run_dir, &bucket, &key),
            run_dir,
            bucket,
            key,
            limits: cfg.limits,
            had_files: seed.as_ref().is_some_and(Manifest::has_files),
            last: seed,
            bucket_ready: false,
            refused: None,
            seen,
            not_saved: None,
            fallback: None,
            bot_log: cfg.bot_log_path(),
        }
    }

    /// Why this syncer stopped writing state, if it did (for the executor's exit reason).
    pub fn not_saved(&self) -> Option<&str> {
        self.not_saved.as_deref()
    }

    /// Records the new remote version after a write of ours.
    fn saw(&mut self, seen: Option<Seen>) {
        match &seen {
            Some(s) => s.save(&self.run_dir, &self.bucket, &self.key),
            None => Seen::forget(&self.run_dir),
        }
        self.seen = seen;
    }

    /// Checks, with a HEAD, that the remote archive is still the version this pod saw; `Ok(None)`
    /// when it is (or the version is unknown), else the reason to stop writing.
    async fn check_remote(&self, store: &Store) -> Result<Option<String>, StateSyncError> {
        let Some(seen) = &self.seen else { return Ok(None) };
        let current = store.head(&self.bucket, &self.key).await.map_err(|source| StateSyncError::Upload {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            source: Box::new(source),
        })?;
        let etag = current.as_ref().map(|m| m.etag.as_str());
        if seen.matches(etag) {
            return Ok(None);
        }
        let found = current.map_or_else(|| "no archive".to_owned(), |m| format!("ETag {}", m.etag));
        Ok(Some(format!("expected {}, found {found}", seen.describe())))
    }

    /// Another writer's archive is in place of ours: stop writing for good, say so loudly.
    fn conflict(&mut self, detail: &str) -> StateSyncOutcome {
        let reason = format!(
            "state not saved: another writer (a second container of this bot?) changed {}/{} since this \
             container read it; this container's state is not uploaded (kept locally in {})",
            self.bucket,
            self.key,
            self.state_path.display()
        );
        crate::error!("state upload refused", key = self.key, reason = reason, detail = detail);
        let line = serde_json::json!({
            "level": "error",
            "message": reason,
            "timestamp": the0_contract::timefmt::rfc3339_seconds(std::time::SystemTime::now()),
        });
        let res =
            crate::logs::botlog::BotLog::open(&self.bot_log).and_then(|log| log.append(format!("{line}\n").as_bytes()));
        if let Err(e) = res {
            crate::warn!("could not write to bot.log", path = self.bot_log.display(), error = e);
        }
        self.not_saved = Some(reason.clone());
        StateSyncOutcome::NotSaved { reason }
    }

    /// One sync of the state; see the module docs.
    pub async fn sync(&mut self, store: &Store) -> Result<StateSyncOutcome, StateSyncError> {
        if self.failed_marker.exists() {
            return Ok(StateSyncOutcome::Blocked);
        }
        if let Some(reason) = &self.not_saved {
            return Ok(StateSyncOutcome::NotSaved { reason: reason.clone() });
        }
        let root = self.state_path.clone();
        let manifest = tokio::task::spawn_blocking(move || Manifest::scan(&root))
            .await
            .map_err(|e| StateSyncError::Task(e.to_string()))?
            .map_err(|source| StateSyncError::Scan { path: self.state_path.clone(), source })?;

        if !manifest.has_files() {
            if !self.had_files {
                return Ok(StateSyncOutcome::Empty);
            }
            // S3 has no conditional delete to rely on: the HEAD is the check (a write racing it
            // is not seen).
            if let Some(detail) = self.check_remote(store).await? {
                return Ok(self.conflict(&detail));
            }
            store.delete(&self.bucket, &self.key).await.map_err(|source| StateSyncError::Delete {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                source: Box::new(source),
            })?;
            crate::info!("state is empty; deleted the remote state archive", key = self.key);
            Layout::forget(&self.run_dir);
            self.layout = None;
            self.saw(Some(Seen::Absent));
            self.had_files = false;
            self.last = Some(manifest);
            return Ok(StateSyncOutcome::Deleted);
        }
        if self.last.as_ref() == Some(&manifest) {
            return Ok(StateSyncOutcome::Unchanged);
        }
        if let Some(reason) = self.over_cap(&manifest) {
            if self.refused.as_ref() != Some(&manifest) {
                crate::error!("state upload refused; the stored state stays the previous one", reason = reason);
                self.refused = Some(manifest);
            }
            return Ok(StateSyncOutcome::Refused { reason });
        }
        self.refused = None;

        if !self.bucket_ready {
            store
                .ensure_bucket(&self.bucket)
                .await
                .map_err(|source| StateSyncError::Bucket { bucket: self.bucket.clone(), source: Box::new(source) })?;
            self.bucket_ready = true;
        }
        let (layout, sent) = match self.upload(store, &manifest).await {
            Ok(done) => done,
            Err(Changed(detail)) => return Ok(self.conflict(&detail)),
            Err(Failed(e)) => return Err(e),
        };
        self.saw(Seen::of_etag(&layout.etag));
        let (files, bytes) = (manifest.file_count(), layout.size);
        crate::debug!("state uploaded", key = self.key, bytes = bytes, sent = sent, files = files);
        self.save_layout(layout);
        self.had_files = true;
        self.last = Some(manifest);
        Ok(StateSyncOutcome::Uploaded { bytes, sent, files })
    }

    fn save_layout(&mut self, layout: Layout) {
        if layout.etag.is_empty() {
            // Without an ETag the object cannot be recognised later: next time, a full upload.
            if self.layout.is_some() || !self.had_files {
                crate::warn!(
                    "the store returned no ETag for the state archive; the next upload will be a full one",
                    key = self.key
                );
            }
            Layout::forget(&self.run_dir);
            self.layout = None;
            return;
        }
        layout.save(&self.run_dir);
        self.layout = Some(layout);
    }

    /// Uploads the archive of `manifest`, incrementally if possible; returns the new object's
    /// layout and the bytes sent. The incremental way is taken only from the version this pod
    /// saw (its compose is conditional on its source); the full way checks that version with a
    /// HEAD, then uploads under its precondition.
    async fn upload(&mut self, store: &Store, manifest: &Manifest) -> Result<(Layout, u64), Refusal> {
        let prev = self.layout.as_ref().filter(|l| self.seen.as_ref().is_none_or(|s| s.matches(Some(l.etag.as_str()))));
        if let Some(prev) = prev {
            let r = incremental::upload(store, &self.state_path, manifest, prev, UPLOAD_DEADLINE).await;
            match r.map_err(Refusal::from)? {
                Incremental::Done { layout, fresh } => {
                    self.fallback = None;
                    return Ok((layout, fresh));
                }
                Incremental::Full { why } if why == super::incremental::COPY_REFUSED => {}
                Incremental::Full { why } if self.fallback == Some(why) => {}
                Incremental::Full { why } => {
                    crate::info!("incremental state upload not possible; uploading the whole archive", reason = why);
                    self.fallback = Some(why);
                }
            }
        }
        if let Some(detail) = self.check_remote(store).await? {
            return Err(Changed(detail));
        }
        let layout = self.upload_full(store, manifest).await.map_err(Refusal::from)?;
        let sent = layout.size;
        Ok((layout, sent))
    }

    fn over_cap(&self, manifest: &Manifest) -> Option<String> {
        if let Some((path, size)) = manifest.largest_file().filter(|(_, s)| *s > self.limits.state_file) {
            return Some(format!(
                "state file {path} is {size} bytes, above the per-file limit of {} bytes",
                self.limits.state_file
            ));
        }
        let total = manifest.total_file_size();
        (total > self.limits.state_total)
            .then(|| format!("state holds {total} bytes, above the total limit of {} bytes", self.limits.state_total))
    }

    /// Streams the whole archive of `manifest` to storage; returns its layout.
    async fn upload_full(&self, store: &Store, manifest: &Manifest) -> Result<Layout, StateSyncError> {
        let (writer, reader) = pipe::pipe_writer();
        let closer = writer.closer();
        let (root, snapshot) = (self.state_path.clone(), manifest.clone());
        let job = tokio::task::spawn_blocking(move || {
            let res = write_tar_gz(&root, &snapshot, writer);
            match &res {
                Ok(_) => {
                    let _ = closer.finish();
                }
                Err(e) => closer.fail(format!("archive failed: {e}")),
            }
            res
        });
        let precondition = self.seen.as_ref().map(Seen::precondition).unwrap_or_default();
        let opts = StreamOptions { deadline: UPLOAD_DEADLINE, precondition, ..StreamOptions::default() };
        let put = store.put_stream(&self.bucket, &self.key, reader, "application/gzip", opts).await;
        let archived = job.await.map_err(|e| StateSyncError::Task(e.to_string()))?;
        match (put, archived) {
            (Ok(meta), Ok(written)) => {
                let entries = manifest.entries();
                let digests = segment::cut(entries).into_iter().map(|r| segment::digest(&entries[r]));
                Ok(Layout::new(&self.bucket, &self.key, meta.etag, meta.size, digests.zip(written.members)))
            }
            // The archive's own failure is the cause; a write error is only the upload going away.
            (_, Err(source)) if !matches!(source, ArchiveError::Write(_)) => {
                Err(StateSyncError::Archive { path: self.state_path.clone(), source })
            }
            (Err(source), _) => Err(StateSyncError::Upload {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                source: Box::new(source),
            }),
            (Ok(_), Err(source)) => Err(StateSyncError::Archive { path: self.state_path.clone(), source }),
        }
    }
}

/// Why an upload did not happen: the remote archive is not the version this pod saw (a store's
/// [`StoreError::Changed`], or a HEAD that shows another version), or any other failure.
enum Refusal {
    Changed(String),
    Failed(StateSyncError),
}
use Refusal::{Changed, Failed};

impl From<StateSyncError> for Refusal {
    fn from(e: StateSyncError) -> Refusal {
        match e {
            StateSyncError::Upload { source, .. } if matches!(*source, StoreError::Changed { .. }) => {
                Changed(source.to_string())
            }
            e => Failed(e),
        }
    }
}
