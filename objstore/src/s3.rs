//! S3-compatible backend. Placeholder until the real implementation lands in the next commits:
//! construction fails, so no caller can reach these methods yet.

use std::path::Path;

use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::{Error, GetObject, ObjectInfo, ObjectMeta, Result, S3Settings, StreamOptions};

pub struct S3Store {
    _private: (),
}

fn unimplemented<T>() -> Result<T> {
    Err(Error::Invalid(
        "the S3 backend is not implemented yet".into(),
    ))
}

#[allow(unused_variables)]
impl S3Store {
    pub(crate) fn new(settings: S3Settings) -> Result<S3Store> {
        unimplemented()
    }
    pub(crate) async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        unimplemented()
    }
    pub(crate) async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        unimplemented()
    }
    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        unimplemented()
    }
    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<GetObject>> {
        unimplemented()
    }
    pub(crate) async fn get_to_file(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
    ) -> Result<Option<u64>> {
        unimplemented()
    }
    pub(crate) async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<()> {
        unimplemented()
    }
    pub(crate) async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<()> {
        unimplemented()
    }
    pub(crate) async fn put_stream<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        reader: R,
        content_type: &str,
        opts: StreamOptions,
    ) -> Result<u64> {
        unimplemented()
    }
    pub(crate) async fn append(
        &self,
        bucket: &str,
        key: &str,
        data: Bytes,
        content_type: &str,
    ) -> Result<()> {
        unimplemented()
    }
    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        unimplemented()
    }
    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        unimplemented()
    }
}
