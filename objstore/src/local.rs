//! Local-directory backend: object `bucket/key` is the file `<root>/bucket/key`. It serves the
//! embedded single-host default and tests. Every write except `append` is atomic (see
//! [`crate::atomic`]); `append` is one `O_APPEND` write so concurrent appenders never interleave
//! inside a chunk.

use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::atomic::{is_temp_name, make_dirs, temp_path, write_atomic, TempGuard, FILE_MODE};
use crate::compose::check_pieces;
use crate::names::{check_bucket, check_key, check_prefix};
use crate::{Error, GetObject, ObjectInfo, ObjectMeta, Piece, Result};

/// A store rooted at a directory (created lazily, on the first write).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

/// Missing file, or a path component that is a file: the object does not exist.
fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

/// Changes whenever the content is replaced (new inode) or modified in place (size, mtime).
fn etag(m: &std::fs::Metadata) -> String {
    let mtime_ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    format!("{}-{}-{}", m.len(), mtime_ns, m.ino())
}

fn meta(m: &std::fs::Metadata) -> ObjectMeta {
    ObjectMeta { size: m.len(), etag: etag(m) }
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore { root: root.into() }
    }

    /// The directory holding one subdirectory per bucket.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn bucket_path(&self, op: &'static str, bucket: &str) -> Result<PathBuf> {
        check_bucket(op, bucket)?;
        Ok(self.root.join(bucket))
    }

    fn object_path(&self, op: &'static str, bucket: &str, key: &str) -> Result<PathBuf> {
        check_key(op, bucket, key)?;
        Ok(self.root.join(bucket).join(key))
    }

    pub(crate) async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        let dir = self.bucket_path("HeadBucket", bucket)?;
        match tokio::fs::metadata(&dir).await {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(Error::io("HeadBucket", bucket, "", e)),
        }
    }

    pub(crate) async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        let dir = self.bucket_path("CreateBucket", bucket)?;
        make_dirs(&dir).await.map_err(|e| Error::io("CreateBucket", bucket, "", e))
    }

    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        let path = self.object_path("HeadObject", bucket, key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(meta(&m))),
            Ok(_) => Ok(None),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(Error::io("HeadObject", bucket, key, e)),
        }
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<GetObject>> {
        let path = self.object_path("GetObject", bucket, key)?;
        let err = |e| Error::io("GetObject", bucket, key, e);
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        let m = file.metadata().await.map_err(err)?;
        if !m.is_file() {
            return Ok(None);
        }
        Ok(Some(GetObject { meta: meta(&m), body: Box::pin(file) }))
    }

    pub(crate) async fn put_bytes(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        let path = self.object_path("PutObject", bucket, key)?;
        write_atomic(&path, &mut &body[..]).await.map_err(|e| Error::io("PutObject", bucket, key, e))?;
        Ok(())
    }

    pub(crate) async fn put_file(&self, bucket: &str, key: &str, src: &Path) -> Result<()> {
        let path = self.object_path("PutObject", bucket, key)?;
        let err = |e| Error::io("PutObject", bucket, key, e);
        let mut file = tokio::fs::File::open(src).await.map_err(err)?;
        write_atomic(&path, &mut file).await.map_err(err)?;
        Ok(())
    }

    pub(crate) async fn put_stream<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        mut reader: R,
        deadline: Duration,
    ) -> Result<ObjectMeta> {
        let path = self.object_path("PutObject", bucket, key)?;
        match tokio::time::timeout(deadline, write_atomic(&path, &mut reader)).await {
            Ok(r) => r.map(|m| meta(&m)).map_err(|e| Error::io("PutObject", bucket, key, e)),
            Err(_) => Err(Error::timeout("PutObject", bucket, key, deadline)),
        }
    }

    /// [`crate::Store::compose`]: a temp file beside the object, filled from the ranges of the
    /// current file (verified to be `source`, and read through the one descriptor that was
    /// verified) and the new bytes, then renamed over it.
    pub(crate) async fn compose(
        &self,
        bucket: &str,
        key: &str,
        source: &ObjectMeta,
        pieces: Vec<Piece>,
        deadline: Duration,
    ) -> Result<ObjectMeta> {
        const OP: &str = "ComposeObject";
        let path = self.object_path(OP, bucket, key)?;
        check_pieces(OP, bucket, key, &pieces, source.size, 1)?;
        let source = source.clone();
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let job = tokio::task::spawn_blocking(move || compose_file(&path, &source, &pieces, (&b, &k)));
        match tokio::time::timeout(deadline, job).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(Error::io(OP, bucket, key, io::Error::other(join))),
            Err(_) => Err(Error::timeout(OP, bucket, key, deadline)),
        }
    }

    pub(crate) async fn append(&self, bucket: &str, key: &str, data: Bytes) -> Result<()> {
        let path = self.object_path("AppendObject", bucket, key)?;
        let err = |e| Error::io("AppendObject", bucket, key, e);
        if let Some(parent) = path.parent() {
            make_dirs(parent).await.map_err(err)?;
        }
        // std, not tokio::fs: tokio may split a large write into several, and the chunk must go
        // down in one write_all on an O_APPEND descriptor.
        let write = move || -> io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().append(true).create(true).mode(FILE_MODE).open(&path)?;
            f.write_all(&data)
        };
        match tokio::task::spawn_blocking(write).await {
            Ok(r) => r.map_err(err),
            Err(join) => Err(err(io::Error::other(join))),
        }
    }

    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        let path = self.object_path("DeleteObject", bucket, key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if is_absent(&e) => Ok(()),
            Err(e) => Err(Error::io("DeleteObject", bucket, key, e)),
        }
    }

    /// Regular files under the bucket whose key starts with `prefix`, sorted by key; temp files
    /// and names that are not UTF-8 are skipped, symlinked directories are not followed. A
    /// missing bucket lists as empty.
    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        check_prefix("ListObjectsV2", bucket, prefix)?;
        let dir = self.bucket_path("ListObjectsV2", bucket)?;
        let prefix_owned = prefix.to_owned();
        let walk = move || {
            let mut out = Vec::new();
            walk(&dir, "", &prefix_owned, &mut out)?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        };
        match tokio::task::spawn_blocking(walk).await {
            Ok(r) => r.map_err(|e| Error::io("ListObjectsV2", bucket, prefix, e)),
            Err(join) => Err(Error::io("ListObjectsV2", bucket, prefix, io::Error::other(join))),
        }
    }
}

/// The blocking body of [`LocalStore::compose`]. A temp file left by a failure is removed.
fn compose_file(path: &Path, source: &ObjectMeta, pieces: &[Piece], (bucket, key): (&str, &str)) -> Result<ObjectMeta> {
    const OP: &str = "ComposeObject";
    use std::io::{Seek, SeekFrom, Write};
    let err = |e| Error::io(OP, bucket, key, e);
    let changed = |detail: String| Error::Changed { op: OP, bucket: bucket.to_owned(), key: key.to_owned(), detail };
    let mut old = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if is_absent(&e) => return Err(changed("it no longer exists".into())),
        Err(e) => return Err(err(e)),
    };
    let now = meta(&old.metadata().map_err(err)?);
    if now != *source {
        return Err(changed(format!("expected {}, found {}", source.etag, now.etag)));
    }
    let temp = temp_path(path).map_err(err)?;
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(&temp).map_err(err)?;
    let mut guard = TempGuard(Some(temp.clone()));
    for piece in pieces {
        match piece {
            Piece::Copy { start, end } => {
                old.seek(SeekFrom::Start(*start)).map_err(err)?;
                // std::io::copy of a Take<File> into a File uses copy_file_range on Linux.
                let n = io::copy(&mut (&mut old).take(end - start), &mut out).map_err(err)?;
                if n != end - start {
                    return Err(changed(format!("it ended at byte {} while copying {start}..{end}", start + n)));
                }
            }
            Piece::Data(bytes) => out.write_all(bytes).map_err(err)?,
        }
    }
    out.sync_all().map_err(err)?;
    let written = meta(&out.metadata().map_err(err)?);
    drop(out);
    std::fs::rename(&temp, path).map_err(err)?;
    guard.0 = None;
    Ok(written)
}

/// Recursive listing of `dir`, whose key prefix is `rel` (empty or ending in `/`).
fn walk(dir: &Path, rel: &str, prefix: &str, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if rel.is_empty() && is_absent(&e) => return Ok(()),
        // Deleted while we walked: nothing to list there.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let key = format!("{rel}{name}");
        let ft = entry.file_type()?;
        if ft.is_dir() {
            let sub = format!("{key}/");
            if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                walk(&entry.path(), &sub, prefix, out)?;
            }
            continue;
        }
        if is_temp_name(&name) || !key.starts_with(prefix) {
            continue;
        }
        // Follows symlinks to files; a dangling link or a file deleted meanwhile is skipped.
        let m = match std::fs::metadata(entry.path()) {
            Ok(m) => m,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(e),
        };
        if m.is_file() {
            let last_modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.push(ObjectInfo { key, size: m.len(), last_modified });
        }
    }
    Ok(())
}
