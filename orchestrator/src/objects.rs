//! Bots' object storage on the host side: the [`the0_objstore::Store`] the orchestrator
//! itself uses (to check that a code object exists, to store `deploy`ed code, to read stored logs)
//! and, for the embedded local backend, the per-bot directories a container may write, owned by
//! uid 1000 so the executor (non-root) can write temp files beside its targets and rename them.

use std::path::{Path, PathBuf};

use the0_objstore::{S3Settings, Store, StoreSettings};

use crate::model::Launch;
use crate::spec::{local_paths, HostSettings, Storage};

/// What can go wrong with the bots' objects on the host side. Its text is what a failed start
/// records as the bot's failure reason.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error(transparent)]
    Open(Box<the0_objstore::Error>),
    #[error("code object {bucket}/{key} does not exist")]
    CodeMissing { bucket: String, key: String },
    #[error("cannot check code object {bucket}/{key}: {source}")]
    CodeCheck { bucket: String, key: String, source: Box<the0_objstore::Error> },
    #[error("code object {} is not a file", .0.display())]
    CodeNotAFile(PathBuf),
    #[error("code object {} does not exist", .0.display())]
    CodeNotFound(PathBuf),
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("chown {}: {source}", path.display())]
    Chown { path: PathBuf, source: std::io::Error },
    #[error("chmod {}: {source}", path.display())]
    Chmod { path: PathBuf, source: std::io::Error },
}

/// The orchestrator's storage as the object store's one settings type: the only place the
/// host-side S3 connection (endpoint, keys, TLS, SigV4 `region`) is derived from [`Storage`].
/// The container endpoint is the containers' business (`spec.rs`), not the host's.
pub fn store_settings(storage: &Storage, region: &str) -> StoreSettings {
    match storage {
        Storage::Local { root } => StoreSettings::Local { root: root.clone() },
        Storage::S3 { endpoint, access_key, secret_key, use_ssl, .. } => StoreSettings::S3 {
            s3: S3Settings {
                endpoint: endpoint.clone(),
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
                use_ssl: *use_ssl,
                region: region.to_string(),
            },
            credentials_file: None,
        },
    }
}

/// The host's handle on the same objects the containers see.
pub fn open(h: &HostSettings, region: &str) -> Result<Store, ObjectsError> {
    Store::open(&store_settings(&h.storage, region)).map_err(|e| ObjectsError::Open(Box::new(e)))
}

/// Fails with a readable reason if the bot's code object is missing.
pub async fn check_code(store: &Store, h: &HostSettings, l: &Launch) -> Result<(), ObjectsError> {
    let (bucket, key) = (h.buckets.code.clone(), l.code_file.clone());
    match store.head(&h.buckets.code, &l.code_file).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ObjectsError::CodeMissing { bucket, key }),
        Err(e) => Err(ObjectsError::CodeCheck { bucket, key, source: Box::new(e) }),
    }
}

/// Local backend: creates the bot's state and logs directories, writable by uid 1000.
pub fn prepare_local(h: &HostSettings, l: &Launch) -> Result<(), ObjectsError> {
    let Storage::Local { root } = &h.storage else { return Ok(()) };
    let (code, state, logs) = local_paths(root, &h.buckets, l);
    if !code.is_file() {
        return Err(ObjectsError::CodeNotAFile(code));
    }
    for dir in [&state, &logs] {
        create_dir(dir)?;
        give_to_bot_user(dir)?;
    }
    Ok(())
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<(), ObjectsError> {
    std::fs::create_dir_all(dir).map_err(|source| ObjectsError::CreateDir { path: dir.to_path_buf(), source })
}

pub(crate) fn give_to_bot_user(dir: &Path) -> Result<(), ObjectsError> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        std::os::unix::fs::chown(dir, Some(1000), Some(1000))
            .map_err(|source| ObjectsError::Chown { path: dir.to_path_buf(), source })
    } else {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
            .map_err(|source| ObjectsError::Chmod { path: dir.to_path_buf(), source })
    }
}

/// Readiness: the code bucket is reachable (§3: "host readiness requires the code bucket").
pub async fn ready(store: &Store, h: &HostSettings) -> bool {
    match &h.storage {
        Storage::Local { root } => root.is_dir() || std::fs::create_dir_all(root).is_ok(),
        Storage::S3 { .. } => {
            tokio::time::timeout(std::time::Duration::from_secs(5), store.bucket_exists(&h.buckets.code))
                .await
                .is_ok_and(|r| r.is_ok())
        }
    }
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
