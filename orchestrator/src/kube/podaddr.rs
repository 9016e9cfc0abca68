//! Where a realtime query reaches a bot in Kubernetes mode: the `status.podIP` of its pod
//! `bot-<id>` ([`super::names::pod_name`]), only while the pod is `Running` and its
//! `query-server` container is ready (D21), read from the API server (pods `get`).
//!
//! Why it exists: the proxy ([`crate::query::realtime`]) is the same in both modes; only the
//! address lookup differs, and this is Kubernetes mode's ([`PodLocate`]). A pod's address is
//! cached for [`MAX_AGE`] only (a replaced pod keeps its name, not its IP), and forgotten at once
//! on a transport error, as Docker mode's container addresses are.

use std::time::Duration;

use ::kube::{Api, Client};
use futures_util::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;

use super::pod::QUERY_CONTAINER;
use crate::query::realtime::{AddressError, Locate};

/// How long a pod's address is reused without reading the pod again.
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// A pod could not be read.
#[derive(Debug, thiserror::Error)]
#[error("failed to get pod {pod}: {source}")]
pub struct PodError {
    pub pod: String,
    pub source: ::kube::Error,
}

/// The address a query reaches `pod` at: its `status.podIP` while it is `Running` and, when the
/// kubelet reports container statuses, its `query-server` container is ready. Pure.
pub fn pod_address(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") || pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    if let Some(statuses) = status.container_statuses.as_ref().filter(|s| !s.is_empty()) {
        let ready = statuses.iter().any(|c| c.name == QUERY_CONTAINER && c.ready);
        if !ready {
            return None;
        }
    }
    status.pod_ip.clone().filter(|ip| !ip.is_empty())
}

/// Pod addresses from the API server, by pod name.
pub struct PodLocate {
    api: Api<Pod>,
}

impl PodLocate {
    pub fn new(client: Client, namespace: &str) -> PodLocate {
        PodLocate { api: Api::namespaced(client, namespace) }
    }
}

impl Locate for PodLocate {
    fn locate<'a>(&'a self, pod: &'a str) -> BoxFuture<'a, Result<Option<String>, AddressError>> {
        Box::pin(async move {
            match self.api.get_opt(pod).await {
                Ok(found) => Ok(found.as_ref().and_then(pod_address)),
                Err(source) => Err(AddressError::Lookup(Box::new(PodError { pod: pod.to_string(), source }))),
            }
        })
    }

    fn max_age(&self) -> Option<Duration> {
        Some(MAX_AGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("a pod")
    }

    #[test]
    fn only_a_running_pod_with_a_ready_query_server_has_an_address() {
        let ready =
            |name: &str, ok: bool| json!({"name": name, "ready": ok, "restartCount": 0, "image": "i", "imageID": ""});
        for (why, status, deleting, want) in [
            (
                "running, ready",
                json!({"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [ready("bot", true), ready("query-server", true)]}),
                false,
                Some("10.0.0.7"),
            ),
            (
                "no statuses reported: phase decides",
                json!({"phase": "Running", "podIP": "10.0.0.7"}),
                false,
                Some("10.0.0.7"),
            ),
            (
                "query-server not ready",
                json!({"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [ready("bot", true), ready("query-server", false)]}),
                false,
                None,
            ),
            (
                "no query-server container",
                json!({"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [ready("bot", true)]}),
                false,
                None,
            ),
            ("pending", json!({"phase": "Pending", "podIP": "10.0.0.7"}), false, None),
            ("failed", json!({"phase": "Failed", "podIP": "10.0.0.7"}), false, None),
            ("succeeded", json!({"phase": "Succeeded", "podIP": "10.0.0.7"}), false, None),
            ("no IP yet", json!({"phase": "Running"}), false, None),
            ("empty IP", json!({"phase": "Running", "podIP": ""}), false, None),
            ("terminating", json!({"phase": "Running", "podIP": "10.0.0.7"}), true, None),
            ("no status", json!(null), false, None),
            ("IPv6", json!({"phase": "Running", "podIP": "fd00::7"}), false, Some("fd00::7")),
        ] {
            let mut meta = json!({"name": "bot-b1"});
            if deleting {
                meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            }
            let p = pod(json!({"metadata": meta, "status": status}));
            assert_eq!(pod_address(&p).as_deref(), want, "{why}");
        }
    }
}
