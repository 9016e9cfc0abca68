//! `serve` / `bot-runner`: every host role in one process. Binds the admin and health listeners
//! first (so tests can use ephemeral ports and read them back), then runs the reconciler, the two
//! HTTP servers, the scheduler, the :9477 query server (`serve` only; it reads the reconciler's
//! view of running containers) and, with `NATS_URL`, the event ingest, until the shutdown future
//! resolves. `bot-runner` and `bot-scheduler` run one role each ([`Roles`]), `serve` all of them.

pub mod query_server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::Admin;
use crate::config::{Cli, Command};
use crate::creds;
use crate::docker::Docker;
use crate::health::Health;
use crate::host::Host;
use crate::metrics::Metrics;
use crate::query::QueryServer;
use crate::reconcile::Reconciler;
use crate::schedule::runner::Scheduler;
use crate::store::Store;
use crate::ui::logs::LogSource;
use crate::{http, ingest};

pub use crate::host::HostError as ServeError;
pub use crate::shutdown::flag_set;

pub struct Server {
    cli: Cli,
    admin: TcpListener,
    health: TcpListener,
    /// The :9477 listener and server (`serve`; `bot-runner` runs live bots only).
    query: Option<(TcpListener, Arc<QueryServer>)>,
    pub store: Store,
    pub reconciler: Reconciler,
    pub scheduler: Scheduler,
    pub roles: Roles,
}

/// The host roles one command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Live bots: the reconciler and the `the0.bot.*` feed.
    pub realtime: bool,
    /// Scheduled bots: the scheduler and the `the0.bot-schedule.*` feed.
    pub scheduled: bool,
}

impl Roles {
    pub fn of(c: &Command) -> Roles {
        match c {
            Command::BotRunner => Roles { realtime: true, scheduled: false },
            Command::BotScheduler => Roles { realtime: false, scheduled: true },
            _ => Roles { realtime: true, scheduled: true },
        }
    }
}

async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).await.map_err(|err| ServeError::Bind { addr: addr.to_string(), err })
}

/// The host context of a command's settings.
pub fn open_host(cli: &Cli) -> Result<Host, ServeError> {
    Host::open(&cli.data_dir, &cli.docker_host, &cli.host, &cli.region)
}

/// Puts bots on the orchestrator's own network (inter-container traffic off) unless the operator
/// named one with `DOCKER_NETWORK`, which is then used as is, with a warning.
pub async fn choose_network(cli: &mut Cli) -> Result<(), ServeError> {
    if cli.network_given {
        if cli.host.network != "none" {
            tracing::warn!(
                network = %cli.host.network,
                "DOCKER_NETWORK is set: bots on it may reach each other (and whatever else is on it)",
            );
        }
        return Ok(());
    }
    let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), Arc::new(Metrics::default()))?;
    docker.ensure_bot_network().await?;
    cli.host.network = crate::docker::network::BOT_NETWORK.to_string();
    Ok(())
}

/// Refuses to start when `--bot-runtime` names a runtime the engine does not know: every bot
/// would otherwise crash-loop on `docker create` (docs/security/gvisor.md).
/// Under gVisor, also gives bots a process limit inside the sandbox (docs/security/gvisor.md §4).
pub async fn check_runtime(cli: &mut Cli) -> Result<(), ServeError> {
    let Some(rt) = cli.host.runtime.clone() else { return Ok(()) };
    let docker = Docker::connect(&cli.docker_host, cli.host.instance.clone(), Arc::new(Metrics::default()))?;
    let path = docker.ensure_runtime(Some(&rt)).await?;
    if path.as_deref().is_some_and(crate::spec::is_gvisor) || rt == "runsc" {
        cli.host.bot_nproc = Some(crate::spec::gvisor_bot_nproc(cli.host.pids_limit));
    }
    let nproc = cli.host.bot_nproc.map_or("none".to_string(), |n| n.to_string());
    tracing::info!(runtime = %rt, bot_nproc = %nproc, "bot containers run under a chosen runtime");
    Ok(())
}

/// Warns when an API a bot (or anyone) could reach from its network is open without a token.
fn warn_if_exposed(cli: &Cli) {
    let loopback = |a: &str| a.starts_with("127.") || a.starts_with("[::1]") || a.starts_with("localhost:");
    if matches!(cli.command, Command::Serve) && !loopback(&cli.query.addr()) && cli.query.token.is_none() {
        tracing::warn!(
            addr = %cli.query.addr(),
            "the query API listens beyond loopback without a token: bot containers may reach it; set THE0_QUERY_TOKEN",
        );
    }
    if !loopback(&cli.admin_addr) && cli.admin_token.is_none() {
        tracing::warn!(
            addr = %cli.admin_addr,
            "the admin API and its status page listen beyond loopback without a token: whoever reaches them can create bots; set THE0_ADMIN_TOKEN",
        );
    }
    if !loopback(&cli.health_addr) {
        tracing::warn!(
            addr = %cli.health_addr,
            "health and metrics listen beyond loopback: bot containers may reach them",
        );
    }
}

impl Server {
    pub async fn bind(mut cli: Cli) -> Result<Server, ServeError> {
        let admin = bind(&cli.admin_addr).await?;
        let health = bind(&cli.health_addr).await?;
        let query_listener = match cli.command {
            Command::Serve => Some(crate::query::bind(&cli.query).await?),
            _ => None,
        };
        choose_network(&mut cli).await?;
        check_runtime(&mut cli).await?;
        warn_if_exposed(&cli);
        let mut host = open_host(&cli)?;
        host.store.set_event_retention(cli.events);
        let reconciler = Reconciler::new(host.clone(), cli.reconcile.clone());
        let query = match query_listener {
            Some(l) => Some((l, Arc::new(QueryServer::new(&host, reconciler.snapshot.clone(), &cli.query)?))),
            None => None,
        };
        let mut scheduler = Scheduler::new(host.clone(), cli.schedule.clone());
        // A run that ended replaces the bot's warm query server (issue 15).
        if let Some((_, q)) = &query {
            let backend = q.backend.clone();
            scheduler.on_run_end(Arc::new(move |bot: &str| backend.run_ended(bot)));
        }
        let roles = Roles::of(&cli.command);
        let store = host.store;
        Ok(Server { cli, admin, health, query, store, reconciler, scheduler, roles })
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }

    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health.local_addr().ok()
    }

    pub fn query_addr(&self) -> Option<SocketAddr> {
        self.query.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Runs until `shutdown`; bots keep running afterwards unless `--stop-bots-on-shutdown` (D25).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (tx, rx) = watch::channel(false);
        let r = self.reconciler.clone();
        tracing::info!(
            version = %the0_contract::VERSION,
            admin_addr = %self.admin_addr().map_or(String::new(), |a| a.to_string()),
            health_addr = %self.health_addr().map_or(String::new(), |a| a.to_string()),
            query_addr = %self.query_addr().map_or(String::new(), |a| a.to_string()),
            instance = %self.cli.host.instance.clone().unwrap_or_default(),
            ingest = %if self.cli.nats_url.is_some() { "jetstream" } else { "admin api" },
            realtime = %self.roles.realtime,
            scheduled = %self.roles.scheduled,
            "orchestrator serving",
        );
        let admin = Admin {
            store: self.store.clone(),
            snapshot: r.snapshot.clone(),
            token: self.cli.admin_token.clone(),
            images: Arc::new(self.cli.host.images.clone()),
            logs: LogSource {
                engine: r.host.engine.clone(),
                objects: r.host.objects.clone(),
                bucket: r.host.settings.buckets.logs.clone(),
            },
            state: crate::botstate::BotState {
                objects: r.host.objects.clone(),
                bucket: r.host.settings.buckets.state.clone(),
            },
        };
        let admin_task =
            tokio::spawn(http::serve(self.admin, move |req| admin.clone().handle(req), flag_set(rx.clone())));
        let health = Health { host: r.host.clone() };
        let health_task =
            tokio::spawn(http::serve(self.health, move |req| health.clone().handle(req), flag_set(rx.clone())));
        let feeds = [(ingest::BOTS, self.roles.realtime), (ingest::SCHEDULES, self.roles.scheduled)];
        let mut tasks = vec![admin_task, health_task];
        if let Some(url) = &self.cli.nats_url {
            for (feed, _) in feeds.into_iter().filter(|(_, on)| *on) {
                let (url, store, m) = (url.clone(), self.store.clone(), r.host.metrics.clone());
                tasks.push(tokio::spawn(ingest::run(feed, url, store, m, flag_set(rx.clone()))));
            }
        }
        if self.roles.scheduled {
            tasks.push(tokio::spawn(self.scheduler.run(flag_set(rx.clone()))));
        }
        if let Some((l, q)) = self.query {
            tasks.push(tokio::spawn(q.run(l, flag_set(rx.clone()))));
        }
        // Scoped credentials: renew at half life, drop those of removed containers. Bots keep
        // running after shutdown, so renewal resumes (from the records on disk) at the next start.
        let renewer = r
            .host
            .settings
            .scoped
            .is_some()
            .then(|| tokio::spawn(creds::renew::run(r.host.settings.clone(), r.host.engine.clone())));
        let rec_task = self.roles.realtime.then(|| tokio::spawn(r.run(flag_set(rx.clone()))));
        shutdown.await;
        if let Some(t) = renewer {
            t.abort();
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
        for t in tasks.into_iter().chain(rec_task) {
            let _ = t.await;
        }
        tracing::info!("stopped");
    }
}
