//! Errors of object-store operations; each names the operation, bucket and key.

/// Result of object-store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{op} {bucket}/{key}: server answered {status} {code}: {message}")]
    Server { op: &'static str, bucket: String, key: String, status: u16, code: String, message: String },
    /// The request did not complete (connection refused, reset, TLS, ...).
    #[error("{op} {bucket}/{key}: {source}")]
    Transport {
        op: &'static str,
        bucket: String,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The operation's deadline passed.
    #[error("{op} {bucket}/{key}: timed out after {after:?}")]
    Timeout { op: &'static str, bucket: String, key: String, after: std::time::Duration },
    /// Local file-system error.
    #[error("{op} {bucket}/{key}: {source}")]
    Io {
        op: &'static str,
        bucket: String,
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// The object is no longer the version an operation was based on (S3: 412 PreconditionFailed).
    #[error("{op} {bucket}/{key}: the object changed since it was read ({detail})")]
    Changed { op: &'static str, bucket: String, key: String, detail: String },
    /// Unusable settings or arguments.
    #[error("invalid object-store setting: {0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, bucket: &str, key: &str, source: std::io::Error) -> Error {
        Error::Io { op, bucket: bucket.to_owned(), key: key.to_owned(), source }
    }

    pub(crate) fn timeout(op: &'static str, bucket: &str, key: &str, after: std::time::Duration) -> Error {
        Error::Timeout { op, bucket: bucket.to_owned(), key: key.to_owned(), after }
    }
}
