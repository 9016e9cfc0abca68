//! Query result objects (docs/contract.md §3, D19), as both one-shot paths read them: Docker mode's
//! query containers and Kubernetes mode's query Jobs. A result object is written by the bot's own
//! query program, so it is hostile input: it is read with a size cap ([`MAX_RESULT`]) and a time
//! bound, parsed by [`super::reply::parse_answer`] only, deleted in every outcome, and anything
//! left older than [`RESULT_MAX_AGE`] is collected.
//!
//! Why it exists: one reader, one deleter and one collector for both modes, so a cap or a bound
//! set here holds for every one-shot query.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncReadExt;

/// Bound on deleting a result object (as the original).
const DELETE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on reading a result object.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest result object read.
pub const MAX_RESULT: u64 = 16 * 1024 * 1024;
/// Result objects older than this are garbage (D19).
pub const RESULT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The query-results bucket.
#[derive(Clone)]
pub struct Results {
    pub objects: Arc<the0_objstore::Store>,
    pub bucket: String,
    /// The local backend's root: an emptied result directory is removed there too.
    pub local_root: Option<std::path::PathBuf>,
}

/// Why a query result could not be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Storage(Box<the0_objstore::Error>),
    #[error("object {bucket}/{key} does not exist")]
    Missing { bucket: String, key: String },
    #[error(transparent)]
    Read(std::io::Error),
    #[error("timed out")]
    Timeout,
}

impl Results {
    /// The result object at `key`, at most [`MAX_RESULT`] bytes of it.
    pub async fn fetch(&self, key: &str) -> Result<Vec<u8>, FetchError> {
        let bucket = &self.bucket;
        let fetch = async {
            let Some(obj) = self.objects.get(bucket, key).await.map_err(|e| FetchError::Storage(Box::new(e)))? else {
                return Err(FetchError::Missing { bucket: bucket.clone(), key: key.to_string() });
            };
            let mut buf = Vec::new();
            obj.body.take(MAX_RESULT).read_to_end(&mut buf).await.map_err(FetchError::Read)?;
            Ok(buf)
        };
        tokio::time::timeout(FETCH_TIMEOUT, fetch).await.map_err(|_| FetchError::Timeout)?
    }

    /// Deletes the result object (and, locally, its now empty directory); failures are logged.
    pub async fn delete(&self, key: &str) {
        match tokio::time::timeout(DELETE_TIMEOUT, self.objects.delete(&self.bucket, key)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(key = %key, error = %e, "cannot delete a query result"),
            Err(_) => tracing::warn!(key = %key, "deleting a query result timed out"),
        }
        if let Some(root) = &self.local_root {
            if let Some(dir) = Path::new(key).parent() {
                let _ = std::fs::remove_dir(root.join(&self.bucket).join(dir));
            }
        }
    }

    /// D19: deletes result objects older than [`RESULT_MAX_AGE`]. Returns how many.
    pub async fn collect_garbage(&self, now: SystemTime) -> Result<usize, the0_objstore::Error> {
        let objs = self.objects.list(&self.bucket, "").await?;
        let mut n = 0;
        for o in objs.into_iter().filter(|o| now.duration_since(o.last_modified).is_ok_and(|a| a > RESULT_MAX_AGE)) {
            self.delete(&o.key).await;
            n += 1;
        }
        Ok(n)
    }
}
