//! The shutdown signal every long-running task takes: a `watch` flag turned true once.

use tokio::sync::watch;

/// Resolves when the watched flag turns true (or its sender is gone).
pub async fn flag_set(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}
