//! The public operations of [`Store`], each delegating to its backend.
//! Arguments are validated by the backends (same rules for both, see `names.rs`). `get_to_file`
//! is the one operation written once here: a `get` copied atomically into a file.

use super::*;

impl Store {
    /// Opens the store `settings` describe. With a credentials file the file is read now (its
    /// errors name it) and re-read whenever it is rewritten.
    pub fn open(settings: &StoreSettings) -> Result<Store> {
        match settings {
            StoreSettings::Local { root } => Ok(Store::local(root.clone())),
            StoreSettings::S3 { s3, credentials_file: None } => Store::s3(s3.clone()),
            StoreSettings::S3 { s3, credentials_file: Some(path) } => Store::s3_with_credentials(
                s3.clone(),
                s3::CredentialSource::File(s3::CredentialsFile::open(path.clone())?),
            ),
        }
    }

    /// An S3 store; fails only on unusable settings (e.g. TLS roots cannot be loaded).
    pub fn s3(settings: S3Settings) -> Result<Store> {
        Ok(Store::S3(s3::S3Store::new(settings)?))
    }

    /// An S3 store signing with `creds` (temporary keys, or a file rewritten with them) instead
    /// of the keys in `settings`.
    pub fn s3_with_credentials(settings: S3Settings, creds: s3::CredentialSource) -> Result<Store> {
        Ok(Store::S3(s3::S3Store::with_credentials(settings, creds)?))
    }

    /// A local-directory store rooted at `root` (created lazily).
    pub fn local(root: impl Into<PathBuf>) -> Store {
        Store::Local(local::LocalStore::new(root))
    }

    /// Whether the bucket exists (HEAD bucket; local: the directory exists).
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        match self {
            Store::S3(s) => s.bucket_exists(bucket).await,
            Store::Local(l) => l.bucket_exists(bucket).await,
        }
    }

    /// Creates the bucket if missing; "already exists/owned by you" is success. The S3 backend
    /// remembers buckets it has checked, so repeated calls cost nothing (D6).
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        match self {
            Store::S3(s) => s.ensure_bucket(bucket).await,
            Store::Local(l) => l.ensure_bucket(bucket).await,
        }
    }

    /// HEAD; `None` when the object or the bucket does not exist.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        match self {
            Store::S3(s) => s.head(bucket, key).await,
            Store::Local(l) => l.head(bucket, key).await,
        }
    }

    /// Streaming GET; `None` for NoSuchKey / NoSuchBucket (and missing files locally).
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<GetObject>> {
        match self {
            Store::S3(s) => s.get(bucket, key).await,
            Store::Local(l) => l.get(bucket, key).await,
        }
    }

    /// GET streamed into `dest` (written beside, then renamed); returns the size, `None` if absent.
    pub async fn get_to_file(&self, bucket: &str, key: &str, dest: &Path) -> Result<Option<u64>> {
        let Some(mut obj) = self.get(bucket, key).await? else {
            return Ok(None);
        };
        // The body reader bounds each wait; this bounds the whole copy, in proportion to its size.
        let limit = s3::transfer_budget(obj.meta.size);
        match tokio::time::timeout(limit, crate::atomic::write_stream(dest, &mut obj.body)).await {
            Ok(Ok(written)) => Ok(Some(written.len())),
            Ok(Err(e)) => Err(Error::io("GetObject", bucket, key, e)),
            Err(_) => Err(Error::timeout("GetObject", bucket, key, limit)),
        }
    }

    /// PUT of a complete in-memory body.
    pub async fn put_bytes(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Result<()> {
        match self {
            Store::S3(s) => s.put_bytes(bucket, key, body, content_type).await,
            Store::Local(l) => l.put_bytes(bucket, key, body).await,
        }
    }

    /// PUT of a file, streamed with its known length (multipart above 64 MiB).
    pub async fn put_file(&self, bucket: &str, key: &str, path: &Path, content_type: &str) -> Result<()> {
        match self {
            Store::S3(s) => s.put_file(bucket, key, path, content_type).await,
            Store::Local(l) => l.put_file(bucket, key, path).await,
        }
    }

    /// Uploads a stream of unknown length: one PUT if it fits in one part, else a multipart
    /// upload with parts of `opts.part_size`, aborted on any failure. Returns the new object's size
    /// and ETag (as HEAD would show them right after). The object becomes visible only when
    /// complete (never a partial object). With `opts.precondition` the write is conditional (S3:
    /// on the PUT, or on the CompleteMultipartUpload): if it does not hold, nothing is written and
    /// the error is [`Error::Changed`].
    pub async fn put_stream<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
        content_type: &str,
        opts: StreamOptions,
    ) -> Result<ObjectMeta> {
        match self {
            Store::S3(s) => s.put_stream(bucket, key, reader, content_type, opts).await,
            Store::Local(l) => l.put_stream(bucket, key, reader, opts.deadline, &opts.precondition).await,
        }
    }

    /// Replaces the object with the concatenation of `pieces`: [`Piece::Copy`] ranges of its
    /// current version, which must still be `source` (size and ETag, as HEAD or an upload
    /// reported them), and new bytes. All or nothing: on any failure the current version stays.
    /// S3: one multipart upload of UploadPartCopy (with `x-amz-copy-source-if-match`) and
    /// UploadPart, so unchanged bytes never leave the server; every piece but the last must hold
    /// at least [`Store::compose_min_piece`] bytes, and the CompleteMultipartUpload carries
    /// `If-Match: <source ETag>`. Local: temp file + rename, checked under the directory lock. A
    /// source that changed is [`Error::Changed`]. Returns the new object's size and ETag.
    pub async fn compose(
        &self,
        bucket: &str,
        key: &str,
        source: &ObjectMeta,
        pieces: Vec<Piece>,
        content_type: &str,
        deadline: Duration,
    ) -> Result<ObjectMeta> {
        match self {
            Store::S3(s) => {
                let r = s.compose(bucket, key, source, &pieces, content_type, deadline).await;
                if r.as_ref().is_err_and(|e| e.is_access_denied())
                    && pieces.iter().any(|p| matches!(p, Piece::Copy { .. }))
                {
                    s.note_copy_refused();
                }
                r
            }
            Store::Local(l) => l.compose(bucket, key, source, pieces, deadline).await,
        }
    }

    /// Whether the server refused a part copy (UploadPartCopy) to this store's credentials with
    /// AccessDenied: then [`Store::compose`] cannot work and the caller should upload whole
    /// objects. Ceph 16 does so to every STS session (issue #10). Never true for local storage.
    pub fn part_copy_refused(&self) -> bool {
        match self {
            Store::S3(s) => s.part_copy_refused(),
            Store::Local(_) => false,
        }
    }

    /// The smallest piece [`Store::compose`] accepts, except the last.
    pub fn compose_min_piece(&self) -> u64 {
        match self {
            Store::S3(_) => S3_MIN_PIECE,
            Store::Local(_) => 1,
        }
    }

    /// Appends `data` to the object (creating it), keeping every existing byte, with no temporary
    /// objects and no incomplete uploads left behind (D9). S3: below 5 MiB, GET (cached by ETag,
    /// re-fetched when HEAD shows a change) + PUT of old+new; from 5 MiB, a multipart upload of
    /// UploadPartCopy(old) + the new bytes. Local: an O_APPEND write.
    pub async fn append(&self, bucket: &str, key: &str, data: Bytes, content_type: &str) -> Result<()> {
        match self {
            Store::S3(s) => s.append(bucket, key, data, content_type).await,
            Store::Local(l) => l.append(bucket, key, data).await,
        }
    }

    /// DELETE; a missing object is success.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        match self {
            Store::S3(s) => s.delete(bucket, key).await,
            Store::Local(l) => l.delete(bucket, key).await,
        }
    }

    /// All objects whose key starts with `prefix` (paginated internally).
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        match self {
            Store::S3(s) => s.list(bucket, prefix).await,
            Store::Local(l) => l.list(bucket, prefix).await,
        }
    }

    /// Writes that have not completed under `prefix`: S3's multipart uploads in progress (or
    /// abandoned), locally the temp files of writes in progress (or left by a crash). A missing
    /// bucket lists as empty.
    pub async fn uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>> {
        match self {
            Store::S3(s) => s.uploads(bucket, prefix).await,
            Store::Local(l) => l.uploads(bucket, prefix).await,
        }
    }

    /// Ends one write [`Store::uploads`] listed, dropping what it wrote: S3
    /// AbortMultipartUpload, locally removes the temp file. One that is gone already is success.
    pub async fn abort_upload(&self, bucket: &str, upload: &PendingUpload) -> Result<()> {
        match self {
            Store::S3(s) => s.abort_upload(bucket, &upload.key, &upload.upload_id).await,
            Store::Local(l) => l.abort_upload(bucket, &upload.key).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// Callers spawn these futures on a multi-threaded runtime: they must all be `Send`.
    #[test]
    fn futures_are_send() {
        let store = Store::local("/nonexistent");
        let p = Path::new("/nonexistent/x");
        assert_send(&store.bucket_exists("b"));
        assert_send(&store.ensure_bucket("b"));
        assert_send(&store.head("b", "k"));
        assert_send(&store.get("b", "k"));
        assert_send(&store.get_to_file("b", "k", p));
        assert_send(&store.put_bytes("b", "k", Bytes::new(), ""));
        assert_send(&store.put_file("b", "k", p, ""));
        assert_send(&store.put_stream("b", "k", tokio::io::empty(), "", StreamOptions::default()));
        assert_send(&store.append("b", "k", Bytes::new(), ""));
        let source = ObjectMeta { size: 0, etag: String::new() };
        assert_send(&store.compose("b", "k", &source, Vec::new(), "", Duration::from_secs(1)));
        assert_send(&store.delete("b", "k"));
        assert_send(&store.list("b", ""));
        assert_send(&store.uploads("b", ""));
        let upload = PendingUpload { key: "k".into(), upload_id: String::new(), initiated: SystemTime::UNIX_EPOCH };
        assert_send(&store.abort_upload("b", &upload));
        fn assert_sync<T: Send + Sync>() {}
        assert_sync::<Store>();
    }
}
