//! Pod emulation on the Docker engine (issue #12): translates a `k8s_openapi` Pod, as
//! `kube::bot_pod` builds it, into the `docker` argument vectors that run it the way a kubelet
//! would: a pause container holding the pod's network and IPC namespaces, each container joined to
//! them (`--network container:<pause>`), the emptyDirs as Docker volumes (tmpfs for
//! `medium: Memory`) made writable for the pod's `fsGroup`, the security context and resources
//! mapped to their Docker flags, and the environment resolved (`secretKeyRef` from the secrets the
//! test provides, `fieldRef` from the pod), in Kubernetes' order: init containers (native sidecars
//! first passing their startup probe), then the main containers.
//!
//! Why it exists: no API server or kubelet runs here, yet the executor's three Kubernetes commands
//! (`daemon sync`, `execute --skip-sync --skip-query-server`, `execute --query-server-only`) must
//! be proven together. Pure: `kube_pod_emulation.rs` runs what this returns. Anything the
//! translation cannot honour is an error, never silently dropped.

#![allow(dead_code)] // each test binary uses part of it

pub mod docker;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, PodSpec, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use the0_orchestrator::kube::resources::quantity;

/// What the kubelet would know that the Pod does not say.
#[derive(Debug, Clone, Default)]
pub struct PodEnv {
    /// Prefix of every container and volume name (unique per test).
    pub prefix: String,
    /// `key=value` label on every container and volume (cleanup finds them by it).
    pub label: String,
    /// The Docker network the pod's address is on.
    pub network: String,
    /// An image with a static busybox: the pause container and the fsGroup step.
    pub pause_image: String,
    /// (Secret name, key) → value, for `secretKeyRef`.
    pub secrets: BTreeMap<(String, String), String>,
    /// RuntimeClass name → Docker runtime (`--runtime`).
    pub runtimes: BTreeMap<String, String>,
    /// The pause container's address, for `fieldRef: status.podIP` (known once it runs).
    pub pod_ip: Option<String>,
}

/// A container to create, and what must hold before the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The container's name in the pod.
    pub name: String,
    /// Its Docker name.
    pub docker_name: String,
    /// `docker create …` arguments (without `docker`).
    pub create: Vec<String>,
    /// A native sidecar (`restartPolicy: Always` init container): it keeps running.
    pub sidecar: bool,
    /// The startup probe, polled on the pod address.
    pub probe: Option<HttpProbe>,
}

/// Everything to run, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `docker volume create …` arguments, one per emptyDir.
    pub volumes: Vec<Vec<String>>,
    /// `docker run …` arguments that give every volume to `fsGroup` (mode 2777), as the kubelet
    /// does; `None` without volumes.
    pub fs_group: Option<Vec<String>>,
    /// Init containers in order: a sidecar is started and must pass its probe, a plain init
    /// container must exit 0, before the next.
    pub init: Vec<Step>,
    /// The main containers, started together after every init step.
    pub main: Vec<Step>,
    /// `terminationGracePeriodSeconds` (30 by default).
    pub grace_secs: i64,
}

/// An HTTP GET startup probe: ready on a 2xx/3xx within `period_secs × failure_threshold`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    pub port: u16,
    pub path: String,
    pub period_secs: u64,
    pub failure_threshold: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmuError {
    #[error("the pod has no spec")]
    NoSpec,
    #[error("{0} is not emulated")]
    Unsupported(String),
    #[error("container {container}: {what}")]
    Invalid { container: String, what: String },
    #[error("container {container}: variable {var}: {what}")]
    Env { container: String, var: String, what: String },
}

/// The pause container's docker name.
pub fn pause_name(env: &PodEnv) -> String {
    format!("{}-pause", env.prefix)
}

/// `docker create` arguments of the pause container: it owns the pod's network (with the pod's
/// hostname) and a shareable IPC namespace, and only sleeps.
pub fn pause(pod: &Pod, env: &PodEnv) -> Vec<String> {
    // The kubelet's hostname: the pod name, cut to 63 characters.
    let hostname: String = pod.metadata.name.as_deref().unwrap_or("pod").chars().take(63).collect();
    let mut a = strs(&["create", "--name", &pause_name(env), "--label", &env.label, "--network", &env.network]);
    a.extend(strs(&["--hostname", &hostname, "--ipc", "shareable"]));
    a.extend(strs(&["--user", "65535:65535", "--read-only", "--cap-drop", "ALL"]));
    a.extend(strs(&["--security-opt", "no-new-privileges", "--entrypoint", "sleep", &env.pause_image, "2147483647"]));
    a
}

/// The whole pod, once the pause container runs (`env.pod_ip` set for `status.podIP`).
pub fn plan(pod: &Pod, env: &PodEnv) -> Result<Plan, EmuError> {
    let spec = pod.spec.as_ref().ok_or(EmuError::NoSpec)?;
    unsupported_pod_fields(spec)?;
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let vol_args = volumes.iter().map(|v| volume(v, env)).collect::<Result<Vec<_>, _>>()?;
    let step = |c: &Container, sidecar: bool| -> Result<Step, EmuError> {
        Ok(Step {
            name: c.name.clone(),
            docker_name: format!("{}-{}", env.prefix, c.name),
            create: create(pod, spec, c, env)?,
            sidecar,
            probe: if sidecar { startup_probe(c)? } else { None },
        })
    };
    let init = spec
        .init_containers
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| step(c, c.restart_policy.as_deref() == Some("Always")))
        .collect::<Result<Vec<_>, _>>()?;
    let main = spec.containers.iter().map(|c| step(c, false)).collect::<Result<Vec<_>, _>>()?;
    let fs_group = spec.security_context.as_ref().and_then(|s| s.fs_group);
    Ok(Plan {
        volumes: vol_args,
        fs_group: (!volumes.is_empty()).then(|| fs_group_step(volumes, fs_group.unwrap_or(0), env)),
        init,
        main,
        grace_secs: spec.termination_grace_period_seconds.unwrap_or(30),
    })
}

fn strs(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_string()).collect()
}

/// The Docker volume of the pod's volume `v`.
pub fn volume_name(prefix: &str, v: &str) -> String {
    format!("{prefix}-{v}")
}

fn unsupported_pod_fields(spec: &PodSpec) -> Result<(), EmuError> {
    let set = [
        ("hostNetwork", spec.host_network == Some(true)),
        ("hostPID", spec.host_pid == Some(true)),
        ("hostIPC", spec.host_ipc == Some(true)),
        ("shareProcessNamespace", spec.share_process_namespace == Some(true)),
        ("ephemeralContainers", spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty())),
    ];
    match set.iter().find(|(_, on)| *on) {
        Some((field, _)) => Err(EmuError::Unsupported(format!("spec.{field}"))),
        None => Ok(()),
    }
}

/// `docker volume create` of an emptyDir: a plain local volume, or tmpfs of `sizeLimit` for
/// `medium: Memory` (a disk emptyDir's `sizeLimit` is enforced by kubelet eviction: not emulated).
fn volume(v: &Volume, env: &PodEnv) -> Result<Vec<String>, EmuError> {
    let Some(ed) = &v.empty_dir else {
        return Err(EmuError::Unsupported(format!("volume {} (only emptyDir is)", v.name)));
    };
    let mut a = strs(&["volume", "create", "--label", &env.label]);
    if ed.medium.as_deref() == Some("Memory") {
        let mut o = "mode=1777".to_string();
        if let Some(q) = &ed.size_limit {
            let bytes = quantity(&q.0)
                .filter(|b| *b >= 1.0)
                .ok_or_else(|| EmuError::Unsupported(format!("volume {}: sizeLimit {:?}", v.name, q.0)))?;
            o = format!("size={},{o}", bytes.ceil() as u64);
        }
        a.extend(strs(&["--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt"]));
        a.push(format!("o={o}"));
    } else if let Some(m) = ed.medium.as_deref().filter(|m| !m.is_empty()) {
        return Err(EmuError::Unsupported(format!("volume {}: medium {m}", v.name)));
    }
    a.push(volume_name(&env.prefix, &v.name));
    Ok(a)
}

/// The kubelet's ownership step for `fsGroup`: each volume's group becomes `gid`, setgid, and
/// the emptyDir's 0777, done once by a root container that mounts them all.
fn fs_group_step(volumes: &[Volume], gid: i64, env: &PodEnv) -> Vec<String> {
    let mut a = strs(&["run", "--rm", "--name", &format!("{}-fsgroup", env.prefix), "--label", &env.label]);
    a.extend(strs(&["--network", "none", "--user", "0:0"]));
    for (i, v) in volumes.iter().enumerate() {
        a.extend(["-v".to_string(), format!("{}:/v/{i}", volume_name(&env.prefix, &v.name))]);
    }
    a.extend(strs(&["--entrypoint", "sh", &env.pause_image, "-c", "chgrp \"$0\" /v/* && chmod 2777 /v/*"]));
    a.push(gid.to_string());
    a
}

fn invalid(c: &Container, what: impl Into<String>) -> EmuError {
    EmuError::Invalid { container: c.name.clone(), what: what.into() }
}

/// `docker create` arguments of one container of the pod.
fn create(pod: &Pod, spec: &PodSpec, c: &Container, env: &PodEnv) -> Result<Vec<String>, EmuError> {
    let pause = pause_name(env);
    let mut a = strs(&["create", "--name", &format!("{}-{}", env.prefix, c.name), "--label", &env.label]);
    a.extend(["--network".into(), format!("container:{pause}"), "--ipc".into(), format!("container:{pause}")]);
    a.extend(security(spec, c)?);
    a.extend(resources(c)?);
    if let Some(rc) = &spec.runtime_class_name {
        let rt = env.runtimes.get(rc).ok_or_else(|| EmuError::Unsupported(format!("runtimeClassName {rc}")))?;
        a.extend(strs(&["--runtime", rt]));
    }
    if let Some(grace) = spec.termination_grace_period_seconds {
        a.extend(["--stop-timeout".into(), grace.to_string()]);
    }
    if let Some(w) = &c.working_dir {
        a.extend(strs(&["--workdir", w]));
    }
    for v in c.env.as_deref().unwrap_or_default() {
        if let Some(value) = env_value(pod, c, v, env)? {
            a.extend(["--env".into(), format!("{}={value}", v.name)]);
        }
    }
    if c.env_from.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(invalid(c, "envFrom is not emulated"));
    }
    for m in c.volume_mounts.as_deref().unwrap_or_default() {
        if m.sub_path.is_some() || m.sub_path_expr.is_some() {
            return Err(invalid(c, format!("volumeMount {}: subPath is not emulated", m.name)));
        }
        // An emptyDir starts empty: never Docker's copy of the image's directory (and its owner).
        let opts = if m.read_only == Some(true) { "ro,nocopy" } else { "nocopy" };
        a.extend(["--volume".into(), format!("{}:{}:{opts}", volume_name(&env.prefix, &m.name), m.mount_path)]);
    }
    let image = c.image.as_deref().ok_or_else(|| invalid(c, "no image"))?;
    let command = c.command.as_deref().unwrap_or_default();
    if let Some(entry) = command.first() {
        a.extend(strs(&["--entrypoint", entry]));
    }
    a.push(image.into());
    a.extend(command.iter().skip(1).cloned());
    a.extend(c.args.iter().flatten().cloned());
    Ok(a)
}

/// The security context (container fields win over the pod's): user, `fsGroup` as a
/// supplementary group, read-only root, capabilities, no-new-privileges, seccomp.
fn security(spec: &PodSpec, c: &Container) -> Result<Vec<String>, EmuError> {
    let pod = spec.security_context.clone().unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    if sc.privileged == Some(true) {
        return Err(invalid(c, "privileged is not emulated"));
    }
    let uid = sc.run_as_user.or(pod.run_as_user);
    let gid = sc.run_as_group.or(pod.run_as_group);
    if sc.run_as_non_root.or(pod.run_as_non_root) == Some(true) && uid.unwrap_or(0) == 0 {
        // The kubelet refuses to start it (it cannot tell the image's user is not root).
        return Err(invalid(c, "runAsNonRoot without a non-zero runAsUser"));
    }
    let mut a = Vec::new();
    if let Some(u) = uid {
        a.extend(["--user".into(), format!("{u}:{}", gid.unwrap_or(0))]);
    }
    if let Some(g) = pod.fs_group {
        a.extend(["--group-add".into(), g.to_string()]);
    }
    if sc.read_only_root_filesystem == Some(true) {
        a.push("--read-only".into());
    }
    if let Some(caps) = &sc.capabilities {
        for d in caps.drop.iter().flatten() {
            a.extend(["--cap-drop".into(), d.clone()]);
        }
        for add in caps.add.iter().flatten() {
            a.extend(["--cap-add".into(), add.clone()]);
        }
    }
    if sc.allow_privilege_escalation == Some(false) {
        a.extend(strs(&["--security-opt", "no-new-privileges"]));
    }
    match sc.seccomp_profile.or(pod.seccomp_profile).map(|p| p.type_) {
        None => {}
        Some(t) if t == "RuntimeDefault" => {} // Docker's default profile
        Some(t) if t == "Unconfined" => a.extend(strs(&["--security-opt", "seccomp=unconfined"])),
        Some(t) => return Err(EmuError::Unsupported(format!("seccomp profile {t}"))),
    }
    Ok(a)
}

/// Limits as Docker's hard limits (no swap, as the kubelet sets), requests as the reservation
/// and CPU shares the kubelet derives from them (milliCPU × 1024 / 1000, at least 2).
fn resources(c: &Container) -> Result<Vec<String>, EmuError> {
    let Some(r) = &c.resources else { return Ok(Vec::new()) };
    let get = |m: &Option<BTreeMap<String, Quantity>>, k: &str| -> Result<Option<f64>, EmuError> {
        let Some(q) = m.as_ref().and_then(|m| m.get(k)) else {
            return Ok(None);
        };
        quantity(&q.0).filter(|v| *v > 0.0).map(Some).ok_or_else(|| invalid(c, format!("{k} quantity {:?}", q.0)))
    };
    let mut a = Vec::new();
    if let Some(m) = get(&r.limits, "memory")? {
        let bytes = (m.ceil() as u64).to_string();
        a.extend(["--memory".into(), bytes.clone(), "--memory-swap".into(), bytes]);
    }
    if let Some(cpu) = get(&r.limits, "cpu")? {
        a.extend(["--cpus".into(), format!("{}", (cpu * 1000.0).round() / 1000.0)]);
    }
    if let Some(m) = get(&r.requests, "memory")? {
        a.extend(["--memory-reservation".into(), (m.ceil() as u64).to_string()]);
    }
    if let Some(cpu) = get(&r.requests, "cpu")? {
        let shares = (((cpu * 1000.0).round() as u64) * 1024 / 1000).max(2);
        a.extend(["--cpu-shares".into(), shares.to_string()]);
    }
    Ok(a)
}

/// A variable's value as the kubelet resolves it; `None` for a missing optional secret key.
fn env_value(pod: &Pod, c: &Container, v: &EnvVar, env: &PodEnv) -> Result<Option<String>, EmuError> {
    let err = |what: String| EmuError::Env { container: c.name.clone(), var: v.name.clone(), what };
    let Some(from) = &v.value_from else {
        return Ok(Some(v.value.clone().unwrap_or_default()));
    };
    if let Some(s) = &from.secret_key_ref {
        return match env.secrets.get(&(s.name.clone(), s.key.clone())) {
            Some(value) => Ok(Some(value.clone())),
            None if s.optional == Some(true) => Ok(None),
            None => Err(err(format!("secret {} has no key {}", s.name, s.key))),
        };
    }
    if let Some(f) = &from.field_ref {
        let value = match f.field_path.as_str() {
            "metadata.name" => pod.metadata.name.clone(),
            "metadata.namespace" => pod.metadata.namespace.clone(),
            "status.podIP" => env.pod_ip.clone(),
            other => return Err(err(format!("fieldRef {other} is not emulated"))),
        };
        return value.map(Some).ok_or_else(|| err(format!("fieldRef {} has no value yet", f.field_path)));
    }
    Err(err("only secretKeyRef and fieldRef are emulated".into()))
}

/// A sidecar's startup probe (Kubernetes' defaults: every 10 s, 3 failures); only HTTP GET on a
/// numeric port is emulated.
fn startup_probe(c: &Container) -> Result<Option<HttpProbe>, EmuError> {
    let Some(p) = &c.startup_probe else { return Ok(None) };
    let get = p.http_get.as_ref().ok_or_else(|| invalid(c, "only httpGet startup probes are emulated"))?;
    let port = match &get.port {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(_) => None,
    }
    .ok_or_else(|| invalid(c, "the startup probe's port must be a number"))?;
    let positive =
        |v: Option<i32>, default: u64| v.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0).unwrap_or(default);
    Ok(Some(HttpProbe {
        port,
        path: get.path.clone().unwrap_or_else(|| "/".into()),
        period_secs: positive(p.period_seconds, 10),
        failure_threshold: positive(p.failure_threshold, 3),
    }))
}
