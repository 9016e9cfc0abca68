//! The command line and environment, parsed once by a pure function ([`parse`]) into the resolved
//! settings ([`Cli`], in `config.rs`): the command, its positional arguments and every setting,
//! each flag falling back to its `THE0_*`/contract variable and then to its default. Errors name
//! the flag or variable that was wrong.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use the0_contract::env::parse_bool;
use the0_contract::{duration, env};

use crate::config::{Cli, Command};
use crate::images::RuntimeImages;
use crate::query::QueryOptions;
use crate::reconcile::Options;
use crate::schedule::runner::Options as ScheduleOptions;
use crate::spec::{Buckets, HostSettings, Storage};

pub const USAGE: &str = "usage: orchestrator [COMMAND] [FLAGS]

commands:
  serve              all host roles in one process (default)
  bot-runner         live bots only
  bot-scheduler      scheduled bots only (cron runs)
  query-server       the :9477 query API only
  version            print the version
  deploy DIR [--id ID]  zip DIR, store its code, register the bot with the running server
  list               bots and their status
  remove ID          delete a bot (its state and logs are kept)
  logs ID [-f]       the bot's output (from its container, else from stored logs)
  stop-all           stop and remove every managed container
  healthcheck        exit 0 when GET /healthz on --health-addr answers 200 (the image's HEALTHCHECK)

flags (env):
  --data-dir DIR             (THE0_DATA_DIR, ./the0-data) store and local objects
  --admin-addr ADDR          (THE0_ADMIN_ADDR, 127.0.0.1:9478) admin API; token: THE0_ADMIN_TOKEN
  --health-addr ADDR         (THE0_HEALTH_ADDR, 127.0.0.1:8080) /healthz /readyz /metrics; loopback so
                             bots cannot reach it (Kubernetes probes: set 0.0.0.0:8080)
  --nats-url URL             (NATS_URL) ingest the0's events from JetStream
  --reconcile-interval D     (30s)
  --max-parallel N           (THE0_MAX_PARALLEL, 8)
  --instance NAME            (THE0_INSTANCE) manage only containers labelled runtime.instance=NAME
  --runtime-image IMAGE      (RUNTIME_IMAGE, ghcr.io/alexanderwanyoike/the0/runtime:latest) every runtime's image
  --runtime-image-for RT=IMAGE (RUNTIME_IMAGE_<RT>: RT upper-cased, `.`/`-` as `_`, e.g.
                             RUNTIME_IMAGE_PYTHON3_11) one runtime's image, beats --runtime-image; repeatable
  --runtime-image-pull-policy P (RUNTIME_IMAGE_PULL_POLICY, IfNotPresent) or Never
  --crash-backoff D          (THE0_CRASH_BACKOFF, 10s) first crash-loop delay, doubling to 5m
  --stop-bots-on-shutdown    (STOP_BOTS_ON_SHUTDOWN=true)
  --pids-limit N             (BOT_PIDS_LIMIT, 512, at least 16) processes and threads per bot container
  --check-interval D         (10s) longest sleep of the scheduler between passes
  --max-concurrent N         (SCHEDULE_MAX_CONCURRENT, 0 = unlimited) scheduled runs at once
  --execution-timeout D      (SCHEDULE_EXECUTION_TIMEOUT, 0 = none) per-run deadline; plain numbers are seconds
  --port N                   (QUERY_SERVER_PORT, 9477) query API port
  --query-bind IP            (THE0_QUERY_BIND, 127.0.0.1) query API address; a wider bind is reachable
                             from bot containers: set a --query-token with it
  --query-token TOKEN        (THE0_QUERY_TOKEN) bearer token required on :9477 (not on /health)
  --max-query-containers N   (THE0_MAX_QUERY_CONTAINERS, 8) one-shot query containers at once
  --scoped-credentials       (THE0_SCOPED_CREDENTIALS=true) S3 only: each container gets temporary keys
                             limited to its bot's objects (STS AssumeRole), in a file renewed at half life
  --sts-role-arn ARN         (THE0_STS_ROLE_ARN) the role assumed for them; required with the above
  --credentials-duration D   (THE0_CREDENTIALS_DURATION, 3600 s, at least 900 s) their lifetime
  --bot-runtime NAME         (BOT_RUNTIME, the engine's default) OCI runtime of bot, scheduled-run and
                             query containers, e.g. runsc (gVisor; docs/security/gvisor.md); one the
                             engine does not know stops startup
  --mongo-uri URI            (MONGO_URI) accepted and ignored
storage: MINIO_ENDPOINT, MINIO_ACCESS_KEY, MINIO_SECRET_KEY, MINIO_USE_SSL, MINIO_CONTAINER_ENDPOINT,
  MINIO_{CODE,STATE,LOGS,QUERY_RESULTS}_BUCKET; without MINIO_ENDPOINT objects live in DATA_DIR/objects.
containers: BOT_MEMORY_LIMIT_MB (512, at least 192), MAX_STATE_SIZE_MB (clamped
  to the /state tmpfs), BOT_CPU_SHARES (512), DOCKER_NETWORK (bridge), DEV_RUNTIME_PATH,
  BOT_STOP_TIMEOUT_SEC (30). Logs: LOG_LEVEL.";

/// A wrong command line or environment; the message names the flag or variable. Kept to a few
/// shapes of message (the command line moves to clap later, docs/contract.md keeps the names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    #[error("unknown flag --{0}")]
    UnknownFlag(String),
    #[error("flag --{0} needs a value")]
    NeedsValue(String),
    #[error("--{0}: not a boolean")]
    NotABooleanFlag(String),
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("unexpected argument {0:?}")]
    UnexpectedArgument(String),
    /// A command without its positional argument: `deploy needs a directory`.
    #[error("{command} needs {what}")]
    MissingArgument { command: &'static str, what: &'static str },
    /// `NAME: "value" is not …` (a value of the wrong kind).
    #[error("{name}: {value:?} is not {kind}")]
    NotA { name: &'static str, value: String, kind: &'static str },
    /// `NAME "value": why` (a value outside what is accepted).
    #[error("{name} {value:?}: {why}")]
    Refused { name: &'static str, value: String, why: &'static str },
    /// `NAME number: why` (a number outside its range).
    #[error("{name} {value}: {why}")]
    OutOfRange { name: &'static str, value: i64, why: &'static str },
    /// A duration that does not parse (`name` is the flag).
    #[error("{name}: {source}")]
    Duration { name: &'static str, source: duration::DurationError },
    #[error("--credentials-duration {0:?}: must be 900 s (15 min) to 12 h")]
    CredentialsDuration(Duration),
    #[error(
        "--scoped-credentials needs --sts-role-arn (THE0_STS_ROLE_ARN): the role whose temporary keys each bot gets"
    )]
    NoRoleArn,
    #[error(transparent)]
    Memory(#[from] crate::limits::MemoryTooSmall),
    #[error(transparent)]
    Images(#[from] crate::images::ImageError),
}

/// Processes and threads allowed in one bot container (`HostConfig.PidsLimit`).
pub const BOT_PIDS_LIMIT: &str = "BOT_PIDS_LIMIT";
/// The OCI runtime of bot containers (`--bot-runtime`), e.g. gVisor's `runsc`.
pub const BOT_RUNTIME: &str = "BOT_RUNTIME";
/// Bearer token required on :9477 (except `/health`) when set.
pub const THE0_QUERY_TOKEN: &str = "THE0_QUERY_TOKEN";

/// Parses `args` (without the program name) and the environment.
pub fn parse(args: &[String], vars: &HashMap<String, String>) -> Result<Cli, CliError> {
    let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let mut flags: HashMap<String, String> = HashMap::new();
    let mut bools: Vec<String> = Vec::new();
    let mut image_for: Vec<String> = Vec::new();
    let mut pos: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-f" || a == "--follow" {
            bools.push("follow".into());
        } else if a == "-h" || a == "--help" {
            bools.push("help".into());
        } else if let Some(f) = a.strip_prefix("--") {
            let (name, inline) = match f.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (f, None),
            };
            if name == "stop-bots-on-shutdown" || name == "scoped-credentials" {
                match inline.as_deref().map(parse_bool) {
                    None => bools.push(name.into()),
                    Some(Some(true)) => bools.push(name.into()),
                    Some(Some(false)) => {}
                    Some(None) => return Err(CliError::NotABooleanFlag(name.into())),
                }
                continue;
            }
            const KNOWN: &[&str] = &[
                "data-dir",
                "admin-addr",
                "health-addr",
                "nats-url",
                "mongo-uri",
                "reconcile-interval",
                "max-parallel",
                "instance",
                "runtime-image",
                "runtime-image-for",
                "crash-backoff",
                "runtime-image-pull-policy",
                "id",
                "check-interval",
                "max-concurrent",
                "execution-timeout",
                "port",
                "query-bind",
                "max-query-containers",
                "pids-limit",
                "query-token",
                "sts-role-arn",
                "credentials-duration",
                "bot-runtime",
            ];
            if !KNOWN.contains(&name) {
                return Err(CliError::UnknownFlag(name.into()));
            }
            let v = match inline {
                Some(v) => v,
                None => it.next().cloned().ok_or_else(|| CliError::NeedsValue(name.into()))?,
            };
            if name == "runtime-image-for" {
                image_for.push(v);
            } else {
                flags.insert(name.into(), v);
            }
        } else {
            pos.push(a.clone());
        }
    }
    let flag = |k: &str| flags.get(k).map(String::as_str);
    let dur = |name: &'static str, v: Option<&str>, default: Duration| -> Result<Duration, CliError> {
        v.map_or(Ok(default), |v| duration::parse(v).map_err(|source| CliError::Duration { name, source }))
    };
    let num = |name: &'static str, v: Option<&str>, default: i64| -> Result<i64, CliError> {
        v.map_or(Ok(default), |v| {
            v.trim().parse::<i64>().map_err(|_| CliError::NotA { name, value: v.into(), kind: "a whole number" })
        })
    };
    let mut pos = pos.into_iter();
    let cmd = pos.next();
    let command = if bools.iter().any(|b| b == "help") {
        Command::Help
    } else {
        match cmd.as_deref() {
            None | Some("serve") => Command::Serve,
            Some("bot-runner") => Command::BotRunner,
            Some("bot-scheduler") => Command::BotScheduler,
            Some("query-server") => Command::QueryServer,
            Some("version") => Command::Version,
            Some("deploy") => Command::Deploy {
                dir: PathBuf::from(
                    pos.next().ok_or(CliError::MissingArgument { command: "deploy", what: "a directory" })?,
                ),
                id: flag("id").map(str::to_string),
            },
            Some("list") => Command::List,
            Some("remove") => Command::Remove {
                id: pos.next().ok_or(CliError::MissingArgument { command: "remove", what: "a bot id" })?,
            },
            Some("logs") => Command::Logs {
                id: pos.next().ok_or(CliError::MissingArgument { command: "logs", what: "a bot id" })?,
                follow: bools.iter().any(|b| b == "follow"),
            },
            Some("stop-all") => Command::StopAll,
            Some("healthcheck") => Command::HealthCheck,
            Some("help") => Command::Help,
            Some(other) => return Err(CliError::UnknownCommand(other.into())),
        }
    };
    if let Some(extra) = pos.next() {
        return Err(CliError::UnexpectedArgument(extra));
    }
    let data_dir = PathBuf::from(flag("data-dir").or(get(env::THE0_DATA_DIR)).unwrap_or("./the0-data"));
    let buckets = Buckets::from_vars(get);
    let bucket_overrides: Vec<(&'static str, String)> =
        [env::MINIO_CODE_BUCKET, env::MINIO_STATE_BUCKET, env::MINIO_LOGS_BUCKET]
            .into_iter()
            .filter_map(|var| get(var).map(|v| (var, v.to_string())))
            .collect();
    let storage = match get(env::MINIO_ENDPOINT) {
        Some(ep) => {
            let ssl = get(env::MINIO_USE_SSL).or(get(env::MINIO_SSL)).map_or(Ok(false), |v| {
                parse_bool(v).ok_or_else(|| CliError::NotA {
                    name: env::MINIO_USE_SSL,
                    value: v.into(),
                    kind: "a boolean",
                })
            })?;
            Storage::S3 {
                endpoint: ep.to_string(),
                container_endpoint: get(env::MINIO_CONTAINER_ENDPOINT).unwrap_or(ep).to_string(),
                access_key: get(env::MINIO_ACCESS_KEY).unwrap_or("").to_string(),
                secret_key: get(env::MINIO_SECRET_KEY).unwrap_or("").to_string(),
                use_ssl: ssl,
            }
        }
        None => Storage::Local { root: absolute(&data_dir).join("objects") },
    };
    let nats_url = flag("nats-url").or(get(env::NATS_URL)).map(str::to_string);
    let instance = flag("instance").or(get(env::THE0_INSTANCE)).map(str::to_string);
    if let Some(i) = &instance {
        if !crate::model::is_safe_id(i) || i.len() > 32 {
            return Err(CliError::Refused {
                name: "--instance",
                value: i.clone(),
                why: "use up to 32 characters of [A-Za-z0-9_.-]",
            });
        }
    }
    let memory_mb = num(env::BOT_MEMORY_LIMIT_MB, get(env::BOT_MEMORY_LIMIT_MB), 512)?;
    crate::limits::check_memory(memory_mb)?;
    let pids_limit =
        num("--pids-limit", flag("pids-limit").or(get(BOT_PIDS_LIMIT)), crate::limits::DEFAULT_PIDS_LIMIT)?;
    if pids_limit < 16 {
        return Err(CliError::OutOfRange {
            name: "--pids-limit",
            value: pids_limit,
            why: "must be at least 16 (threads count too)",
        });
    }
    let state_cap_mb = match get(env::MAX_STATE_SIZE_MB) {
        None => None,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(CliError::NotA {
                    name: env::MAX_STATE_SIZE_MB,
                    value: v.into(),
                    kind: "a positive whole number of MiB",
                })
            }
        },
    };
    let scoped = scoped_settings(
        bools.iter().any(|b| b == "scoped-credentials"),
        flag("sts-role-arn"),
        flag("credentials-duration"),
        &get,
        &storage,
        &data_dir,
    )?;
    let runtime = bot_runtime(flag("bot-runtime").or(get(BOT_RUNTIME)))?;
    let host = HostSettings {
        runtime,
        bot_nproc: None,
        scoped,
        images: RuntimeImages::resolve(flag("runtime-image"), &image_for, get)?,
        network: get(env::DOCKER_NETWORK).unwrap_or("bridge").to_string(),
        memory_mb,
        pids_limit,
        state_cap_mb,
        cpu_shares: num(env::BOT_CPU_SHARES, get(env::BOT_CPU_SHARES), 512)?,
        dev_runtime_path: get(env::DEV_RUNTIME_PATH).map(str::to_string),
        nats_url: nats_url.clone(),
        instance,
        storage,
        buckets,
        bucket_overrides,
        pull: match flag("runtime-image-pull-policy").or(get(env::RUNTIME_IMAGE_PULL_POLICY)).unwrap_or("IfNotPresent")
        {
            "IfNotPresent" | "Always" => true,
            "Never" => false,
            other => {
                return Err(CliError::Refused {
                    name: "--runtime-image-pull-policy",
                    value: other.into(),
                    why: "IfNotPresent or Never",
                })
            }
        },
    };
    let stop_env = get(env::STOP_BOTS_ON_SHUTDOWN).map(|v| parse_bool(v).unwrap_or(false)).unwrap_or(false);
    let max_parallel = num("--max-parallel", flag("max-parallel").or(get(env::THE0_MAX_PARALLEL)), 8)?;
    if !(1..=256).contains(&max_parallel) {
        return Err(CliError::OutOfRange { name: "--max-parallel", value: max_parallel, why: "must be 1..=256" });
    }
    let reconcile = Options {
        interval: dur("--reconcile-interval", flag("reconcile-interval"), Duration::from_secs(30))?
            .max(Duration::from_millis(100)),
        max_parallel: max_parallel as usize,
        stop_grace: Duration::from_secs(
            num(env::BOT_STOP_TIMEOUT_SEC, get(env::BOT_STOP_TIMEOUT_SEC), 30)?.max(0) as u64
        ),
        backoff_base: dur(
            "--crash-backoff",
            flag("crash-backoff").or(get(env::THE0_CRASH_BACKOFF)),
            Duration::from_secs(10),
        )?
        .max(Duration::from_millis(100)),
        stop_bots_on_shutdown: bools.iter().any(|b| b == "stop-bots-on-shutdown") || stop_env,
    };
    let max_concurrent = num("--max-concurrent", flag("max-concurrent").or(get(env::SCHEDULE_MAX_CONCURRENT)), 0)?;
    if max_concurrent < 0 {
        return Err(CliError::OutOfRange {
            name: "--max-concurrent",
            value: max_concurrent,
            why: "must be 0 (unlimited) or more",
        });
    }
    let timeout = flag("execution-timeout").or(get(env::SCHEDULE_EXECUTION_TIMEOUT));
    // A plain number is seconds; else a Go duration.
    let timeout = match timeout.map(|t| (t, t.trim().parse::<u64>())) {
        Some((_, Ok(secs))) => Duration::from_secs(secs),
        Some((t, Err(_))) => dur("--execution-timeout", Some(t), Duration::ZERO)?,
        None => Duration::ZERO,
    };
    let schedule = ScheduleOptions {
        check_interval: dur("--check-interval", flag("check-interval"), Duration::from_secs(10))?
            .max(Duration::from_millis(100)),
        max_concurrent: max_concurrent as usize,
        execution_timeout: (!timeout.is_zero()).then_some(timeout),
        stop_grace: reconcile.stop_grace,
    };
    let mut query = query_options(flag("port"), flag("query-bind"), flag("max-query-containers"), &get)?;
    query.token = flag("query-token").or(get(THE0_QUERY_TOKEN)).map(str::to_string);
    Ok(Cli {
        command,
        data_dir,
        admin_addr: flag("admin-addr").or(get(env::THE0_ADMIN_ADDR)).unwrap_or("127.0.0.1:9478").to_string(),
        admin_token: get(env::THE0_ADMIN_TOKEN).map(str::to_string),
        health_addr: flag("health-addr").or(get(env::THE0_HEALTH_ADDR)).unwrap_or("127.0.0.1:8080").to_string(),
        nats_url,
        region: get(env::MINIO_REGION).unwrap_or("us-east-1").to_string(),
        host,
        reconcile,
        schedule,
        log_level: get(env::LOG_LEVEL).unwrap_or("INFO").to_string(),
        docker_host: match get("DOCKER_HOST") {
            None => "unix:///var/run/docker.sock".to_string(),
            Some(h) if h.starts_with("unix://") => h.to_string(),
            Some(h) => {
                return Err(CliError::Refused {
                    name: "DOCKER_HOST",
                    value: h.into(),
                    why: "only unix:// sockets are supported",
                })
            }
        },
        query,
        network_given: get(env::DOCKER_NETWORK).is_some(),
    })
}

/// `--bot-runtime NAME`: a runtime name as Docker's `daemon.json` keys it (up to 64 characters of
/// `[A-Za-z0-9_.-]`); whether the engine knows it is checked at startup (`docker::runtime`).
fn bot_runtime(v: Option<&str>) -> Result<Option<String>, CliError> {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let ok = v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(CliError::Refused {
            name: "--bot-runtime",
            value: v.into(),
            why: "a runtime name of up to 64 characters of [A-Za-z0-9_.-]",
        });
    }
    Ok(Some(v.to_string()))
}

/// Env: turns `--scoped-credentials` on.
pub const THE0_SCOPED_CREDENTIALS: &str = "THE0_SCOPED_CREDENTIALS";
/// Env of `--sts-role-arn`.
pub const THE0_STS_ROLE_ARN: &str = "THE0_STS_ROLE_ARN";
/// Env of `--credentials-duration`.
pub const THE0_CREDENTIALS_DURATION: &str = "THE0_CREDENTIALS_DURATION";

/// `--scoped-credentials`: off by default; on S3 it needs a role ARN; a duration of at least
/// 900 s (the STS minimum, also Ceph's). With local storage there are no keys to scope: ignored.
fn scoped_settings<'a>(
    on_flag: bool,
    arn: Option<&str>,
    duration_flag: Option<&str>,
    get: &impl Fn(&str) -> Option<&'a str>,
    storage: &Storage,
    data_dir: &std::path::Path,
) -> Result<Option<crate::spec::Scoped>, CliError> {
    let on_env = match get(THE0_SCOPED_CREDENTIALS) {
        None => false,
        Some(v) => parse_bool(v).ok_or_else(|| CliError::NotA {
            name: THE0_SCOPED_CREDENTIALS,
            value: v.into(),
            kind: "a boolean",
        })?,
    };
    if !(on_flag || on_env) || !matches!(storage, Storage::S3 { .. }) {
        return Ok(None);
    }
    let role_arn = arn.or(get(THE0_STS_ROLE_ARN)).map(str::to_string).ok_or(CliError::NoRoleArn)?;
    let d = duration_flag.or(get(THE0_CREDENTIALS_DURATION));
    let duration = match d.map(|t| (t, t.trim().parse::<u64>())) {
        None => Duration::from_secs(3600),
        Some((_, Ok(secs))) => Duration::from_secs(secs),
        Some((t, Err(_))) => {
            duration::parse(t).map_err(|source| CliError::Duration { name: "--credentials-duration", source })?
        }
    };
    if duration < Duration::from_secs(900) || duration > Duration::from_secs(12 * 3600) {
        return Err(CliError::CredentialsDuration(duration));
    }
    let region = get(env::MINIO_REGION).unwrap_or("us-east-1").to_string();
    Ok(Some(crate::spec::Scoped { dir: absolute(data_dir).join("credentials"), role_arn, duration, region }))
}

/// The query server's settings. `QUERY_SERVER_PORT` that is not a port falls back to 9477 as in
/// the original (docs/contract.md §4.2); a bad `--port` flag is an error.
fn query_options<'a>(
    port: Option<&str>,
    bind: Option<&str>,
    max: Option<&str>,
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<QueryOptions, CliError> {
    let mut q = QueryOptions::default();
    match port {
        Some(p) => {
            q.port = p.trim().parse().map_err(|_| CliError::Refused {
                name: "--port",
                value: p.into(),
                why: "not a port number (0-65535)",
            })?
        }
        None => {
            if let Some(p) = get(env::QUERY_SERVER_PORT).and_then(|p| p.trim().parse().ok()) {
                q.port = p;
            }
        }
    }
    if let Some(b) = bind.or(get(env::THE0_QUERY_BIND)) {
        b.parse::<std::net::IpAddr>().map_err(|_| CliError::Refused {
            name: "--query-bind",
            value: b.into(),
            why: "not an IP address",
        })?;
        q.bind = b.to_string();
    }
    if let Some(m) = max.or(get(env::THE0_MAX_QUERY_CONTAINERS)) {
        q.max_containers = match m.trim().parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => n,
            _ => {
                return Err(CliError::Refused {
                    name: "--max-query-containers",
                    value: m.into(),
                    why: "must be 1..=256",
                })
            }
        };
    }
    Ok(q)
}

/// Bind mounts need absolute host paths.
fn absolute(p: &std::path::Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| p.to_path_buf(), |d| d.join(p))
    }
}

#[cfg(test)]
#[path = "cmdline_tests.rs"]
mod tests;
