//! One S3 request described as data ([`Call`]), its reply ([`Reply`]), its time bound, and the
//! mapping of failures onto [`Error`]: what every operation module builds and `http.rs` sends.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, StatusCode};
use http_body_util::combinators::BoxBody;

use super::xml;
use crate::Error;

pub(crate) type Body = BoxBody<Bytes, io::Error>;

/// Bound of a request without a large body, and the floor of every bound.
pub(crate) const BASE_TIMEOUT: Duration = Duration::from_secs(30);
/// The slowest transfer rate a body is allowed (bounds requests proportionally to their size).
const MIN_RATE: u64 = 512 * 1024;

/// Time allowed for a request moving `bytes` of body.
pub(crate) fn budget(bytes: u64) -> Duration {
    BASE_TIMEOUT + Duration::from_secs(bytes / MIN_RATE)
}

/// A request body.
pub(crate) enum Payload {
    Empty,
    /// In memory: resent on retries, hashed when small.
    Bytes(Bytes),
    /// Streamed once, `UNSIGNED-PAYLOAD`, exactly `len` bytes.
    Stream {
        body: Body,
        len: u64,
    },
}

/// One S3 request. `key` is empty for bucket operations.
pub(crate) struct Call<'a> {
    pub op: &'static str,
    pub method: Method,
    pub bucket: &'a str,
    pub key: &'a str,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub payload: Payload,
    pub timeout: Duration,
    /// SigV4 service name: `s3`, or `sts` for AssumeRole.
    pub service: &'static str,
}

impl<'a> Call<'a> {
    pub(crate) fn new(op: &'static str, method: Method, bucket: &'a str, key: &'a str) -> Self {
        Call {
            op,
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            payload: Payload::Empty,
            timeout: BASE_TIMEOUT,
            service: "s3",
        }
    }
    pub(crate) fn service(mut self, service: &'static str) -> Self {
        self.service = service;
        self
    }
    pub(crate) fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub(crate) fn bytes(mut self, body: Bytes) -> Self {
        self.timeout = budget(body.len() as u64);
        self.payload = Payload::Bytes(body);
        self
    }
    pub(crate) fn stream(mut self, body: Body, len: u64) -> Self {
        self.timeout = budget(len);
        self.payload = Payload::Stream { body, len };
        self
    }
}

/// A reply read whole.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `Error::Server` from a status and an optional S3 XML error body.
pub(crate) fn server_error(op: &'static str, bucket: &str, key: &str, status: StatusCode, body: &[u8]) -> Error {
    let (code, message) = xml::error(&String::from_utf8_lossy(body)).unwrap_or_else(|| {
        let reason = status.canonical_reason().unwrap_or("HTTP error").replace(' ', "");
        (reason, String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned())
    });
    Error::Server { op, bucket: bucket.to_owned(), key: key.to_owned(), status: status.as_u16(), code, message }
}

/// An answer that is not what S3 documents (missing header or element, malformed XML).
pub(crate) fn bad_reply(op: &'static str, bucket: &str, key: &str, message: String) -> Error {
    Error::Server {
        op,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        status: 200,
        code: "InvalidResponse".into(),
        message,
    }
}

/// The `<Error>` S3 may put in a 200 answer to a long-running request (UploadPartCopy,
/// CompleteMultipartUpload) when it failed after sending the status.
pub(crate) fn embedded_error(op: &'static str, bucket: &str, key: &str, body: &str) -> Option<Error> {
    let (code, message) = xml::error(body)?;
    Some(Error::Server { op, bucket: bucket.to_owned(), key: key.to_owned(), status: 200, code, message })
}

/// The error and its causes on one line (hyper's top-level messages alone say little).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

pub(crate) fn transport(op: &'static str, bucket: &str, key: &str, e: &(dyn std::error::Error + 'static)) -> Error {
    Error::Transport { op, bucket: bucket.to_owned(), key: key.to_owned(), source: chain(e).into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_grow_with_size() {
        assert_eq!(budget(0), BASE_TIMEOUT);
        assert_eq!(budget(16 * 1024 * 1024), BASE_TIMEOUT + Duration::from_secs(32));
    }

    #[test]
    fn server_errors_from_xml_or_status() {
        let xml = b"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>";
        match server_error("GetObject", "b", "k", StatusCode::NOT_FOUND, xml) {
            Error::Server { status: 404, code, message, .. } => {
                assert_eq!((code.as_str(), message.as_str()), ("NoSuchBucket", "gone"))
            }
            e => panic!("{e}"),
        }
        match server_error("HeadObject", "b", "k", StatusCode::FORBIDDEN, b"") {
            Error::Server { status: 403, code, .. } => assert_eq!(code, "Forbidden"),
            e => panic!("{e}"),
        }
    }
}
