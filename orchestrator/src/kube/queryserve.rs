//! The :9477 query API of `orchestrator controller`: the shared query server
//! ([`crate::query::QueryServer`]) with Kubernetes mode's half ([`super::queryjobs::Jobs`]), the
//! proxy's addresses from pods ([`super::podaddr::PodLocate`]) and the bot index over the
//! desired state: the SQLite store (kept current as in Docker mode), or with `--desired-state
//! configmaps` the desired-state ConfigMaps, listed every [`CM_INTERVAL`] into a pushed index.
//! Every replica serves it, leader or standby: none of it writes desired state.
//!
//! Why it exists: [`super::run`] only binds and starts; which parts make up the server in this
//! mode is decided here.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::kube::Client;

use super::cmstore::ConfigMapStore;
use super::podaddr::PodLocate;
use super::queryjobs::Jobs;
use super::settings::KubeSettings;
use crate::metrics::Metrics;
use crate::query::index::BotIndex;
use crate::query::realtime::Realtime;
use crate::query::result::Results;
use crate::query::{QueryOptions, QueryServer};
use crate::store::{Store, StoreError};

/// How often the desired-state ConfigMaps are listed into the index (a bot created since is
/// answered 404 until then).
pub const CM_INTERVAL: Duration = Duration::from_secs(5);

/// The controller's query server. With `configmaps`, its index starts empty: run
/// [`follow_configmaps`] beside it.
pub fn server(
    client: Client,
    settings: &KubeSettings,
    results: Results,
    opts: &QueryOptions,
    store: &Store,
    configmaps: Option<&ConfigMapStore>,
    metrics: Arc<Metrics>,
) -> Result<QueryServer, StoreError> {
    let images = Arc::new(settings.images.clone());
    let index = match configmaps {
        Some(_) => BotIndex::pushed(images),
        None => BotIndex::load(store.clone(), images)?,
    };
    let locate = PodLocate::new(client.clone(), &settings.namespace);
    Ok(QueryServer {
        index,
        realtime: Arc::new(Realtime::with_source(Arc::new(locate))),
        backend: Arc::new(Jobs::new(client, settings.clone(), results, opts.max_containers)),
        metrics,
        token: opts.token.clone(),
    })
}

/// Lists the desired bots into `index` at once and every [`CM_INTERVAL`] until `shutdown`; a
/// failed list keeps the last view.
pub async fn follow_configmaps(cm: ConfigMapStore, index: Arc<BotIndex>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(CM_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        match cm.list().await {
            Ok(records) => index.replace(&records),
            Err(e) => tracing::warn!(error = %e, "cannot list the desired bots for the query index"),
        }
    }
}
