//! What can go wrong in the scheduler: a pass or an adoption that cannot read the store or list
//! Docker, and a run that fails to start (whose text is the run's recorded reason).

use crate::creds::CredsError;
use crate::docker::DockerError;
use crate::objects::ObjectsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a scheduled run's container could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RunStartError {
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    #[error(transparent)]
    Creds(#[from] CredsError),
    #[error("cannot start the run: {0}")]
    Docker(#[from] DockerError),
}
