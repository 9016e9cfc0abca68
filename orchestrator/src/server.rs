//! `serve` / `bot-runner`: every host role in one process. Binds the admin and health listeners
//! first (so tests can use ephemeral ports and read them back), then runs the reconciler, the two
//! HTTP servers and, with `NATS_URL`, the event ingest, until the shutdown future resolves. The
//! scheduler and the :9477 query server (next issue) plug in here as further tasks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::Admin;
use crate::config::Cli;
use crate::docker::Docker;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::reconcile::Reconciler;
use crate::spec::Storage;
use crate::store::Store;
use crate::{http, ingest, log, storage};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {err}")]
    Bind { addr: String, err: std::io::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error("storage: {0}")]
    Storage(String),
}

pub struct Server {
    cli: Cli,
    admin: TcpListener,
    health: TcpListener,
    pub store: Store,
    pub reconciler: Reconciler,
}

async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|err| ServeError::Bind { addr: addr.to_string(), err })
}

/// Resolves when the watched flag turns true (or its sender is gone).
pub async fn flag_set(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

impl Server {
    pub async fn bind(cli: Cli) -> Result<Server, ServeError> {
        let admin = bind(&cli.admin_addr).await?;
        let health = bind(&cli.health_addr).await?;
        let store = Store::open(&cli.data_dir)?;
        if let Storage::Local { root } = &cli.host.storage {
            std::fs::create_dir_all(root).map_err(|e| ServeError::Storage(format!("{}: {e}", root.display())))?;
        }
        let metrics = Arc::new(Metrics::default());
        let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), metrics.clone())?;
        let objects = Arc::new(storage::open(&cli.host, &cli.region).map_err(ServeError::Storage)?);
        let reconciler =
            Reconciler::new(store.clone(), docker, objects, Arc::new(cli.host.clone()), metrics, cli.reconcile.clone());
        Ok(Server { cli, admin, health, store, reconciler })
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }

    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.local_addr().ok()
    }

    /// Runs until `shutdown`; bots keep running afterwards unless `--stop-bots-on-shutdown` (D25).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (tx, rx) = watch::channel(false);
        let r = self.reconciler.clone();
        log::info(
            "orchestrator serving",
            &[
                ("version", &the0_contract::VERSION),
                ("admin_addr", &self.admin_addr().map_or(String::new(), |a| a.to_string())),
                ("health_addr", &self.health_addr().map_or(String::new(), |a| a.to_string())),
                ("instance", &self.cli.host.instance.clone().unwrap_or_default()),
                ("ingest", &if self.cli.nats_url.is_some() { "jetstream" } else { "admin api" }),
            ],
        );
        let admin =
            Admin { store: self.store.clone(), snapshot: r.snapshot.clone(), token: self.cli.admin_token.clone() };
        let admin_task =
            tokio::spawn(http::serve(self.admin, move |req| admin.clone().handle(req), flag_set(rx.clone())));
        let health = Health {
            store: self.store.clone(),
            docker: r.docker.clone(),
            objects: r.objects.clone(),
            host: r.host.clone(),
            metrics: r.metrics.clone(),
        };
        let health_task =
            tokio::spawn(http::serve(self.health, move |req| health.clone().handle(req), flag_set(rx.clone())));
        let ingest_task = self
            .cli
            .nats_url
            .clone()
            .map(|url| tokio::spawn(ingest::run(url, self.store.clone(), r.metrics.clone(), flag_set(rx.clone()))));
        let rec_task = tokio::spawn(r.run(flag_set(rx.clone())));
        shutdown.await;
        log::info("shutting down", &[]);
        let _ = tx.send(true);
        for t in [admin_task, health_task].into_iter().chain(ingest_task) {
            let _ = t.await;
        }
        let _ = rec_task.await;
        log::info("stopped", &[]);
    }
}
