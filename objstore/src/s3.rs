//! S3-compatible backend (MinIO, R2, AWS, moto): path-style addressing, SigV4, streamed bodies.
//! This file holds the simple one-request operations; uploads of unknown or large size live in
//! `s3/multipart.rs`, the log append of D9 in `s3/append.rs`, [`crate::Store::compose`] in
//! `s3/compose.rs`, and the HTTP/TLS/signing plumbing
//! in the other `s3/` modules.

mod append;
mod body;
mod call;
mod compose;
mod creds;
mod date;
mod http;
mod md5;
mod multipart;
mod sigv4;
mod sts;
mod xml;

pub use self::creds::{CredentialSource, Credentials, CredentialsFile};
pub use self::sts::AssumeRole;
/// The S3 response parsers, reachable from the fuzz targets in `fuzz/` (see `docs/fuzzing.md`);
/// not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::xml::{elements, error, escape, first, unescape};
    pub use the0_contract::timefmt::parse_rfc3339;
    /// `xml::list_page` as public types: the objects and the continuation token.
    pub fn list_page(xml: &str) -> Result<(Vec<crate::ObjectInfo>, Option<String>), String> {
        super::xml::list_page(xml).map(|p| (p.objects, p.next_token))
    }
}

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;

use self::body::BodyReader;
pub(crate) use self::call::budget as transfer_budget;
use self::call::{bad_reply, server_error, Call, BASE_TIMEOUT};
use self::http::{read_body, Http};
use crate::names::{check_bucket, check_key, check_prefix};
use crate::{Error, GetObject, ObjectInfo, ObjectMeta, PendingUpload, Precondition, Result, S3Settings};

/// Error bodies we read before giving up on them.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A store on one S3-compatible server. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct S3Store {
    /// Shared with background aborts (see `multipart.rs`); behind a pointer also because the
    /// pooled client is large and `Store` is an enum of the two backends.
    http: Arc<Http>,
    /// Buckets known to exist (checked or created), so `ensure_bucket` costs nothing twice (D6).
    buckets: Mutex<HashSet<String>>,
    /// `bucket/key` → (ETag, body) of small objects this store last wrote by `append` (D9).
    appended: Mutex<HashMap<String, (String, Bytes)>>,
    /// Set once the server refused an UploadPartCopy with AccessDenied (Ceph 16 does so to every
    /// STS session): appends then upload the whole object, and callers of `compose` are told.
    copy_refused: AtomicBool,
    /// The server wants `If-Match` without the quotes of its own ETags (Ceph's gateway 16.2 does:
    /// it compares the header byte for byte with its stored, unquoted ETag). Learnt by
    /// [`S3Store::put_object`], see there.
    unquoted_if_match: AtomicBool,
}

/// The header carrying `pre` (`None` for [`Precondition::None`]); the ETag quoted as RFC 9110
/// writes it, or bare when `unquoted`.
pub(crate) fn condition_header(pre: &Precondition, unquoted: bool) -> Option<(&'static str, String)> {
    match pre {
        Precondition::None => None,
        Precondition::Absent => Some(("if-none-match", "*".to_owned())),
        Precondition::Etag(etag) => {
            let bare = Precondition::bare(etag);
            Some(("if-match", if unquoted { bare.to_owned() } else { format!("\"{bare}\"") }))
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Size and ETag from the headers of a HEAD or GET answer.
fn meta_from(op: &'static str, bucket: &str, key: &str, headers: &HeaderMap) -> Result<ObjectMeta> {
    let size = headers
        .get(::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| bad_reply(op, bucket, key, "answer without a valid Content-Length".into()))?;
    let etag = headers.get(::http::header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    Ok(ObjectMeta { size, etag })
}

impl S3Store {
    pub(crate) fn new(settings: S3Settings) -> Result<S3Store> {
        S3Store::from_http(Http::new(&settings)?)
    }

    /// A store that signs with `creds` instead of the keys in `settings` (scoped credentials).
    pub(crate) fn with_credentials(settings: S3Settings, creds: CredentialSource) -> Result<S3Store> {
        S3Store::from_http(Http::with_credentials(&settings, creds)?)
    }

    /// Whether the server refused a part copy to these credentials (see `copy_refused`).
    pub fn part_copy_refused(&self) -> bool {
        self.copy_refused.load(Ordering::Relaxed)
    }

    pub(crate) fn note_copy_refused(&self) {
        self.copy_refused.store(true, Ordering::Relaxed);
    }

    fn from_http(http: Http) -> Result<S3Store> {
        Ok(S3Store {
            http: Arc::new(http),
            buckets: Mutex::default(),
            appended: Mutex::default(),
            copy_refused: AtomicBool::new(false),
            unquoted_if_match: AtomicBool::new(false),
        })
    }

    /// Whether `If-Match` goes without quotes to this server (see `unquoted_if_match`).
    pub(crate) fn if_match_unquoted(&self) -> bool {
        self.unquoted_if_match.load(Ordering::Relaxed)
    }

    /// Forgets a bucket the server says is gone, so the next `ensure_bucket` recreates it.
    fn note_missing_bucket<T>(&self, bucket: &str, r: Result<T>) -> Result<T> {
        if let Err(Error::Server { code, .. }) = &r {
            if code == "NoSuchBucket" {
                lock(&self.buckets).remove(bucket);
            }
        }
        r
    }

    pub(crate) async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        check_bucket("HeadBucket", bucket)?;
        let reply = self.http.call(Call::new("HeadBucket", Method::HEAD, bucket, "")).await?;
        match reply.status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(server_error("HeadBucket", bucket, "", s, &reply.body)),
        }
    }

    pub(crate) async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        check_bucket("CreateBucket", bucket)?;
        if lock(&self.buckets).contains(bucket) {
            return Ok(());
        }
        if !self.bucket_exists(bucket).await? {
            let mut call = Call::new("CreateBucket", Method::PUT, bucket, "");
            if self.http.region() != "us-east-1" {
                let body = format!(
                    "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                     <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                    xml::escape(self.http.region())
                );
                call = call.header("content-type", "application/xml").bytes(Bytes::from(body));
            }
            let reply = self.http.call(call).await?;
            if !reply.status.is_success() {
                let err = server_error("CreateBucket", bucket, "", reply.status, &reply.body);
                match &err {
                    Error::Server { code, .. }
                        if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" => {}
                    _ => return Err(err),
                }
            }
        }
        lock(&self.buckets).insert(bucket.to_owned());
        Ok(())
    }

    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        check_key("HeadObject", bucket, key)?;
        let reply = self.http.call(Call::new("HeadObject", Method::HEAD, bucket, key)).await?;
        match reply.status {
            s if s.is_success() => Ok(Some(meta_from("HeadObject", bucket, key, &reply.headers)?)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(server_error("HeadObject", bucket, key, s, &reply.body)),
        }
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<GetObject>> {
        check_key("GetObject", bucket, key)?;
        let resp = self.http.send(Call::new("GetObject", Method::GET, bucket, key)).await?;
        let (head, body) = resp.into_parts();
        if head.status.is_success() {
            let meta = meta_from("GetObject", bucket, key, &head.headers)?;
            let what = format!("GetObject {bucket}/{key}");
            return Ok(Some(GetObject { meta, body: Box::pin(BodyReader::new(body, BASE_TIMEOUT, what)) }));
        }
        if head.status == StatusCode::NOT_FOUND {
            // NoSuchKey / NoSuchBucket; drain the small error body so the connection is reused.
            let _ = tokio::time::timeout(BASE_TIMEOUT, read_body(body, MAX_ERROR_BODY)).await;
            return Ok(None);
        }
        let text = match tokio::time::timeout(BASE_TIMEOUT, read_body(body, MAX_ERROR_BODY)).await {
            Ok(Ok(b)) => b,
            _ => Bytes::new(),
        };
        Err(server_error("GetObject", bucket, key, head.status, &text))
    }

    /// One PUT of an in-memory body under `pre`; returns the ETag the server gave it. A refused
    /// condition is [`Error::Changed`].
    ///
    /// `If-Match` goes quoted, as RFC 9110 and AWS write it. Ceph's gateway (16.2, measured)
    /// refuses a quoted ETag even when it matches; so when a quoted `If-Match` is refused, a HEAD
    /// tells whether the object really is that version: if not, the refusal stands (the unquoted
    /// form is never sent for a condition known to be false); if it is, the PUT is repeated once
    /// with the bare ETag, and on success this store sends it bare from then on.
    async fn put_object(
        &self,
        op: &'static str,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
        pre: &Precondition,
    ) -> Result<Option<String>> {
        let unquoted = self.if_match_unquoted();
        let first = self.put_once(op, bucket, key, body.clone(), content_type, pre, unquoted).await;
        match first {
            Err(refused @ Error::Changed { .. }) if matches!(pre, Precondition::Etag(_)) && !unquoted => {
                match self.head(bucket, key).await {
                    Ok(Some(now)) if pre.holds(Some(&now.etag)) => {
                        let again = self.put_once(op, bucket, key, body, content_type, pre, true).await;
                        if again.is_ok() {
                            self.unquoted_if_match.store(true, Ordering::Relaxed);
                        }
                        again
                    }
                    _ => Err(refused),
                }
            }
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_once(
        &self,
        op: &'static str,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
        pre: &Precondition,
        unquoted: bool,
    ) -> Result<Option<String>> {
        let mut call = Call::new(op, Method::PUT, bucket, key).bytes(body);
        if !content_type.is_empty() {
            call = call.header("content-type", content_type);
        }
        if let Some((name, value)) = condition_header(pre, unquoted) {
            call = call.header(name, value);
        }
        let r = self.http.call_ok(call).await;
        let reply = self.note_missing_bucket(bucket, r).map_err(Error::precondition_failed)?;
        Ok(reply.header("etag").map(str::to_owned))
    }

    pub(crate) async fn put_bytes(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Result<()> {
        check_key("PutObject", bucket, key)?;
        self.put_object("PutObject", bucket, key, body, content_type, &Precondition::None).await.map(drop)
    }

    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        check_key("DeleteObject", bucket, key)?;
        let reply = self.http.call(Call::new("DeleteObject", Method::DELETE, bucket, key)).await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(server_error("DeleteObject", bucket, key, s, &reply.body)),
        }
    }

    /// ListObjectsV2, page by page. A missing bucket lists as empty (like the local backend).
    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        check_prefix("ListObjectsV2", bucket, prefix)?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = Call::new("ListObjectsV2", Method::GET, bucket, "").query("list-type", "2");
            if !prefix.is_empty() {
                call = call.query("prefix", prefix);
            }
            if let Some(t) = token.take() {
                call = call.query("continuation-token", t);
            }
            let reply = self.http.call(call).await?;
            if reply.status == StatusCode::NOT_FOUND {
                let err = server_error("ListObjectsV2", bucket, prefix, reply.status, &reply.body);
                match err {
                    Error::Server { ref code, .. } if code == "NoSuchBucket" => return Ok(Vec::new()),
                    err => return Err(err),
                }
            }
            if !reply.status.is_success() {
                return Err(server_error("ListObjectsV2", bucket, prefix, reply.status, &reply.body));
            }
            let page = xml::list_page(&String::from_utf8_lossy(&reply.body))
                .map_err(|m| bad_reply("ListObjectsV2", bucket, prefix, m))?;
            out.extend(page.objects);
            match page.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    /// Keys with a multipart upload in progress (ListMultipartUploads), e.g. to check that
    /// nothing was left behind.
    pub async fn incomplete_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        Ok(self.uploads(bucket, prefix).await?.into_iter().map(|u| u.key).collect())
    }

    /// Every multipart upload in progress under `prefix` (ListMultipartUploads, page by page),
    /// with its id and start time. A missing bucket lists as empty; an upload whose `Initiated`
    /// does not parse is a bad reply (a cleanup must not guess an age).
    pub(crate) async fn uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>> {
        const LIST: &str = "ListMultipartUploads";
        check_prefix(LIST, bucket, prefix)?;
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut call = Call::new(LIST, Method::GET, bucket, "").query("uploads", "");
            if !prefix.is_empty() {
                call = call.query("prefix", prefix);
            }
            if let Some((key, id)) = markers.take() {
                call = call.query("key-marker", key).query("upload-id-marker", id);
            }
            let reply = self.http.call(call).await?;
            if !reply.status.is_success() {
                return match server_error(LIST, bucket, prefix, reply.status, &reply.body) {
                    Error::Server { ref code, .. } if code == "NoSuchBucket" => Ok(Vec::new()),
                    err => Err(err),
                };
            }
            let text = String::from_utf8_lossy(&reply.body);
            for upload in xml::elements(&text, "Upload") {
                out.push(xml::pending_upload(upload).map_err(|m| bad_reply(LIST, bucket, prefix, m))?);
            }
            if xml::first(&text, "IsTruncated").as_deref() != Some("true") {
                return Ok(out);
            }
            let next = |tag| xml::first(&text, tag).unwrap_or_default();
            let (key, id) = (next("NextKeyMarker"), next("NextUploadIdMarker"));
            if key.is_empty() && id.is_empty() {
                return Err(bad_reply(LIST, bucket, prefix, "truncated listing without markers".into()));
            }
            markers = Some((key, id));
        }
    }

    /// AbortMultipartUpload of one upload [`S3Store::uploads`] listed; an upload that is gone
    /// already (404) is success.
    pub(crate) async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        const OP: &str = "AbortMultipartUpload";
        check_key(OP, bucket, key)?;
        if upload_id.is_empty() {
            return Err(Error::Invalid(format!("{OP} {bucket:?}/{key:?}: empty upload id")));
        }
        let call = Call::new(OP, Method::DELETE, bucket, key).query("uploadId", upload_id);
        let reply = self.http.call(call).await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(server_error(OP, bucket, key, s, &reply.body)),
        }
    }
}
