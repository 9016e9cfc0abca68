//! The connection to the Kubernetes API server: a kubeconfig when one is named (`KUBECONFIG`, or
//! the path a test gives), else the in-cluster service account, as kube-rs infers them.
//!
//! Why it exists: one place that turns "where is the cluster" into a [`::kube::Client`], with an
//! error that says which source failed. TLS is rustls with ring (the workspace's `kube` features);
//! the process-wide ring provider is installed here, before the first HTTPS client is built.

use std::path::Path;

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig { path: String, source: ::kube::config::KubeconfigError },
    #[error("no Kubernetes configuration (neither KUBECONFIG, ~/.kube/config nor in-cluster): {0}")]
    Infer(#[from] ::kube::config::InferConfigError),
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[from] ::kube::Error),
}

/// A client for the cluster of `kubeconfig` when given, else as inferred (the `KUBECONFIG`
/// variable, `~/.kube/config`, then the in-cluster service account).
pub async fn connect(kubeconfig: Option<&Path>) -> Result<Client, ConnectError> {
    // Installing twice is refused harmlessly; without a provider rustls panics on first use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = match kubeconfig {
        Some(path) => {
            let bad = |source| ConnectError::Kubeconfig { path: path.display().to_string(), source };
            let kc = Kubeconfig::read_from(path).map_err(bad)?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.map_err(bad)?
        }
        None => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// The API server's answer in a failed call (its `Status`: reason and code), if it answered.
pub fn api_error(e: &::kube::Error) -> Option<&::kube::core::Status> {
    match e {
        ::kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

/// A 409: `AlreadyExists` on create or `Conflict` on a stale `resourceVersion`; another writer got
/// there first. (kube's `Status::is_conflict` matches only the reason `Conflict`.)
pub fn lost_write_race(e: &::kube::Error) -> bool {
    api_error(e).is_some_and(|s| s.code == 409)
}

/// A 404: the object is not there (any more).
pub fn not_found(e: &::kube::Error) -> bool {
    api_error(e).is_some_and(|s| s.is_not_found())
}
