//! Errors of object-store operations; each names the operation, bucket and key.

/// Result of object-store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status.
    #[error("{op} {bucket}/{key}: server answered {status} {code}{}", with_colon(message))]
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
    /// Local store: something other than a regular file (a symbolic link, FIFO, device, socket)
    /// sits at the object's path or one of its directories. It is never followed or opened: a bot
    /// that sees its own directories of the store read-write may have planted it (issue #10).
    #[error("{op} {bucket}/{key}: refused: {at} is a {found}; local objects are only regular files reached without following links")]
    NotRegular { op: &'static str, bucket: String, key: String, found: &'static str, at: String },
    /// Unusable settings or arguments.
    #[error("invalid object-store setting: {0}")]
    Invalid(String),
}

/// `": message"`, or nothing for an empty message (some servers send only a code).
fn with_colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl Error {
    /// The server refused the request to these credentials (403 / `AccessDenied`). Ceph 16 answers
    /// so to every UploadPartCopy of an STS session, whatever the policy says.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::Server { status, code, .. } if *status == 403 || code == "AccessDenied")
    }

    pub(crate) fn io(op: &'static str, bucket: &str, key: &str, source: std::io::Error) -> Error {
        Error::Io { op, bucket: bucket.to_owned(), key: key.to_owned(), source }
    }

    pub(crate) fn timeout(op: &'static str, bucket: &str, key: &str, after: std::time::Duration) -> Error {
        Error::Timeout { op, bucket: bucket.to_owned(), key: key.to_owned(), after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_read_well_without_a_message() {
        let e = |code: &str, message: &str| Error::Server {
            op: "PutObject",
            bucket: "b".into(),
            key: "k".into(),
            status: 403,
            code: code.into(),
            message: message.into(),
        };
        let table = [
            (e("SignatureDoesNotMatch", ""), "PutObject b/k: server answered 403 SignatureDoesNotMatch"),
            (e("AccessDenied", "request id tx1"), "PutObject b/k: server answered 403 AccessDenied: request id tx1"),
        ];
        for (err, want) in table {
            assert_eq!(err.to_string(), want);
        }
    }
}
