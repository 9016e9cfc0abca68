//! `orchestrator controller` put together: the settings from the command line, the store (and with
//! `--desired-state configmaps` the ConfigMap store every replica ingests into), the
//! health listener the0's chart probes (`/healthz` on :8080; `/readyz` once a pass succeeded or
//! while following; `/metrics`), the :9477 query API on every replica ([`super::queryserve`]),
//! the JetStream ingest when `NATS_URL` is set, the leader elector with `--leader-elect`
//! ([`super::elector`]) and the reconcile loop ([`super::controller`]).
//!
//! Why it exists: the binary's match arm stays one line, and a test can start the same thing
//! in-process against the fake API server with a kubeconfig.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::client::{self, ConnectError};
use super::cmstore::ConfigMapStore;
use super::controller::Controller;
use super::elector::{self, Elector, Leadership};
use super::queryserve;
use super::settings::KubeSettings;
use crate::config::{Cli, ControllerFlags, DesiredState, LeaderElect};
use crate::http;
use crate::ingest;
use crate::metrics::{ControllerGauges, Metrics};
use crate::objects::ObjectsError;
use crate::query::result::Results;
use crate::query::QueryServer;
use crate::shutdown::flag_set;
use crate::spec::Storage;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr} (health): {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot listen on {addr} (query API, --port/--query-bind): {source}")]
    QueryBind { addr: String, source: std::io::Error },
    #[error("cannot open the object storage the query results are read from: {0}")]
    Objects(#[from] ObjectsError),
}

/// The object settings of `controller` from the command line and environment.
pub fn settings(cli: &Cli, f: &ControllerFlags) -> KubeSettings {
    let h = &cli.host;
    let (access, secret, ssl) = match &h.storage {
        Storage::S3 { access_key, secret_key, use_ssl, .. } => (access_key.clone(), secret_key.clone(), *use_ssl),
        Storage::Local { .. } => (String::new(), String::new(), false),
    };
    KubeSettings {
        namespace: f.namespace.clone(),
        images: h.images.clone(),
        pull_policy: f.pull_policy.clone(),
        minio_endpoint: f.minio_endpoint.clone(),
        minio_use_ssl: ssl,
        minio_access_key: access,
        minio_secret_key: secret,
        minio_secret_name: f.minio_secret_name.clone(),
        buckets: h.buckets.clone(),
        bucket_overrides: h.bucket_overrides.clone(),
        state_cap_mb: h.state_cap_mb,
        nats_url: h.nats_url.clone(),
        runtime_class: h.runtime.clone(),
        execution_timeout: cli.schedule.execution_timeout,
        stop_timeout: cli.reconcile.stop_grace,
    }
}

/// A bound, not yet running controller.
pub struct Running {
    controller: Controller,
    health: TcpListener,
    query: (TcpListener, Arc<QueryServer>),
    metrics: Arc<Metrics>,
    leader_gauge: prometheus_client::metrics::gauge::Gauge,
    /// The pass report's gauges (skipped, corrupt, kept unknown).
    pass_gauges: ControllerGauges,
    interval: Duration,
    nats_url: Option<String>,
    leader_elect: Option<LeaderElect>,
}

impl Running {
    /// Connects (`kubeconfig`, else `KUBECONFIG`/in-cluster), opens the store, binds health.
    pub async fn bind(cli: &Cli, f: &ControllerFlags, kubeconfig: Option<PathBuf>) -> Result<Running, RunError> {
        let client = client::connect(kubeconfig.as_deref()).await?;
        let store = Store::open(&cli.data_dir)?;
        let configmaps =
            (f.desired_state == DesiredState::ConfigMaps).then(|| ConfigMapStore::new(client.clone(), &f.namespace));
        let health = TcpListener::bind(&cli.health_addr)
            .await
            .map_err(|source| RunError::Bind { addr: cli.health_addr.clone(), source })?;
        let query_addr = cli.query.addr();
        let query_listener = TcpListener::bind(&query_addr)
            .await
            .map_err(|source| RunError::QueryBind { addr: query_addr.clone(), source })?;
        let mut metrics = Metrics::for_controller();
        let leader_gauge = metrics.register_leader();
        let pass_gauges = metrics.register_controller();
        let metrics = Arc::new(metrics);
        let settings = settings(cli, f);
        let local_root = match &cli.host.storage {
            Storage::Local { root } => Some(root.clone()),
            Storage::S3 { .. } => None,
        };
        let objects = Arc::new(crate::objects::open(&cli.host, &cli.region)?);
        let results = Results { objects, bucket: cli.host.buckets.query_results.clone(), local_root };
        let server = queryserve::server(
            client.clone(),
            &settings,
            results,
            &cli.query,
            &store,
            configmaps.as_ref(),
            metrics.clone(),
        )?;
        Ok(Running {
            controller: Controller { client, settings, store, configmaps },
            health,
            query: (query_listener, Arc::new(server)),
            metrics,
            leader_gauge,
            pass_gauges,
            interval: cli.reconcile.interval,
            nats_url: cli.nats_url.clone(),
            leader_elect: f.leader_elect.clone(),
        })
    }

    pub fn health_addr(&self) -> Option<std::net::SocketAddr> {
        self.health.local_addr().ok()
    }

    /// Where :9477 listens.
    pub fn query_addr(&self) -> Option<std::net::SocketAddr> {
        self.query.0.local_addr().ok()
    }

    pub fn store(&self) -> &Store {
        &self.controller.store
    }

    /// Runs until `shutdown` resolves. With `--leader-elect` the Lease is released only after the
    /// loop has stopped, so the successor never overlaps a pass of this replica.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = watch::channel(false);
        let (metrics, leader_gauge, pass_gauges) = (self.metrics.clone(), self.leader_gauge.clone(), self.pass_gauges);
        let served = metrics.clone();
        let health = tokio::spawn(http::serve(
            self.health,
            move |req: hyper::Request<hyper::body::Incoming>| {
                let ready = *ready_rx.borrow();
                let served = served.clone();
                async move {
                    match req.uri().path() {
                        "/healthz" => http::text(StatusCode::OK, "ok"),
                        "/readyz" if ready => http::text(StatusCode::OK, "ok"),
                        "/readyz" => http::text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
                        "/metrics" => http::metrics(&served),
                        _ => http::text(StatusCode::NOT_FOUND, "not found"),
                    }
                }
            },
            flag_set(stop_rx.clone()),
        ));
        let mut tasks = vec![health];
        // Every replica answers :9477, leading or not.
        let (listener, server) = self.query;
        let local = listener.local_addr().ok();
        let query_addr = local.map_or(String::new(), |a| a.to_string());
        tracing::info!(addr = %query_addr, max_query_jobs = %server.backend.max_oneshots(), "query API serving");
        if server.token.is_none() && !local.is_some_and(|a| a.ip().is_loopback()) {
            tracing::warn!(
                addr = %query_addr,
                "the query API has no token: only a NetworkPolicy keeps it to the0's API (deploy/kubernetes/networkpolicy.yaml); set THE0_QUERY_TOKEN where none is enforced"
            );
        }
        if let Some(cm) = &self.controller.configmaps {
            let follow = queryserve::follow_configmaps(cm.clone(), server.index.clone(), flag_set(stop_rx.clone()));
            tasks.push(tokio::spawn(follow));
        }
        tasks.push(tokio::spawn(server.run(listener, flag_set(stop_rx.clone()))));
        if let Some(url) = &self.nats_url {
            // Every replica ingests (it does not need to lead): with ConfigMaps, into the shared state.
            for feed in [ingest::BOTS, ingest::SCHEDULES] {
                let (url, m, stop) = (url.clone(), metrics.clone(), flag_set(stop_rx.clone()));
                tasks.push(match &self.controller.configmaps {
                    Some(cm) => tokio::spawn(ingest::run(feed, url, cm.clone(), m, stop)),
                    None => tokio::spawn(ingest::run(feed, url, self.controller.store.clone(), m, stop)),
                });
            }
        }
        // Without --leader-elect this replica always leads.
        let first = if self.leader_elect.is_some() { Leadership::Undecided } else { Leadership::Leading };
        let (leader_tx, leader_rx) = watch::channel(first);
        let (mut gauge_rx, stop) = (leader_rx.clone(), flag_set(stop_rx.clone()));
        tasks.push(tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                leader_gauge.set(i64::from(gauge_rx.borrow_and_update().is_leader()));
                tokio::select! {
                    _ = &mut stop => return,
                    changed = gauge_rx.changed() => if changed.is_err() { return },
                }
            }
        }));
        let (elect_stop_tx, elect_stop_rx) = watch::channel(false);
        // Without --leader-elect the sender stays here, at Leading, until the end.
        let (elect, _always_leading) = match &self.leader_elect {
            Some(le) => {
                let identity = elector::identity(le.pod_name.as_deref());
                tracing::info!(lease = %le.lease_name, identity = %identity, "leader election on");
                let e = Elector::new(
                    self.controller.client.clone(),
                    &self.controller.settings.namespace,
                    &le.lease_name,
                    identity,
                    le.timings,
                );
                (Some(tokio::spawn(e.run(leader_tx, flag_set(elect_stop_rx)))), None)
            }
            None => (None, Some(leader_tx)),
        };
        self.controller.run(self.interval, &ready_tx, leader_rx, &pass_gauges, shutdown).await;
        // The loop has stopped: now the Lease may go.
        elect_stop_tx.send_replace(true);
        if let Some(e) = elect {
            let _ = e.await;
        }
        stop_tx.send_replace(true);
        for t in tasks {
            let _ = t.await;
        }
    }
}
