//! The public operations of [`Store`], each delegating to its backend.
//! SIGNATURES ONLY: the bodies are being written (helper A); nothing may ship with a `todo!()`.

use super::*;

#[allow(unused_variables)]
impl Store {
    /// An S3 store; fails only on unusable settings (e.g. TLS roots cannot be loaded).
    pub fn s3(settings: S3Settings) -> Result<Store> {
        todo!()
    }

    /// A local-directory store rooted at `root` (created lazily).
    pub fn local(root: impl Into<PathBuf>) -> Store {
        todo!()
    }

    /// Whether the bucket exists (HEAD bucket; local: the directory exists).
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        todo!()
    }

    /// Creates the bucket if missing; "already exists/owned by you" is success. The S3 backend
    /// remembers buckets it has checked, so repeated calls cost nothing (D6).
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        todo!()
    }

    /// HEAD; `None` when the object or the bucket does not exist.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        todo!()
    }

    /// Streaming GET; `None` for NoSuchKey / NoSuchBucket (and missing files locally).
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<GetObject>> {
        todo!()
    }

    /// GET streamed into `dest` (written beside, then renamed); returns the size, `None` if absent.
    pub async fn get_to_file(&self, bucket: &str, key: &str, dest: &Path) -> Result<Option<u64>> {
        todo!()
    }

    /// PUT of a complete in-memory body.
    pub async fn put_bytes(&self, bucket: &str, key: &str, body: Bytes, content_type: &str) -> Result<()> {
        todo!()
    }

    /// PUT of a file, streamed with its known length (multipart above 64 MiB).
    pub async fn put_file(&self, bucket: &str, key: &str, path: &Path, content_type: &str) -> Result<()> {
        todo!()
    }

    /// Uploads a stream of unknown length: one PUT if it fits in one part, else a multipart
    /// upload with parts of `opts.part_size`, aborted on any failure. Returns the bytes uploaded.
    /// The object becomes visible only when complete (never a partial object).
    pub async fn put_stream<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
        content_type: &str,
        opts: StreamOptions,
    ) -> Result<u64> {
        todo!()
    }

    /// Appends `data` to the object (creating it), keeping every existing byte, with no temporary
    /// objects and no incomplete uploads left behind (D9). S3: below 5 MiB, GET (cached by ETag,
    /// re-fetched when HEAD shows a change) + PUT of old+new; from 5 MiB, a multipart upload of
    /// UploadPartCopy(old) + the new bytes. Local: an O_APPEND write.
    pub async fn append(&self, bucket: &str, key: &str, data: Bytes, content_type: &str) -> Result<()> {
        todo!()
    }

    /// DELETE; a missing object is success.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        todo!()
    }

    /// All objects whose key starts with `prefix` (paginated internally).
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        todo!()
    }
}
