//! Flags, env fallbacks, defaults and errors.

use super::*;

fn p(args: &[&str], vars: &[(&str, &str)]) -> Result<Cli, String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse(&args, &vars)
}

#[test]
fn defaults() {
    let c = p(&[], &[]).unwrap();
    assert_eq!(c.command, Command::Serve);
    assert_eq!((c.admin_addr.as_str(), c.health_addr.as_str()), ("127.0.0.1:9478", "0.0.0.0:8080"));
    assert_eq!(c.data_dir, PathBuf::from("./the0-data"));
    assert!(
        matches!(&c.host.storage, Storage::Local { root } if root.ends_with("the0-data/objects") && root.is_absolute())
    );
    assert_eq!(c.host.image, DEFAULT_IMAGE);
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
    assert_eq!((c.host.image.as_str(), c.host.instance.as_deref()), ("img:env", Some("t1")));
    assert!(c.reconcile.stop_bots_on_shutdown);
    assert_eq!(c.admin_token.as_deref(), Some("tok"));
    let c = p(&["--reconcile-interval", "2s", "--max-parallel=3", "--crash-backoff", "500ms"], &[]).unwrap();
    assert_eq!(c.reconcile.interval, Duration::from_secs(2));
    assert_eq!((c.reconcile.max_parallel, c.reconcile.backoff_base), (3, Duration::from_millis(500)));
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
    assert_eq!(c.host.buckets.overrides, vec![("MINIO_LOGS_BUCKET", "lg".to_string())]);
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
