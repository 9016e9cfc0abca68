//! What can go wrong in the reconciler: a pass that cannot observe or read, and a start that
//! fails (whose text becomes the bot's failure reason, docs/contract.md §5.3).

use crate::creds::CredsError;
use crate::docker::DockerError;
use crate::objects::ObjectsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stopping every bot timed out")]
    StopAllTimedOut,
}

/// Why a bot's container could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    #[error(transparent)]
    Creds(#[from] CredsError),
    #[error(transparent)]
    Docker(#[from] DockerError),
}
