//! The `query-server` command: the :9477 server alone, with its own store handle, Docker client
//! and view of running containers ([`super::watch`]), as the original's separate query process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::QueryServer;
use crate::config::Cli;
use crate::docker::Docker;
use crate::log;
use crate::server::{flag_set, Parts, ServeError};
use crate::snapshot::Snapshot;

pub struct Standalone {
    listener: TcpListener,
    pub server: Arc<QueryServer>,
    docker: Docker,
}

impl Standalone {
    pub async fn bind(cli: &Cli) -> Result<Standalone, ServeError> {
        let listener = super::bind(&cli.query).await?;
        let mut cli = cli.clone();
        crate::server::choose_network(&mut cli).await?;
        crate::server::check_runtime(&cli).await?;
        let cli = &cli;
        let parts = Parts::open(cli)?;
        let server = QueryServer::new(&parts, Arc::new(Snapshot::default()), &cli.query)?;
        Ok(Standalone { listener, server: Arc::new(server), docker: parts.docker })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        log::info(
            "query server serving",
            &[
                ("version", &the0_contract::VERSION),
                ("addr", &self.addr().map_or(String::new(), |a| a.to_string())),
                ("max_query_containers", &self.server.oneshots.max),
            ],
        );
        let (tx, rx) = watch::channel(false);
        let containers = tokio::spawn(super::watch::follow_containers(
            self.docker.clone(),
            self.server.snapshot.clone(),
            flag_set(rx),
        ));
        self.server.run(self.listener, shutdown).await;
        let _ = tx.send(true);
        let _ = containers.await;
        log::info("query server stopped", &[]);
    }
}
