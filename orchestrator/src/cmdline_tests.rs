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
    use crate::config::{BotKind, OutputFormat, StateFilter};
    let table = OutputFormat::Table;
    for (args, want) in [
        (
            &["deploy", "./bot", "--id", "b1"][..],
            Command::Deploy { dir: "./bot".into(), id: Some("b1".into()), output: table },
        ),
        (&["logs", "b1", "-f"], Command::Logs { id: Some("b1".into()), follow: true, tail: None, since: None }),
        (&["logs", "--follow", "b1"], Command::Logs { id: Some("b1".into()), follow: true, tail: None, since: None }),
        (&["logs", "b1"], Command::Logs { id: Some("b1".into()), follow: false, tail: None, since: None }),
        (
            &["query", "b1", "/prices", "last=3", "q=a=b"],
            Command::Query {
                id: "b1".into(),
                path: "/prices".into(),
                params: vec![("last".into(), "3".into()), ("q".into(), "a=b".into())],
                output: OutputFormat::Table,
            },
        ),
        (&["logs", "--all", "-f"], Command::Logs { id: None, follow: true, tail: None, since: None }),
        (
            &["logs", "b1", "--tail", "5", "--since", "10m"],
            Command::Logs {
                id: Some("b1".into()),
                follow: false,
                tail: Some(5),
                since: Some(Duration::from_secs(600)),
            },
        ),
        (&["remove", "b1"], Command::Remove { id: "b1".into(), output: table }),
        (&["remove", "b1", "-o", "json"], Command::Remove { id: "b1".into(), output: OutputFormat::Json }),
        (&["show", "b1"], Command::Show { id: "b1".into(), output: table }),
        (&["show", "b1", "-o", "json"], Command::Show { id: "b1".into(), output: OutputFormat::Json }),
        (&["runs", "b1"], Command::Runs { id: "b1".into(), output: table }),
        (&["enable", "b1"], Command::SetEnabled { id: "b1".into(), enabled: true, output: table }),
        (&["disable", "b1"], Command::SetEnabled { id: "b1".into(), enabled: false, output: table }),
        (&["restart", "b1"], Command::Restart { id: "b1".into(), output: table }),
        (&["restart", "b1", "-o", "json"], Command::Restart { id: "b1".into(), output: OutputFormat::Json }),
        (&["run", "b1"], Command::Run { id: "b1".into(), config: None, timeout_s: None, wait: false, output: table }),
        (
            &["run", "b1", "--config", r#"{"s":"ETH"}"#, "--timeout", "2m", "--wait", "-o", "json"],
            Command::Run {
                id: "b1".into(),
                config: Some(serde_json::json!({"s": "ETH"})),
                timeout_s: Some(120),
                wait: true,
                output: OutputFormat::Json,
            },
        ),
        (&["state", "b1"], Command::State { id: "b1".into(), action: StateAction::List, output: table }),
        (
            &["state", "b1", "list", "-o", "json"],
            Command::State { id: "b1".into(), action: StateAction::List, output: OutputFormat::Json },
        ),
        (
            &["state", "b1", "get", "k"],
            Command::State { id: "b1".into(), action: StateAction::Get("k".into()), output: table },
        ),
        (
            &["state", "b1", "rm", "k"],
            Command::State {
                id: "b1".into(),
                action: StateAction::Remove { key: "k".into(), restart: false },
                output: table,
            },
        ),
        (
            &["state", "b1", "rm", "k", "--restart"],
            Command::State {
                id: "b1".into(),
                action: StateAction::Remove { key: "k".into(), restart: true },
                output: table,
            },
        ),
        (&["events"], Command::Events { follow: false, bot: None, limit: 50, output: table }),
        (
            &["events", "-f", "--bot", "b1", "-n", "7", "-o", "json"],
            Command::Events { follow: true, bot: Some("b1".into()), limit: 7, output: OutputFormat::Json },
        ),
        (
            &["events", "--follow", "--limit=1000"],
            Command::Events { follow: true, bot: None, limit: 1000, output: table },
        ),
        (&["stop-all"], Command::StopAll),
        (&["healthcheck"], Command::HealthCheck),
        (&["serve"], Command::Serve),
        (&["bot-runner"], Command::BotRunner),
        (&["bot-scheduler"], Command::BotScheduler),
        (&["query-server"], Command::QueryServer),
        // --mongo-uri is accepted and ignored, before or after the command.
        (&["version", "--mongo-uri", "x"], Command::Version),
        (&["--mongo-uri=x", "version"], Command::Version),
        (&["list"], Command::List { filter: ListFilter::default(), output: table }),
        (
            &["list", "--state", "running", "--type", "scheduled", "-o", "json"],
            Command::List {
                filter: ListFilter { state: Some(StateFilter::Running), kind: Some(BotKind::Scheduled) },
                output: OutputFormat::Json,
            },
        ),
        (
            &["list", "--state=backing-off", "--output=table"],
            Command::List { filter: ListFilter { state: Some(StateFilter::BackingOff), kind: None }, output: table },
        ),
        (&["gc"], Command::Gc { dry_run: false, interval: None, json: false }),
        (
            &["gc", "--dry-run", "--interval", "5m"],
            Command::Gc { dry_run: true, interval: Some(std::time::Duration::from_secs(300)), json: false },
        ),
        (&["gc", "-o", "json"], Command::Gc { dry_run: false, interval: None, json: true }),
        (&["completions", "bash"], Command::Completions(clap_complete::Shell::Bash)),
        (&["completions", "zsh"], Command::Completions(clap_complete::Shell::Zsh)),
        (&["completions", "fish"], Command::Completions(clap_complete::Shell::Fish)),
    ] {
        assert_eq!(p(args, &[]).unwrap().command, want, "{args:?}");
    }
    // A flag given twice: the last value wins, as in the original.
    let c = p(&["--runtime-image", "a:1", "list", "--runtime-image", "b:2"], &[]).unwrap();
    assert_eq!(c.host.images.default, "b:2");
    // Settings may come before or after the command.
    let c = p(&["--data-dir", "/a", "list", "--admin-addr", "127.0.0.1:1"], &[]).unwrap();
    assert_eq!((c.data_dir, c.admin_addr.as_str()), (PathBuf::from("/a"), "127.0.0.1:1"));
    // One line naming what was wrong, with clap's near-miss suggestion; no usage paragraph.
    for (args, err) in [
        (&["bogus"][..], "unrecognized subcommand 'bogus'"),
        (&["lsit"], "unrecognized subcommand 'lsit' (a similar subcommand exists: 'list')"),
        (&["--nope"], "unexpected argument '--nope' found"),
        (&["--data-dri", "x"], "unexpected argument '--data-dri' found (a similar argument exists: '--data-dir')"),
        (&["--data-dir"], "a value is required for '--data-dir <DIR>' but none was supplied"),
        (&["remove"], "the following required arguments were not provided: <ID> (usage: orchestrator remove"),
        (&["deploy"], "the following required arguments were not provided: <DIR>"),
        (&["show"], "<ID> (usage: orchestrator show <ID>)"),
        (&["disable"], "<ID> (usage: orchestrator disable <ID>)"),
        (&["disabel", "b1"], "(a similar subcommand exists: 'disable')"),
        (&["list", "--state", "runing"], "invalid value 'runing' for '--state <STATE>'"),
        (&["list", "--state", "runing"], "'running'"),
        (&["list", "--type", "cron"], "invalid value 'cron' for '--type <KIND>'"),
        (&["list", "-o", "yaml"], "invalid value 'yaml' for '--output <OUTPUT>'"),
        (&["completions", "tcsh"], "invalid value 'tcsh' for '<SHELL>'"),
        (&["gc", "--interval", "often"], "invalid value 'often' for '--interval <D>'"),
        (&["gc", "--interval", "0s"], "invalid value '0s' for '--interval <D>': must be longer than 0"),
        (&["gc", "-o", "yaml"], "invalid value 'yaml' for '--output <OUTPUT>'"),
        (&["query", "b1", "/p", "last"], "invalid value 'last' for '[KEY=VALUE]...': expected KEY=VALUE"),
        (&["query", "b1", "/p", "=3"], "expected KEY=VALUE"),
        (&["logs", "b1", "--all"], "the argument '[ID]' cannot be used with '--all'"),
        (&["state"], "<ID> (usage: orchestrator state"),
        (&["run"], "<ID> (usage: orchestrator run"),
        (&["run", "b1", "--config", "[1]"], "--config must be a JSON object"),
        (&["run", "b1", "--config", "{x"], "--config is not JSON: key must be a string"),
        (&["run", "b1", "--timeout", "0s"], "invalid value '0s' for '--timeout <D>': must be longer than 0"),
        (&["state", "b1", "get"], "state ID get|rm needs the KEY (state ID list shows them)"),
        (&["state", "b1", "rm"], "needs the KEY"),
        (&["state", "b1", "list", "k"], "state ID list takes no key (got \"k\"); to print one: state ID get k"),
        (&["state", "b1", "get", "k", "--restart"], "--restart goes with state ID rm KEY only"),
        (&["state", "b1", "del", "k"], "invalid value 'del' for '[ACTION]'"),
        (&["logs", "b1", "--since", "yesterday"], "invalid value 'yesterday' for '--since <D>'"),
        (&["logs", "b1", "--tail", "many"], "invalid value 'many' for '--tail <N>'"),
        (&["--stop-bots-on-shutdown=maybe"], "not a boolean"),
        (&["--reconcile-interval", "soon"], "--reconcile-interval"),
        (&["--max-parallel", "0"], "must be 1..=256"),
        (&["--instance", "a b"], "--instance"),
        (&["list", "extra"], "unexpected argument 'extra' found"),
        (&["logs", "b1", "--id", "x"], "unexpected argument '--id' found"),
    ] {
        let e = p(args, &[]).unwrap_err();
        assert!(e.contains(err), "{args:?}: {e}");
        assert!(!e.contains('\n') && !e.contains("For more information"), "{args:?}: {e}");
    }
    assert!(p(&[], &[("BOT_CPU_SHARES", "lots")]).unwrap_err().contains("BOT_CPU_SHARES"));
}

#[test]
fn help_for_the_program_and_each_command() {
    for (args, has) in [
        (&["--help"][..], "bot-scheduler"),
        (&["-h"], "Usage: orchestrator [OPTIONS] [COMMAND]"),
        (&["help"], "stop-all"),
        (&["help", "logs"], "Usage: orchestrator logs [OPTIONS] [ID]"),
        (&["logs", "--help"], "--follow"),
        (&["help", "list"], "backing-off"),
    ] {
        match p(args, &[]).unwrap().command {
            Command::Help(text) => assert!(text.contains(has), "{args:?}: {text}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

#[test]
fn boolean_flags() {
    for (args, want) in [
        (&[][..], false),
        (&["--stop-bots-on-shutdown"], true),
        (&["--stop-bots-on-shutdown=true"], true),
        (&["--stop-bots-on-shutdown=0"], false),
        (&["bot-runner", "--stop-bots-on-shutdown"], true),
    ] {
        assert_eq!(p(args, &[]).unwrap().reconcile.stop_bots_on_shutdown, want, "{args:?}");
    }
    // The flag takes its value only with `=`: the next word stays the command.
    assert_eq!(p(&["--stop-bots-on-shutdown", "bot-runner"], &[]).unwrap().command, Command::BotRunner);
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
    assert_eq!(
        c.query,
        QueryOptions {
            bind: "127.0.0.1".into(),
            port: 9477,
            max_containers: 8,
            token: None,
            ..QueryOptions::default()
        }
    );
    assert_eq!(c.query.addr(), "127.0.0.1:9477");
    let env = [("QUERY_SERVER_PORT", "9500"), ("THE0_QUERY_BIND", "127.0.0.1"), ("THE0_MAX_QUERY_CONTAINERS", "3")];
    let c = p(&[], &env).unwrap();
    assert_eq!(
        c.query,
        QueryOptions {
            bind: "127.0.0.1".into(),
            port: 9500,
            max_containers: 3,
            token: None,
            ..QueryOptions::default()
        }
    );
    let c = p(&["--port", "0", "--query-bind", "::1", "--max-query-containers=16"], &env).unwrap();
    assert_eq!(
        c.query,
        QueryOptions { bind: "::1".into(), port: 0, max_containers: 16, token: None, ..QueryOptions::default() }
    );
    assert_eq!(c.query.addr(), "[::1]:0");
    // Warm query servers (issue 15): 60 s and 16 unless told; 0 turns them off.
    let c = p(&["query-server"], &[]).unwrap();
    assert_eq!((c.query.warm_for, c.query.max_warm), (Duration::from_secs(60), 16));
    let c = p(&["--query-warm-for", "5s", "--max-warm-query-servers", "2"], &[]).unwrap();
    assert_eq!((c.query.warm_for, c.query.max_warm), (Duration::from_secs(5), 2));
    assert_eq!(p(&["--query-warm-for", "90"], &[]).unwrap().query.warm_for, Duration::from_secs(90));
    let c = p(&[], &[("THE0_QUERY_WARM_FOR", "0"), ("THE0_MAX_WARM_QUERY_SERVERS", "1")]).unwrap();
    assert_eq!((c.query.warm_for, c.query.max_warm), (Duration::ZERO, 1));
    assert!(p(&["--query-warm-for", "soon"], &[]).unwrap_err().contains("--query-warm-for"));
    assert_eq!(
        p(&["--max-warm-query-servers", "0"], &[]).unwrap_err(),
        "--max-warm-query-servers \"0\": must be 1..=256"
    );
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

#[test]
fn event_retention_from_flags_env_and_defaults() {
    use crate::store::events::{Retention, DEFAULT_KEEP, DEFAULT_MAX_AGE};
    let r = |args: &[&str], vars: &[(&str, &str)]| p(args, vars).map(|c| c.events);
    assert_eq!(r(&[], &[]), Ok(Retention { keep: DEFAULT_KEEP, max_age: DEFAULT_MAX_AGE }));
    assert_eq!(DEFAULT_MAX_AGE, Duration::from_secs(168 * 3600));
    let env = [("THE0_EVENTS_KEEP", "500"), ("THE0_EVENTS_MAX_AGE", "24h")];
    assert_eq!(r(&[], &env), Ok(Retention { keep: 500, max_age: Duration::from_secs(86_400) }));
    let flags = ["--events-keep", "200", "--events-max-age=90m"];
    assert_eq!(r(&flags, &env), Ok(Retention { keep: 200, max_age: Duration::from_secs(5400) }), "flags win");
    for (args, vars, err) in [
        (&["--events-keep", "99"][..], &[][..], "--events-keep 99: must be 100..=10000000"),
        (&[], &[("THE0_EVENTS_KEEP", "lots")], "--events-keep: \"lots\" is not a whole number"),
        (&["--events-max-age", "30s"], &[], "--events-max-age \"30s\": must be at least 1m"),
        (&[], &[("THE0_EVENTS_MAX_AGE", "1 week")], "--events-max-age: "),
    ] {
        let e = r(args, vars).unwrap_err();
        assert!(e.starts_with(err), "{args:?} {vars:?}: {e}");
    }
    for args in [&["events", "-n", "0"][..], &["events", "-n", "1001"]] {
        let e = p(args, &[]).unwrap_err();
        assert!(e.contains("--limit <N>") && e.contains("is not in 1..=1000"), "{args:?}: {e}");
    }
}

#[test]
fn import_commands_and_their_store_flags() {
    use crate::config::{DesiredState, ImportTarget, OutputFormat};
    let target = |ds, ns: &str, kc: Option<&str>, dry| ImportTarget {
        desired_state: ds,
        namespace: ns.into(),
        kubeconfig: kc.map(PathBuf::from),
        dry_run: dry,
    };
    let c = p(&["import-running"], &[]).expect("parses");
    assert_eq!(
        c.command,
        Command::ImportRunning {
            kubernetes: false,
            target: target(DesiredState::Sqlite, "the0", None, false),
            output: OutputFormat::Table
        }
    );
    let c = p(
        &["import-running", "--kubernetes", "--kubeconfig", "/k", "--dry-run", "-o", "json"],
        &[("NAMESPACE", "bots"), ("DESIRED_STATE", "configmaps")],
    )
    .expect("parses");
    assert_eq!(
        c.command,
        Command::ImportRunning {
            kubernetes: true,
            target: target(DesiredState::ConfigMaps, "bots", Some("/k"), true),
            output: OutputFormat::Json
        }
    );
    let c = p(&["import-mongo", "--bots", "b.json", "--schedules", "s.json", "--namespace", "x"], &[]).expect("parses");
    assert_eq!(
        c.command,
        Command::ImportMongo {
            bots: "b.json".into(),
            schedules: Some("s.json".into()),
            target: target(DesiredState::Sqlite, "x", None, false),
            output: OutputFormat::Table
        }
    );
    for (args, want) in [
        (&["import-mongo"][..], "--bots"),
        (&["import-running", "--desired-state", "mongo"][..], "--desired-state"),
        (&["import-running", "--namespace", "Bad_NS"][..], "--namespace"),
    ] {
        let e = p(args, &[]).expect_err("refused");
        assert!(e.contains(want), "{args:?}: {e}");
    }
}

#[test]
fn update_handover_is_on_unless_turned_off() {
    for (args, want) in [
        (&[][..], Some(true)),
        (&["--update-handover", "off"][..], Some(false)),
        (&["--update-handover=on"][..], Some(true)),
        (&["--update-handover", "maybe"][..], None),
    ] {
        let args: Vec<&str> = [&["serve"][..], args].concat();
        assert_eq!(p(&args, &[]).ok().map(|c| c.reconcile.update_handover), want, "{args:?}");
    }
}
