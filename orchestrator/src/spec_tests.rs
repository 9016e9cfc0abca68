//! The container spec, field by field.

use super::*;
use crate::images::RuntimeImages;
use crate::model::{validate, BotRecord};
use serde_json::json;

fn launch() -> Launch {
    validate(&BotRecord {
        id: "b1".into(),
        config: json!({"a": 1}),
        custom: json!({"filePath": "u/b/1", "config": {"runtime": "gcc13", "entrypoints": {"bot": "bot.sh", "query": "q.sh"}}}),
        enabled: None,
    }, &RuntimeImages::default())
    .unwrap()
}

#[test]
fn s3_spec_has_the_contract_env_in_order_and_labels() {
    let h = HostSettings {
        storage: Storage::S3 {
            endpoint: "minio:9000".into(),
            container_endpoint: "host.docker.internal:9000".into(),
            access_key: "ak".into(),
            secret_key: "sk".into(),
            use_ssl: false,
        },
        nats_url: Some("nats://n:4222".into()),
        bucket_overrides: vec![("MINIO_LOGS_BUCKET", "lg".into())],
        ..Default::default()
    };
    let s = build(&launch(), &h);
    let l = launch();
    assert_eq!(s.name, "the0-bot-b1");
    assert_eq!(
        s.env,
        vec![
            "PYTHONDONTWRITEBYTECODE=1",
            "ID=b1",
            "CONFIG={\"a\":1}",
            "ENTRYPOINT_TYPE=bot",
            "CODE_MOUNT_DIR=bot",
            "STATE_DIR=/state/.the0-state",
            "MINIO_ENDPOINT=host.docker.internal:9000",
            "MINIO_ACCESS_KEY=ak",
            "MINIO_SECRET_KEY=sk",
            "MINIO_USE_SSL=false",
            "MINIO_QUERY_RESULTS_BUCKET=query-results",
            "BOT_ID=b1",
            "CODE_FILE=u/b/1",
            "RUNTIME=gcc13",
            "ENTRYPOINT=bot.sh",
            "BOT_CONFIG={\"a\":1}",
            "IS_SCHEDULED=false",
            "QUERY_ENTRYPOINT=q.sh",
            "BOT_TYPE=realtime",
            "NATS_URL=nats://n:4222",
            "MINIO_LOGS_BUCKET=lg",
            "MAX_STATE_SIZE_MB=153",
            "MAX_STATE_FILE_SIZE_MB=10",
        ]
    );
    let want: BTreeMap<String, String> = [
        ("runtime.managed", "true"),
        ("runtime.id", "b1"),
        ("runtime.type", "realtime"),
        ("runtime.entrypoint", "bot.sh"),
        ("runtime.config-hash", l.hash.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(s.labels, want);
    assert!(s.binds.is_empty());
    assert_eq!((s.memory_bytes, s.cpu_shares, s.network.as_str()), (512 << 20, 512, "bridge"));
    assert_eq!(s.tmpfs["/bot"], "rw,exec,nosuid,nodev,uid=1000,gid=1000,size=115m");
    assert_eq!(s.tmpfs["/tmp"], "rw,nosuid,nodev,uid=1000,gid=1000,mode=1777,size=57m");
    assert_eq!(s.tmpfs.len(), 5);
    assert_eq!(s.pids_limit, 512);
}

#[test]
fn local_spec_mounts_only_this_bots_objects() {
    let h = HostSettings {
        storage: Storage::Local { root: PathBuf::from("/data/objects") },
        instance: Some("t1".into()),
        dev_runtime_path: Some("/dev/rt".into()),
        ..Default::default()
    };
    let mut l = launch();
    l.config_json = "null".into();
    let s = build(&l, &h);
    assert_eq!(s.name, "the0-bot-b1-t1");
    assert_eq!(s.labels["runtime.instance"], "t1");
    assert_eq!(
        s.binds,
        vec![
            "/data/objects/custom-bots/u/b/1:/objects/custom-bots/u/b/1:ro",
            "/data/objects/bot-state/b1:/objects/bot-state/b1",
            "/data/objects/bot-logs/logs/b1:/objects/bot-logs/logs/b1",
            "/dev/rt:/app/runtime:ro",
        ]
    );
    assert!(s.env.contains(&"THE0_STORAGE_DIR=/objects".to_string()));
    assert!(s.env.contains(&"CONFIG=null".to_string()) && s.env.contains(&"BOT_CONFIG={}".to_string()));
    assert!(!s.env.iter().any(|e| e.starts_with("MINIO_ACCESS_KEY") || e.starts_with("NATS_URL")));
}

fn env_of<'a>(s: &'a ContainerSpec, k: &str) -> Option<&'a str> {
    s.env.iter().find_map(|e| e.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
}

#[test]
fn scheduled_run_is_one_named_container_per_bot_with_its_due_time() {
    let h = HostSettings::default();
    let s = build_for(&launch(), &h, &Role::Scheduled { due_ms: 1_700_000_000_000 });
    assert_eq!(s.name, "the0-run-b1");
    assert_eq!(s.labels["runtime.type"], "scheduled");
    assert_eq!(s.labels[DUE_LABEL], "1700000000000");
    assert_eq!(env_of(&s, "BOT_TYPE"), Some("scheduled"));
    assert_eq!(env_of(&s, "IS_SCHEDULED"), Some("true"));
    assert_eq!(env_of(&s, "ENTRYPOINT"), Some("bot.sh"));
    assert_eq!(env_of(&s, "ENTRYPOINT_TYPE"), Some("bot"));
    assert_eq!(env_of(&s, "QUERY_PATH"), None);
    let realtime = build(&launch(), &h);
    assert_eq!(s.binds, realtime.binds, "a run syncs state and logs like a realtime bot");
}

/// `run ID`: a scheduled run's name, labels and due time (one at a time, adopted after a
/// restart), the executor told not to sync, and with local storage read-only state and no logs.
#[test]
fn an_on_demand_run_restores_state_read_only_and_never_syncs() {
    let h = HostSettings { storage: Storage::Local { root: PathBuf::from("/o") }, ..Default::default() };
    let s = build_for(&launch(), &h, &Role::Manual { due_ms: 1_700_000_000_000 });
    let scheduled = build_for(&launch(), &h, &Role::Scheduled { due_ms: 1_700_000_000_000 });
    assert_eq!((s.name.as_str(), &s.labels), (scheduled.name.as_str(), &scheduled.labels));
    assert_eq!(s.env, scheduled.env, "the same environment: only the command and the mounts differ");
    assert_eq!(s.cmd.as_deref(), Some(&["/app/runtime".to_string(), "execute".into(), "--skip-sync".into()][..]));
    assert_eq!(scheduled.cmd, None, "other roles keep the image's CMD");
    assert_eq!(
        s.binds,
        vec![
            "/o/custom-bots/u/b/1:/objects/custom-bots/u/b/1:ro".to_string(),
            "/o/bot-state/b1:/objects/bot-state/b1:ro".into(),
        ]
    );
}

#[test]
fn query_container_runs_the_query_entrypoint_with_read_only_state() {
    let h = HostSettings { storage: Storage::Local { root: PathBuf::from("/o") }, ..Default::default() };
    let key = query_result_key("b1", 1_700_000_000_123_456_789, 0xabc);
    assert_eq!(key, "b1/1700000000123456789-0000000000000abc/result.json");
    let q = QueryRun { path: "/price".into(), params: r#"{"s":"x"}"#.into(), result_key: key.clone() };
    let s = build_for(&launch(), &h, &Role::Query(q));
    assert_eq!(s.name, "the0-query-b1-1700000000123456789-0000000000000abc");
    assert_eq!(s.labels["runtime.type"], "scheduled");
    assert_eq!(s.labels["runtime.entrypoint"], "q.sh");
    assert!(!s.labels.contains_key(DUE_LABEL));
    for (k, v) in [
        ("ENTRYPOINT", "q.sh"),
        ("QUERY_ENTRYPOINT", "q.sh"),
        ("ENTRYPOINT_TYPE", "query"),
        ("CODE_MOUNT_DIR", "query"),
        ("BOT_TYPE", "scheduled"),
        ("IS_SCHEDULED", "true"),
        ("QUERY_PATH", "/price"),
        ("QUERY_PARAMS", r#"{"s":"x"}"#),
        ("QUERY_RESULT_KEY", key.as_str()),
    ] {
        assert_eq!(env_of(&s, k), Some(v), "{k}");
    }
    assert_eq!(
        s.binds,
        vec![
            "/o/custom-bots/u/b/1:/objects/custom-bots/u/b/1:ro",
            "/o/bot-state/b1:/objects/bot-state/b1:ro",
            "/o/query-results/b1:/objects/query-results/b1",
        ]
    );
}

/// Issue 15: a warm query server is the bot's image and limits, in warm query mode, with
/// read-only state and no logs, its own name and a label that keeps it apart from the bot's
/// container (realtime label) and from its runs (a due time).
#[test]
fn a_warm_query_server_is_labelled_apart_and_never_writes_state() {
    let h = HostSettings {
        storage: Storage::Local { root: PathBuf::from("/o") },
        instance: Some("t1".into()),
        ..Default::default()
    };
    let s = build_for(&launch(), &h, &Role::Warm);
    let run = build_for(&launch(), &h, &Role::Scheduled { due_ms: 1 });
    assert_eq!(s.name, "the0-warm-b1-t1");
    assert_eq!(s.labels["runtime.type"], "scheduled");
    assert_eq!(s.labels["runtime.warm"], "true");
    assert!(!s.labels.contains_key(DUE_LABEL));
    assert!(!run.labels.contains_key("runtime.warm"));
    assert_eq!(env_of(&s, "THE0_QUERY_WARM"), Some("1"));
    assert_eq!(env_of(&run, "THE0_QUERY_WARM"), None);
    assert_eq!(env_of(&s, "QUERY_ENTRYPOINT"), Some("q.sh"));
    assert_eq!(env_of(&s, "QUERY_PATH"), None, "server mode: no query path");
    assert_eq!(env_of(&s, "CODE_MOUNT_DIR"), Some("bot"));
    assert_eq!(
        (
            s.image.as_str(),
            s.memory_bytes,
            s.cpu_shares,
            s.pids_limit,
            s.network.as_str(),
            &s.tmpfs,
            &s.runtime,
            &s.cmd
        ),
        (
            run.image.as_str(),
            run.memory_bytes,
            run.cpu_shares,
            run.pids_limit,
            run.network.as_str(),
            &run.tmpfs,
            &run.runtime,
            &run.cmd
        ),
        "the bot's image, limits, network and hardening"
    );
    assert_eq!(
        s.binds,
        vec![
            "/o/custom-bots/u/b/1:/objects/custom-bots/u/b/1:ro".to_string(),
            "/o/bot-state/b1:/objects/bot-state/b1:ro".into()
        ]
    );
}

#[test]
fn query_without_a_query_entrypoint_runs_the_bot_entrypoint() {
    let mut l = launch();
    l.query_entrypoint = None;
    let q = QueryRun { path: "/x".into(), params: "{}".into(), result_key: query_result_key("b1", 1, 2) };
    let s = build_for(&l, &HostSettings::default(), &Role::Query(q));
    assert_eq!(env_of(&s, "ENTRYPOINT"), Some("bot.sh"));
    assert_eq!(env_of(&s, "QUERY_ENTRYPOINT"), None);
}

#[test]
fn the_image_is_the_launchs() {
    let mut l = launch();
    l.image = "the0/runtime:native".into();
    for role in [Role::Realtime, Role::Scheduled { due_ms: 1 }] {
        assert_eq!(build_for(&l, &HostSettings::default(), &role).image, "the0/runtime:native");
    }
}

#[test]
fn every_tmpfs_is_sized_within_the_memory_budget_and_the_state_cap_follows() {
    // (memory MiB, operator MAX_STATE_SIZE_MB, pids) → (/state size, MAX_STATE_SIZE_MB)
    for (mem, cap, pids, state, state_cap) in
        [(512, None, 512, 153, 153), (512, Some(8192), 100, 153, 153), (1024, Some(50), 4096, 307, 50)]
    {
        let h = HostSettings { memory_mb: mem, state_cap_mb: cap, pids_limit: pids, ..Default::default() };
        for role in [Role::Realtime, Role::Scheduled { due_ms: 1 }] {
            let s = build_for(&launch(), &h, &role);
            let mut total = 0;
            for (mount, opts) in &s.tmpfs {
                let size = opts
                    .split(',')
                    .find_map(|o| o.strip_prefix("size="))
                    .and_then(|v| v.strip_suffix('m'))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or_else(|| panic!("{mount} has no size: {opts}"));
                total += size;
            }
            assert!(total <= mem - crate::limits::headroom_mb(mem), "memory {mem}: tmpfs total {total}");
            assert!(s.tmpfs["/state"].ends_with(&format!(",size={state}m")), "{:?}", s.tmpfs);
            assert!(s.env.contains(&format!("MAX_STATE_SIZE_MB={state_cap}")), "{:?}", s.env);
            assert_eq!(s.pids_limit, pids);
        }
    }
}

#[test]
fn scoped_credentials_mount_a_directory_and_put_no_shared_key_in_env() {
    let scoped = crate::spec::Scoped {
        dir: PathBuf::from("/d/credentials"),
        role_arn: "arn:x".into(),
        duration: std::time::Duration::from_secs(3600),
        region: "us-east-1".into(),
    };
    let h = HostSettings {
        storage: Storage::S3 {
            endpoint: "ceph:8000".into(),
            container_endpoint: "host.docker.internal:8000".into(),
            access_key: "SHARED-AK".into(),
            secret_key: "SHARED-SK".into(),
            use_ssl: false,
        },
        scoped: Some(scoped),
        ..Default::default()
    };
    let l = launch();
    let run =
        QueryRun { path: "/x".into(), params: "{}".into(), result_key: "b1/1-00000000000000ab/result.json".into() };
    for role in
        [Role::Realtime, Role::Scheduled { due_ms: 1 }, Role::Manual { due_ms: 1 }, Role::Warm, Role::Query(run)]
    {
        let s = build_for(&l, &h, &role);
        assert!(!s.env.iter().any(|e| e.contains("SHARED")), "{role:?}: {:?}", s.env);
        assert!(!s.env.iter().any(|e| e.starts_with("MINIO_ACCESS_KEY=") || e.starts_with("MINIO_SECRET_KEY=")));
        assert!(s.env.contains(&"THE0_CREDENTIALS_FILE=/run/the0/credentials.json".to_string()), "{:?}", s.env);
        assert!(s.env.contains(&"MINIO_REGION=us-east-1".to_string()), "{:?}", s.env);
        let bind = format!("/d/credentials/b1/{}:/run/the0:ro", s.name);
        assert_eq!(s.binds, vec![bind], "{role:?}");
    }
}

#[test]
fn every_role_runs_under_the_chosen_runtime() {
    let q = QueryRun { path: "/q".into(), params: "{}".into(), result_key: query_result_key("b1", 1, 2) };
    for runtime in [None, Some("runsc".to_string())] {
        let h = HostSettings { runtime: runtime.clone(), ..Default::default() };
        for role in [Role::Realtime, Role::Scheduled { due_ms: 1 }, Role::Manual { due_ms: 1 }, Role::Query(q.clone())]
        {
            assert_eq!(build_for(&launch(), &h, &role).runtime, runtime, "{role:?}");
        }
    }
}

#[test]
fn gvisor_bots_get_a_process_limit_below_the_sandboxs_host_pids() {
    for (pids_limit, want) in [(512, 29), (4096, 253), (2048, 125), (300, 16), (48, 16), (0, 16)] {
        assert_eq!(gvisor_bot_nproc(pids_limit), want, "{pids_limit}");
    }
    for (path, want) in
        [("/usr/bin/runsc", true), ("runsc", true), ("/usr/bin/runc", false), ("/opt/runsc-debug", false)]
    {
        assert_eq!(is_gvisor(path), want, "{path}");
    }
}

#[test]
fn the_process_limit_reaches_the_executor_only_when_set() {
    let mut h = HostSettings::default();
    assert!(!build(&launch(), &h).env.iter().any(|kv| kv.starts_with("THE0_BOT_NPROC=")));
    h.bot_nproc = Some(47);
    let spec = build(&launch(), &h);
    assert!(spec.env.iter().any(|kv| kv == "THE0_BOT_NPROC=47"), "{:?}", spec.env);
}

/// An update's successor (issue #15): the bot's spec in everything that enters its hash, under
/// its own stable name, labelled, its executor waiting for the release.
#[test]
fn a_successor_is_the_bots_spec_waiting_under_its_own_name() {
    for instance in [None, Some("i1")] {
        let h = HostSettings { instance: instance.map(String::from), ..Default::default() };
        let (bot, next) = (build(&launch(), &h), build_successor(&launch(), &h));
        let want = match instance {
            None => "the0-bot-b1-next",
            Some(_) => "the0-bot-b1-i1-next",
        };
        assert_eq!(next.name, want);
        assert_eq!(next.name, successor_name("b1", instance));
        assert_eq!(next.labels.get(labels::SUCCESSOR).map(String::as_str), Some("true"));
        assert_eq!(next.labels.get(labels::CONFIG_HASH), bot.labels.get(labels::CONFIG_HASH));
        assert!(!bot.labels.contains_key(labels::SUCCESSOR));
        let extra: Vec<&String> = next.env.iter().filter(|e| !bot.env.contains(e)).collect();
        assert_eq!(extra, ["THE0_WAIT_FOR_RELEASE=1"]);
        assert_eq!((&next.binds, &next.tmpfs, next.memory_bytes), (&bot.binds, &bot.tmpfs, bot.memory_bytes));
    }
}
