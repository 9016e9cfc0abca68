//! The parts every pod of Kubernetes mode shares (docs/contract.md §5.7): the pod and container
//! security contexts, the emptyDir volumes standing in for Docker mode's tmpfs mounts, and
//! resource blocks.
//!
//! Why it exists: the bot pod, a scheduled run's pod and a query Job's pod run the same untrusted
//! code, so they get the same confinement from one place: non-root 1000:1000, read-only root,
//! every capability dropped, no privilege escalation, seccomp `RuntimeDefault`, no service-account
//! token, no service links. The volumes' size limits come from [`crate::limits::tmpfs_sizes`], as
//! the tmpfs sizes do in Docker mode, so the executor's state cap never exceeds `/state`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, PodSecurityContext, PodSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::resources::BotResources;
use super::settings::KubeSettings;
use crate::limits;

pub const UID: i64 = 1000;
/// The executor inside every bot image.
pub const RUNTIME_BIN: &str = "/app/runtime";

/// (volume, mount path) of each emptyDir, in the contract's order.
pub const VOLUMES: [(&str, &str); 5] =
    [("bot-code", "/bot"), ("bot-state", "/state"), ("the0", "/var/the0"), ("tmp", "/tmp"), ("query", "/query")];

pub fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(UID),
        run_as_group: Some(UID),
        fs_group: Some(UID),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
        ..PodSecurityContext::default()
    }
}

pub fn container_security() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(UID),
        run_as_group: Some(UID),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        ..SecurityContext::default()
    }
}

/// The emptyDirs, sized as Docker mode sizes its tmpfs mounts for a memory limit of `memory_mb`.
pub fn volumes(memory_mb: i64, s: &KubeSettings) -> Vec<Volume> {
    let sizes = limits::tmpfs_sizes(memory_mb.max(limits::MIN_MEMORY_MB), s.state_cap_mb);
    let size = |name: &str| match name {
        "bot-code" => sizes.bot,
        "bot-state" => sizes.state,
        "the0" => sizes.var_the0,
        "tmp" => sizes.tmp,
        _ => sizes.query,
    };
    VOLUMES
        .iter()
        .map(|(name, _)| Volume {
            name: (*name).into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(format!("{}Mi", size(name)))),
                // `mode` is alpha (EmptyDirVolumeMode): never set.
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        })
        .collect()
}

/// Mounts of the named volumes (all of them when `only` is empty).
pub fn mounts(only: &[&str]) -> Vec<VolumeMount> {
    VOLUMES
        .iter()
        .filter(|(name, _)| only.is_empty() || only.contains(name))
        .map(|(name, path)| VolumeMount { name: (*name).into(), mount_path: (*path).into(), ..VolumeMount::default() })
        .collect()
}

/// Requests and limits as `(memory, cpu)` pairs.
pub fn resources(requests: (&str, &str), limits: (&str, &str)) -> ResourceRequirements {
    let pair = |(m, c): (&str, &str)| {
        BTreeMap::from([("cpu".to_string(), Quantity(c.into())), ("memory".to_string(), Quantity(m.into()))])
    };
    ResourceRequirements {
        requests: Some(pair(requests)),
        limits: Some(pair(limits)),
        ..ResourceRequirements::default()
    }
}

/// A container of the bot's image running the executor with `args`.
pub fn container(name: &str, image: &str, args: &[&str], s: &KubeSettings) -> Container {
    let mut command = vec![RUNTIME_BIN.to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    Container {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: Some(s.pull_policy.clone()),
        command: Some(command),
        security_context: Some(container_security()),
        ..Container::default()
    }
}

/// The name of the container that runs the bot, in every object.
pub const BOT_CONTAINER: &str = "bot";

/// The container that runs the bot (named [`BOT_CONTAINER`] in every object): working directory
/// `/bot`, every volume mounted, the bot's own requests and limits.
pub fn bot_container(image: &str, args: &[&str], env: Vec<EnvVar>, r: &BotResources, s: &KubeSettings) -> Container {
    let mut c = container(BOT_CONTAINER, image, args, s);
    c.working_dir = Some("/bot".into());
    c.env = Some(env);
    c.volume_mounts = Some(mounts(&[]));
    c.resources = Some(resources((&r.memory_request, &r.cpu_request), (&r.memory_limit, &r.cpu_limit)));
    c
}

/// The pod spec around `containers`, with the shared confinement and volumes.
pub fn pod_spec(containers: Vec<Container>, restart: &str, memory_mb: i64, s: &KubeSettings) -> PodSpec {
    PodSpec {
        containers,
        restart_policy: Some(restart.into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        runtime_class_name: s.runtime_class.clone(),
        security_context: Some(pod_security()),
        termination_grace_period_seconds: Some(s.stop_timeout.as_secs().min(i64::MAX as u64) as i64),
        volumes: Some(volumes(memory_mb, s)),
        ..PodSpec::default()
    }
}
