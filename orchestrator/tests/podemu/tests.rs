//! Table tests of the pod translation (pure, no Docker).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, SecretKeySelector, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::json;
use the0_orchestrator::kube::{self, KubeSettings};
use the0_orchestrator::model::BotRecord;

use super::*;

const ID: &str = "podemu-table";

fn settings() -> KubeSettings {
    KubeSettings {
        minio_endpoint: "10.0.0.1:9000".into(),
        minio_secret_name: Some("the0-secrets".into()),
        stop_timeout: std::time::Duration::from_secs(12),
        images: the0_orchestrator::images::RuntimeImages { default: "bot:1".into(), by_runtime: BTreeMap::new() },
        ..KubeSettings::default()
    }
}

fn record(query: bool) -> BotRecord {
    let mut entrypoints = json!({"bot": "main.py"});
    if query {
        entrypoints["query"] = json!("query.py");
    }
    BotRecord {
        id: ID.into(),
        config: json!({"memory_limit": "256Mi", "cpu_limit": "500m", "cpu_request": "100m"}),
        custom: json!({"version": "1", "filePath": "u/p/1",
                       "config": {"name": "p", "runtime": "python3.11", "entrypoints": entrypoints}}),
        enabled: None,
    }
}

fn env() -> PodEnv {
    PodEnv {
        prefix: "t".into(),
        label: "podemu=t".into(),
        network: "net".into(),
        pause_image: "pause:1".into(),
        secrets: BTreeMap::from([
            (("the0-secrets".into(), "minio-access-key".into()), "ak".into()),
            (("the0-secrets".into(), "minio-secret-key".into()), "sk".into()),
        ]),
        runtimes: BTreeMap::new(),
        pod_ip: Some("10.1.2.3".into()),
    }
}

fn pod(query: bool) -> Pod {
    kube::bot_pod(&record(query), &settings()).expect("pod").object
}

/// `flag value` appears in `args`.
fn has(args: &[String], flag: &str, value: &str) -> bool {
    args.windows(2).any(|w| w[0] == flag && w[1] == value)
}

#[test]
fn the_bot_pod_becomes_a_sidecar_then_its_main_containers() {
    let p = plan(&pod(true), &env()).expect("plan");
    let names = |s: &[Step]| s.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&p.init), ["sync"]);
    assert!(p.init[0].sidecar);
    assert_eq!(
        p.init[0].probe,
        Some(HttpProbe { port: 8079, path: "/readyz".into(), period_secs: 1, failure_threshold: 30 })
    );
    assert_eq!(names(&p.main), ["bot", "query-server"]);
    assert!(p.main.iter().all(|s| !s.sidecar && s.probe.is_none()));
    assert_eq!(p.grace_secs, 12);
    assert_eq!(p.volumes.len(), 5);
    assert_eq!(p.volumes[0], ["volume", "create", "--label", "podemu=t", "t-bot-code"]);

    let without = plan(&pod(false), &env()).expect("plan");
    assert_eq!(names(&without.main), ["bot"]);
}

#[test]
fn every_container_joins_the_pause_namespaces_confined_as_the_pod_says() {
    let p = plan(&pod(true), &env()).expect("plan");
    for s in p.init.iter().chain(&p.main) {
        let a = &s.create;
        assert_eq!(a[..5], ["create", "--name", &s.docker_name, "--label", "podemu=t"], "{a:?}");
        assert!(has(a, "--network", "container:t-pause") && has(a, "--ipc", "container:t-pause"), "{a:?}");
        assert!(has(a, "--user", "1000:1000") && has(a, "--group-add", "1000"), "{a:?}");
        assert!(a.contains(&"--read-only".to_string()), "{a:?}");
        assert!(has(a, "--cap-drop", "ALL") && has(a, "--security-opt", "no-new-privileges"), "{a:?}");
        assert!(has(a, "--stop-timeout", "12"), "{a:?}");
        assert!(has(a, "--entrypoint", "/app/runtime"), "{a:?}");
        assert!(has(a, "--env", "MINIO_ACCESS_KEY=ak") && has(a, "--env", "MINIO_SECRET_KEY=sk"), "{a:?}");
    }
    let sync = &p.init[0].create;
    let at = sync.iter().position(|a| a == "bot:1").expect("image");
    assert_eq!(sync[at - 2..at + 4], ["--entrypoint", "/app/runtime", "bot:1", "daemon", "sync", "--bot-id"]);
    assert_eq!(sync.last().map(String::as_str), Some("8079"));
    assert!(has(sync, "--volume", "t-bot-state:/state:nocopy") && !sync.iter().any(|a| a.starts_with("t-bot-code:")));
    assert!(has(sync, "--memory", "134217728") && has(sync, "--memory-swap", "134217728"), "{sync:?}");
    assert!(has(sync, "--cpus", "0.1") && has(sync, "--cpu-shares", "10"), "{sync:?}");

    let bot = &p.main[0].create;
    assert!(bot.ends_with(&["bot:1", "execute", "--skip-sync", "--skip-query-server"].map(String::from)));
    assert!(has(bot, "--workdir", "/bot") && has(bot, "--volume", "t-bot-code:/bot:nocopy"), "{bot:?}");
    assert!(has(bot, "--memory", "268435456") && has(bot, "--cpus", "0.5"), "{bot:?}");
    assert!(has(bot, "--cpu-shares", "102"), "100m → 102 shares: {bot:?}");
    assert!(has(bot, "--env", &format!("BOT_ID={ID}")) && has(bot, "--env", "MINIO_ENDPOINT=10.0.0.1:9000"));
    assert!(p.main[1].create.ends_with(&["execute", "--query-server-only"].map(String::from)));
}

#[test]
fn the_pause_container_owns_the_network_and_volumes_get_the_fs_group() {
    let pod = pod(false);
    let a = pause(&pod, &env());
    assert!(has(&a, "--network", "net") && has(&a, "--hostname", &format!("bot-{ID}")), "{a:?}");
    assert!(has(&a, "--ipc", "shareable") && a.ends_with(&["pause:1", "2147483647"].map(String::from)), "{a:?}");

    let fs = plan(&pod, &env()).expect("plan").fs_group.expect("fsGroup step");
    assert!(has(&fs, "--user", "0:0") && has(&fs, "--network", "none") && has(&fs, "-v", "t-bot-code:/v/0"));
    assert_eq!(fs.last().map(String::as_str), Some("1000"), "the gid is an argument, never script text");
}

fn with_env(var: EnvVar) -> Pod {
    let mut p = pod(false);
    let spec = p.spec.as_mut().expect("spec");
    spec.containers[0].env = Some(vec![var]);
    p
}

fn field(path: &str) -> EnvVar {
    EnvVar {
        name: "X".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: path.into(), api_version: None }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn secret(name: &str, key: &str, optional: Option<bool>) -> EnvVar {
    EnvVar {
        name: "X".into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: name.into(), key: key.into(), optional }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

#[test]
fn variables_resolve_as_the_kubelet_resolves_them() {
    let bot_args = |p: &Pod, e: &PodEnv| plan(p, e).map(|p| p.main[0].create.clone());
    /// `--env` expected (`Ok(None)`: none), or the resolution error.
    type Want = Result<Option<&'static str>, &'static str>;
    let cases: Vec<(&str, EnvVar, Want)> = vec![
        ("podIP", field("status.podIP"), Ok(Some("X=10.1.2.3"))),
        ("name", field("metadata.name"), Ok(Some("X=bot-podemu-table"))),
        ("namespace", field("metadata.namespace"), Ok(Some("X=the0"))),
        ("unknown field", field("spec.nodeName"), Err("fieldRef spec.nodeName is not emulated")),
        ("secret", secret("the0-secrets", "minio-access-key", None), Ok(Some("X=ak"))),
        ("missing key", secret("the0-secrets", "nope", None), Err("secret the0-secrets has no key nope")),
        ("optional missing", secret("other", "k", Some(true)), Ok(None)),
    ];
    for (what, var, want) in cases {
        let got = bot_args(&with_env(var), &env());
        match want {
            Ok(Some(kv)) => assert!(got.as_ref().is_ok_and(|a| has(a, "--env", kv)), "{what}: {got:?}"),
            Ok(None) => assert!(got.as_ref().is_ok_and(|a| !a.contains(&"--env".into())), "{what}: {got:?}"),
            Err(msg) => assert_eq!(
                got,
                Err(EmuError::Env { container: "bot".into(), var: "X".into(), what: msg.into() }),
                "{what}"
            ),
        }
    }
    let no_ip = PodEnv { pod_ip: None, ..env() };
    assert!(plan(&with_env(field("status.podIP")), &no_ip).is_err(), "podIP before the pause runs");
}

#[test]
fn what_is_not_emulated_is_refused() {
    let mut memory = pod(false);
    let vols = memory.spec.as_mut().and_then(|s| s.volumes.as_mut()).expect("volumes");
    vols[4].empty_dir = Some(EmptyDirVolumeSource {
        medium: Some("Memory".into()),
        size_limit: Some(Quantity("1Mi".into())),
        ..EmptyDirVolumeSource::default()
    });
    let p = plan(&memory, &env()).expect("a Memory emptyDir is tmpfs");
    assert!(has(&p.volumes[4], "--opt", "type=tmpfs") && has(&p.volumes[4], "--opt", "o=size=1048576,mode=1777"));

    let mut hostpath = pod(false);
    hostpath
        .spec
        .as_mut()
        .and_then(|s| s.volumes.as_mut())
        .expect("volumes")
        .push(Volume { name: "h".into(), ..Volume::default() });
    assert_eq!(plan(&hostpath, &env()), Err(EmuError::Unsupported("volume h (only emptyDir is)".into())));

    let mut root = pod(false);
    let spec = root.spec.as_mut().expect("spec");
    spec.security_context.as_mut().expect("psc").run_as_user = None;
    spec.containers[0].security_context.as_mut().expect("sc").run_as_user = None;
    assert!(matches!(plan(&root, &env()), Err(EmuError::Invalid { .. })), "runAsNonRoot without a uid");

    let mut gvisor = pod(false);
    gvisor.spec.as_mut().expect("spec").runtime_class_name = Some("gvisor".into());
    assert_eq!(plan(&gvisor, &env()), Err(EmuError::Unsupported("runtimeClassName gvisor".into())));
    let mapped = PodEnv { runtimes: BTreeMap::from([("gvisor".into(), "runsc".into())]), ..env() };
    assert!(plan(&gvisor, &mapped).is_ok_and(|p| has(&p.main[0].create, "--runtime", "runsc")));

    let mut host_net = pod(false);
    host_net.spec.as_mut().expect("spec").host_network = Some(true);
    assert_eq!(plan(&host_net, &env()), Err(EmuError::Unsupported("spec.hostNetwork".into())));
}
