//! Local-directory backend: object `bucket/key` is the file `<root>/bucket/key`. It serves the
//! embedded single-host default and tests. Every write except `append` is atomic (a temp file
//! beside the object, then a rename); `append` is one `O_APPEND` write so concurrent appenders
//! never interleave inside a chunk.
//!
//! Bot containers see some directories of this store read-write, so every path below the root is
//! reached through `beneath.rs`: no symbolic link is ever followed, and only regular files
//! are opened (anything else is refused with [`Error::NotRegular`]). A directory at an object's
//! path is "no such object", as on S3 where it is only a common prefix.
//!
//! Every rename over an object happens under an exclusive `flock` of its directory
//! (`commit`), and a write's [`Precondition`] is checked under that lock, so conditional
//! writers in several processes (executors sharing the directory) are serialised: of two writers
//! that read the same version, exactly one replaces it.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};

use crate::beneath::{self, Entry, Refused, TempAt};
use crate::compose::check_pieces;
use crate::names::{check_bucket, check_key, check_prefix, check_temp_key};
use crate::{Error, GetObject, ObjectInfo, ObjectMeta, PendingUpload, Piece, Precondition, Result};

/// Copy buffer of stream writes: large enough that a multi-GB copy is not tiny writes.
const COPY_BUF: usize = 256 * 1024;
/// Longest wait for the directory lock of a write (see [`beneath::lock_dir`]).
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// A store rooted at a directory (created lazily, on the first write).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

/// Changes whenever the content is replaced (new inode) or modified in place (size, mtime).
fn etag(m: &std::fs::Metadata) -> String {
    let mtime_ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
    format!("{}-{}-{}", m.len(), mtime_ns, m.ino())
}

fn meta(m: &std::fs::Metadata) -> ObjectMeta {
    ObjectMeta { size: m.len(), etag: etag(m) }
}

/// The directories of `key` and its last segment (`key` is checked: non-empty segments).
fn split_key(key: &str) -> (Vec<&str>, &str) {
    let mut segs: Vec<&str> = key.split('/').collect();
    let leaf = segs.pop().unwrap_or(key);
    (segs, leaf)
}

/// The error for a refusal other than [`Refused::Absent`] (which callers map to "no object").
fn refused(op: &'static str, bucket: &str, key: &str, r: Refused) -> Error {
    match r {
        Refused::Absent => Error::io(op, bucket, key, io::Error::from(io::ErrorKind::NotFound)),
        Refused::NotRegular { found, at } => Error::NotRegular {
            op,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            found,
            at: if at.is_empty() { format!("bucket directory {bucket:?}") } else { format!("{at:?}") },
        },
        Refused::Io(e) => Error::io(op, bucket, key, e),
    }
}

/// Pause between tries of the directory lock: starts at 1 ms, doubles, at most 50 ms.
fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(Duration::from_millis(50))
}

fn lock_timeout(op: &'static str, bucket: &str, key: &str) -> Error {
    let e = io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the object's directory stayed locked by another writer for {LOCK_WAIT:?}"),
    );
    Error::io(op, bucket, key, e)
}

/// Renames `temp` over `leaf` if `pre` holds for what is at `leaf` now, the check and the rename
/// under the directory's lock (blocking; waits at most [`LOCK_WAIT`] for it, polling, so a holder
/// that never lets go, e.g. a bot locking a directory it sees, makes the write fail, not hang).
/// The temp file is removed when the condition does not hold.
fn commit(temp: TempAt, leaf: &str, pre: &Precondition, ids: (&'static str, &str, &str)) -> Result<()> {
    let (op, bucket, key) = ids;
    let dir = temp.dir();
    let (start, mut pause) = (std::time::Instant::now(), Duration::from_millis(1));
    loop {
        if let Some(_lock) = beneath::try_lock_dir(&dir).map_err(|e| Error::io(op, bucket, key, e))? {
            return commit_locked(temp, leaf, pre, ids);
        }
        if start.elapsed() >= LOCK_WAIT {
            return Err(lock_timeout(op, bucket, key));
        }
        std::thread::sleep(pause);
        pause = next_pause(pause);
    }
}

/// [`commit`] from async code: the lock is awaited (a dropped future removes the temp file and
/// writes nothing); once it is held, the check and the rename run at once, without an await.
async fn commit_async(temp: TempAt, leaf: &str, pre: &Precondition, ids: (&'static str, &str, &str)) -> Result<()> {
    let (op, bucket, key) = ids;
    let dir = temp.dir();
    let (start, mut pause) = (tokio::time::Instant::now(), Duration::from_millis(1));
    loop {
        if let Some(_lock) = beneath::try_lock_dir(&dir).map_err(|e| Error::io(op, bucket, key, e))? {
            return commit_locked(temp, leaf, pre, ids);
        }
        if start.elapsed() >= LOCK_WAIT {
            return Err(lock_timeout(op, bucket, key));
        }
        tokio::time::sleep(pause).await;
        pause = next_pause(pause);
    }
}

/// The check of `pre` and the rename; the caller holds the directory's lock.
fn commit_locked(
    temp: TempAt,
    leaf: &str,
    pre: &Precondition,
    (op, bucket, key): (&'static str, &str, &str),
) -> Result<()> {
    if *pre != Precondition::None {
        let current = match beneath::stat_nofollow(&temp.dir(), leaf) {
            Ok(Some(m)) if m.file_type().is_file() => Some(etag(&m)),
            Ok(Some(m)) if m.file_type().is_dir() => None,
            Ok(Some(m)) => Some(format!("a {}", beneath::kind_name(m.file_type()))),
            Ok(None) => None,
            Err(r) => return Err(refused(op, bucket, key, r)),
        };
        if !pre.holds(current.as_deref()) {
            let want = match pre {
                Precondition::Etag(e) => e.as_str(),
                _ => "no object",
            };
            let found = current.as_deref().unwrap_or("no object");
            return Err(Error::changed(op, bucket, key, format!("expected {want}, found {found}")));
        }
    }
    temp.commit(leaf).map_err(|e| Error::io(op, bucket, key, e))
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static>(
    op: &'static str,
    bucket: &str,
    key: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(join) => Err(Error::io(op, bucket, key, io::Error::other(join))),
    }
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore { root: root.into() }
    }

    /// The directory holding one subdirectory per bucket.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `bucket/key` (created when `create`) and the key's last segment, or
    /// `None` when the directory does not exist (reads only).
    fn locate(&self, op: &'static str, bucket: &str, key: &str, create: bool) -> Result<Option<(OwnedFd, String)>> {
        check_key(op, bucket, key)?;
        let (dirs, leaf) = split_key(key);
        match beneath::open_dir(&self.root, bucket, &dirs, create) {
            Ok(fd) => Ok(Some((fd, leaf.to_owned()))),
            Err(Refused::Absent) if !create => Ok(None),
            Err(r) => Err(refused(op, bucket, key, r)),
        }
    }

    pub(crate) async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        check_bucket("HeadBucket", bucket)?;
        let (root, b) = (self.root.clone(), bucket.to_owned());
        blocking("HeadBucket", bucket, "", move || match beneath::open_dir(&root, &b, &[], false) {
            Ok(_) => Ok(true),
            Err(Refused::Absent) => Ok(false),
            Err(r) => Err(refused("HeadBucket", &b, "", r)),
        })
        .await
    }

    pub(crate) async fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        check_bucket("CreateBucket", bucket)?;
        let (root, b) = (self.root.clone(), bucket.to_owned());
        blocking("CreateBucket", bucket, "", move || {
            beneath::open_dir(&root, &b, &[], true).map(drop).map_err(|r| refused("CreateBucket", &b, "", r))
        })
        .await
    }

    pub(crate) async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        const OP: &str = "HeadObject";
        let (this, b, k) = (self.clone(), bucket.to_owned(), key.to_owned());
        blocking(OP, bucket, key, move || {
            let Some((dir, leaf)) = this.locate(OP, &b, &k, false)? else { return Ok(None) };
            match beneath::stat_nofollow(&dir, &leaf) {
                Ok(Some(m)) if m.file_type().is_file() => Ok(Some(meta(&m))),
                Ok(Some(m)) if m.file_type().is_dir() => Ok(None),
                Ok(Some(m)) => Err(refused(
                    OP,
                    &b,
                    &k,
                    Refused::NotRegular { found: beneath::kind_name(m.file_type()), at: k.clone() },
                )),
                Ok(None) => Ok(None),
                Err(r) => Err(refused(OP, &b, &k, r)),
            }
        })
        .await
    }

    /// Opens the object for reading (blocking): `None` when absent or a directory.
    fn open_object(
        &self,
        op: &'static str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(std::fs::File, std::fs::Metadata)>> {
        let Some((dir, leaf)) = self.locate(op, bucket, key, false)? else { return Ok(None) };
        match beneath::open_regular(&dir, &leaf, key) {
            Ok(opened) => Ok(Some(opened)),
            Err(Refused::Absent) | Err(Refused::NotRegular { found: "directory", .. }) => Ok(None),
            Err(r) => Err(refused(op, bucket, key, r)),
        }
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<GetObject>> {
        const OP: &str = "GetObject";
        let (this, b, k) = (self.clone(), bucket.to_owned(), key.to_owned());
        let opened = blocking(OP, bucket, key, move || this.open_object(OP, &b, &k)).await?;
        Ok(opened.map(|(file, m)| GetObject { meta: meta(&m), body: Box::pin(tokio::fs::File::from_std(file)) }))
    }

    /// Writes everything `reader` yields to the object atomically (mode 0644): a temp file made
    /// in the object's directory descriptor, fsynced, then renamed over the object within that
    /// descriptor if `pre` holds then ([`commit`]). Returns the metadata of the written file. On
    /// any error, including the future being dropped, the object is untouched and the temp file
    /// removed.
    async fn write_object<R: AsyncRead + Unpin + ?Sized>(
        &self,
        op: &'static str,
        bucket: &str,
        key: &str,
        reader: &mut R,
        pre: &Precondition,
    ) -> Result<std::fs::Metadata> {
        let err = |e| Error::io(op, bucket, key, e);
        let (this, b, k) = (self.clone(), bucket.to_owned(), key.to_owned());
        let (temp, file, leaf) = blocking(op, bucket, key, move || {
            let Some((dir, leaf)) = this.locate(op, &b, &k, true)? else {
                return Err(refused(op, &b, &k, Refused::Absent));
            };
            let (temp, file) = TempAt::create(Arc::new(dir), &leaf).map_err(|e| Error::io(op, &b, &k, e))?;
            Ok((temp, file, leaf))
        })
        .await?;
        let mut file = tokio::fs::File::from_std(file);
        let mut reader = BufReader::with_capacity(COPY_BUF, reader);
        tokio::io::copy_buf(&mut reader, &mut file).await.map_err(err)?;
        file.flush().await.map_err(err)?;
        file.sync_all().await.map_err(err)?;
        let written = file.metadata().await.map_err(err)?;
        drop(file);
        commit_async(temp, &leaf, pre, (op, bucket, key)).await?;
        Ok(written)
    }

    pub(crate) async fn put_bytes(&self, bucket: &str, key: &str, body: Bytes) -> Result<()> {
        self.write_object("PutObject", bucket, key, &mut &body[..], &Precondition::None).await.map(drop)
    }

    pub(crate) async fn put_file(&self, bucket: &str, key: &str, src: &Path) -> Result<()> {
        let mut file = tokio::fs::File::open(src).await.map_err(|e| Error::io("PutObject", bucket, key, e))?;
        self.write_object("PutObject", bucket, key, &mut file, &Precondition::None).await.map(drop)
    }

    pub(crate) async fn put_stream<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        mut reader: R,
        deadline: Duration,
        pre: &Precondition,
    ) -> Result<ObjectMeta> {
        match tokio::time::timeout(deadline, self.write_object("PutObject", bucket, key, &mut reader, pre)).await {
            Ok(r) => r.map(|m| meta(&m)),
            Err(_) => Err(Error::timeout("PutObject", bucket, key, deadline)),
        }
    }

    /// [`crate::Store::compose`]: a temp file beside the object, filled from the ranges of the
    /// current file (verified to be `source`, and read through the one descriptor that was
    /// verified) and the new bytes, then renamed over it if the object is still `source` then.
    pub(crate) async fn compose(
        &self,
        bucket: &str,
        key: &str,
        source: &ObjectMeta,
        pieces: Vec<Piece>,
        deadline: Duration,
    ) -> Result<ObjectMeta> {
        const OP: &str = "ComposeObject";
        check_key(OP, bucket, key)?;
        check_pieces(OP, bucket, key, &pieces, source.size, 1)?;
        let (this, source) = (self.clone(), source.clone());
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let job = blocking(OP, bucket, key, move || this.compose_file(&source, &pieces, (&b, &k)));
        match tokio::time::timeout(deadline, job).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(OP, bucket, key, deadline)),
        }
    }

    /// The blocking body of [`LocalStore::compose`]. A temp file left by a failure is removed.
    fn compose_file(&self, source: &ObjectMeta, pieces: &[Piece], (bucket, key): (&str, &str)) -> Result<ObjectMeta> {
        const OP: &str = "ComposeObject";
        use std::io::{Seek, SeekFrom, Write};
        let err = |e| Error::io(OP, bucket, key, e);
        let changed = |detail: String| Error::changed(OP, bucket, key, detail);
        let Some((dir, leaf)) = self.locate(OP, bucket, key, false)? else {
            return Err(changed("it no longer exists".into()));
        };
        let (mut old, m) = match beneath::open_regular(&dir, &leaf, key) {
            Ok(opened) => opened,
            Err(Refused::Absent) => return Err(changed("it no longer exists".into())),
            Err(r) => return Err(refused(OP, bucket, key, r)),
        };
        let now = meta(&m);
        if now != *source {
            return Err(changed(format!("expected {}, found {}", source.etag, now.etag)));
        }
        let (temp, mut out) = TempAt::create(Arc::new(dir), &leaf).map_err(err)?;
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
        commit(temp, &leaf, &Precondition::Etag(source.etag.clone()), (OP, bucket, key))?;
        Ok(written)
    }

    pub(crate) async fn append(&self, bucket: &str, key: &str, data: Bytes) -> Result<()> {
        const OP: &str = "AppendObject";
        let (this, b, k) = (self.clone(), bucket.to_owned(), key.to_owned());
        // std, not tokio::fs: tokio may split a large write into several, and the chunk must go
        // down in one write_all on an O_APPEND descriptor.
        blocking(OP, bucket, key, move || {
            use std::io::Write;
            let Some((dir, leaf)) = this.locate(OP, &b, &k, true)? else {
                return Err(refused(OP, &b, &k, Refused::Absent));
            };
            let mut f = beneath::open_append(&dir, &leaf, &k).map_err(|r| refused(OP, &b, &k, r))?;
            f.write_all(&data).map_err(|e| Error::io(OP, &b, &k, e))
        })
        .await
    }

    /// Removes the object; a link or special file planted at the key is removed itself (never
    /// what it points to). Absent is fine.
    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        const OP: &str = "DeleteObject";
        let (this, b, k) = (self.clone(), bucket.to_owned(), key.to_owned());
        blocking(OP, bucket, key, move || {
            let Some((dir, leaf)) = this.locate(OP, &b, &k, false)? else { return Ok(()) };
            beneath::unlink(&dir, &leaf).map_err(|e| Error::io(OP, &b, &k, e))
        })
        .await
    }

    /// Regular files under the bucket whose key starts with `prefix`, sorted by key; temp files,
    /// names that are not UTF-8, links and special files are skipped, and no link is followed. A
    /// missing bucket lists as empty.
    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.walk_bucket("ListObjectsV2", bucket, prefix, Files::Objects).await
    }

    /// The local analogue of S3's incomplete multipart uploads: the temp files of writes in
    /// progress, or left behind by a process that died mid-write, under `prefix`, sorted by key.
    /// Each one's key is the temp file's own key; `initiated` is its modification time.
    pub(crate) async fn uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<PendingUpload>> {
        let temps = self.walk_bucket("ListMultipartUploads", bucket, prefix, Files::Temps).await?;
        Ok(temps
            .into_iter()
            .map(|o| PendingUpload { key: o.key, upload_id: String::new(), initiated: o.last_modified })
            .collect())
    }

    /// Removes a temp file [`LocalStore::uploads`] listed (a link planted at its name is removed
    /// itself, never followed). Refuses a key that is not a temp file's. Absent is fine.
    pub(crate) async fn abort_upload(&self, bucket: &str, key: &str) -> Result<()> {
        const OP: &str = "AbortMultipartUpload";
        check_temp_key(OP, bucket, key)?;
        let (root, b, k) = (self.root.clone(), bucket.to_owned(), key.to_owned());
        blocking(OP, bucket, key, move || {
            let (dirs, leaf) = split_key(&k);
            let dir = match beneath::open_dir(&root, &b, &dirs, false) {
                Ok(fd) => fd,
                Err(Refused::Absent) => return Ok(()),
                Err(r) => return Err(refused(OP, &b, &k, r)),
            };
            beneath::unlink(&dir, leaf).map_err(|e| Error::io(OP, &b, &k, e))
        })
        .await
    }

    async fn walk_bucket(&self, op: &'static str, bucket: &str, prefix: &str, want: Files) -> Result<Vec<ObjectInfo>> {
        check_prefix(op, bucket, prefix)?;
        let (root, b, p) = (self.root.clone(), bucket.to_owned(), prefix.to_owned());
        blocking(op, bucket, prefix, move || {
            let dir = match beneath::open_dir(&root, &b, &[], false) {
                Ok(fd) => fd,
                Err(Refused::Absent) => return Ok(Vec::new()),
                Err(r) => return Err(refused(op, &b, &p, r)),
            };
            let mut out = Vec::new();
            walk(dir, "", &p, want, &mut out).map_err(|e| Error::io(op, &b, &p, e))?;
            out.sort_by(|x, y| x.key.cmp(&y.key));
            Ok(out)
        })
        .await
    }
}

/// Which regular files a walk collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Files {
    /// Objects: every file but temp files.
    Objects,
    /// Only temp files (writes in progress or left behind).
    Temps,
}

/// Recursive listing of `dir`, whose key prefix is `rel` (empty or ending in `/`).
fn walk(dir: OwnedFd, rel: &str, prefix: &str, want: Files, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    for entry in beneath::entries(&dir)? {
        match entry {
            Entry::Dir { name, fd } => {
                let sub = format!("{rel}{name}/");
                if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                    walk(fd, &sub, prefix, want, out)?;
                }
            }
            Entry::File { name, meta: m } => {
                let key = format!("{rel}{name}");
                let temp = crate::atomic::is_temp_name(&name);
                if temp != (want == Files::Temps) || !key.starts_with(prefix) {
                    continue;
                }
                let last_modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                out.push(ObjectInfo { key, size: m.len(), last_modified });
            }
        }
    }
    Ok(())
}
