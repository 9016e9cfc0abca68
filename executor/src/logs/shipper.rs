//! Ships new `bot.log` bytes to the daily log object and to NATS (docs/contract.md §2.8 "Logs", D9, D10).
//!
//! One [`LogShipper::sync`] reads from the shipped offset up to the size seen at its start (at most
//! [`MAX_READ_PER_SYNC`]), cuts the bytes into chunks ([`super::chunk`]), publishes chunks to NATS
//! the first time they are read, converts them to NDJSON and makes ONE append to
//! `logs/<id>/<YYYYMMDD>.log`. Only a successful append advances (and persists) the offset, so a
//! failed sync is retried whole by the next one: nothing lost, nothing duplicated. In-process, a
//! fully shipped `bot.log` above 64 MiB is truncated to keep the tmpfs small.
//!
//! Memory is bounded by the input cap and by [`MAX_BODY_PER_SYNC`] of NDJSON; when either cuts a
//! sync short, [`LogSyncOutcome::more`] tells the engine to sync again soon.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use the0_contract::{keys, timefmt};
use the0_objstore::Store;

use super::botlog::BotLog;
use super::chunk::{self, SplitInput, TailClock};
use super::ndjson::to_ndjson;
use super::offset::{self, OffsetFile};
use crate::config::Config;
use crate::nats::Publisher;

/// Bound on the bucket check and on the append of one sync.
pub const APPEND_TIMEOUT: Duration = Duration::from_secs(120);
/// Most `bot.log` bytes one sync reads (bounds memory); the rest goes in the next sync.
pub const MAX_READ_PER_SYNC: u64 = 32 * 1024 * 1024;
/// NDJSON bytes one sync appends at most: short plain lines grow ~25x when wrapped, so the input
/// cap alone would not bound memory.
pub const MAX_BODY_PER_SYNC: usize = 48 * 1024 * 1024;
/// In-process `bot.log` is truncated once fully shipped and larger than this (D9).
pub const TRUNCATE_ABOVE: u64 = 64 * 1024 * 1024;

const CONTENT_TYPE: &str = "text/plain";

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSyncOutcome {
    /// `bot.log` bytes shipped (the offset advanced by this much).
    pub shipped_bytes: u64,
    /// NDJSON bytes appended to the log object.
    pub appended_bytes: u64,
    /// Chunks read (each published to NATS once and converted with its own timestamp).
    pub chunks: usize,
    /// The object appended to, if any.
    pub key: Option<String>,
    /// Bytes of a trailing partial line held back for a later sync (D9).
    pub held_bytes: u64,
    /// More was pending than one sync takes ([`MAX_READ_PER_SYNC`] of input,
    /// [`MAX_BODY_PER_SYNC`] of output): the rest needs another sync.
    pub more: bool,
    /// `bot.log` was truncated after this sync shipped all of it.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LogSyncError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("ensuring logs bucket {bucket}: {source}")]
    Bucket {
        bucket: String,
        #[source]
        source: the0_objstore::Error,
    },
    #[error("appending logs to {bucket}/{key}: {source}")]
    Append {
        bucket: String,
        key: String,
        #[source]
        source: the0_objstore::Error,
    },
    #[error("{op} {bucket}/{key} timed out after {after:?}")]
    Timeout { op: &'static str, bucket: String, key: String, after: Duration },
}

/// Ships one bot's `bot.log`; owned by the sync engine, which calls [`LogShipper::sync`] under
/// its lock.
#[derive(Debug)]
pub struct LogShipper {
    bot_id: String,
    bucket: String,
    log_path: PathBuf,
    offset_file: OffsetFile,
    /// Bytes of `bot.log` shipped to the store.
    offset: u64,
    /// Bytes of `bot.log` published to NATS (≥ `offset`; publish once, on read: D10).
    published: u64,
    /// The trailing partial line last seen, so its hold time counts across syncs.
    tail: Option<TailClock>,
    bucket_ready: bool,
    botlog: Option<Arc<BotLog>>,
    nats: Option<Publisher>,
    subject: String,
}

fn read_range(path: &Path, from: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

impl LogShipper {
    /// A shipper for `cfg.bot_log_path()`, resuming at the offset persisted in the run dir.
    /// `botlog` (in-process mode) enables truncation; `nats` enables publishing.
    pub fn new(cfg: &Config, botlog: Option<Arc<BotLog>>, nats: Option<Publisher>) -> LogShipper {
        let offset_file = OffsetFile::in_run_dir(&cfg.run_dir());
        let offset = offset_file.load();
        LogShipper {
            bot_id: cfg.bot_id.clone(),
            bucket: cfg.buckets.logs.clone(),
            log_path: cfg.bot_log_path(),
            offset_file,
            offset,
            published: offset,
            tail: None,
            bucket_ready: false,
            botlog,
            nats,
            subject: keys::log_subject(&cfg.bot_id),
        }
    }

    /// Bytes of `bot.log` shipped so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The NATS publisher, e.g. to clone it for the drain at exit.
    pub fn nats(&self) -> Option<&Publisher> {
        self.nats.as_ref()
    }

    fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
        if let Err(e) = self.offset_file.store(offset) {
            // The offset stays right in memory; only a restart would re-ship.
            crate::warn!("could not persist the log offset", error = e);
        }
    }

    fn restart_from_zero(&mut self) {
        self.published = 0;
        self.tail = None;
        self.set_offset(0);
    }

    /// Ships what `bot.log` gained since the last successful sync. `final_sync` ships a trailing
    /// partial line too. On error nothing advanced; the next sync retries the same bytes.
    pub async fn sync(&mut self, store: &Store, final_sync: bool) -> Result<LogSyncOutcome, LogSyncError> {
        let read_err = |path: &Path, source| LogSyncError::Read { path: path.to_path_buf(), source };
        let size = match tokio::fs::metadata(&self.log_path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LogSyncOutcome::default()),
            Err(e) => return Err(read_err(&self.log_path, e)),
        };
        if offset::resume_at(self.offset, size) != self.offset {
            crate::info!(
                "bot.log is shorter than the shipped offset; shipping it from the start",
                size = size,
                offset = self.offset
            );
            self.restart_from_zero();
        }
        let base = self.offset;
        let want = (size - base).min(MAX_READ_PER_SYNC);
        if want == 0 {
            return Ok(LogSyncOutcome::default());
        }
        let path = self.log_path.clone();
        let data = match tokio::task::spawn_blocking(move || read_range(&path, base, want)).await {
            Ok(Ok(data)) => data,
            Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(LogSyncOutcome::default()),
            Ok(Err(e)) => return Err(read_err(&self.log_path, e)),
            Err(join) => return Err(read_err(&self.log_path, io::Error::other(join))),
        };
        let at_eof = base + data.len() as u64 >= size;
        let split =
            chunk::split(SplitInput { data: &data, base, at_eof, final_sync, tail: self.tail, now: Instant::now() });
        self.tail = split.tail;
        let (body, chunks, taken) = self.publish_and_convert(base, &split.chunks);
        let mut outcome = LogSyncOutcome {
            chunks,
            held_bytes: if at_eof && taken == split.consumed { (data.len() - taken) as u64 } else { 0 },
            more: !at_eof || taken < split.consumed,
            ..LogSyncOutcome::default()
        };
        if taken == 0 {
            return Ok(outcome);
        }
        if !body.is_empty() {
            let key = keys::log_key(&self.bot_id, &timefmt::yyyymmdd(SystemTime::now()));
            self.ensure_bucket(store).await?;
            outcome.appended_bytes = body.len() as u64;
            let append = store.append(&self.bucket, &key, Bytes::from(body), CONTENT_TYPE);
            match tokio::time::timeout(APPEND_TIMEOUT, append).await {
                Ok(Ok(())) => {
                    crate::storage::note_part_copy_refused(store);
                }
                Ok(Err(source)) => return Err(LogSyncError::Append { bucket: self.bucket.clone(), key, source }),
                Err(_) => {
                    return Err(LogSyncError::Timeout {
                        op: "AppendObject",
                        bucket: self.bucket.clone(),
                        key,
                        after: APPEND_TIMEOUT,
                    })
                }
            }
            outcome.key = Some(key);
        }
        outcome.shipped_bytes = taken as u64;
        self.set_offset(base + taken as u64);
        if let Some(botlog) = &self.botlog {
            match botlog.truncate_if_shipped(self.offset, TRUNCATE_ABOVE) {
                Ok(true) => {
                    crate::info!("bot.log fully shipped; truncated", size = self.offset);
                    outcome.truncated = true;
                    self.restart_from_zero();
                }
                Ok(false) => {}
                Err(e) => crate::warn!("could not truncate bot.log", error = e),
            }
        }
        Ok(outcome)
    }

    /// Publishes each chunk's unpublished bytes (D10: once, on read, even if the append fails and
    /// is retried) and converts chunks to NDJSON, each with its own `now`, stopping before the body
    /// would pass [`MAX_BODY_PER_SYNC`]. Returns the body, the chunks taken and the input bytes
    /// they cover.
    fn publish_and_convert(&mut self, base: u64, chunks: &[&[u8]]) -> (Vec<u8>, usize, usize) {
        let mut body = Vec::new();
        let mut taken = 0usize;
        let mut count = 0;
        for c in chunks {
            let piece = to_ndjson(c, &timefmt::rfc3339_seconds(SystemTime::now()));
            if !body.is_empty() && body.len() + piece.len() > MAX_BODY_PER_SYNC {
                break;
            }
            let (start, end) = (base + taken as u64, base + (taken + c.len()) as u64);
            if let Some(nats) = &self.nats {
                if end > self.published {
                    let skip = usize::try_from(self.published.saturating_sub(start)).unwrap_or(0);
                    nats.publish(&self.subject, Bytes::copy_from_slice(&c[skip.min(c.len())..]));
                }
            }
            self.published = self.published.max(end);
            body.extend_from_slice(&piece);
            taken += c.len();
            count += 1;
        }
        (body, count, taken)
    }

    async fn ensure_bucket(&mut self, store: &Store) -> Result<(), LogSyncError> {
        if self.bucket_ready {
            return Ok(());
        }
        let bucket = self.bucket.clone();
        match tokio::time::timeout(APPEND_TIMEOUT, store.ensure_bucket(&bucket)).await {
            Ok(Ok(())) => {
                self.bucket_ready = true;
                Ok(())
            }
            Ok(Err(source)) => Err(LogSyncError::Bucket { bucket, source }),
            Err(_) => {
                Err(LogSyncError::Timeout { op: "CreateBucket", bucket, key: String::new(), after: APPEND_TIMEOUT })
            }
        }
    }
}
