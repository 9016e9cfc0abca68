//! The orchestrator's command line as a clap tree: every command and flag the original accepted,
//! with its help text. Only the shape lives here; `cmdline.rs` turns what clap parsed, plus the
//! environment it is given, into the resolved settings (flags are kept as text there so that a bad
//! flag and a bad variable get the same message). Adding a command is one [`Sub`] variant here and
//! one arm in `cmdline::command`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{BotKind, OutputFormat, StateFilter, StateVerb};

/// Shown after the flags in `orchestrator --help`: the settings that only have a variable.
const ENV_HELP: &str = "\
Storage: MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY, MINIO_USE_SSL, MINIO_CONTAINER_ENDPOINT,
  MINIO_{CODE,STATE,LOGS,QUERY_RESULTS}_BUCKET; without MINIO_ENDPOINT objects live in DATA_DIR/objects.
Containers: BOT_MEMORY_LIMIT_MB (512, at least 192), MAX_STATE_SIZE_MB (clamped to the /state tmpfs),
  BOT_CPU_SHARES (512), DOCKER_NETWORK (bridge), DEV_RUNTIME_PATH, BOT_STOP_TIMEOUT_SEC (30).
Admin API token: THE0_ADMIN_TOKEN. Logs: LOG_LEVEL.";

#[derive(Debug, Parser)]
#[command(
    name = "orchestrator",
    about = "Runs the0's bots in containers: live bots, scheduled runs and the :9477 query API.",
    after_help = ENV_HELP,
    max_term_width = 110,
    // A flag given twice takes its last value, as Go's flag package (the original) and the
    // parser before clap did.
    args_override_self = true
)]
pub struct Args {
    /// The command; without one, `serve`.
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten, next_help_heading = "Settings (before or after the command)")]
    pub flags: Flags,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// All host roles in one process (the default)
    Serve,
    /// Live bots only
    BotRunner,
    /// Scheduled bots only (cron runs)
    BotScheduler,
    /// The :9477 query API only
    QueryServer,
    /// Print the version
    Version,
    /// Zip DIR, store its code, register the bot with the running server
    Deploy {
        /// The bot's directory (with its bot-config.yaml)
        dir: PathBuf,
        /// The bot's id (default: from the manifest's name)
        #[arg(long)]
        id: Option<String>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Bots and their status
    List {
        /// Only bots in this state
        #[arg(long, value_enum)]
        state: Option<StateFilter>,
        /// Only live (realtime) or scheduled bots
        #[arg(long = "type", value_enum)]
        kind: Option<BotKind>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// One bot: its spec, state, container, restarts, last exit and its reason, next run
    Show {
        /// The bot's id
        id: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// A scheduled bot's runs, newest first
    Runs {
        /// The bot's id
        id: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Set the bot's root `enabled` to true: it starts again (unless its config.enabled is false)
    Enable {
        /// The bot's id
        id: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Set the bot's root `enabled` to false: its container is stopped, and it stays disabled
    /// until `enable` (docs/operator.md says how this meets the0's events)
    Disable {
        /// The bot's id
        id: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Stop the bot's container and start it again (at once, even while backing off)
    Restart {
        /// The bot's id
        id: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// What the orchestrator did and why: started, stopped, crashed (exit code), backing off
    /// until, adopted, failed spec, restart requested; oldest first
    Events {
        /// Keep printing new events (polls every second) until Ctrl-C
        #[arg(short, long)]
        follow: bool,
        /// Only this bot's events
        #[arg(long, value_name = "ID")]
        bot: Option<String>,
        /// How many of the newest events to print first (1 to 1000)
        #[arg(short = 'n', long, value_name = "N", default_value_t = 50,
              value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// `json`: the array of GET /events; with --follow, one JSON object per line
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Delete a bot (its state and logs are kept)
    Remove {
        /// The bot's id
        id: String,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// The bot's output (from its container, else from stored logs); with -f, followed across
    /// container replacements
    Logs {
        /// The bot's id (or --all)
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every bot's container output, each line prefixed with its id
        #[arg(long)]
        all: bool,
        /// Keep printing what the bot writes
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines (of the container's output, or of the stored logs)
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
        /// Only what was written in the last D (e.g. 10m, 2h; stored logs: by each record's
        /// timestamp)
        #[arg(long, value_name = "D", value_parser = interval)]
        since: Option<std::time::Duration>,
    },
    /// Ask a bot's query handler through the :9477 query API (as the0's API does) and print
    /// its answer's data; a non-2xx answer prints its message and exits 1
    Query {
        /// The bot's id
        id: String,
        /// The query path (e.g. /status)
        path: String,
        /// Parameters for the handler (strings, as a URL's query string gives them)
        #[arg(value_name = "KEY=VALUE", value_parser = key_value)]
        params: Vec<(String, String)>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Run the bot's code once now, in its own container (recorded with its runs): the stored
    /// state is restored and never uploaded, so it cannot race the bot's own container
    Run {
        /// The bot's id
        id: String,
        /// Keys that replace the bot's config's for this run (a JSON object)
        #[arg(long, value_name = "JSON")]
        config: Option<String>,
        /// Stop the run after D (e.g. 30s, 10m) [default: 10m]
        #[arg(long, value_name = "D", value_parser = interval)]
        timeout: Option<std::time::Duration>,
        /// Wait for the run to end; print its outcome, exit code and last lines (exit 1 unless it
        /// succeeded)
        #[arg(long)]
        wait: bool,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// The SDK's keys in a bot's stored state: list them, print one, or remove one (a bot with a
    /// container is edited only with --restart: stopped, edited, started again)
    State {
        /// The bot's id
        id: String,
        /// What to do
        #[arg(value_enum, default_value_t = StateVerb::List)]
        action: StateVerb,
        /// The state key (for get and rm), as the bot's SDK names it
        key: Option<String>,
        /// rm: stop the bot's container for the edit and start it again
        #[arg(long)]
        restart: bool,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Stop and remove every managed container
    StopAll,
    /// Exit 0 when GET /healthz on --health-addr answers 200 (the image's HEALTHCHECK)
    Healthcheck,
    /// Delete old unfinished uploads, temp objects and query results, and the state and logs of
    /// bots the store does not know (reads the store read-only; docs/operator.md)
    Gc {
        /// List what would be deleted, and why; delete nothing
        #[arg(long)]
        dry_run: bool,
        /// Repeat every D (e.g. 1h) until SIGTERM
        #[arg(long, value_name = "D", value_parser = interval)]
        interval: Option<std::time::Duration>,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Kubernetes mode: bots as Pods, schedules as CronJobs (docs/kubernetes.md); the cluster
    /// from KUBECONFIG, else in-cluster. Health on 0.0.0.0:8080 and --data-dir /tmp/the0-data
    /// unless given (the0's chart: a read-only root, only /tmp writable)
    Controller(ControllerArgs),
    /// Take over from the original runtime (or an earlier instance) without restarting a bot:
    /// rebuild the desired records from the realtime bot containers that run (Docker), or with
    /// --kubernetes from the bot pods and schedule CronJobs; a bot already stored is kept as is
    ImportRunning {
        /// Read the cluster's pods and CronJobs (in --namespace) instead of Docker's containers
        #[arg(long)]
        kubernetes: bool,
        #[command(flatten)]
        target: ImportArgs,
    },
    /// Import the original runtime's MongoDB records, as `mongoexport` wrote them (one document
    /// per line or --jsonArray, Extended JSON), disabled bots and schedules included; a bot
    /// already stored is kept as is
    ImportMongo {
        /// The export of the `bots` collection (database bot_runner)
        #[arg(long, value_name = "FILE")]
        bots: PathBuf,
        /// The export of the `bot_schedules` collection (database bot_scheduler)
        #[arg(long, value_name = "FILE")]
        schedules: Option<PathBuf>,
        #[command(flatten)]
        target: ImportArgs,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

/// The `controller` command's own flags, as text: resolved with their variables in `cmdline.rs`.
#[derive(Debug, Default, clap::Args)]
pub struct ControllerArgs {
    /// The namespace of the bots' objects [env: NAMESPACE] [default: the0]
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// The storage endpoint as bot pods reach it [env: MINIO_ENDPOINT] [default: minio:9000]
    #[arg(long, value_name = "HOST:PORT")]
    pub minio_endpoint: Option<String>,
    /// Accepted as the original does; reaches nothing [env: MINIO_BUCKET] [default: the0-custom-bots]
    #[arg(long, value_name = "BUCKET")]
    pub minio_bucket: Option<String>,
    /// The Secret bot pods take the storage keys from (by secretKeyRef)
    #[arg(long, value_name = "SECRET")]
    pub minio_secret_name: Option<String>,
    /// Reconcile only while holding a Lease (coordination.k8s.io), so that an old and a new
    /// replica never both write; identity from POD_NAME, else the host name [env: LEADER_ELECT=true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = boolean)]
    pub leader_elect: Option<bool>,
    /// The Lease's name, in --namespace [default: the0-runtime-controller]
    #[arg(long, value_name = "NAME")]
    pub leader_elect_lease_name: Option<String>,
    /// Where the desired bots are kept: sqlite (this replica's --data-dir) or configmaps (one
    /// ConfigMap per bot in --namespace, shared by every replica) [env: DESIRED_STATE]
    /// [default: sqlite]
    #[arg(long, value_name = "STORE")]
    pub desired_state: Option<String>,
}

/// The flags `import-running` and `import-mongo` share: which store, which cluster, dry run.
#[derive(Debug, Default, clap::Args)]
pub struct ImportArgs {
    /// Where the records go: sqlite (--data-dir) or configmaps (in --namespace) [env: DESIRED_STATE]
    /// [default: sqlite]
    #[arg(long, value_name = "STORE")]
    pub desired_state: Option<String>,
    /// The namespace of the pods, CronJobs and ConfigMaps [env: NAMESPACE] [default: the0]
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// The cluster's kubeconfig [default: KUBECONFIG, ~/.kube/config, else in-cluster]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Print what would be imported; write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// The settings; every one may come before or after the command. Each is kept as text: the
/// resolution (with the variable it falls back to) is in `cmdline.rs`.
#[derive(Debug, Default, clap::Args)]
pub struct Flags {
    /// Store and local objects [env: THE0_DATA_DIR] [default: ./the0-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Admin API address; token: THE0_ADMIN_TOKEN [env: THE0_ADMIN_ADDR] [default: 127.0.0.1:9478]
    #[arg(long, global = true, value_name = "ADDR")]
    pub admin_addr: Option<String>,
    /// /healthz /readyz /metrics; loopback so bots cannot reach it (Kubernetes probes: 0.0.0.0:8080)
    /// [env: THE0_HEALTH_ADDR] [default: 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "ADDR")]
    pub health_addr: Option<String>,
    /// Ingest the0's events from JetStream [env: NATS_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub nats_url: Option<String>,
    /// Accepted and ignored (the original's MongoDB) [env: MONGO_URI]
    #[arg(long, global = true, value_name = "URI", hide = true)]
    pub mongo_uri: Option<String>,
    /// Longest time between two reconcile passes [default: 30s]
    #[arg(long, global = true, value_name = "D")]
    pub reconcile_interval: Option<String>,
    /// Container actions at once [env: THE0_MAX_PARALLEL] [default: 8]
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub max_parallel: Option<String>,
    /// Manage only containers labelled runtime.instance=NAME [env: THE0_INSTANCE]
    #[arg(long, global = true, value_name = "NAME")]
    pub instance: Option<String>,
    /// Every runtime's image [env: RUNTIME_IMAGE] [default: ghcr.io/alexanderwanyoike/the0/runtime:latest]
    #[arg(long, global = true, value_name = "IMAGE")]
    pub runtime_image: Option<String>,
    /// One runtime's image, beats --runtime-image; repeatable [env: RUNTIME_IMAGE_{RT}: RT upper-cased,
    /// `.`/`-` as `_`, e.g. RUNTIME_IMAGE_PYTHON3_11]
    #[arg(long, global = true, value_name = "RT=IMAGE")]
    pub runtime_image_for: Vec<String>,
    /// IfNotPresent or Never [env: RUNTIME_IMAGE_PULL_POLICY] [default: IfNotPresent]
    #[arg(long, global = true, value_name = "P")]
    pub runtime_image_pull_policy: Option<String>,
    /// First crash-loop delay, doubling to 5m [env: THE0_CRASH_BACKOFF] [default: 10s]
    #[arg(long, global = true, value_name = "D")]
    pub crash_backoff: Option<String>,
    /// Stop the bots when the orchestrator stops [env: STOP_BOTS_ON_SHUTDOWN=true]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = boolean)]
    pub stop_bots_on_shutdown: Option<bool>,
    /// Update a running bot by starting its successor first, stopping the old container only once the
    /// successor has its code (on), or by stopping then starting (off) [default: on]
    #[arg(long, global = true, value_name = "on|off")]
    pub update_handover: Option<String>,
    /// Processes and threads per bot container, at least 16 [env: BOT_PIDS_LIMIT] [default: 512]
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<String>,
    /// Events kept at most, over all bots [env: THE0_EVENTS_KEEP] [default: 10000]
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub events_keep: Option<String>,
    /// Events older than this are dropped [env: THE0_EVENTS_MAX_AGE] [default: 168h]
    #[arg(long, global = true, value_name = "D")]
    pub events_max_age: Option<String>,
    /// Longest sleep of the scheduler between passes [default: 10s]
    #[arg(long, global = true, value_name = "D")]
    pub check_interval: Option<String>,
    /// Scheduled runs at once, 0 = unlimited [env: SCHEDULE_MAX_CONCURRENT] [default: 0]
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub max_concurrent: Option<String>,
    /// Per-run deadline, 0 = none; plain numbers are seconds [env: SCHEDULE_EXECUTION_TIMEOUT]
    #[arg(long, global = true, value_name = "D")]
    pub execution_timeout: Option<String>,
    /// Query API port [env: QUERY_SERVER_PORT] [default: 9477]
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub port: Option<String>,
    /// Query API address; a wider bind is reachable from bot containers: set a --query-token with it
    /// [env: THE0_QUERY_BIND] [default: 127.0.0.1; controller: 0.0.0.0]
    #[arg(long, global = true, value_name = "IP")]
    pub query_bind: Option<String>,
    /// Bearer token required on :9477 (not on /health) [env: THE0_QUERY_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN")]
    pub query_token: Option<String>,
    /// One-shot query containers at once [env: THE0_MAX_QUERY_CONTAINERS] [default: 8]
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub max_query_containers: Option<String>,
    /// Keep a scheduled bot's query server warm this long after its last query, 0 = never;
    /// plain numbers are seconds [env: THE0_QUERY_WARM_FOR] [default: 60]
    #[arg(long, global = true, value_name = "D")]
    pub query_warm_for: Option<String>,
    /// Warm query servers at once, least recently used removed first
    /// [env: THE0_MAX_WARM_QUERY_SERVERS] [default: 16]
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub max_warm_query_servers: Option<String>,
    /// S3 only: each container gets temporary keys limited to its bot's objects (STS AssumeRole)
    /// [env: THE0_SCOPED_CREDENTIALS=true]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = boolean)]
    pub scoped_credentials: Option<bool>,
    /// The role assumed for them; required with --scoped-credentials [env: THE0_STS_ROLE_ARN]
    #[arg(long, global = true, value_name = "ARN")]
    pub sts_role_arn: Option<String>,
    /// Their lifetime, at least 900 s [env: THE0_CREDENTIALS_DURATION] [default: 3600]
    #[arg(long, global = true, value_name = "D")]
    pub credentials_duration: Option<String>,
    /// OCI runtime of bot, scheduled-run and query containers, e.g. runsc (gVisor); one the engine
    /// does not know stops startup [env: BOT_RUNTIME]
    #[arg(long, global = true, value_name = "NAME")]
    pub bot_runtime: Option<String>,
}

/// A boolean flag's value that is not one (`--scoped-credentials=maybe`).
#[derive(Debug, thiserror::Error)]
#[error("not a boolean (true or false)")]
pub struct NotABoolean;

fn boolean(v: &str) -> Result<bool, NotABoolean> {
    the0_contract::env::parse_bool(v).ok_or(NotABoolean)
}

/// Parses `args` (without the program name) into the clap tree; help and errors come back as
/// clap's error.
pub fn parse(args: &[String]) -> Result<Args, clap::Error> {
    Args::try_parse_from(std::iter::once("orchestrator").chain(args.iter().map(String::as_str)))
}

/// The clap command, for shell completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// One line from a clap error: its message, then its tips (the "a similar subcommand exists"
/// suggestion) in parentheses, then for a missing argument the command's usage. Clap's own text
/// otherwise prints a usage paragraph and a pointer to `--help` that we leave out.
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut paragraphs = text.split("\n\n").map(str::trim).filter(|p| !p.is_empty());
    let first = paragraphs.next().unwrap_or_default();
    let mut msg = first.strip_prefix("error: ").unwrap_or(first).split_whitespace().collect::<Vec<_>>().join(" ");
    for p in paragraphs {
        if let Some(tip) = p.strip_prefix("tip: ") {
            msg.push_str(&format!(" ({tip})"));
        } else if let Some(usage) = p.strip_prefix("Usage: ") {
            if e.kind() == clap::error::ErrorKind::MissingRequiredArgument {
                msg.push_str(&format!(" (usage: {usage})"));
            }
        }
    }
    msg
}

/// `gc --interval`: a duration longer than zero.
/// `KEY=VALUE` of `query`: the key non-empty, the value anything after the first `=`.
fn key_value(v: &str) -> Result<(String, String), String> {
    match v.split_once('=') {
        Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
        _ => Err("expected KEY=VALUE".into()),
    }
}

fn interval(v: &str) -> Result<std::time::Duration, String> {
    match the0_contract::duration::parse(v) {
        Ok(d) if d.is_zero() => Err("must be longer than 0".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}
