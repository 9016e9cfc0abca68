//! Running realtime containers for the `query-server` command, which runs without the
//! reconciler: observed at start, at every Docker event of a managed container and every
//! [`INTERVAL`], into the same [`Snapshot`] the reconciler keeps when `serve` runs everything.

use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::engine::Engine;
use crate::reconcile::snapshot::{group, Snapshot};

/// Longest time between two observations.
pub const INTERVAL: Duration = Duration::from_secs(10);

async fn observe(docker: &dyn Engine, snapshot: &Snapshot) {
    match docker.observe().await {
        Ok(o) => {
            snapshot.replace(group(o));
            snapshot.docker_ok.store(true, Relaxed);
        }
        Err(e) => {
            snapshot.docker_ok.store(false, Relaxed);
            tracing::warn!(error = %e, "cannot list realtime containers");
        }
    }
}

/// Keeps `snapshot` current until `shutdown`.
pub async fn follow_containers(docker: Arc<dyn Engine>, snapshot: Arc<Snapshot>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        observe(&*docker, &snapshot).await;
        let mut events = Box::pin(docker.events());
        let mut tick = tokio::time::interval(INTERVAL);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => observe(&*docker, &snapshot).await,
                ev = events.next() => match ev {
                    Some(Ok(_)) => observe(&*docker, &snapshot).await,
                    // The event stream broke (engine restarted): reconnect after a pause.
                    Some(Err(_)) | None => break,
                },
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
