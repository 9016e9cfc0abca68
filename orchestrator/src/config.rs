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
    Deploy {
        dir: PathBuf,
        id: Option<String>,
        output: OutputFormat,
    },
    List {
        filter: ListFilter,
        output: OutputFormat,
    },
    Remove {
        id: String,
        output: OutputFormat,
    },
    Show {
        id: String,
        output: OutputFormat,
    },
    Runs {
        id: String,
        output: OutputFormat,
    },
    /// `run ID [--config JSON] [--timeout D] [--wait] [-o json]`.
    Run {
        id: String,
        /// The override, checked to be a JSON object.
        config: Option<serde_json::Value>,
        timeout_s: Option<i64>,
        wait: bool,
        output: OutputFormat,
    },
    /// `state ID [list | get KEY | rm KEY [--restart]] [-o json]`.
    State {
        id: String,
        action: StateAction,
        output: OutputFormat,
    },
    /// `query ID PATH [KEY=VALUE…]`.
    Query {
        id: String,
        path: String,
        params: Vec<(String, String)>,
        output: OutputFormat,
    },
    /// `enable ID` (true) / `disable ID` (false).
    SetEnabled {
        id: String,
        enabled: bool,
        output: OutputFormat,
    },
    /// `logs ID` (`id` set) or `logs --all` (`None`).
    Logs {
        id: Option<String>,
        follow: bool,
        tail: Option<u32>,
        since: Option<std::time::Duration>,
    },
    /// `restart ID`.
    Restart {
        id: String,
        output: OutputFormat,
    },
    /// `events [-f] [--bot ID] [-n N] [-o json]`.
    Events {
        follow: bool,
        bot: Option<String>,
        limit: i64,
        output: OutputFormat,
    },
    StopAll,
    HealthCheck,
    /// `gc [--dry-run] [--interval D] [-o json]` (§5.8).
    Gc {
        dry_run: bool,
        interval: Option<std::time::Duration>,
        json: bool,
    },
    /// `controller`: Kubernetes mode (issue #12). Its own flags; the rest comes from [`Cli`].
    Controller(ControllerFlags),
    /// `import-running [--kubernetes] [store flags] [--dry-run] [-o json]`: records from what runs.
    ImportRunning {
        kubernetes: bool,
        target: ImportTarget,
        output: OutputFormat,
    },
    /// `import-mongo --bots FILE [--schedules FILE] [store flags] [--dry-run] [-o json]`.
    ImportMongo {
        bots: PathBuf,
        schedules: Option<PathBuf>,
        target: ImportTarget,
        output: OutputFormat,
    },
    /// `completions SHELL`: print the shell's completion script.
    Completions(clap_complete::Shell),
    /// `help [COMMAND]`, `-h`, `--help`: the help text clap rendered.
    Help(String),
}

/// The `controller` command's own flags (docs/contract.md §5.6), resolved with their variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerFlags {
    /// `--namespace` / `NAMESPACE` (`the0`).
    pub namespace: String,
    /// `--minio-endpoint` / `MINIO_ENDPOINT` (`minio:9000`): the storage endpoint bot pods use.
    pub minio_endpoint: String,
    /// `--minio-bucket` / `MINIO_BUCKET` (`the0-custom-bots`): accepted, reaches nothing (§2.2).
    pub minio_bucket: String,
    /// `--minio-secret-name`: the Secret bot pods take the storage keys from (D32).
    pub minio_secret_name: Option<String>,
    /// `--runtime-image-pull-policy` / `RUNTIME_IMAGE_PULL_POLICY` (`IfNotPresent`).
    pub pull_policy: String,
    /// `--leader-elect` / `LEADER_ELECT` (off): reconcile only while holding the Lease.
    pub leader_elect: Option<LeaderElect>,
    /// `--desired-state` / `DESIRED_STATE` (`sqlite`): where the desired bots are kept.
    pub desired_state: DesiredState,
}

/// Where `import-running` and `import-mongo` write the records and where the cluster is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTarget {
    /// `--desired-state`: `sqlite` (`--data-dir`) or `configmaps` (in `namespace`).
    pub desired_state: DesiredState,
    /// `--namespace` / `NAMESPACE` (`the0`): of the pods, CronJobs and ConfigMaps.
    pub namespace: String,
    /// `--kubeconfig`, else `KUBECONFIG`, `~/.kube/config`, in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--dry-run`: write nothing.
    pub dry_run: bool,
}

/// `--desired-state`: where `controller` keeps the desired bots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DesiredState {
    /// The SQLite store in `--data-dir`: one replica's own (the default, as before).
    #[default]
    Sqlite,
    /// One ConfigMap per bot in `--namespace` (`crate::kube::cmstore`): every replica shares it.
    ConfigMaps,
}

/// `--leader-elect`: which Lease, who this replica is, and how long things take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElect {
    /// `--leader-elect-lease-name` (`the0-runtime-controller`), in `--namespace`.
    pub lease_name: String,
    /// `POD_NAME` (the downward API's `metadata.name`); without it the host name, else a random
    /// name (`kube::elector::identity`).
    pub pod_name: Option<String>,
    pub timings: LeaseTimings,
}

/// Leader election's timings, client-go's defaults unless a test shortens them. A leader that has
/// not renewed within `renew_deadline` steps down; the others take over once `lease_duration` has
/// passed since its last renewal, so `renew_deadline` must be shorter than `lease_duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimings {
    /// `leaseDurationSeconds` written in the Lease (15 s).
    pub lease_duration: std::time::Duration,
    /// How long a leader keeps leading without a successful renewal (10 s).
    pub renew_deadline: std::time::Duration,
    /// Between two attempts to acquire or renew (2 s).
    pub retry_period: std::time::Duration,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        LeaseTimings {
            lease_duration: std::time::Duration::from_secs(15),
            renew_deadline: std::time::Duration::from_secs(10),
            retry_period: std::time::Duration::from_secs(2),
        }
    }
}

/// `-o`/`--output` of the commands that print data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people
    #[default]
    Table,
    /// The admin API's JSON, for scripts
    Json,
}

/// `state ID ACTION`: what is done with the bot's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum StateVerb {
    /// The keys and their sizes
    #[default]
    List,
    /// One key's JSON value
    Get,
    /// Remove one key
    Rm,
}

/// `state ID …` resolved: the key is there when the action needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateAction {
    List,
    Get(String),
    Remove { key: String, restart: bool },
}

/// `list --state`: the states `GET /bots` shows (live and scheduled bots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateFilter {
    Pending,
    Starting,
    Running,
    BackingOff,
    Failed,
    Stopping,
    Disabled,
    Scheduled,
}

impl StateFilter {
    /// The `status.state` text of the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            StateFilter::Pending => "pending",
            StateFilter::Starting => "starting",
            StateFilter::Running => "running",
            StateFilter::BackingOff => "backing-off",
            StateFilter::Failed => "failed",
            StateFilter::Stopping => "stopping",
            StateFilter::Disabled => "disabled",
            StateFilter::Scheduled => "scheduled",
        }
    }
}

/// `list --type`: a live bot (one long-running container) or a scheduled one (cron runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BotKind {
    Realtime,
    Scheduled,
}

/// What `list` keeps: every bot when both are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListFilter {
    pub state: Option<StateFilter>,
    pub kind: Option<BotKind>,
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
    /// How much event history the store keeps (`--events-keep`, `--events-max-age`).
    pub events: crate::store::events::Retention,
}
