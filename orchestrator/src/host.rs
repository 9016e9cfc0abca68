//! The host context: the handles every host role works with (the store, the container engine,
//! the bots' object storage, the host settings, the metrics and the clock), opened once from the settings and
//! shared by the reconciler, the scheduler, the health server and the query server, so none of
//! them repeats the bundle.

use std::path::Path;
use std::sync::Arc;

use crate::clock::Clock;
use crate::docker::{Docker, DockerError};
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::objects::ObjectsError;
use crate::spec::{HostSettings, Storage};
use crate::store::{Store, StoreError};

/// What can go wrong opening the host context or a listener of a host role.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot listen on {addr}: {err}")]
    Bind { addr: String, err: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("storage: {}: {source}", path.display())]
    StorageRoot { path: std::path::PathBuf, source: std::io::Error },
    #[error("storage: {0}")]
    Storage(#[from] ObjectsError),
}

/// The handles of one host, cheap to clone.
#[derive(Clone)]
pub struct Host {
    pub store: Store,
    /// The container engine: the Docker driver, or an in-memory one in paused-time tests.
    pub engine: Arc<dyn Engine>,
    /// The bots' objects (code, state, logs, query results) as the containers see them.
    pub objects: Arc<the0_objstore::Store>,
    pub settings: Arc<HostSettings>,
    pub metrics: Arc<Metrics>,
    /// What the reconciler and the scheduler take as now (the system clock outside tests).
    pub clock: Clock,
}

impl Host {
    /// Opens the store in `data_dir`, connects to Docker at `docker_host` and opens the object
    /// storage the settings name (creating the local root if that is the backend).
    pub fn open(data_dir: &Path, docker_host: &str, settings: &HostSettings, region: &str) -> Result<Host, HostError> {
        let store = Store::open(data_dir)?;
        if let Storage::Local { root } = &settings.storage {
            std::fs::create_dir_all(root).map_err(|source| HostError::StorageRoot { path: root.clone(), source })?;
        }
        let metrics = Arc::new(Metrics::default());
        let docker = Docker::connect(docker_host, settings.instance.clone(), metrics.clone())?;
        let objects = Arc::new(crate::objects::open(settings, region)?);
        let engine = Arc::new(docker);
        Ok(Host { store, engine, objects, settings: Arc::new(settings.clone()), metrics, clock: Clock::System })
    }
}
