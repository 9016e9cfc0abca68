//! The pod `bot-<id>` of a realtime bot (docs/contract.md §5.7, D32): a native sidecar `sync`
//! (an init container with `restartPolicy: Always`, Kubernetes ≥ 1.29) that keeps state and logs
//! synced and says when it is ready, the `bot` container, and a `query-server` container when the
//! bot has a query entrypoint. Pure: the controller creates what this returns.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction, Pod, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use the0_contract::query::CONTAINER_PORT;

use super::env::{bot_env, sidecar_env};
use super::labels;
use super::names;
use super::podparts::{bot_container, container, mounts, pod_spec, resources};
use super::prepare::{prepare, Built, Skip};
use super::settings::KubeSettings;
use crate::model::BotRecord;
use crate::spec::Role;

/// The sync sidecar's readiness port (`daemon sync --readiness-port`).
pub const READINESS_PORT: i32 = 8079;
/// The container that serves :9476 (a bot with a query entrypoint only).
pub const QUERY_CONTAINER: &str = "query-server";

/// The pod of the realtime bot `rec`, or why it gets none.
pub fn bot_pod(rec: &BotRecord, s: &KubeSettings) -> Result<Built<Pod>, Skip> {
    let p = prepare(rec, s)?;
    let l = &p.launch;
    let r = &p.resources;

    let mut sync = container(
        "sync",
        &l.image,
        &[
            "daemon",
            "sync",
            "--bot-id",
            &l.id,
            "--state-path",
            "/state",
            "--logs-path",
            "/var/the0/logs",
            "--readiness-port",
            &READINESS_PORT.to_string(),
        ],
        s,
    );
    sync.restart_policy = Some("Always".into());
    sync.env = Some(sidecar_env(l, s, r.memory_mb));
    sync.volume_mounts = Some(mounts(&["bot-state", "the0", "tmp"]));
    sync.startup_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/readyz".into()),
            port: IntOrString::Int(READINESS_PORT),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(1),
        failure_threshold: Some(30),
        ..Probe::default()
    });
    sync.resources = Some(resources(("64Mi", "10m"), ("128Mi", "100m")));

    let env = bot_env(l, s, r.memory_mb, &Role::Realtime, false);
    let bot = bot_container(&l.image, &["execute", "--skip-sync", "--skip-query-server"], env.clone(), r, s);

    let mut containers = vec![bot];
    if l.query_entrypoint.is_some() {
        let mut q = container(QUERY_CONTAINER, &l.image, &["execute", "--query-server-only"], s);
        q.working_dir = Some("/bot".into());
        q.env = Some(env);
        q.volume_mounts = Some(mounts(&[]));
        q.ports = Some(vec![ContainerPort {
            name: Some("query".into()),
            container_port: i32::from(CONTAINER_PORT),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]);
        q.resources = Some(resources(("32Mi", "10m"), ("128Mi", "200m")));
        containers.push(q);
    }

    let mut spec = pod_spec(containers, "Always", r.memory_mb, s);
    spec.init_containers = Some(vec![sync]);
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(names::pod_name(&l.id)),
            namespace: Some(s.namespace.clone()),
            labels: Some(BTreeMap::from([
                (labels::BOT_ID.into(), l.id.clone()),
                (labels::CUSTOM_BOT_ID.into(), p.custom_bot_label.clone()),
                (labels::CUSTOM_BOT_VERSION.into(), p.version_label.clone()),
                (labels::RUNTIME.into(), p.runtime_label.clone()),
                (labels::MANAGED_BY.into(), labels::BOT_CONTROLLER.into()),
            ])),
            annotations: Some(BTreeMap::from([(labels::CONFIG_HASH.into(), p.hash.clone())])),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    };
    Ok(Built { object: pod, warnings: p.resources.warnings })
}
