//! The host's query API on :9477 (docs/contract.md §4.2, §4.3, D19–D21): `POST /query` answered from an
//! in-memory index of the store, by proxying to a running realtime bot's :9476 or by a one-shot
//! query container, and `/health`. `serve` runs it beside the reconciler (sharing its view of
//! running containers); the `query-server` command runs it alone, with its own container watch.
//!
//! `orchestrator controller` serves the same API in Kubernetes mode, with its own [`backend`]
//! (pods and query Jobs, `kube::queryjobs`).
//!
//! * [`request`], [`reply`]: the wire format, pure. [`index`]: the bot index and routing rule.
//! * [`realtime`]: the proxy. [`oneshot`]: query containers. [`result`]: result objects (both
//!   modes). [`backend`]: what differs between the modes. [`watch`]: containers, standalone.
//! * [`warm`]: scheduled bots' warm query servers (Docker mode, issue 15); [`warmbook`]: their
//!   pure bookkeeping.

pub mod backend;
pub mod handler;
pub mod index;
pub mod oneshot;
pub mod realtime;
pub mod reply;
pub mod request;
pub mod result;
pub mod warm;
pub mod warmbook;
pub mod watch;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch as flag;

use crate::host::{Host, HostError};
use crate::http::{serve_with, ConnLimits};
use crate::metrics::Metrics;
use crate::reconcile::snapshot::Snapshot;
use crate::shutdown::flag_set;
use backend::{collect_garbage, Backend};
use index::BotIndex;
use oneshot::OneShots;
use realtime::Realtime;
use warm::WarmPool;

/// Settings of the :9477 server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOptions {
    /// Listen address (`--query-bind`, `THE0_QUERY_BIND`): loopback by default, so no bot
    /// container reaches it through its gateway or `host.docker.internal`; a deployment whose
    /// API calls it from elsewhere binds wider and sets a token (`docs/security/orch.md`). The
    /// `controller` command binds all interfaces unless told (its bots are in other pods).
    pub bind: String,
    /// `--port` / `QUERY_SERVER_PORT` (9477).
    pub port: u16,
    /// Query containers (Kubernetes mode: query Jobs) at once (`--max-query-containers`,
    /// `THE0_MAX_QUERY_CONTAINERS`).
    pub max_containers: usize,
    /// `--query-token` / `THE0_QUERY_TOKEN`: when set, every request but `/health` needs
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `--query-warm-for` / `THE0_QUERY_WARM_FOR`: how long a scheduled bot's warm query server
    /// outlives its last query (issue 15); zero: no warm servers (Docker mode only).
    pub warm_for: Duration,
    /// `--max-warm-query-servers` / `THE0_MAX_WARM_QUERY_SERVERS`: warm query servers at once.
    pub max_warm: usize,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            bind: "127.0.0.1".into(),
            port: the0_contract::query::HOST_PORT,
            max_containers: 8,
            token: None,
            warm_for: warm::DEFAULT_KEEP_FOR,
            max_warm: warm::DEFAULT_MAX,
        }
    }
}

impl QueryOptions {
    pub fn addr(&self) -> String {
        if self.bind.contains(':') {
            format!("[{}]:{}", self.bind, self.port)
        } else {
            format!("{}:{}", self.bind, self.port)
        }
    }
}

/// How long shutdown waits for one-shot queries under way before removing their containers.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

pub struct QueryServer {
    pub index: Arc<BotIndex>,
    pub realtime: Arc<Realtime>,
    /// Docker mode's or Kubernetes mode's half.
    pub backend: Arc<dyn Backend>,
    pub metrics: Arc<Metrics>,
    pub token: Option<String>,
}

impl QueryServer {
    /// Docker mode's server over the `host`, reading running containers from `snapshot`.
    pub fn new(
        host: &Host,
        snapshot: Arc<Snapshot>,
        opts: &QueryOptions,
    ) -> Result<QueryServer, crate::store::StoreError> {
        let oneshots =
            OneShots::new(host.engine.clone(), host.objects.clone(), host.settings.clone(), opts.max_containers.max(1));
        let index = BotIndex::load(host.store.clone(), Arc::new(host.settings.images.clone()))?;
        let realtime = Arc::new(Realtime::new(host.engine.clone()));
        let warm = (!opts.warm_for.is_zero()).then(|| {
            Arc::new(WarmPool::new(
                host.engine.clone(),
                host.objects.clone(),
                host.settings.clone(),
                realtime.clone(),
                host.metrics.clone(),
                index.clone(),
                opts.warm_for,
                opts.max_warm.max(1),
            ))
        });
        Ok(QueryServer {
            index,
            realtime,
            backend: Arc::new(backend::Docker { snapshot, oneshots: Arc::new(oneshots), warm }),
            metrics: host.metrics.clone(),
            token: opts.token.clone(),
        })
    }

    /// Serves on `listener` until `shutdown`: cleans up after a previous process first, keeps the
    /// index current, collects old result objects, and at the end drains the queries under way.
    pub async fn run(self: Arc<Self>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        self.backend.start().await;
        let (tx, rx) = flag::channel(false);
        let follow = tokio::spawn(self.index.clone().follow(flag_set(rx.clone())));
        let gc = tokio::spawn(collect_garbage(self.backend.results().clone(), flag_set(rx.clone())));
        let upkeep = tokio::spawn(self.backend.clone().upkeep(Box::pin(flag_set(rx.clone()))));
        let limits = ConnLimits {
            header_read: Duration::from_secs(60),
            lifetime: Duration::from_secs(request::MAX_TIMEOUT_SEC + 65),
        };
        let me = self.clone();
        let serving = tokio::spawn(serve_with(listener, move |req| me.clone().handle(req), flag_set(rx), limits));
        shutdown.await;
        let _ = tx.send(true);
        let _ = tokio::join!(follow, gc, upkeep, serving);
        self.backend.drain(DRAIN_LIMIT).await;
    }
}

/// Binds the :9477 listener.
pub async fn bind(opts: &QueryOptions) -> Result<TcpListener, HostError> {
    let addr = opts.addr();
    TcpListener::bind(&addr).await.map_err(|err| HostError::Bind { addr, err })
}
