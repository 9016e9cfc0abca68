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

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::AsyncRead;

mod atomic;
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

/// What HEAD tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    /// Opaque version tag (S3 ETag; local: size + mtime).
    pub etag: String,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: SystemTime,
}

/// A streaming GET.
pub struct GetObject {
    pub meta: ObjectMeta,
    pub body: Pin<Box<dyn AsyncRead + Send>>,
}

/// Options of [`Store::put_stream`].
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Bytes per multipart part, clamped to 5 MiB..=[`MAX_PART_SIZE`].
    pub part_size: usize,
    /// Bound on the whole upload. On expiry (or any error) a started multipart upload is aborted
    /// with a fresh 30 s budget, so no incomplete upload is left behind.
    pub deadline: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions { part_size: DEFAULT_PART_SIZE, deadline: Duration::from_secs(180) }
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
