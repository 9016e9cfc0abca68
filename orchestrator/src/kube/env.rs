//! The environment of each container in Kubernetes mode, taken from the Docker spec
//! ([`crate::spec::build_for`]) so a bot sees the same variables in both modes: one implementation
//! of the bot's environment. Kubernetes only changes three things: the paths the executor is told
//! about (`CODE_PATH`, `STATE_PATH`, `LOGS_PATH`, §5.7), where the storage keys come from (a
//! `secretKeyRef` when `--minio-secret-name` is set, D32), and which containers get `NATS_URL`
//! (those that publish logs: the sync sidecar and a scheduled run, D32).

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, SecretKeySelector};
use the0_contract::env;

use super::settings::KubeSettings;
use crate::model::Launch;
use crate::spec::{self, HostSettings, Role, Storage};

/// Keys of the storage keys inside `--minio-secret-name` (the0's chart's secret uses these).
pub const SECRET_ACCESS_KEY: &str = "minio-access-key";
pub const SECRET_SECRET_KEY: &str = "minio-secret-key";

/// What the sync sidecar needs from the bot's environment: the storage, its buckets and caps.
const SIDECAR_KEYS: &[&str] = &[
    env::MINIO_ENDPOINT,
    env::MINIO_ACCESS_KEY,
    env::MINIO_SECRET_KEY,
    env::MINIO_USE_SSL,
    env::MINIO_CODE_BUCKET,
    env::MINIO_STATE_BUCKET,
    env::MINIO_LOGS_BUCKET,
    env::MAX_STATE_SIZE_MB,
    env::MAX_STATE_FILE_SIZE_MB,
    env::NATS_URL,
];

/// The Docker host settings that give the same environment.
fn host(s: &KubeSettings, memory_mb: i64, publishes: bool) -> HostSettings {
    HostSettings {
        images: s.images.clone(),
        memory_mb,
        nats_url: if publishes { s.nats_url.clone() } else { None },
        storage: Storage::S3 {
            endpoint: s.minio_endpoint.clone(),
            container_endpoint: s.minio_endpoint.clone(),
            access_key: s.minio_access_key.clone(),
            secret_key: s.minio_secret_key.clone(),
            use_ssl: s.minio_use_ssl,
        },
        buckets: s.buckets.clone(),
        bucket_overrides: s.bucket_overrides.clone(),
        state_cap_mb: s.state_cap_mb,
        ..HostSettings::default()
    }
}

fn var(name: &str, value: String, s: &KubeSettings) -> EnvVar {
    let secret_key = match name {
        env::MINIO_ACCESS_KEY => Some(SECRET_ACCESS_KEY),
        env::MINIO_SECRET_KEY => Some(SECRET_SECRET_KEY),
        _ => None,
    };
    match (secret_key, &s.minio_secret_name) {
        (Some(key), Some(secret)) => EnvVar {
            name: name.into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector { name: secret.clone(), key: key.into(), optional: None }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
        _ => EnvVar { name: name.into(), value: Some(value), ..EnvVar::default() },
    }
}

/// The environment of a bot-running container in `role`; `publishes` adds `NATS_URL`.
pub fn bot_env(l: &Launch, s: &KubeSettings, memory_mb: i64, role: &Role, publishes: bool) -> Vec<EnvVar> {
    let docker = spec::build_for(l, &host(s, memory_mb, publishes), role);
    let mut out: Vec<EnvVar> = docker
        .env
        .into_iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .map(|(k, v)| var(&k, v, s))
        .collect();
    for (k, v) in [(env::CODE_PATH, "/bot"), (env::STATE_PATH, "/state"), (env::LOGS_PATH, "/var/the0/logs")] {
        out.push(EnvVar { name: k.into(), value: Some(v.into()), ..EnvVar::default() });
    }
    out
}

/// The sync sidecar's environment: the storage part of the bot's, plus `NATS_URL` (it ships logs).
pub fn sidecar_env(l: &Launch, s: &KubeSettings, memory_mb: i64) -> Vec<EnvVar> {
    bot_env(l, s, memory_mb, &Role::Realtime, true)
        .into_iter()
        .filter(|v| SIDECAR_KEYS.contains(&v.name.as_str()))
        .collect()
}
