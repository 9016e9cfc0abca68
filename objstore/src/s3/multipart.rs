//! Uploads that may not fit one request: `put_file` above 64 MiB and `put_stream` of unknown
//! length (a `tar.gz` produced on the fly, up to GBs) go up as multipart uploads, and `append`
//! (see `append.rs`) reuses [`Upload`] for its server-side copy. Every started upload is aborted
//! on any failure or deadline expiry, with a fresh 30 s budget, so no object ever appears partially
//! and no incomplete upload is left behind (D6).

use std::future::Future;
use std::io::SeekFrom;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::http::Method;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use super::body::ReaderBody;
use super::call::{bad_reply, budget, embedded_error, Call, Reply, BASE_TIMEOUT};
use super::http::Http;
use super::{xml, S3Store};
use crate::names::check_key;
use crate::{Error, ObjectMeta, Precondition, Result, StreamOptions, MAX_PART_SIZE};

/// S3's smallest part (all but the last).
pub(crate) const MIN_PART_SIZE: usize = crate::S3_MIN_PIECE as usize;
/// S3's largest part count.
const MAX_PARTS: u64 = 10_000;
/// `put_file` sends files up to this size in one PUT.
const SINGLE_PUT_MAX: u64 = 64 * 1024 * 1024;
/// Part size of `put_file` multipart uploads (grown if the file needs more than 10 000 parts).
const FILE_PART_SIZE: u64 = 16 * 1024 * 1024;
/// Budget of the abort after a failure, fresh whatever time the failed work used.
const ABORT_TIMEOUT: Duration = Duration::from_secs(30);

/// One started multipart upload.
pub(crate) struct Upload<'a> {
    store: &'a S3Store,
    op: &'static str,
    bucket: &'a str,
    key: &'a str,
    id: &'a str,
}

impl<'a> Upload<'a> {
    /// CreateMultipartUpload; records the upload id in `slot` so [`S3Store::guarded`] can abort it.
    pub(crate) async fn create(
        store: &'a S3Store,
        op: &'static str,
        bucket: &'a str,
        key: &'a str,
        content_type: &str,
        slot: &'a OnceLock<String>,
    ) -> Result<Upload<'a>> {
        let mut call = Call::new("CreateMultipartUpload", Method::POST, bucket, key).query("uploads", "");
        if !content_type.is_empty() {
            call = call.header("content-type", content_type);
        }
        let r = store.http.call_ok(call).await;
        let reply = store.note_missing_bucket(bucket, r)?;
        let text = String::from_utf8_lossy(&reply.body);
        let id = xml::first(&text, "UploadId")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| bad_reply("CreateMultipartUpload", bucket, key, "answer without <UploadId>".into()))?;
        let id = slot.get_or_init(|| id).as_str();
        Ok(Upload { store, op, bucket, key, id })
    }

    fn call(&self, op: &'static str, method: Method) -> Call<'a> {
        Call::new(op, method, self.bucket, self.key).query("uploadId", self.id)
    }

    fn check_number(&self, n: u64) -> Result<()> {
        if n == 0 || n > MAX_PARTS {
            return Err(Error::Invalid(format!(
                "{} {}/{}: part {n} is beyond S3's {MAX_PARTS}-part limit",
                self.op, self.bucket, self.key
            )));
        }
        Ok(())
    }

    /// ETag of an UploadPart answer.
    fn etag(&self, reply: &Reply) -> Result<String> {
        reply
            .header("etag")
            .map(str::to_owned)
            .ok_or_else(|| bad_reply("UploadPart", self.bucket, self.key, "UploadPart answer without ETag".into()))
    }

    /// UploadPart of an in-memory part.
    pub(crate) async fn part(&self, n: u64, data: Bytes) -> Result<String> {
        self.check_number(n)?;
        let reply = self
            .store
            .http
            .call_ok(self.call("UploadPart", Method::PUT).query("partNumber", n.to_string()).bytes(data))
            .await?;
        self.etag(&reply)
    }

    /// UploadPart streamed from `len` bytes of a reader.
    async fn part_stream<R: AsyncRead + Unpin + Send + Sync + 'static>(
        &self,
        n: u64,
        reader: R,
        len: u64,
    ) -> Result<String> {
        self.check_number(n)?;
        let body = ReaderBody::new(reader, len).boxed();
        let call = self.call("UploadPart", Method::PUT).query("partNumber", n.to_string()).stream(body, len);
        let reply = self.store.http.call_ok(call).await?;
        self.etag(&reply)
    }

    /// UploadPartCopy of `range` (inclusive byte offsets; `None` = whole object) of this upload's
    /// own key, whose current size is `size`. With `if_match`, the server refuses the copy
    /// (412 PreconditionFailed) unless the source still has that ETag.
    pub(crate) async fn part_copy(
        &self,
        n: u64,
        range: Option<(u64, u64)>,
        size: u64,
        if_match: Option<&str>,
    ) -> Result<String> {
        self.check_number(n)?;
        let source =
            format!("/{}/{}", super::sigv4::uri_encode(self.bucket, true), super::sigv4::uri_encode(self.key, false));
        let mut call = self
            .call("UploadPartCopy", Method::PUT)
            .query("partNumber", n.to_string())
            .header("x-amz-copy-source", source);
        if let Some((a, b)) = range {
            call = call.header("x-amz-copy-source-range", format!("bytes={a}-{b}"));
        }
        if let Some(etag) = if_match {
            call = call.header("x-amz-copy-source-if-match", etag.to_owned());
        }
        call.timeout = budget(range.map_or(size, |(a, b)| b - a + 1));
        let reply = self.store.http.call_ok(call).await?;
        let text = String::from_utf8_lossy(&reply.body);
        if let Some(e) = embedded_error("UploadPartCopy", self.bucket, self.key, &text) {
            return Err(e);
        }
        xml::first(&text, "ETag")
            .ok_or_else(|| bad_reply("UploadPartCopy", self.bucket, self.key, "answer without <ETag>".into()))
    }

    /// CompleteMultipartUpload of parts `1..=etags.len()` under `pre`; returns the new object's
    /// ETag (empty if the server did not say). S3 may answer 200 and still report an `<Error>` in
    /// the body, which counts as failure. A refused condition is [`Error::Changed`]; a server
    /// that ignores the header completes anyway (see `docs/security/storage.md`).
    pub(crate) async fn complete(&self, etags: &[String], pre: &Precondition) -> Result<String> {
        let mut body = String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        for (i, etag) in etags.iter().enumerate() {
            body.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                xml::escape(etag)
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let mut call = self
            .call("CompleteMultipartUpload", Method::POST)
            .header("content-type", "application/xml")
            .bytes(Bytes::from(body));
        if let Some((name, value)) = super::condition_header(pre, self.store.if_match_unquoted()) {
            call = call.header(name, value);
        }
        call.timeout = BASE_TIMEOUT + Duration::from_millis(100 * etags.len() as u64);
        let reply = self.store.http.call_ok(call).await.map_err(Error::precondition_failed)?;
        let text = String::from_utf8_lossy(&reply.body);
        match embedded_error("CompleteMultipartUpload", self.bucket, self.key, &text) {
            Some(e) => Err(e.precondition_failed()),
            None => Ok(object_etag(xml::first(&text, "ETag"), etags)),
        }
    }
}

/// The new object's ETag: the server's, or computed from the parts' ETags when the server gave
/// none (Ceph's gateway answers CompleteMultipartUpload with an empty `<ETag>`). Empty only if
/// neither is available.
fn object_etag(server: Option<String>, parts: &[String]) -> String {
    match server {
        Some(e) if !e.trim().trim_matches('"').is_empty() => e,
        _ => super::md5::multipart_etag(parts).unwrap_or_default(),
    }
}

/// Reads up to `size` bytes (fewer only at the end of the stream) into a buffer that never grows
/// beyond `size`.
async fn read_part<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size);
    while buf.len() < size {
        if reader.read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(buf)
}

/// Part `n` (1-based) of a file of `len` bytes cut in parts of `part`: (offset, length).
fn file_part(n: u64, part: u64, len: u64) -> (u64, u64) {
    let off = (n - 1) * part;
    (off, part.min(len - off))
}

/// AbortMultipartUpload within its own 30 s, tried up to three times: right after parts were
/// cut off midway, the first try may land on a pooled connection the server already closed. Its
/// failure is not reported: the caller returns the error that made it abort, and a lifecycle rule
/// is the backstop for what remains.
async fn abort(http: &Http, bucket: &str, key: &str, id: &str) {
    let tries = async {
        for _ in 0..3 {
            let call = Call::new("AbortMultipartUpload", Method::DELETE, bucket, key).query("uploadId", id);
            match http.call(call).await {
                Ok(reply) if reply.status.is_success() || reply.status == ::http::StatusCode::NOT_FOUND => return,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    };
    let _ = tokio::time::timeout(ABORT_TIMEOUT, tries).await;
}

/// Aborts a started upload in the background if the future driving it is dropped midway (the
/// caller gave up on it), where no error path runs.
struct AbortOnDrop<'a> {
    http: &'a Arc<Http>,
    bucket: &'a str,
    key: &'a str,
    slot: &'a OnceLock<String>,
    armed: bool,
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        let (Some(id), true) = (self.slot.get(), self.armed) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (http, bucket, key, id) = (self.http.clone(), self.bucket.to_owned(), self.key.to_owned(), id.clone());
        rt.spawn(async move { abort(&http, &bucket, &key, &id).await });
    }
}

impl S3Store {
    /// Runs `work`, bounded by `limit` if given. If it fails or runs out of time after starting a
    /// multipart upload (its id is in `slot`), the upload is aborted before the error is returned;
    /// if this future is dropped instead, the abort runs in the background.
    pub(crate) async fn guarded<T>(
        &self,
        op: &'static str,
        bucket: &str,
        key: &str,
        limit: Option<Duration>,
        slot: &OnceLock<String>,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let mut guard = AbortOnDrop { http: &self.http, bucket, key, slot, armed: true };
        let r = match limit {
            Some(d) => tokio::time::timeout(d, work).await.unwrap_or_else(|_| Err(Error::timeout(op, bucket, key, d))),
            None => work.await,
        };
        if r.is_err() {
            if let Some(id) = slot.get() {
                abort(&self.http, bucket, key, id).await;
            }
        }
        guard.armed = false;
        r
    }

    pub(crate) async fn put_file(&self, bucket: &str, key: &str, path: &Path, content_type: &str) -> Result<()> {
        const OP: &str = "PutObject";
        check_key(OP, bucket, key)?;
        let io = |e| Error::io(OP, bucket, key, e);
        let len = tokio::fs::metadata(path).await.map_err(io)?.len();
        if len <= SINGLE_PUT_MAX {
            let file = tokio::fs::File::open(path).await.map_err(io)?;
            let mut call = Call::new(OP, Method::PUT, bucket, key).stream(ReaderBody::new(file, len).boxed(), len);
            if !content_type.is_empty() {
                call = call.header("content-type", content_type);
            }
            let r = self.http.call_ok(call).await;
            return self.note_missing_bucket(bucket, r).map(drop);
        }
        let part = FILE_PART_SIZE.max(len.div_ceil(MAX_PARTS));
        let slot = OnceLock::new();
        let work = async {
            let up = Upload::create(self, OP, bucket, key, content_type, &slot).await?;
            let mut etags = Vec::new();
            for n in 1..=len.div_ceil(part) {
                let (off, plen) = file_part(n, part, len);
                let mut file = tokio::fs::File::open(path).await.map_err(io)?;
                file.seek(SeekFrom::Start(off)).await.map_err(io)?;
                etags.push(up.part_stream(n, file, plen).await?);
            }
            up.complete(&etags, &Precondition::None).await.map(drop)
        };
        self.guarded(OP, bucket, key, None, &slot, work).await
    }

    pub(crate) async fn put_stream<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        mut reader: R,
        content_type: &str,
        opts: StreamOptions,
    ) -> Result<ObjectMeta> {
        const OP: &str = "PutObject";
        check_key(OP, bucket, key)?;
        let size = opts.part_size.clamp(MIN_PART_SIZE, MAX_PART_SIZE);
        let read_err = |e| Error::io(OP, bucket, key, e);
        let slot = OnceLock::new();
        let work = async {
            let first = read_part(&mut reader, size).await.map_err(read_err)?;
            let second =
                if first.len() < size { Vec::new() } else { read_part(&mut reader, size).await.map_err(read_err)? };
            if second.is_empty() {
                let size = first.len() as u64;
                let etag =
                    self.put_object(OP, bucket, key, Bytes::from(first), content_type, &opts.precondition).await?;
                return Ok(ObjectMeta { size, etag: etag.unwrap_or_default() });
            }
            let up = Upload::create(self, OP, bucket, key, content_type, &slot).await?;
            let mut total = first.len() as u64;
            let mut etags = vec![up.part(1, Bytes::from(first)).await?];
            // From here on at most two parts are in memory: the one going up, the one being read.
            let mut cur = second;
            loop {
                let n = etags.len() as u64 + 1;
                total += cur.len() as u64;
                if cur.len() < size {
                    etags.push(up.part(n, Bytes::from(cur)).await?);
                    break;
                }
                let next = async { read_part(&mut reader, size).await.map_err(read_err) };
                let (etag, next) = tokio::try_join!(up.part(n, Bytes::from(cur)), next)?;
                etags.push(etag);
                if next.is_empty() {
                    break;
                }
                cur = next;
            }
            let etag = up.complete(&etags, &opts.precondition).await?;
            Ok(ObjectMeta { size: total, etag })
        };
        self.guarded(OP, bucket, key, Some(opts.deadline), &slot, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_etag_falls_back_to_the_parts() {
        let parts = vec!["\"0cc175b9c0f1b6a831c399e269772661\"".to_string()];
        let computed = super::super::md5::multipart_etag(&parts).expect("computable");
        let table: &[(Option<&str>, &[String], &str)] = &[
            (Some("\"abc-1\""), &parts, "\"abc-1\""),
            (Some(""), &parts, &computed),
            (Some("\"\""), &parts, &computed),
            (None, &parts, &computed),
            (None, &[], ""),
        ];
        for (server, parts, want) in table {
            assert_eq!(object_etag(server.map(str::to_owned), parts), *want, "{server:?}");
        }
    }

    #[test]
    fn file_parts_cover_the_file() {
        assert_eq!(file_part(1, 10, 25), (0, 10));
        assert_eq!(file_part(3, 10, 25), (20, 5));
        assert_eq!(file_part(2, 10, 20), (10, 10));
    }

    #[tokio::test]
    async fn read_part_fills_without_growing() {
        let data = [1u8; 25];
        let mut r = &data[..];
        let a = read_part(&mut r, 10).await.expect("read");
        assert_eq!((a.len(), a.capacity()), (10, 10));
        assert_eq!(read_part(&mut r, 10).await.expect("read").len(), 10);
        assert_eq!(read_part(&mut r, 10).await.expect("read").len(), 5);
        assert!(read_part(&mut r, 10).await.expect("read").is_empty());
    }
}
