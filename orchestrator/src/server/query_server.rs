//! The `query-server` command: the :9477 server alone, with its own store handle, Docker client
//! and view of running containers ([`crate::query::watch`]), as the original's separate query process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{check_runtime, choose_network, open_host, ServeError};
use crate::config::Cli;
use crate::engine::Engine;
use crate::query::{self, QueryServer};
use crate::reconcile::snapshot::Snapshot;
use crate::shutdown::flag_set;

pub struct Standalone {
    listener: TcpListener,
    pub server: Arc<QueryServer>,
    docker: Arc<dyn Engine>,
    /// Running containers, kept by [`query::watch`] for the server's Docker backend.
    snapshot: Arc<Snapshot>,
}

impl Standalone {
    pub async fn bind(cli: &Cli) -> Result<Standalone, ServeError> {
        let listener = query::bind(&cli.query).await?;
        let mut cli = cli.clone();
        choose_network(&mut cli).await?;
        check_runtime(&mut cli).await?;
        let cli = &cli;
        let host = open_host(cli)?;
        let snapshot = Arc::new(Snapshot::default());
        let server = QueryServer::new(&host, snapshot.clone(), &cli.query)?;
        Ok(Standalone { listener, server: Arc::new(server), docker: host.engine, snapshot })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(
            version = %the0_contract::VERSION,
            addr = %self.addr().map_or(String::new(), |a| a.to_string()),
            max_query_containers = %self.server.backend.max_oneshots(),
            "query server serving",
        );
        let (tx, rx) = watch::channel(false);
        let containers =
            tokio::spawn(query::watch::follow_containers(self.docker.clone(), self.snapshot.clone(), flag_set(rx)));
        self.server.run(self.listener, shutdown).await;
        let _ = tx.send(true);
        let _ = containers.await;
        tracing::info!("query server stopped");
    }
}
