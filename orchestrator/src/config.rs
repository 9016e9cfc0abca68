//! The resolved settings of one invocation: the [`Command`] to run and every setting it runs
//! with ([`Cli`]), as `cmdline.rs` parses them from the command line and environment.

use std::path::PathBuf;

use crate::query::QueryOptions;
use crate::reconcile::Options;
use crate::schedule::runner::Options as ScheduleOptions;
use crate::spec::HostSettings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    BotRunner,
    BotScheduler,
    QueryServer,
    Version,
    Deploy { dir: PathBuf, id: Option<String> },
    List,
    Remove { id: String },
    Logs { id: String, follow: bool },
    StopAll,
    HealthCheck,
    Help,
}

#[derive(Debug, Clone)]
pub struct Cli {
    pub command: Command,
    pub data_dir: PathBuf,
    pub admin_addr: String,
    pub admin_token: Option<String>,
    pub health_addr: String,
    pub nats_url: Option<String>,
    pub region: String,
    pub host: HostSettings,
    pub reconcile: Options,
    pub schedule: ScheduleOptions,
    pub log_level: String,
    /// `DOCKER_HOST` (unix sockets only).
    pub docker_host: String,
    /// The :9477 query server (`serve`, `query-server`).
    pub query: QueryOptions,
    /// `DOCKER_NETWORK` was set: bots go on that network as is (with a warning), else on the
    /// orchestrator's own network with inter-container traffic off.
    pub network_given: bool,
}
