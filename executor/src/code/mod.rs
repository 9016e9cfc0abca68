//! Bot code: download the zip object and extract it safely into `CODE_PATH` (docs/contract.md §2.7
//! step 2–3, §2.5, D16, D17).
//!
//! The zip is streamed to a temp file (never held in memory), extracted on a blocking thread,
//! and the key that was installed is remembered in `<run dir>/code-key`, so a container that
//! restarts inside its pod does not download and rewrite the same code again.

pub mod zip;

use std::io;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use the0_contract::{paths, runtimes};
use the0_objstore::Store;

pub use self::zip::{clean_entry_name, extract_zip, ExtractStats};
use crate::config::Config;
use crate::state::tree;

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("opening code archive {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("reading code archive {path}: {source}")]
    Zip { path: PathBuf, source: ::zip::result::ZipError },
    #[error("code archive declares {declared} bytes uncompressed, above the limit of {limit} bytes")]
    DeclaredTooLarge { declared: u64, limit: u64 },
    #[error("code archive entry {entry}: uncompressed data exceeds the limit of {limit} bytes")]
    TooLarge { entry: String, limit: u64 },
    #[error("code archive entry {entry}: {source}")]
    Entry { entry: String, source: io::Error },
    #[error("code archive entry {entry}: {source}")]
    BadEntry { entry: String, source: ::zip::result::ZipError },
    #[error("code object {bucket}/{key} not found")]
    NotFound { bucket: String, key: String },
    /// The store's error is shown in the message, not chained as a source, so that a report of
    /// the whole chain (`{:#}`) does not print it twice.
    #[error("downloading the code object failed: {cause}")]
    Download { bucket: String, key: String, cause: Box<the0_objstore::Error> },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("code extraction task failed: {0}")]
    Task(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// `CODE_FILE` is unset: the code is already in the image or volume.
    NoCodeFile,
    /// `<run dir>/code-key` already names `CODE_FILE` (D16).
    AlreadyPresent,
    Extracted(ExtractStats),
}

/// Downloads `CODE_FILE` from the code bucket and extracts it into `CODE_PATH`.
pub async fn fetch(store: &Store, cfg: &Config) -> Result<FetchOutcome, CodeError> {
    let Some(key) = cfg.code_file.as_deref() else {
        return Ok(FetchOutcome::NoCodeFile);
    };
    let run_dir = cfg.run_dir();
    let marker = run_dir.join(paths::CODE_KEY);
    if std::fs::read_to_string(&marker).is_ok_and(|k| k == key) && has_entries(&cfg.code_path) {
        crate::info!("code already extracted in this pod", key = key);
        return Ok(FetchOutcome::AlreadyPresent);
    }
    // Whatever happens below, the old marker no longer describes CODE_PATH.
    let _ = tree::remove_any(&marker);

    let bucket = cfg.buckets.code.clone();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let tmp = std::env::temp_dir().join(format!("the0-code-{}-{nanos}.zip", std::process::id()));
    let res = download_and_extract(store, cfg, &bucket, key, &tmp).await;
    if let Err(e) = std::fs::remove_file(&tmp) {
        if e.kind() != io::ErrorKind::NotFound {
            crate::warn!("could not remove the downloaded code zip", path = tmp.display(), error = e);
        }
    }
    let stats = res?;
    crate::info!("code extracted", key = key, files = stats.files, bytes = stats.bytes, skipped = stats.skipped);
    let written = tree::mkdir_all(&run_dir, 0o755)
        .and_then(|()| the0_objstore::atomic::write_file(&marker, key.as_bytes(), 0o644));
    if let Err(e) = written {
        crate::warn!("could not record the extracted code key", path = marker.display(), error = e);
    }
    Ok(FetchOutcome::Extracted(stats))
}

async fn download_and_extract(
    store: &Store,
    cfg: &Config,
    bucket: &str,
    key: &str,
    tmp: &std::path::Path,
) -> Result<ExtractStats, CodeError> {
    let got = store.get_to_file(bucket, key, tmp).await.map_err(|cause| CodeError::Download {
        bucket: bucket.to_string(),
        key: key.to_string(),
        cause: Box::new(cause),
    })?;
    if got.is_none() {
        return Err(CodeError::NotFound { bucket: bucket.to_string(), key: key.to_string() });
    }
    let (zip_path, dest, limit) = (tmp.to_path_buf(), cfg.code_path.clone(), cfg.limits.code_total);
    tokio::task::spawn_blocking(move || extract_zip(&zip_path, &dest, limit))
        .await
        .map_err(|e| CodeError::Task(e.to_string()))?
}

fn has_entries(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut rd| rd.next().is_some())
}

/// Normal run, compiled runtimes: makes `ENTRYPOINT` and `QUERY_ENTRYPOINT` executable (0755).
/// Failures only warn (docs/contract.md §2.5): the launch reports a missing binary itself.
pub fn chmod_entrypoints(cfg: &Config) {
    if !runtimes::COMPILED.contains(&cfg.runtime.as_str()) {
        return;
    }
    let eps = [Some(cfg.entrypoint.as_str()), cfg.query_entrypoint.as_deref()];
    for ep in eps.into_iter().flatten().filter(|ep| !ep.is_empty()) {
        let path = cfg.code_path.join(ep);
        if let Err(e) = tree::set_mode(&path, 0o755) {
            crate::warn!("could not make the entrypoint executable", path = path.display(), error = e);
        }
    }
}
