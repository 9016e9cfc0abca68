//! The controller's settings that shape every object it builds (the `controller` command's flags,
//! docs/contract.md §5.6, plus our opt-ins). Plain data: the command line fills it in the next
//! slice; the builders and the goldens only read it.

use std::time::Duration;

use crate::images::RuntimeImages;
use crate::spec::Buckets;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSettings {
    /// `--namespace` / `NAMESPACE` (`the0`).
    pub namespace: String,
    /// The bot image of each runtime (`--runtime-image`, per-runtime overrides); every container
    /// of a bot runs the image of its runtime, which holds the executor at `/app/runtime`.
    pub images: RuntimeImages,
    /// `--runtime-image-pull-policy` (`IfNotPresent`).
    pub pull_policy: String,
    /// `--minio-endpoint` as bot containers reach it.
    pub minio_endpoint: String,
    pub minio_use_ssl: bool,
    pub minio_access_key: String,
    pub minio_secret_key: String,
    /// `--minio-secret-name` (D32): the keys come from this Secret by `secretKeyRef` and never
    /// appear in a pod spec.
    pub minio_secret_name: Option<String>,
    pub buckets: Buckets,
    /// The `MINIO_*_BUCKET` the operator set, forwarded as in Docker mode (D18).
    pub bucket_overrides: Vec<(&'static str, String)>,
    pub state_cap_mb: Option<i64>,
    /// `NATS_URL`, given to the containers that publish logs (D32).
    pub nats_url: Option<String>,
    /// `--bot-runtime` as the pods' `runtimeClassName` (e.g. a gVisor RuntimeClass).
    pub runtime_class: Option<String>,
    /// `--execution-timeout` (D28): a scheduled run's `activeDeadlineSeconds`.
    pub execution_timeout: Option<Duration>,
    /// `BOT_STOP_TIMEOUT_SEC` (D26): `terminationGracePeriodSeconds`.
    pub stop_timeout: Duration,
}

impl Default for KubeSettings {
    fn default() -> Self {
        KubeSettings {
            namespace: "the0".into(),
            images: RuntimeImages::default(),
            pull_policy: "IfNotPresent".into(),
            minio_endpoint: "minio:9000".into(),
            minio_use_ssl: false,
            minio_access_key: String::new(),
            minio_secret_key: String::new(),
            minio_secret_name: None,
            buckets: Buckets::default(),
            bucket_overrides: Vec::new(),
            state_cap_mb: None,
            nats_url: None,
            runtime_class: None,
            execution_timeout: None,
            stop_timeout: Duration::from_secs(30),
        }
    }
}
