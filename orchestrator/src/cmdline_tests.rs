//! Flags, env fallbacks, defaults and errors.

use super::*;

fn p(args: &[&str], vars: &[(&str, &str)]) -> Result<Cli, String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse(&args, &vars).map_err(|e| e.to_string())
}

#[test]
fn defaults() {
    let c = p(&[], &[]).unwrap();
    assert_eq!(c.command, Command::Serve);
    assert_eq!((c.admin_addr.as_str(), c.health_addr.as_str()), ("127.0.0.1:9478", "127.0.0.1:8080"));
    assert_eq!(c.data_dir, PathBuf::from("./the0-data"));
    assert!(
        matches!(&c.host.storage, Storage::Local { root } if root.ends_with("the0-data/objects") && root.is_absolute())
    );
    assert_eq!(c.host.images, crate::images::RuntimeImages::default());
    assert_eq!((c.host.memory_mb, c.host.cpu_shares, c.host.network.as_str()), (512, 512, "bridge"));
    assert_eq!(c.reconcile.interval, Duration::from_secs(30));
    assert_eq!((c.reconcile.max_parallel, c.reconcile.stop_grace), (8, Duration::from_secs(30)));
    assert!(!c.reconcile.stop_bots_on_shutdown && c.nats_url.is_none() && c.host.instance.is_none());
}

#[test]
fn flags_win_over_env() {
    let env = [
        ("THE0_DATA_DIR", "/env"),
        ("NATS_URL", "nats://env"),
        ("RUNTIME_IMAGE", "img:env"),
        ("THE0_INSTANCE", "envi"),
        ("STOP_BOTS_ON_SHUTDOWN", "true"),
        ("THE0_ADMIN_TOKEN", "tok"),
    ];
    let c = p(&["bot-runner", "--data-dir=/flag", "--nats-url", "nats://flag", "--instance", "t1"], &env).unwrap();
    assert_eq!(c.command, Command::BotRunner);
    assert_eq!(c.data_dir, PathBuf::from("/flag"));
    assert_eq!(c.nats_url.as_deref(), Some("nats://flag"));
    assert_eq!(c.host.nats_url.as_deref(), Some("nats://flag"));
    assert_eq!((c.host.images.default.as_str(), c.host.instance.as_deref()), ("img:env", Some("t1")));
    assert!(c.reconcile.stop_bots_on_shutdown);
    assert_eq!(c.admin_token.as_deref(), Some("tok"));
    let c = p(&["--reconcile-interval", "2s", "--max-parallel=3", "--crash-backoff", "500ms"], &[]).unwrap();
    assert_eq!(c.reconcile.interval, Duration::from_secs(2));
    assert_eq!((c.reconcile.max_parallel, c.reconcile.backoff_base), (3, Duration::from_millis(500)));
}

#[test]
fn per_runtime_images_from_flags_and_env() {
    let env =
        [("RUNTIME_IMAGE", "u:1"), ("RUNTIME_IMAGE_PYTHON3_11", "py:env"), ("RUNTIME_IMAGE_NODEJS20", "node:env")];
    let args = ["--runtime-image-for", "python3.11=py:flag", "--runtime-image-for=cpp-gcc13=native:1"];
    let c = p(&args, &env).unwrap();
    let got: Vec<&str> =
        ["python3.11", "nodejs20", "cpp-gcc13", "gcc13"].map(|r| c.host.images.for_runtime(r)).to_vec();
    assert_eq!(got, ["py:flag", "node:env", "native:1", "u:1"]);
    let e = p(&["--runtime-image-for", "perl=x"], &[]).unwrap_err();
    assert!(e.contains("unknown runtime \"perl\""), "{e}");
}

#[test]
fn s3_storage_and_bucket_overrides() {
    let env = [
        ("MINIO_ENDPOINT", "minio:9000"),
        ("MINIO_CONTAINER_ENDPOINT", "host.docker.internal:9000"),
        ("MINIO_ACCESS_KEY", "a"),
        ("MINIO_SECRET_KEY", "s"),
        ("MINIO_SSL", "1"),
        ("MINIO_LOGS_BUCKET", "lg"),
    ];
    let c = p(&[], &env).unwrap();
    let Storage::S3 { endpoint, container_endpoint, use_ssl, .. } = &c.host.storage else { panic!() };
    assert_eq!(
        (endpoint.as_str(), container_endpoint.as_str(), *use_ssl),
        ("minio:9000", "host.docker.internal:9000", true)
    );
    assert_eq!(c.host.buckets.logs, "lg");
    assert_eq!(c.host.bucket_overrides, vec![("MINIO_LOGS_BUCKET", "lg".to_string())]);
}

#[test]
fn commands_and_errors() {
    assert_eq!(
        p(&["deploy", "./bot", "--id", "b1"], &[]).unwrap().command,
        Command::Deploy { dir: "./bot".into(), id: Some("b1".into()) }
    );
    assert_eq!(p(&["logs", "b1", "-f"], &[]).unwrap().command, Command::Logs { id: "b1".into(), follow: true });
    assert_eq!(p(&["remove", "b1"], &[]).unwrap().command, Command::Remove { id: "b1".into() });
    assert_eq!(p(&["stop-all"], &[]).unwrap().command, Command::StopAll);
    assert_eq!(p(&["healthcheck"], &[]).unwrap().command, Command::HealthCheck);
    assert_eq!(p(&["version", "--mongo-uri", "x"], &[]).unwrap().command, Command::Version);
    for (args, err) in [
        (&["bogus"][..], "unknown command"),
        (&["--nope"], "unknown flag --nope"),
        (&["--data-dir"], "needs a value"),
        (&["remove"], "needs a bot id"),
        (&["--reconcile-interval", "soon"], "--reconcile-interval"),
        (&["--max-parallel", "0"], "must be 1..=256"),
        (&["--instance", "a b"], "--instance"),
        (&["list", "extra"], "unexpected argument"),
    ] {
        let e = p(args, &[]).unwrap_err();
        assert!(e.contains(err), "{args:?}: {e}");
    }
    assert!(p(&[], &[("BOT_CPU_SHARES", "lots")]).unwrap_err().contains("BOT_CPU_SHARES"));
}

#[test]
fn scheduler_flags_and_env() {
    let c = p(&["bot-scheduler"], &[]).unwrap();
    assert_eq!(c.command, Command::BotScheduler);
    assert_eq!(c.schedule.check_interval, Duration::from_secs(10));
    assert_eq!((c.schedule.max_concurrent, c.schedule.execution_timeout), (0, None));
    let env = [("SCHEDULE_MAX_CONCURRENT", "4"), ("SCHEDULE_EXECUTION_TIMEOUT", "90")];
    let c = p(&["--check-interval", "2s"], &env).unwrap();
    assert_eq!(c.schedule.check_interval, Duration::from_secs(2));
    assert_eq!((c.schedule.max_concurrent, c.schedule.execution_timeout), (4, Some(Duration::from_secs(90))));
    let c = p(&["--max-concurrent", "1", "--execution-timeout", "1m30s"], &env).unwrap();
    assert_eq!((c.schedule.max_concurrent, c.schedule.execution_timeout), (1, Some(Duration::from_secs(90))));
    assert_eq!(p(&["--execution-timeout", "0"], &[]).unwrap().schedule.execution_timeout, None);
    for (args, err) in [
        (&["--max-concurrent", "-1"][..], "--max-concurrent -1"),
        (&["--max-concurrent", "x"][..], "--max-concurrent"),
        (&["--execution-timeout", "soon"][..], "--execution-timeout"),
        (&["--check-interval", "x"][..], "--check-interval"),
    ] {
        let e = p(args, &[]).unwrap_err();
        assert!(e.contains(err), "{args:?}: {e}");
    }
}

#[test]
fn query_server_settings() {
    let c = p(&["query-server"], &[]).unwrap();
    assert_eq!(c.command, Command::QueryServer);
    assert_eq!(c.query, QueryOptions { bind: "127.0.0.1".into(), port: 9477, max_containers: 8, token: None });
    assert_eq!(c.query.addr(), "127.0.0.1:9477");
    let env = [("QUERY_SERVER_PORT", "9500"), ("THE0_QUERY_BIND", "127.0.0.1"), ("THE0_MAX_QUERY_CONTAINERS", "3")];
    let c = p(&[], &env).unwrap();
    assert_eq!(c.query, QueryOptions { bind: "127.0.0.1".into(), port: 9500, max_containers: 3, token: None });
    let c = p(&["--port", "0", "--query-bind", "::1", "--max-query-containers=16"], &env).unwrap();
    assert_eq!(c.query, QueryOptions { bind: "::1".into(), port: 0, max_containers: 16, token: None });
    assert_eq!(c.query.addr(), "[::1]:0");
    // The original's rule: a QUERY_SERVER_PORT that is not a port number means 9477.
    for bad in ["abc", "", "70000", "-1", "9477.5"] {
        assert_eq!(p(&[], &[("QUERY_SERVER_PORT", bad)]).unwrap().query.port, 9477, "{bad:?}");
    }
    for (args, want) in [
        (&["--port", "x"][..], "--port \"x\": not a port number (0-65535)"),
        (&["--port", "65536"], "--port \"65536\": not a port number (0-65535)"),
        (&["--query-bind", "localhost"], "--query-bind \"localhost\": not an IP address"),
        (&["--max-query-containers", "0"], "--max-query-containers \"0\": must be 1..=256"),
        (&["--max-query-containers", "many"], "--max-query-containers \"many\": must be 1..=256"),
    ] {
        assert_eq!(p(args, &[]).unwrap_err(), want, "{args:?}");
    }
    assert_eq!(
        p(&[], &[("THE0_MAX_QUERY_CONTAINERS", "999")]).unwrap_err(),
        "--max-query-containers \"999\": must be 1..=256"
    );
}

#[test]
fn isolation_and_limit_settings() {
    let c = p(&[], &[]).unwrap();
    assert_eq!(
        (c.host.pids_limit, c.host.state_cap_mb, c.query.token.as_deref(), c.network_given),
        (512, None, None, false)
    );
    let env =
        [("BOT_PIDS_LIMIT", "300"), ("MAX_STATE_SIZE_MB", "64"), ("THE0_QUERY_TOKEN", "qt"), ("DOCKER_NETWORK", "n")];
    let c = p(&[], &env).unwrap();
    assert_eq!(
        (c.host.pids_limit, c.host.state_cap_mb, c.query.token.as_deref(), c.network_given),
        (300, Some(64), Some("qt"), true)
    );
    let c = p(&["--pids-limit", "1000", "--query-token=flag"], &env).unwrap();
    assert_eq!((c.host.pids_limit, c.query.token.as_deref()), (1000, Some("flag")));
    for (args, vars, want) in [
        (&["--pids-limit", "8"][..], &[][..], "--pids-limit 8: must be at least 16 (threads count too)"),
        (
            &[],
            &[("BOT_MEMORY_LIMIT_MB", "128")][..],
            "BOT_MEMORY_LIMIT_MB 128: must be at least 192 (the tmpfs mounts and the executor need room)",
        ),
        (&[], &[("MAX_STATE_SIZE_MB", "0")][..], "MAX_STATE_SIZE_MB: \"0\" is not a positive whole number of MiB"),
    ] {
        assert_eq!(p(args, vars).unwrap_err(), want, "{args:?} {vars:?}");
    }
}

#[test]
fn scoped_credentials_settings() {
    let s3 = [("MINIO_ENDPOINT", "ceph:8000"), ("MINIO_ACCESS_KEY", "a"), ("MINIO_SECRET_KEY", "s")];
    // Off by default.
    assert!(p(&[], &s3).unwrap().host.scoped.is_none());
    // On without a role: refused, naming the missing setting.
    let e = p(&["--scoped-credentials"], &s3).unwrap_err();
    assert!(e.contains("--sts-role-arn") && e.contains("THE0_STS_ROLE_ARN"), "{e}");
    let mut env = s3.to_vec();
    env.extend([("THE0_SCOPED_CREDENTIALS", "true"), ("THE0_STS_ROLE_ARN", "arn:aws:iam:::role/bots")]);
    let c = p(&["--data-dir", "/d"], &env).unwrap();
    let sc = c.host.scoped.expect("scoped");
    assert_eq!(sc.role_arn, "arn:aws:iam:::role/bots");
    assert_eq!(sc.duration, Duration::from_secs(3600));
    assert_eq!(sc.dir, PathBuf::from("/d/credentials"));
    let c = p(&["--scoped-credentials", "--sts-role-arn", "arn:x", "--credentials-duration", "30m"], &s3).unwrap();
    assert_eq!(c.host.scoped.expect("scoped").duration, Duration::from_secs(1800));
    let c = p(&["--scoped-credentials=true", "--sts-role-arn=arn:x", "--credentials-duration=900"], &s3).unwrap();
    assert_eq!(c.host.scoped.expect("scoped").duration, Duration::from_secs(900));
    for bad in ["899", "10m", "13h", "soon"] {
        let e = p(&["--scoped-credentials", "--sts-role-arn", "arn:x", "--credentials-duration", bad], &s3);
        assert!(e.is_err(), "{bad}");
    }
    assert!(p(&[], &[("THE0_SCOPED_CREDENTIALS", "maybe")]).is_err());
    // Local storage has no keys to scope.
    assert!(p(&["--scoped-credentials"], &[]).unwrap().host.scoped.is_none());
}

#[test]
fn bot_runtime_from_flag_or_env() {
    for (args, vars, want) in [
        (&[][..], &[][..], Ok(None)),
        (&[], &[("BOT_RUNTIME", "")][..], Ok(None)),
        (&[], &[("BOT_RUNTIME", "runsc")][..], Ok(Some("runsc"))),
        (&["--bot-runtime", "kata-qemu"][..], &[("BOT_RUNTIME", "runsc")][..], Ok(Some("kata-qemu"))),
        (&["--bot-runtime=io.containerd.runsc.v1"][..], &[][..], Ok(Some("io.containerd.runsc.v1"))),
        (
            &["--bot-runtime", "run sc"][..],
            &[][..],
            Err("--bot-runtime \"run sc\": a runtime name of up to 64 characters of [A-Za-z0-9_.-]"),
        ),
        (
            &[],
            &[("BOT_RUNTIME", "/usr/bin/runsc")][..],
            Err("--bot-runtime \"/usr/bin/runsc\": a runtime name of up to 64 characters of [A-Za-z0-9_.-]"),
        ),
    ] {
        let got = p(args, vars).map(|c| c.host.runtime);
        assert_eq!(got, want.map(|w| w.map(str::to_string)).map_err(str::to_string), "{args:?} {vars:?}");
    }
}
