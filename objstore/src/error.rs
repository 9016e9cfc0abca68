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
    /// The object is no longer the version an operation was based on: a [`crate::Precondition`]
    /// or the source of a compose did not hold (S3: 412 PreconditionFailed, or 409
    /// ConditionalRequestConflict when a concurrent write won). Nothing was written; never retried.
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

    pub(crate) fn changed(op: &'static str, bucket: &str, key: &str, detail: String) -> Error {
        Error::Changed { op, bucket: bucket.to_owned(), key: key.to_owned(), detail }
    }

    /// A server's refusal of a conditional write (412 PreconditionFailed, or 409
    /// ConditionalRequestConflict: another conditional write of the key won; also when reported
    /// inside a 200 answer) as [`Error::Changed`]; any other error as it is.
    pub(crate) fn precondition_failed(self) -> Error {
        match self {
            Error::Server { op, bucket, key, status, code, message }
                if status == 412 || code == "PreconditionFailed" || code == "ConditionalRequestConflict" =>
            {
                let detail = if message.is_empty() { code } else { format!("{code}: {message}") };
                Error::Changed { op, bucket, key, detail: format!("server answered {status} {detail}") }
            }
            other => other,
        }
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

    #[test]
    fn conditional_refusals_become_changed() {
        let e = |status: u16, code: &str| Error::Server {
            op: "PutObject",
            bucket: "b".into(),
            key: "k".into(),
            status,
            code: code.into(),
            message: String::new(),
        };
        let table = [
            (e(412, "PreconditionFailed"), true),
            (e(409, "ConditionalRequestConflict"), true),
            (e(409, "BucketAlreadyExists"), false),
            (e(403, "AccessDenied"), false),
            (e(500, "InternalError"), false),
        ];
        for (err, changed) in table {
            let shown = err.to_string();
            let mapped = err.precondition_failed();
            assert_eq!(matches!(mapped, Error::Changed { .. }), changed, "{shown}");
        }
        let mapped = e(412, "PreconditionFailed").precondition_failed().to_string();
        assert_eq!(
            mapped,
            "PutObject b/k: the object changed since it was read (server answered 412 PreconditionFailed)"
        );
    }
}
