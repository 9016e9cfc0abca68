//! The container spec of a bot, exactly per docs/contract.md §5.4, in its roles: a realtime bot, one
//! scheduled run, one one-shot query, a scheduled bot's warm query server. Plus the
//! `runtime.config-hash` label (D24), the opt-in `runtime.instance` label and a deterministic
//! name. Pure: the Docker driver only translates [`ContainerSpec`] into the engine's JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use the0_contract::{env, labels};

use crate::images::RuntimeImages;
use crate::model::Launch;
/// Where local objects appear inside a container (`THE0_STORAGE_DIR`).
pub const CONTAINER_OBJECTS: &str = "/objects";

pub use the0_contract::buckets::Buckets;

/// Where bots' objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// MinIO/S3: containers get the endpoint and keys (§5.4).
    S3 { endpoint: String, container_endpoint: String, access_key: String, secret_key: String, use_ssl: bool },
    /// Embedded default: objects under `root` (`<data-dir>/objects`), bind-mounted per bot.
    Local { root: PathBuf },
}

/// `--scoped-credentials` (issue #10): per-container temporary keys instead of the shared ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped {
    /// `<data dir>/credentials`: one directory per bot, one below it per container.
    pub dir: PathBuf,
    pub role_arn: String,
    pub duration: std::time::Duration,
    /// SigV4 region of the STS calls (`MINIO_REGION`).
    pub region: String,
}

/// Where a container's credentials file lives on the host: `<dir>/<bot>/<container>/`. One
/// directory per container, because a bot's query containers run beside its realtime container
/// (and beside each other), each with its own policy (a query may write only its result key) and
/// its own lifetime; the directory, not the file, is bind-mounted, so a rename reaches it.
pub fn credentials_dir(s: &Scoped, bot_id: &str, container: &str) -> PathBuf {
    s.dir.join(bot_id).join(container)
}

/// Host settings that shape every container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSettings {
    /// The bot image of each runtime; a bot's [`Launch`] carries the one it runs on.
    pub images: RuntimeImages,
    pub network: String,
    pub memory_mb: i64,
    pub cpu_shares: i64,
    pub dev_runtime_path: Option<String>,
    pub nats_url: Option<String>,
    pub instance: Option<String>,
    pub storage: Storage,
    pub buckets: Buckets,
    /// The `MINIO_{CODE,STATE,LOGS}_BUCKET` the operator set: forwarded to containers only then (D18).
    pub bucket_overrides: Vec<(&'static str, String)>,
    /// Pull the image when absent (`RUNTIME_IMAGE_PULL_POLICY` ≠ `Never`).
    pub pull: bool,
    /// `HostConfig.PidsLimit` (`BOT_PIDS_LIMIT`): processes and threads of one container.
    pub pids_limit: i64,
    /// The operator's `MAX_STATE_SIZE_MB`, clamped to the `/state` tmpfs before it is passed on.
    pub state_cap_mb: Option<i64>,
    /// `--scoped-credentials` (S3 only).
    pub scoped: Option<Scoped>,
    /// `--bot-runtime` (`BOT_RUNTIME`): the OCI runtime of bot, scheduled-run and query
    /// containers, e.g. gVisor's `runsc` (docs/security/gvisor.md); `None`: the engine's default.
    pub runtime: Option<String>,
    /// `THE0_BOT_NPROC` for the executor: set when `runtime` is gVisor ([`gvisor_bot_nproc`]).
    pub bot_nproc: Option<u64>,
}

/// The processes and threads a bot may have inside a gVisor sandbox whose host pids cgroup allows
/// `pids_limit`. The host cgroup counts the sandbox's own threads and stubs (about 35 idle, and
/// 8 to 10 per guest task of a fork bomb, measured: docs/security/gvisor.md §4), and when it
/// refuses a fork the whole sandbox dies; a guest limit below it makes the bot's fork fail instead
/// and keeps the executor. 16 host pids per guest task (48 for the sandbox itself) leaves a
/// margin of about 40 % at the peaks measured; 10 per task, the first choice, left 4 % and
/// lost the sandbox on one CI machine. Never below 16 (the executor's own threads count towards
/// the uid's tasks, and the bot must still start).
pub fn gvisor_bot_nproc(pids_limit: i64) -> u64 {
    ((pids_limit - 48).max(0) / 16).max(16) as u64
}

/// Whether an engine runtime whose binary is at `path` is gVisor's `runsc`.
pub fn is_gvisor(path: &str) -> bool {
    Path::new(path).file_name().is_some_and(|n| n == "runsc")
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            images: RuntimeImages::default(),
            network: "bridge".into(),
            memory_mb: 512,
            cpu_shares: 512,
            dev_runtime_path: None,
            nats_url: None,
            instance: None,
            storage: Storage::Local { root: PathBuf::from("the0-data/objects") },
            buckets: Buckets::default(),
            bucket_overrides: Vec::new(),
            pull: true,
            pids_limit: crate::limits::DEFAULT_PIDS_LIMIT,
            state_cap_mb: None,
            scoped: None,
            runtime: None,
            bot_nproc: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub binds: Vec<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub memory_bytes: i64,
    pub cpu_shares: i64,
    pub network: String,
    pub pull: bool,
    pub pids_limit: i64,
    /// The OCI runtime (`HostConfig.Runtime`, `--bot-runtime`); `None`: the engine's default.
    pub runtime: Option<String>,
    /// The command, when not the image's own `CMD` (`/app/runtime execute`).
    pub cmd: Option<Vec<String>>,
}

/// Label marking containers of one `--instance`.
pub const INSTANCE_LABEL: &str = labels::INSTANCE;

/// What a container is for. Realtime and scheduled containers have one deterministic name per
/// bot, so Docker itself refuses a second one; a query container is named by its result key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Realtime,
    /// One run of a scheduled bot; `due_ms` (the scheduled time) goes into a label so a run that
    /// survives an orchestrator restart can be adopted and recorded against the right due time.
    Scheduled {
        due_ms: i64,
    },
    /// One ephemeral query (§4.3): the query entrypoint, read-only state, a fresh result key.
    Query(QueryRun),
    /// One on-demand run (`run ID`), of a live or a scheduled bot: named and labelled as a
    /// scheduled run (one at a time per bot, adopted after a restart by its due time), but the
    /// executor runs with `--skip-sync`: the state is restored and never uploaded, no log is
    /// shipped, so it cannot race the bot's own container; with local storage its state is
    /// mounted read-only and it gets no logs directory.
    Manual {
        due_ms: i64,
    },
    /// A scheduled bot's warm query server (issue 15): the executor in warm query mode
    /// (`THE0_QUERY_WARM=1`) serving the query program on :9476 from the restored state. Named
    /// `the0-warm-<id>`, labelled `runtime.warm=true` beside `runtime.type=scheduled` without a due
    /// time, so neither the reconciler (realtime containers only) nor the scheduler's adoption
    /// (due times only) takes it for the bot's; its state is read-only and it gets no logs.
    Warm,
}

/// The executor's command of an on-demand run: the image's `CMD` plus `--skip-sync`.
pub const MANUAL_RUN_CMD: [&str; 3] = ["/app/runtime", "execute", "--skip-sync"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRun {
    /// Leading `/` included.
    pub path: String,
    /// `QUERY_PARAMS`, passed verbatim (`{}` when none).
    pub params: String,
    /// `<botId>/<unixNano>-<16 hex>/result.json` (§3).
    pub result_key: String,
}

/// Label holding a scheduled run's due time (Unix ms).
pub const DUE_LABEL: &str = "runtime.due-ms";

/// `<botId>/<unixNano>-<16 hex>/result.json`: where a query container leaves its result (§3).
pub fn query_result_key(bot_id: &str, unix_nanos: u128, nonce: u64) -> String {
    format!("{bot_id}/{unix_nanos}-{nonce:016x}/result.json")
}

/// `the0-run-<id>` (plus `-<instance>`): at most one scheduled run per bot at a time.
pub fn run_container_name(bot_id: &str, instance: Option<&str>) -> String {
    match instance {
        Some(i) => format!("the0-run-{bot_id}-{i}"),
        None => format!("the0-run-{bot_id}"),
    }
}

/// `the0-query-<id>-<unixNano>-<16 hex>`, taken from the result key, so it is unique per query.
fn query_container_name(bot_id: &str, result_key: &str) -> String {
    let token = result_key.strip_prefix(bot_id).unwrap_or(result_key).trim_matches('/');
    let token = token.strip_suffix("/result.json").unwrap_or(token);
    format!("the0-query-{bot_id}-{}", token.replace('/', "-"))
}

/// `the0-warm-<id>` (plus `-<instance>`): at most one warm query server per bot.
pub fn warm_container_name(bot_id: &str, instance: Option<&str>) -> String {
    match instance {
        Some(i) => format!("the0-warm-{bot_id}-{i}"),
        None => format!("the0-warm-{bot_id}"),
    }
}

/// `the0-bot-<id>`, plus `-<instance>` when set: one name per bot, so Docker itself refuses a duplicate.
pub fn container_name(bot_id: &str, instance: Option<&str>) -> String {
    match instance {
        Some(i) => format!("the0-bot-{bot_id}-{i}"),
        None => format!("the0-bot-{bot_id}"),
    }
}

/// Suffix of an update's successor's name (`the0-bot-<id>[-<instance>]-next`).
pub const SUCCESSOR_SUFFIX: &str = "-next";

/// The name of an update's successor while it waits for its release: [`container_name`] plus
/// [`SUCCESSOR_SUFFIX`], stable so a restarted orchestrator finds it and goes on with the handover.
pub fn successor_name(bot_id: &str, instance: Option<&str>) -> String {
    format!("{}{SUCCESSOR_SUFFIX}", container_name(bot_id, instance))
}

/// The spec of an update's successor (issue #15): the bot's realtime spec under
/// [`successor_name`], labelled [`labels::SUCCESSOR`], its executor in the waiting mode
/// ([`env::THE0_WAIT_FOR_RELEASE`]). The label and the variable stay after the release (Docker
/// cannot change them); the name is what tells a waiting successor from the bot's container.
pub fn build_successor(l: &Launch, h: &HostSettings) -> ContainerSpec {
    let mut spec = build(l, h);
    spec.name = successor_name(&l.id, h.instance.as_deref());
    spec.labels.insert(labels::SUCCESSOR.into(), "true".into());
    spec.env.push(format!("{}=1", env::THE0_WAIT_FOR_RELEASE));
    spec
}

/// Per-bot host paths of the local backend: (code file, state dir, logs dir).
pub fn local_paths(root: &Path, b: &Buckets, l: &Launch) -> (PathBuf, PathBuf, PathBuf) {
    (
        root.join(&b.code).join(&l.code_file),
        root.join(&b.state).join(&l.id),
        root.join(&b.logs).join("logs").join(&l.id),
    )
}

/// The spec of a realtime bot's container.
pub fn build(l: &Launch, h: &HostSettings) -> ContainerSpec {
    build_for(l, h, &Role::Realtime)
}

/// The spec of a container in any [`Role`]. A query container runs the query entrypoint (the bot
/// entrypoint if there is none), sees the state read-only and, with local storage, can write
/// only under its own bot's query-results prefix; it gets no logs directory.
pub fn build_for(l: &Launch, h: &HostSettings, role: &Role) -> ContainerSpec {
    let query = match role {
        Role::Query(q) => Some(q),
        _ => None,
    };
    let (kind, mount) = if query.is_some() { ("query", "query") } else { ("bot", "bot") };
    let type_label = match role {
        Role::Realtime => labels::TYPE_REALTIME,
        Role::Scheduled { .. } | Role::Manual { .. } | Role::Query(_) | Role::Warm => labels::TYPE_SCHEDULED,
    };
    // Sees its state without writing it back: a query, an on-demand run, a warm query server.
    let state_read_only = matches!(role, Role::Query(_) | Role::Manual { .. } | Role::Warm);
    let entrypoint = match query {
        Some(_) => l.query_entrypoint.clone().unwrap_or_else(|| l.entrypoint.clone()),
        None => l.entrypoint.clone(),
    };
    let mut labels = BTreeMap::new();
    labels.insert(labels::MANAGED.into(), "true".into());
    labels.insert(labels::ID.into(), l.id.clone());
    labels.insert(labels::TYPE.into(), type_label.into());
    labels.insert(labels::ENTRYPOINT.into(), entrypoint.clone());
    labels.insert(labels::CONFIG_HASH.into(), l.hash.clone());
    if let Some(i) = &h.instance {
        labels.insert(INSTANCE_LABEL.into(), i.clone());
    }
    if let Role::Scheduled { due_ms } | Role::Manual { due_ms } = role {
        labels.insert(DUE_LABEL.into(), due_ms.to_string());
    }
    if matches!(role, Role::Warm) {
        labels.insert(labels::WARM.into(), "true".into());
    }
    let mut e: Vec<(&str, String)> = vec![
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("ID", l.id.clone()),
        ("CONFIG", l.config_json.clone()),
        (env::ENTRYPOINT_TYPE, kind.into()),
        (env::CODE_MOUNT_DIR, mount.into()),
        (env::STATE_DIR, "/state/.the0-state".into()),
    ];
    let name = match role {
        Role::Realtime => container_name(&l.id, h.instance.as_deref()),
        Role::Scheduled { .. } | Role::Manual { .. } => run_container_name(&l.id, h.instance.as_deref()),
        Role::Query(q) => query_container_name(&l.id, &q.result_key),
        Role::Warm => warm_container_name(&l.id, h.instance.as_deref()),
    };
    let mut binds = Vec::new();
    match &h.storage {
        Storage::S3 { container_endpoint, access_key, secret_key, use_ssl, .. } => {
            e.push((env::MINIO_ENDPOINT, container_endpoint.clone()));
            match &h.scoped {
                // No shared key in the container: only its own temporary keys, in the file.
                Some(s) => {
                    let dir = credentials_dir(s, &l.id, &name);
                    let inside = Path::new(env::CONTAINER_CREDENTIALS_FILE).parent().unwrap_or(Path::new("/run/the0"));
                    binds.push(format!("{}:{}:ro", dir.display(), inside.display()));
                    e.push((env::THE0_CREDENTIALS_FILE, env::CONTAINER_CREDENTIALS_FILE.into()));
                    // The region the keys were issued in, so the executor signs for it too.
                    e.push((env::MINIO_REGION, s.region.clone()));
                }
                None => {
                    e.push((env::MINIO_ACCESS_KEY, access_key.clone()));
                    e.push((env::MINIO_SECRET_KEY, secret_key.clone()));
                }
            }
            e.push((env::MINIO_USE_SSL, use_ssl.to_string()));
        }
        Storage::Local { root } => {
            e.push((env::MINIO_USE_SSL, "false".into()));
            let (code, state, logs) = local_paths(root, &h.buckets, l);
            let inside = |p: &Path| Path::new(CONTAINER_OBJECTS).join(p.strip_prefix(root).unwrap_or(p));
            binds.push(format!("{}:{}:ro", code.display(), inside(&code).display()));
            if query.is_some() {
                let results = root.join(&h.buckets.query_results).join(&l.id);
                binds.push(format!("{}:{}:ro", state.display(), inside(&state).display()));
                binds.push(format!("{}:{}", results.display(), inside(&results).display()));
            } else if state_read_only {
                binds.push(format!("{}:{}:ro", state.display(), inside(&state).display()));
            } else {
                binds.push(format!("{}:{}", state.display(), inside(&state).display()));
                binds.push(format!("{}:{}", logs.display(), inside(&logs).display()));
            }
        }
    }
    e.push((env::MINIO_QUERY_RESULTS_BUCKET, h.buckets.query_results.clone()));
    e.push((env::BOT_ID, l.id.clone()));
    e.push((env::CODE_FILE, l.code_file.clone()));
    e.push((env::RUNTIME, l.runtime.clone()));
    e.push((env::ENTRYPOINT, entrypoint));
    let bot_config = if l.config_json == "null" { "{}".to_string() } else { l.config_json.clone() };
    e.push((env::BOT_CONFIG, bot_config));
    e.push((env::IS_SCHEDULED, (type_label == labels::TYPE_SCHEDULED).to_string()));
    if let Some(q) = &l.query_entrypoint {
        e.push((env::QUERY_ENTRYPOINT, q.clone()));
    }
    e.push((env::BOT_TYPE, type_label.into()));
    if let Some(q) = query {
        e.push((env::QUERY_PATH, q.path.clone()));
        e.push((env::QUERY_PARAMS, q.params.clone()));
        e.push((env::QUERY_RESULT_KEY, q.result_key.clone()));
    }
    if matches!(role, Role::Warm) {
        e.push((env::THE0_QUERY_WARM, "1".into()));
    }
    if let Some(n) = &h.nats_url {
        e.push((env::NATS_URL, n.clone()));
    }
    for (k, v) in &h.bucket_overrides {
        e.push((k, v.clone()));
    }
    if matches!(h.storage, Storage::Local { .. }) {
        e.push((env::THE0_STORAGE_DIR, CONTAINER_OBJECTS.into()));
    }
    let sizes = crate::limits::tmpfs_sizes(h.memory_mb, h.state_cap_mb);
    e.push((env::MAX_STATE_SIZE_MB, sizes.state_cap.to_string()));
    e.push((env::MAX_STATE_FILE_SIZE_MB, sizes.state_file_cap.to_string()));
    if let Some(n) = h.bot_nproc {
        e.push((env::THE0_BOT_NPROC, n.to_string()));
    }
    if let Some(p) = &h.dev_runtime_path {
        binds.push(format!("{p}:/app/runtime:ro"));
    }
    let opts = "rw,nosuid,nodev,uid=1000,gid=1000";
    let tmpfs = BTreeMap::from([
        ("/bot".to_string(), format!("rw,exec,nosuid,nodev,uid=1000,gid=1000,size={}m", sizes.bot)),
        ("/state".to_string(), format!("{opts},size={}m", sizes.state)),
        ("/query".to_string(), format!("{opts},size={}m", sizes.query)),
        ("/var/the0".to_string(), format!("{opts},size={}m", sizes.var_the0)),
        ("/tmp".to_string(), format!("{opts},mode=1777,size={}m", sizes.tmp)),
    ]);
    ContainerSpec {
        name,
        image: l.image.clone(),
        env: e.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        labels,
        binds,
        tmpfs,
        memory_bytes: h.memory_mb.saturating_mul(1024 * 1024),
        cpu_shares: h.cpu_shares,
        network: h.network.clone(),
        pull: h.pull,
        pids_limit: h.pids_limit,
        runtime: h.runtime.clone(),
        cmd: matches!(role, Role::Manual { .. }).then(|| MANUAL_RUN_CMD.map(String::from).to_vec()),
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
