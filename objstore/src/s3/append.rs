//! Appending to an object on a server that cannot append (D9): the executor ships `bot.log` to
//! `logs/<BOT_ID>/<YYYYMMDD>.log` one chunk per sync, keeping every existing byte, with no temp
//! objects and no incomplete uploads left behind.
//!
//! * missing object: PUT the chunk;
//! * below 5 MiB: PUT old + new, where "old" is the body this store last wrote if HEAD still shows
//!   that body's ETag, else a fresh GET (another writer may have changed it);
//! * from 5 MiB: a multipart upload of UploadPartCopy(old object) + UploadPart(chunk), so the old
//!   bytes never travel through this process;
//! * from 5 MiB on a server that refused a part copy with AccessDenied (Ceph 16 refuses every
//!   UploadPartCopy to an STS session, issue #10): GET the old body and stream old + new back as
//!   a fresh (multipart) upload; the store remembers the refusal and goes this way from then on.

use std::sync::OnceLock;

use ::http::{Method, StatusCode};
use bytes::{Bytes, BytesMut};

use super::call::{server_error, transport, Call, BASE_TIMEOUT};
use super::http::read_body;
use super::multipart::{Upload, MIN_PART_SIZE};
use super::{lock, S3Store};
use crate::names::check_key;
use crate::{Error, Precondition, Result};

/// Objects from this size grow by server-side copy (it is also S3's smallest copyable part).
const COPY_FROM: u64 = MIN_PART_SIZE as u64;
/// S3's largest part: bigger objects are copied in several ranges.
const MAX_COPY_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Small bodies remembered for the next append (one per log object; old days fall out).
const CACHE_ENTRIES: usize = 16;

const OP: &str = "AppendObject";

/// Inclusive byte ranges that copy an object of `size` bytes in as few parts as allowed, all of
/// similar size (so none but the last is below the minimum part size); `None` = whole object.
fn copy_ranges(size: u64) -> Vec<Option<(u64, u64)>> {
    if size <= MAX_COPY_PART {
        return vec![None];
    }
    split_copy(0, size).into_iter().map(Some).collect()
}

/// Inclusive byte ranges covering `len` bytes from `start` in as few parts as S3 allows for a
/// copy, all of similar size.
pub(crate) fn split_copy(start: u64, len: u64) -> Vec<(u64, u64)> {
    let n = len.div_ceil(MAX_COPY_PART).max(1);
    let each = len.div_ceil(n);
    (0..n).map(|i| (start + i * each, start + ((i + 1) * each).min(len) - 1)).collect()
}

impl S3Store {
    pub(crate) async fn append(&self, bucket: &str, key: &str, data: Bytes, content_type: &str) -> Result<()> {
        check_key(OP, bucket, key)?;
        let cache_key = format!("{bucket}/{key}");
        let Some(meta) = self.head(bucket, key).await? else {
            let etag = self.put_object(OP, bucket, key, data.clone(), content_type, &Precondition::None).await?;
            self.remember(cache_key, etag, data);
            return Ok(());
        };
        if meta.size >= COPY_FROM {
            lock(&self.appended).remove(&cache_key);
            if data.is_empty() {
                return Ok(());
            }
            if !self.part_copy_refused() {
                match self.append_by_copy(bucket, key, meta.size, data.clone(), content_type).await {
                    Err(e) if e.is_access_denied() => self.note_copy_refused(),
                    r => return r,
                }
            }
            return self.append_whole(bucket, key, data, content_type).await;
        }
        let cached = lock(&self.appended)
            .get(&cache_key)
            .filter(|(etag, _)| !meta.etag.is_empty() && *etag == meta.etag)
            .map(|(_, body)| body.clone());
        let old = match cached {
            Some(body) => body,
            None => self.get_small(bucket, key).await?,
        };
        let mut joined = BytesMut::with_capacity(old.len() + data.len());
        joined.extend_from_slice(&old);
        joined.extend_from_slice(&data);
        let joined = joined.freeze();
        let put = self.put_object(OP, bucket, key, joined.clone(), content_type, &Precondition::None).await;
        match &put {
            Ok(etag) if (joined.len() as u64) < COPY_FROM => self.remember(cache_key, etag.clone(), joined),
            _ => drop(lock(&self.appended).remove(&cache_key)),
        }
        put.map(drop)
    }

    fn remember(&self, cache_key: String, etag: Option<String>, body: Bytes) {
        let mut cache = lock(&self.appended);
        match etag.filter(|e| !e.is_empty()) {
            Some(etag) => {
                if cache.len() >= CACHE_ENTRIES && !cache.contains_key(&cache_key) {
                    if let Some(evict) = cache.keys().next().cloned() {
                        cache.remove(&evict);
                    }
                }
                cache.insert(cache_key, (etag, body));
            }
            None => drop(cache.remove(&cache_key)),
        }
    }

    /// The whole current body of a small object (empty if it vanished since the HEAD).
    async fn get_small(&self, bucket: &str, key: &str) -> Result<Bytes> {
        let fetch = async {
            let resp = self.http.send(Call::new("GetObject", Method::GET, bucket, key)).await?;
            let (head, body) = resp.into_parts();
            // It may have grown since the HEAD. The read stays bounded: past the bound this append
            // fails, and the next one sees the size and copies server-side.
            let body =
                read_body(body, 4 * COPY_FROM as usize).await.map_err(|e| transport("GetObject", bucket, key, &*e))?;
            match head.status {
                s if s.is_success() => Ok(body),
                StatusCode::NOT_FOUND => Ok(Bytes::new()),
                s => Err(server_error("GetObject", bucket, key, s, &body)),
            }
        };
        tokio::time::timeout(BASE_TIMEOUT * 2, fetch)
            .await
            .unwrap_or_else(|_| Err(Error::timeout("GetObject", bucket, key, BASE_TIMEOUT * 2)))
    }

    async fn append_by_copy(&self, bucket: &str, key: &str, size: u64, data: Bytes, content_type: &str) -> Result<()> {
        let slot = OnceLock::new();
        let work = async {
            let up = Upload::create(self, OP, bucket, key, content_type, &slot).await?;
            let mut etags = Vec::new();
            for range in copy_ranges(size) {
                etags.push(up.part_copy(etags.len() as u64 + 1, range, size, None).await?);
            }
            etags.push(up.part(etags.len() as u64 + 1, data).await?);
            up.complete(&etags, &Precondition::None).await.map(drop)
        };
        self.guarded(OP, bucket, key, None, &slot, work).await
    }

    /// Old body (streamed from a GET) + `data`, uploaded as a new version: the way when part copy
    /// is refused. Memory stays bounded by the streaming upload's part size.
    async fn append_whole(&self, bucket: &str, key: &str, data: Bytes, content_type: &str) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let old: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>> = match self.get(bucket, key).await? {
            Some(g) => g.body,
            None => Box::pin(tokio::io::empty()),
        };
        let reader = old.chain(std::io::Cursor::new(data));
        self.put_stream(bucket, key, reader, content_type, crate::StreamOptions::default()).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_respect_part_limits() {
        assert_eq!(copy_ranges(COPY_FROM), vec![None]);
        assert_eq!(copy_ranges(MAX_COPY_PART), vec![None]);
        let size = MAX_COPY_PART + 1024;
        let r = copy_ranges(size);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].map(|(a, _)| a), Some(0));
        assert_eq!(r[1].map(|(_, b)| b), Some(size - 1));
        let mut next = 0;
        for (a, b) in r.into_iter().flatten() {
            assert_eq!(a, next);
            assert!(b - a < MAX_COPY_PART && b - a + 1 >= COPY_FROM);
            next = b + 1;
        }
    }
}
