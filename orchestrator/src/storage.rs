//! Bots' object storage on the host side: the [`the0_objstore::Store`] the orchestrator
//! itself uses (to check that a code object exists, to store `deploy`ed code, to read stored logs)
//! and, for the embedded local backend, the per-bot directories a container may write, owned by
//! uid 1000 so the executor (non-root) can write temp files beside its targets and rename them.

use std::path::Path;

use the0_objstore::{S3Settings, Store};

use crate::model::Launch;
use crate::spec::{local_paths, HostSettings, Storage};

/// The host's handle on the same objects the containers see.
pub fn open(h: &HostSettings, region: &str) -> Result<Store, String> {
    match &h.storage {
        Storage::Local { root } => Ok(Store::local(root.clone())),
        Storage::S3 { endpoint, access_key, secret_key, use_ssl, .. } => Store::s3(S3Settings {
            endpoint: endpoint.clone(),
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
            use_ssl: *use_ssl,
            region: region.to_string(),
        })
        .map_err(|e| e.to_string()),
    }
}

/// Fails with a readable reason if the bot's code object is missing.
pub async fn check_code(store: &Store, h: &HostSettings, l: &Launch) -> Result<(), String> {
    match store.head(&h.buckets.code, &l.code_file).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("code object {}/{} does not exist", h.buckets.code, l.code_file)),
        Err(e) => Err(format!("cannot check code object {}/{}: {e}", h.buckets.code, l.code_file)),
    }
}

/// Local backend: creates the bot's state and logs directories, writable by uid 1000.
pub fn prepare_local(h: &HostSettings, l: &Launch) -> Result<(), String> {
    let Storage::Local { root } = &h.storage else { return Ok(()) };
    let (code, state, logs) = local_paths(root, &h.buckets, l);
    if !code.is_file() {
        return Err(format!("code object {} is not a file", code.display()));
    }
    for dir in [&state, &logs] {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        give_to_bot_user(dir)?;
    }
    Ok(())
}

pub(crate) fn give_to_bot_user(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        std::os::unix::fs::chown(dir, Some(1000), Some(1000)).map_err(|e| format!("chown {}: {e}", dir.display()))
    } else {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| format!("chmod {}: {e}", dir.display()))
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
