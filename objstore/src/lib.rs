//! Object storage for the0: one interface ([`Store`]) over two backends.
//!
//! * [`Store::S3`]: any S3-compatible server (MinIO, R2, AWS, moto) with SigV4 and path-style
//!   addressing, over hyper + rustls (ring). Bodies are streamed with known lengths; streams of
//!   unknown length go up as multipart uploads with bounded parts and are aborted on failure.
//!   Nothing ever buffers a whole object in memory (except log objects below 5 MiB, see `append`).
//! * [`Store::Local`]: a directory where object `bucket/key` is the file `<root>/bucket/key`,
//!   written atomically (temp file beside the target, then rename), for the embedded default and tests.
//!
//! Enum dispatch rather than a trait object: two backends, no boxing, async methods stay plain.
//!
//! # Layout
//!
//! `§` and `D<n>` references in this crate are to `docs/contract.md`.
//!
//! * `lib.rs`: the [`Store`] enum, settings and option types shared by both backends.
//! * `dispatch.rs`: the public operations of [`Store`], each delegating to its backend.
//! * [`local`]: the local-directory backend.
//! * `beneath.rs`: file access below the local root that never follows a link.
//! * [`atomic`]: the one atomic file write of the workspace (temp, fsync, rename, fsync dir).
//! * [`s3`]: the S3 backend (SigV4, streaming, multipart, append, compose, STS in `s3/`).
//! * `compose.rs`: a new version of an object from ranges of its current one plus new bytes.
//! * `names.rs`: bucket and key validation, the same for both backends.
//! * `error.rs`: [`Error`], naming the operation, bucket and key.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::AsyncRead;

pub mod atomic;
mod beneath;
mod compose;
mod error;
mod names;
pub use compose::Piece;
pub use error::{Error, Result};

/// Part size used by [`Store::put_stream`] unless told otherwise (S3's minimum is 5 MiB).
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Largest part [`Store::put_stream`] accepts (bounds memory: D6).
pub const MAX_PART_SIZE: usize = 16 * 1024 * 1024;
/// Smallest piece [`Store::compose`] accepts on S3, except the last (S3's minimum part size).
pub const S3_MIN_PIECE: u64 = 5 * 1024 * 1024;

/// Connection settings of an S3-compatible server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `host:port`, no scheme.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// HTTPS when true.
    pub use_ssl: bool,
    /// SigV4 region (`us-east-1` unless configured).
    pub region: String,
}

/// Where a [`Store`] keeps its objects: the one storage-settings type of the workspace, opened
/// with [`Store::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// An S3-compatible server. With `credentials_file` (scoped credentials) the keys come from
    /// that file, re-read when it changes, and the keys in `s3` are empty.
    S3 { s3: S3Settings, credentials_file: Option<PathBuf> },
    /// A directory: object `bucket/key` is the file `<root>/bucket/key`.
    Local { root: PathBuf },
}

/// What HEAD tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    /// Opaque version tag (S3 ETag; local: size, mtime and inode).
    pub etag: String,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: SystemTime,
}

/// A write that has not completed: an S3 multipart upload in progress or abandoned, or locally
/// a temp file (a write in progress, or left by a process that died mid-write). Listed by
/// [`Store::uploads`], removed by [`Store::abort_upload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// S3: the key being written. Local: the temp file's own key (beside its target).
    pub key: String,
    /// S3: the upload id. Local: empty.
    pub upload_id: String,
    /// When it started (S3: `Initiated`; local: the temp file's last modification).
    pub initiated: SystemTime,
}

/// A streaming GET.
pub struct GetObject {
    pub meta: ObjectMeta,
    pub body: Pin<Box<dyn AsyncRead + Send>>,
}

/// What the object must be for a write to take place (a conditional write). A write whose
/// condition does not hold fails with [`Error::Changed`] and leaves the object as it is.
///
/// S3: `If-None-Match: *` / `If-Match: <ETag>` on the PutObject, or on the
/// CompleteMultipartUpload of a multipart upload. A server that ignores the header writes anyway:
/// which servers honour which is measured in `docs/security/storage.md` ("Conditional writes").
/// Local: checked under an exclusive `flock` of the object's directory, held across the check
/// and the rename, so conditional writers in several processes cannot interleave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Precondition {
    /// Write whatever is there.
    #[default]
    None,
    /// Only if there is no object (`If-None-Match: *`).
    Absent,
    /// Only if the object's current ETag is this one (`If-Match`); quotes do not matter.
    Etag(String),
}

impl Precondition {
    /// The ETag without surrounding quotes or blanks (servers quote some answers, not others).
    pub(crate) fn bare(etag: &str) -> &str {
        etag.trim().trim_matches('"')
    }

    /// Whether the condition holds for an object whose current ETag is `current` (`None`: absent).
    pub fn holds(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (Precondition::None, _) => true,
            (Precondition::Absent, current) => current.is_none(),
            (Precondition::Etag(want), Some(now)) => {
                !Self::bare(want).is_empty() && Self::bare(want) == Self::bare(now)
            }
            (Precondition::Etag(_), None) => false,
        }
    }
}

/// Options of [`Store::put_stream`].
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Bytes per multipart part, clamped to 5 MiB..=[`MAX_PART_SIZE`].
    pub part_size: usize,
    /// Bound on the whole upload. On expiry (or any error) a started multipart upload is aborted
    /// with a fresh 30 s budget, so no incomplete upload is left behind.
    pub deadline: Duration,
    /// Condition on the object's current version ([`Precondition::None`] by default).
    pub precondition: Precondition,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            part_size: DEFAULT_PART_SIZE,
            deadline: Duration::from_secs(180),
            precondition: Precondition::None,
        }
    }
}

pub mod local;
pub mod s3;

/// An object store: S3-compatible server or local directory.
pub enum Store {
    S3(s3::S3Store),
    Local(local::LocalStore),
}

mod dispatch;

#[cfg(test)]
mod tests {
    use super::Precondition;

    #[test]
    fn preconditions_hold_or_not() {
        let etag = |s: &str| Precondition::Etag(s.into());
        let table: &[(Precondition, Option<&str>, bool)] = &[
            (Precondition::None, None, true),
            (Precondition::None, Some("\"a\""), true),
            (Precondition::Absent, None, true),
            (Precondition::Absent, Some("\"a\""), false),
            (etag("\"a\""), Some("a"), true),
            (etag("a"), Some("\"a\""), true),
            (etag("a"), Some("b"), false),
            (etag("a"), None, false),
            (etag(""), Some(""), false),
            (etag("\"\""), Some("\"\""), false),
        ];
        for (pre, current, want) in table {
            assert_eq!(pre.holds(*current), *want, "{pre:?} on {current:?}");
        }
    }
}
