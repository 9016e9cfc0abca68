//! The container spec of a realtime bot, exactly per CONTRACT §5.4, plus the `runtime.config-hash`
//! label (D24), the opt-in `runtime.instance` label and a deterministic name. Pure: the Docker
//! driver only translates [`ContainerSpec`] into the engine's JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use the0_contract::{buckets, env, labels};

use crate::model::Launch;

/// The contract's default image (§5.4).
pub const DEFAULT_IMAGE: &str = "ghcr.io/alexanderwanyoike/the0/runtime:latest";
/// Where local objects appear inside a container (`THE0_STORAGE_DIR`).
pub const CONTAINER_OBJECTS: &str = "/objects";

/// Bucket names; `*_set` says whether the operator set them (forwarded only then, D18).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub code: String,
    pub state: String,
    pub logs: String,
    pub query_results: String,
    pub overrides: Vec<(&'static str, String)>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            code: buckets::CODE.into(),
            state: buckets::STATE.into(),
            logs: buckets::LOGS.into(),
            query_results: buckets::QUERY_RESULTS.into(),
            overrides: Vec::new(),
        }
    }
}

/// Where bots' objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// MinIO/S3: containers get the endpoint and keys (§5.4).
    S3 { endpoint: String, container_endpoint: String, access_key: String, secret_key: String, use_ssl: bool },
    /// Embedded default: objects under `root` (`<data-dir>/objects`), bind-mounted per bot.
    Local { root: PathBuf },
}

/// Host settings that shape every container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSettings {
    pub image: String,
    pub network: String,
    pub memory_mb: i64,
    pub cpu_shares: i64,
    pub dev_runtime_path: Option<String>,
    pub nats_url: Option<String>,
    pub instance: Option<String>,
    pub storage: Storage,
    pub buckets: Buckets,
    /// Pull the image when absent (`RUNTIME_IMAGE_PULL_POLICY` ≠ `Never`).
    pub pull: bool,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            image: DEFAULT_IMAGE.into(),
            network: "bridge".into(),
            memory_mb: 512,
            cpu_shares: 512,
            dev_runtime_path: None,
            nats_url: None,
            instance: None,
            storage: Storage::Local { root: PathBuf::from("the0-data/objects") },
            buckets: Buckets::default(),
            pull: true,
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
}

/// Label marking containers of one `--instance`.
pub const INSTANCE_LABEL: &str = labels::INSTANCE;

/// `the0-bot-<id>`, plus `-<instance>` when set: one name per bot, so Docker itself refuses a duplicate.
pub fn container_name(bot_id: &str, instance: Option<&str>) -> String {
    match instance {
        Some(i) => format!("the0-bot-{bot_id}-{i}"),
        None => format!("the0-bot-{bot_id}"),
    }
}

/// Per-bot host paths of the local backend: (code file, state dir, logs dir).
pub fn local_paths(root: &Path, b: &Buckets, l: &Launch) -> (PathBuf, PathBuf, PathBuf) {
    (
        root.join(&b.code).join(&l.code_file),
        root.join(&b.state).join(&l.id),
        root.join(&b.logs).join("logs").join(&l.id),
    )
}

pub fn build(l: &Launch, h: &HostSettings) -> ContainerSpec {
    let mut labels = BTreeMap::new();
    labels.insert(labels::MANAGED.into(), "true".into());
    labels.insert(labels::ID.into(), l.id.clone());
    labels.insert(labels::TYPE.into(), labels::TYPE_REALTIME.into());
    labels.insert(labels::ENTRYPOINT.into(), l.entrypoint.clone());
    labels.insert(labels::CONFIG_HASH.into(), l.hash.clone());
    if let Some(i) = &h.instance {
        labels.insert(INSTANCE_LABEL.into(), i.clone());
    }
    let mut e: Vec<(&str, String)> = vec![
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("ID", l.id.clone()),
        ("CONFIG", l.config_json.clone()),
        (env::ENTRYPOINT_TYPE, "bot".into()),
        (env::CODE_MOUNT_DIR, "bot".into()),
        (env::STATE_DIR, "/state/.the0-state".into()),
    ];
    let mut binds = Vec::new();
    match &h.storage {
        Storage::S3 { container_endpoint, access_key, secret_key, use_ssl, .. } => {
            e.push((env::MINIO_ENDPOINT, container_endpoint.clone()));
            e.push((env::MINIO_ACCESS_KEY, access_key.clone()));
            e.push((env::MINIO_SECRET_KEY, secret_key.clone()));
            e.push((env::MINIO_USE_SSL, use_ssl.to_string()));
        }
        Storage::Local { root } => {
            e.push((env::MINIO_USE_SSL, "false".into()));
            let (code, state, logs) = local_paths(root, &h.buckets, l);
            let inside = |p: &Path| Path::new(CONTAINER_OBJECTS).join(p.strip_prefix(root).unwrap_or(p));
            binds.push(format!("{}:{}:ro", code.display(), inside(&code).display()));
            binds.push(format!("{}:{}", state.display(), inside(&state).display()));
            binds.push(format!("{}:{}", logs.display(), inside(&logs).display()));
        }
    }
    e.push((env::MINIO_QUERY_RESULTS_BUCKET, h.buckets.query_results.clone()));
    e.push((env::BOT_ID, l.id.clone()));
    e.push((env::CODE_FILE, l.code_file.clone()));
    e.push((env::RUNTIME, l.runtime.clone()));
    e.push((env::ENTRYPOINT, l.entrypoint.clone()));
    let bot_config = if l.config_json == "null" { "{}".to_string() } else { l.config_json.clone() };
    e.push((env::BOT_CONFIG, bot_config));
    e.push((env::IS_SCHEDULED, "false".into()));
    if let Some(q) = &l.query_entrypoint {
        e.push((env::QUERY_ENTRYPOINT, q.clone()));
    }
    e.push((env::BOT_TYPE, labels::TYPE_REALTIME.into()));
    if let Some(n) = &h.nats_url {
        e.push((env::NATS_URL, n.clone()));
    }
    for (k, v) in &h.buckets.overrides {
        e.push((k, v.clone()));
    }
    if matches!(h.storage, Storage::Local { .. }) {
        e.push((env::THE0_STORAGE_DIR, CONTAINER_OBJECTS.into()));
    }
    if let Some(p) = &h.dev_runtime_path {
        binds.push(format!("{p}:/app/runtime:ro"));
    }
    let opts = "rw,nosuid,nodev,uid=1000,gid=1000";
    let tmpfs = BTreeMap::from([
        ("/bot".to_string(), "rw,exec,nosuid,nodev,uid=1000,gid=1000".to_string()),
        ("/state".to_string(), opts.to_string()),
        ("/query".to_string(), opts.to_string()),
        ("/var/the0".to_string(), opts.to_string()),
        ("/tmp".to_string(), format!("{opts},mode=1777")),
    ]);
    ContainerSpec {
        name: container_name(&l.id, h.instance.as_deref()),
        image: h.image.clone(),
        env: e.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        labels,
        binds,
        tmpfs,
        memory_bytes: h.memory_mb.saturating_mul(1024 * 1024),
        cpu_shares: h.cpu_shares,
        network: h.network.clone(),
        pull: h.pull,
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
