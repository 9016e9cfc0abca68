//! The command line and environment, parsed once by a pure function ([`parse`]) into the resolved
//! settings ([`Cli`], in `config.rs`): clap parses the command line's shape (`cmdargs.rs`), then
//! each flag falls back to its `THE0_*`/contract variable (from the map given, never the process's
//! environment) and then to its default. Errors are one line naming the flag or variable that was
//! wrong.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use the0_contract::env::parse_bool;
use the0_contract::{duration, env};

use crate::cmdargs::{self, Flags, Sub};
use crate::config::{Cli, Command, ListFilter, StateAction, StateVerb};
use crate::images::RuntimeImages;
use crate::query::QueryOptions;
use crate::reconcile::Options;
use crate::schedule::runner::Options as ScheduleOptions;
use crate::spec::{Buckets, HostSettings, Storage};

/// A wrong command line or environment; the message names the flag or variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// What clap refused (an unknown command or flag, a missing argument, a bad choice), made one
    /// line with its "did you mean" tip: `cmdargs::one_line`.
    #[error("{0}")]
    Args(String),
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

/// Env of `--events-keep`.
pub const THE0_EVENTS_KEEP: &str = "THE0_EVENTS_KEEP";
/// Env of `--events-max-age`.
pub const THE0_EVENTS_MAX_AGE: &str = "THE0_EVENTS_MAX_AGE";

/// Processes and threads allowed in one bot container (`HostConfig.PidsLimit`).
pub const BOT_PIDS_LIMIT: &str = "BOT_PIDS_LIMIT";
/// The OCI runtime of bot containers (`--bot-runtime`), e.g. gVisor's `runsc`.
pub const BOT_RUNTIME: &str = "BOT_RUNTIME";
/// Bearer token required on :9477 (except `/health`) when set.
pub const THE0_QUERY_TOKEN: &str = "THE0_QUERY_TOKEN";

/// Parses `args` (without the program name) and the environment. Pure: the environment is the
/// map given, never the process's.
pub fn parse(args: &[String], vars: &HashMap<String, String>) -> Result<Cli, CliError> {
    let (command, f) = match cmdargs::parse(args) {
        Ok(a) => match a.command {
            Some(Sub::Controller(c)) => (Command::Controller(controller_flags(&c, &a.flags, vars)?), a.flags),
            Some(Sub::Run { id, config, timeout, wait, output }) => {
                let config = config.as_deref().map(run_config).transpose()?;
                let timeout_s = timeout.map(|t| t.as_secs().max(1) as i64);
                (Command::Run { id, config, timeout_s, wait, output }, a.flags)
            }
            Some(Sub::ImportRunning { kubernetes, target }) => {
                let output = target.output;
                (Command::ImportRunning { kubernetes, target: import_target(&target, vars)?, output }, a.flags)
            }
            Some(Sub::ImportMongo { bots, schedules, target }) => {
                let output = target.output;
                (Command::ImportMongo { bots, schedules, target: import_target(&target, vars)?, output }, a.flags)
            }
            Some(Sub::State { id, action, key, restart, output }) => {
                (Command::State { id, action: state_action(action, key, restart)?, output }, a.flags)
            }
            other => (command(other), a.flags),
        },
        Err(e) if is_help(&e) => (Command::Help(e.render().to_string()), Flags::default()),
        Err(e) => return Err(CliError::Args(cmdargs::one_line(&e))),
    };
    resolve(command, &f, vars)
}

/// `run --config JSON`: a JSON object (the keys to override).
fn run_config(text: &str) -> Result<serde_json::Value, CliError> {
    match serde_json::from_str(text) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(CliError::Args("--config must be a JSON object, e.g. '{\"symbol\": \"ETH\"}'".into())),
        Err(e) => Err(CliError::Args(format!("--config is not JSON: {e}"))),
    }
}

/// `state ID ACTION [KEY] [--restart]`: a key exactly when the action takes one, `--restart` only
/// with `rm`.
fn state_action(verb: StateVerb, key: Option<String>, restart: bool) -> Result<StateAction, CliError> {
    let args = |m: &str| Err(CliError::Args(m.to_string()));
    match (verb, key) {
        (StateVerb::List, Some(k)) => {
            args(&format!("state ID list takes no key (got {k:?}); to print one: state ID get {k}"))
        }
        (StateVerb::Get | StateVerb::Rm, None) => args("state ID get|rm needs the KEY (state ID list shows them)"),
        (_, _) if restart && verb != StateVerb::Rm => args("--restart goes with state ID rm KEY only"),
        (StateVerb::List, None) => Ok(StateAction::List),
        (StateVerb::Get, Some(k)) => Ok(StateAction::Get(k)),
        (StateVerb::Rm, Some(key)) => Ok(StateAction::Remove { key, restart }),
    }
}

/// `--help`, `help [COMMAND]`: clap hands the rendered help back as an "error".
fn is_help(e: &clap::Error) -> bool {
    use clap::error::ErrorKind;
    matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
}

/// The command clap parsed; none is `serve`.
fn command(sub: Option<Sub>) -> Command {
    match sub {
        None | Some(Sub::Serve) => Command::Serve,
        Some(Sub::BotRunner) => Command::BotRunner,
        Some(Sub::BotScheduler) => Command::BotScheduler,
        Some(Sub::QueryServer) => Command::QueryServer,
        Some(Sub::Version) => Command::Version,
        Some(Sub::Deploy { dir, id, output }) => Command::Deploy { dir, id, output },
        Some(Sub::List { state, kind, output }) => Command::List { filter: ListFilter { state, kind }, output },
        Some(Sub::Remove { id, output }) => Command::Remove { id, output },
        Some(Sub::Show { id, output }) => Command::Show { id, output },
        Some(Sub::Runs { id, output }) => Command::Runs { id, output },
        Some(Sub::Query { id, path, params, output }) => Command::Query { id, path, params, output },
        Some(Sub::Enable { id, output }) => Command::SetEnabled { id, enabled: true, output },
        Some(Sub::Disable { id, output }) => Command::SetEnabled { id, enabled: false, output },
        Some(Sub::Logs { id, all: _, follow, tail, since }) => Command::Logs { id, follow, tail, since },
        Some(Sub::Restart { id, output }) => Command::Restart { id, output },
        Some(Sub::Events { follow, bot, limit, output }) => Command::Events { follow, bot, limit, output },
        Some(Sub::StopAll) => Command::StopAll,
        Some(Sub::Healthcheck) => Command::HealthCheck,
        Some(Sub::Gc { dry_run, interval, output }) => {
            Command::Gc { dry_run, interval, json: output == crate::config::OutputFormat::Json }
        }
        Some(Sub::Completions { shell }) => Command::Completions(shell),
        Some(Sub::Controller(_)) => unreachable!("parse resolves the controller's flags itself"),
        Some(Sub::State { .. }) => unreachable!("parse resolves `state` itself"),
        Some(Sub::Run { .. }) => unreachable!("parse resolves `run` itself"),
        Some(Sub::ImportRunning { .. } | Sub::ImportMongo { .. }) => unreachable!("parse resolves the imports itself"),
    }
}

/// Every setting: the flag, else its variable, else its default. Errors name the flag or variable.
fn resolve(command: Command, f: &Flags, vars: &HashMap<String, String>) -> Result<Cli, CliError> {
    let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let dur = |name: &'static str, v: Option<&str>, default: Duration| -> Result<Duration, CliError> {
        v.map_or(Ok(default), |v| duration::parse(v).map_err(|source| CliError::Duration { name, source }))
    };
    let num = |name: &'static str, v: Option<&str>, default: i64| -> Result<i64, CliError> {
        v.map_or(Ok(default), |v| {
            v.trim().parse::<i64>().map_err(|_| CliError::NotA { name, value: v.into(), kind: "a whole number" })
        })
    };
    // The controller runs under a read-only root with only /tmp writable (the0's chart), and its
    // pod is probed on :8080 from outside (bots run in other pods).
    let controller = matches!(command, Command::Controller(_));
    let default_data = if controller { "/tmp/the0-data" } else { "./the0-data" };
    let data_dir = PathBuf::from(f.data_dir.as_deref().or(get(env::THE0_DATA_DIR)).unwrap_or(default_data));
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
    let nats_url = f.nats_url.as_deref().or(get(env::NATS_URL)).map(str::to_string);
    let instance = f.instance.as_deref().or(get(env::THE0_INSTANCE)).map(str::to_string);
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
        num("--pids-limit", f.pids_limit.as_deref().or(get(BOT_PIDS_LIMIT)), crate::limits::DEFAULT_PIDS_LIMIT)?;
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
        f.scoped_credentials == Some(true),
        f.sts_role_arn.as_deref(),
        f.credentials_duration.as_deref(),
        &get,
        &storage,
        &data_dir,
    )?;
    let runtime = bot_runtime(f.bot_runtime.as_deref().or(get(BOT_RUNTIME)))?;
    let host = HostSettings {
        runtime,
        bot_nproc: None,
        scoped,
        images: RuntimeImages::resolve(f.runtime_image.as_deref(), &f.runtime_image_for, get)?,
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
        pull: match f
            .runtime_image_pull_policy
            .as_deref()
            .or(get(env::RUNTIME_IMAGE_PULL_POLICY))
            .unwrap_or("IfNotPresent")
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
    let max_parallel = num("--max-parallel", f.max_parallel.as_deref().or(get(env::THE0_MAX_PARALLEL)), 8)?;
    if !(1..=256).contains(&max_parallel) {
        return Err(CliError::OutOfRange { name: "--max-parallel", value: max_parallel, why: "must be 1..=256" });
    }
    let reconcile = Options {
        interval: dur("--reconcile-interval", f.reconcile_interval.as_deref(), Duration::from_secs(30))?
            .max(Duration::from_millis(100)),
        max_parallel: max_parallel as usize,
        stop_grace: Duration::from_secs(
            num(env::BOT_STOP_TIMEOUT_SEC, get(env::BOT_STOP_TIMEOUT_SEC), 30)?.max(0) as u64
        ),
        backoff_base: dur(
            "--crash-backoff",
            f.crash_backoff.as_deref().or(get(env::THE0_CRASH_BACKOFF)),
            Duration::from_secs(10),
        )?
        .max(Duration::from_millis(100)),
        stop_bots_on_shutdown: f.stop_bots_on_shutdown == Some(true) || stop_env,
        update_handover: match f.update_handover.as_deref().unwrap_or("on") {
            "on" => true,
            "off" => false,
            other => {
                return Err(CliError::Refused { name: "--update-handover", value: other.into(), why: "on or off" })
            }
        },
    };
    let max_concurrent = num("--max-concurrent", f.max_concurrent.as_deref().or(get(env::SCHEDULE_MAX_CONCURRENT)), 0)?;
    if max_concurrent < 0 {
        return Err(CliError::OutOfRange {
            name: "--max-concurrent",
            value: max_concurrent,
            why: "must be 0 (unlimited) or more",
        });
    }
    let timeout = f.execution_timeout.as_deref().or(get(env::SCHEDULE_EXECUTION_TIMEOUT));
    // A plain number is seconds; else a Go duration.
    let timeout = match timeout.map(|t| (t, t.trim().parse::<u64>())) {
        Some((_, Ok(secs))) => Duration::from_secs(secs),
        Some((t, Err(_))) => dur("--execution-timeout", Some(t), Duration::ZERO)?,
        None => Duration::ZERO,
    };
    let schedule = ScheduleOptions {
        check_interval: dur("--check-interval", f.check_interval.as_deref(), Duration::from_secs(10))?
            .max(Duration::from_millis(100)),
        max_concurrent: max_concurrent as usize,
        execution_timeout: (!timeout.is_zero()).then_some(timeout),
        stop_grace: reconcile.stop_grace,
    };
    let keep =
        num("--events-keep", f.events_keep.as_deref().or(get(THE0_EVENTS_KEEP)), crate::store::events::DEFAULT_KEEP)?;
    if !(100..=10_000_000).contains(&keep) {
        return Err(CliError::OutOfRange { name: "--events-keep", value: keep, why: "must be 100..=10000000" });
    }
    let max_age = dur(
        "--events-max-age",
        f.events_max_age.as_deref().or(get(THE0_EVENTS_MAX_AGE)),
        crate::store::events::DEFAULT_MAX_AGE,
    )?;
    if max_age < Duration::from_secs(60) {
        return Err(CliError::Refused {
            name: "--events-max-age",
            value: f.events_max_age.as_deref().or(get(THE0_EVENTS_MAX_AGE)).unwrap_or_default().to_string(),
            why: "must be at least 1m",
        });
    }
    let events = crate::store::events::Retention { keep, max_age };
    let mut query = query_options(f.port.as_deref(), f.query_bind.as_deref(), f.max_query_containers.as_deref(), &get)?;
    // The0's chart reaches the controller's :9477 through a Service, from another pod: all
    // interfaces unless given (deploy/kubernetes's NetworkPolicy admits only the0's API).
    if controller && f.query_bind.is_none() && get(env::THE0_QUERY_BIND).is_none() {
        query.bind = "0.0.0.0".into();
    }
    query.token = f.query_token.as_deref().or(get(THE0_QUERY_TOKEN)).map(str::to_string);
    // A plain number is seconds; else a Go duration.
    query.warm_for = match f.query_warm_for.as_deref().or(get(env::THE0_QUERY_WARM_FOR)) {
        Some(t) => match t.trim().parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => dur("--query-warm-for", Some(t), crate::query::warm::DEFAULT_KEEP_FOR)?,
        },
        None => crate::query::warm::DEFAULT_KEEP_FOR,
    };
    if let Some(m) = f.max_warm_query_servers.as_deref().or(get(env::THE0_MAX_WARM_QUERY_SERVERS)) {
        query.max_warm = match m.trim().parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => n,
            _ => {
                return Err(CliError::Refused {
                    name: "--max-warm-query-servers",
                    value: m.into(),
                    why: "must be 1..=256",
                })
            }
        };
    }
    Ok(Cli {
        command,
        data_dir,
        admin_addr: f.admin_addr.as_deref().or(get(env::THE0_ADMIN_ADDR)).unwrap_or("127.0.0.1:9478").to_string(),
        admin_token: get(env::THE0_ADMIN_TOKEN).map(str::to_string),
        health_addr: f
            .health_addr
            .as_deref()
            .or(get(env::THE0_HEALTH_ADDR))
            .unwrap_or(if controller { "0.0.0.0:8080" } else { "127.0.0.1:8080" })
            .to_string(),
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
        events,
    })
}

/// The `controller` command's flags, each falling back to its variable, then to the original's
/// default.
fn controller_flags(
    c: &cmdargs::ControllerArgs,
    f: &Flags,
    vars: &HashMap<String, String>,
) -> Result<crate::config::ControllerFlags, CliError> {
    let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let pull_policy =
        f.runtime_image_pull_policy.as_deref().or(get(env::RUNTIME_IMAGE_PULL_POLICY)).unwrap_or("IfNotPresent");
    if !matches!(pull_policy, "IfNotPresent" | "Always" | "Never") {
        return Err(CliError::Refused {
            name: "--runtime-image-pull-policy",
            value: pull_policy.into(),
            why: "IfNotPresent, Always or Never",
        });
    }
    let namespace = namespace(c.namespace.as_deref(), vars)?;
    // The flag, when given (`--leader-elect=false` too), beats the variable.
    let leader_on = match (c.leader_elect, get(LEADER_ELECT)) {
        (Some(on), _) => on,
        (None, None) => false,
        (None, Some(v)) => {
            parse_bool(v).ok_or_else(|| CliError::NotA { name: LEADER_ELECT, value: v.into(), kind: "a boolean" })?
        }
    };
    let lease_name = c.leader_elect_lease_name.as_deref().unwrap_or(DEFAULT_LEASE_NAME);
    if !crate::kube::names::is_dns_subdomain(lease_name) {
        return Err(CliError::Refused {
            name: "--leader-elect-lease-name",
            value: lease_name.into(),
            why: "not a DNS-1123 subdomain",
        });
    }
    let leader_elect = leader_on.then(|| crate::config::LeaderElect {
        lease_name: lease_name.to_string(),
        pod_name: get(POD_NAME).map(str::to_string),
        timings: crate::config::LeaseTimings::default(),
    });
    let desired_state = desired_state(c.desired_state.as_deref(), vars)?;
    Ok(crate::config::ControllerFlags {
        namespace: namespace.to_string(),
        minio_endpoint: c.minio_endpoint.as_deref().or(get(env::MINIO_ENDPOINT)).unwrap_or("minio:9000").to_string(),
        minio_bucket: c.minio_bucket.as_deref().or(get("MINIO_BUCKET")).unwrap_or("the0-custom-bots").to_string(),
        minio_secret_name: c.minio_secret_name.clone(),
        pull_policy: pull_policy.to_string(),
        leader_elect,
        desired_state,
    })
}

/// `--namespace`, else `NAMESPACE`, else `the0`: a DNS-1123 label.
fn namespace<'a>(flag: Option<&'a str>, vars: &'a HashMap<String, String>) -> Result<&'a str, CliError> {
    let namespace = flag.or(vars.get("NAMESPACE").map(String::as_str).filter(|v| !v.is_empty())).unwrap_or("the0");
    if crate::kube::names::check_id(namespace).is_err() {
        return Err(CliError::Refused { name: "--namespace", value: namespace.into(), why: "not a DNS-1123 label" });
    }
    Ok(namespace)
}

/// `--desired-state`, else `DESIRED_STATE`, else `sqlite`.
fn desired_state(flag: Option<&str>, vars: &HashMap<String, String>) -> Result<crate::config::DesiredState, CliError> {
    match flag.or(vars.get(DESIRED_STATE).map(String::as_str).filter(|v| !v.is_empty())).unwrap_or("sqlite") {
        "sqlite" => Ok(crate::config::DesiredState::Sqlite),
        "configmaps" => Ok(crate::config::DesiredState::ConfigMaps),
        other => Err(CliError::Refused { name: "--desired-state", value: other.into(), why: "sqlite or configmaps" }),
    }
}

/// The shared flags of `import-running` and `import-mongo`.
fn import_target(
    a: &cmdargs::ImportArgs,
    vars: &HashMap<String, String>,
) -> Result<crate::config::ImportTarget, CliError> {
    Ok(crate::config::ImportTarget {
        desired_state: desired_state(a.desired_state.as_deref(), vars)?,
        namespace: namespace(a.namespace.as_deref(), vars)?.to_string(),
        kubeconfig: a.kubeconfig.clone(),
        dry_run: a.dry_run,
    })
}

/// Env of `--desired-state`.
pub const DESIRED_STATE: &str = "DESIRED_STATE";
/// Env of `--leader-elect`.
pub const LEADER_ELECT: &str = "LEADER_ELECT";
/// The controller's pod name (downward API), its Lease holder identity.
pub const POD_NAME: &str = "POD_NAME";
/// `--leader-elect-lease-name`'s default.
pub const DEFAULT_LEASE_NAME: &str = "the0-runtime-controller";

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
