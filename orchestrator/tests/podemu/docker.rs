//! The edge of the pod emulation: runs a [`Plan`](super::Plan) with the Docker CLI in the
//! kubelet's order (volumes and their fsGroup, the pause container, init containers with each
//! native sidecar's startup probe polled on the pod address, then the main containers), stops it in
//! the kubelet's order (main containers together, then sidecars in reverse), and removes every
//! container and volume it made when dropped, whatever happened.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use super::{pause, pause_name, plan, Plan, PodEnv, Step};
use crate::common::{http_get, moto, unique, KillOnDrop, Network};
use the0_test_support::container::docker;

/// `docker <args>`: stdout, or what went wrong.
pub fn run(args: &[String]) -> Result<String, String> {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = docker(&strs);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!("docker {}: {}", args.first().map_or("", String::as_str), String::from_utf8_lossy(&out.stderr)))
    }
}

fn run_strs(args: &[&str]) -> Result<String, String> {
    run(&args.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())
}

/// Removes every container, then every volume, labelled `label` when dropped (≤ 8 containers per
/// `docker rm`). Declare it after the network, so the network goes last.
pub struct PodGuard(pub String);

impl PodGuard {
    fn ids(&self, what: &[&str]) -> Vec<String> {
        let filter = format!("label={}", self.0);
        let mut args = what.to_vec();
        args.extend(["--filter", &filter]);
        run_strs(&args).unwrap_or_default().lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    }
}

impl Drop for PodGuard {
    fn drop(&mut self) {
        for chunk in self.ids(&["ps", "-aq"]).chunks(8) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk.iter().map(String::as_str));
            let _ = run_strs(&args);
        }
        for v in self.ids(&["volume", "ls", "-q"]) {
            let _ = run_strs(&["volume", "rm", "-f", &v]);
        }
    }
}

/// Where one test's pods run: its own Docker network, moto on that network's gateway (where the
/// pods reach S3), and a [`PodGuard`] for every container and volume labelled for the test.
/// Dropped in this order: containers and volumes, moto, then the network (which cannot go while
/// containers are attached).
pub struct Scene {
    /// Unique per test: the prefix of container and volume names.
    pub inst: String,
    /// `the0.test.podemu=<inst>`, on everything the test makes.
    pub label: String,
    /// moto's `host:port`, as the pods and the host reach it.
    pub endpoint: String,
    _guard: PodGuard,
    _moto: KillOnDrop,
    pub net: Network,
}

impl Scene {
    pub fn new(prefix: &str) -> Scene {
        let inst = unique(prefix);
        let net = Network::create(&format!("the0-test-{inst}"));
        let label = format!("the0.test.podemu={inst}");
        let guard = PodGuard(label.clone());
        let gateway =
            run_strs(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", &net.0]).unwrap_or_default();
        assert!(!gateway.is_empty(), "network {} has no gateway", net.0);
        let (moto, endpoint) = moto::start_moto(&gateway);
        Scene { inst, label, endpoint, _guard: guard, _moto: moto, net }
    }
}

/// A started pod: its plan, its address.
pub struct Running {
    pub plan: Plan,
    pub ip: String,
}

impl Running {
    pub fn step(&self, name: &str) -> &Step {
        self.plan.init.iter().chain(&self.plan.main).find(|s| s.name == name).expect("a container of the pod")
    }

    /// The Docker name of the pod's container `name`.
    pub fn container(&self, name: &str) -> String {
        self.step(name).docker_name.clone()
    }

    /// The first half of Kubernetes' stop: TERM every main container at once, each given the
    /// grace period. Returns (container, exit code).
    pub fn stop_main(&self) -> Result<Vec<(String, i32)>, String> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = self.plan.main.iter().map(|s| scope.spawn(move || self.stop_one(s))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("stop panicked".into()))).collect()
        })
    }

    /// The second half, once the main containers are gone: the sidecars one by one in reverse
    /// order. Returns (container, exit code).
    pub fn stop_sidecars(&self) -> Result<Vec<(String, i32)>, String> {
        self.plan.init.iter().rev().filter(|s| s.sidecar).map(|s| self.stop_one(s)).collect()
    }

    fn stop_one(&self, s: &Step) -> Result<(String, i32), String> {
        run_strs(&["stop", "-t", &self.plan.grace_secs.to_string(), &s.docker_name])?;
        Ok((s.name.clone(), exit_code(&s.docker_name)?))
    }

    /// Every container's output, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for s in self.plan.init.iter().chain(&self.plan.main) {
            let o = docker(&["logs", &s.docker_name]);
            out.push_str(&format!(
                "--- {} ---\n{}{}",
                s.name,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        out
    }
}

/// The exit code of a stopped container.
pub fn exit_code(name: &str) -> Result<i32, String> {
    let s = run_strs(&["inspect", "-f", "{{.State.ExitCode}}", name])?;
    s.parse().map_err(|_| format!("exit code of {name}: {s:?}"))
}

/// Starts `pod` as the kubelet would; the pause container's address becomes `status.podIP`.
pub async fn start(pod: &Pod, mut env: PodEnv) -> Result<Running, String> {
    let dry = plan(pod, &env).map_err(|e| e.to_string())?;
    for v in &dry.volumes {
        run(v)?;
    }
    if let Some(fs) = &dry.fs_group {
        run(fs)?;
    }
    run(&pause(pod, &env))?;
    run_strs(&["start", &pause_name(&env)])?;
    let ip_of = format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", env.network);
    let ip = run_strs(&["inspect", "-f", &ip_of, &pause_name(&env)])?;
    if ip.is_empty() {
        return Err(format!("the pause container has no address on {}", env.network));
    }
    env.pod_ip = Some(ip.clone());
    let plan = plan(pod, &env).map_err(|e| e.to_string())?;
    for s in &plan.init {
        run(&s.create)?;
        run_strs(&["start", &s.docker_name])?;
        if !s.sidecar {
            wait_exit_zero(&s.docker_name, Duration::from_secs(120))?;
        } else if let Some(p) = &s.probe {
            probe(&ip, s, p).await?;
        }
    }
    for s in &plan.main {
        run(&s.create)?;
    }
    for s in &plan.main {
        run_strs(&["start", &s.docker_name])?;
    }
    Ok(Running { plan, ip })
}

/// Polls the sidecar's startup probe until it answers 2xx/3xx, within its
/// `periodSeconds × failureThreshold` (polled more often than the kubelet would, to save time).
async fn probe(ip: &str, s: &Step, p: &super::HttpProbe) -> Result<(), String> {
    let bound = Duration::from_secs(p.period_secs * p.failure_threshold);
    let addr = format!("{ip}:{}", p.port);
    let t0 = Instant::now();
    loop {
        let (status, _) = http_get(&addr, &p.path).await;
        if (200..400).contains(&status) {
            return Ok(());
        }
        if t0.elapsed() > bound {
            let logs = docker(&["logs", &s.docker_name]);
            return Err(format!(
                "{}'s startup probe GET {addr}{} failed for {bound:?} (last status {status}); its log:\n{}{}",
                s.name,
                p.path,
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn wait_exit_zero(name: &str, bound: Duration) -> Result<(), String> {
    let t0 = Instant::now();
    while run_strs(&["inspect", "-f", "{{.State.Running}}", name])? == "true" {
        if t0.elapsed() > bound {
            return Err(format!("init container {name} still runs after {bound:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    match exit_code(name)? {
        0 => Ok(()),
        c => Err(format!("init container {name} exited {c}")),
    }
}
