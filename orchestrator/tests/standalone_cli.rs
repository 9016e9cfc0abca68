//! One-command standalone use, through the built binary: `orchestrator serve` with no NATS and no
//! MinIO, then `deploy` of a sample bot directory → running, `logs` shows its output (from the
//! container, then from stored logs), state survives `remove` and re-`deploy`, `stop-all` clears.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

struct Env {
    data: tempfile::TempDir,
    admin: String,
    health: String,
    instance: String,
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = orchestrator_cmd(self.data.path(), &self.instance, &self.admin, &self.health);
        c.args(args).env("BOT_STOP_TIMEOUT_SEC", "10");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run orchestrator")
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn ticks_in(s: &str) -> u64 {
    s.lines()
        .filter_map(|l| l.split("\"value\":").nth(1))
        .filter_map(|v| v.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_logs_remove_redeploy_without_nats_or_minio() {
    let env =
        Env { data: tempfile::tempdir().unwrap(), admin: free_addr(), health: free_addr(), instance: unique("cli") };
    let _guard = Cleanup(env.instance.clone());
    let bot = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hello"), bot.path());
    std::fs::write(bot.path().join(".secret"), "no").unwrap();
    std::fs::write(bot.path().join("scratch.tmp"), "no").unwrap();
    let botdir = bot.path().to_str().unwrap();

    // No server yet: deploy says how to start it.
    let out = env.run(&["deploy", botdir]);
    assert!(!out.status.success());
    assert!(text(&out).contains("orchestrator serve"), "{}", text(&out));

    let serve = KillOnDrop(env.cmd(&["serve"]).stdout(std::process::Stdio::null()).spawn().expect("serve"));
    eventually_async(Duration::from_secs(15), || async {
        (http_get(&env.health, "/healthz").await.0 == 200).then_some(())
    })
    .await
    .expect("server up");
    let out = env.run(&["deploy", botdir]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("deployed hello"), "{}", text(&out));
    eventually(Duration::from_secs(10), || {
        let l = text(&env.run(&["list"]));
        (l.contains("hello") && l.contains("running")).then_some(())
    })
    .unwrap_or_else(|| panic!("not running: {}", text(&env.run(&["list"]))));
    // Only what the CLI rules keep is in the code zip.
    let zips: Vec<_> = walk(&env.data.path().join("objects/custom-bots"));
    assert_eq!(zips.len(), 1, "{zips:?}");
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zips[0]).unwrap()).unwrap();
    let mut names: Vec<String> = (0..z.len()).map(|i| z.by_index(i).unwrap().name().to_string()).collect();
    names.sort();
    assert_eq!(names, vec!["bot-config.yaml", "bot.sh", "config.json"]);

    let logs = eventually(Duration::from_secs(15), || {
        let l = text(&env.run(&["logs", "hello"]));
        (l.contains("starting at tick 0") && ticks_in(&l) >= 3).then_some(l)
    })
    .expect("logs show the bot's output");
    assert!(logs.contains("starting at tick 0"));

    let out = env.run(&["remove", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(20), || containers(&env.instance, None).is_empty().then_some(())).expect("removed");
    // Without a container, logs come from storage.
    let stored = text(&env.run(&["logs", "hello"]));
    let before = ticks_in(&stored);
    assert!(before >= 3, "stored logs: {stored}");

    assert!(env.data.path().join("objects/bot-state/hello/state.tar.gz").is_file(), "state stored at stop");
    let out = env.run(&["deploy", botdir]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(10), || (running_container(&env.instance, "hello").len() == 1).then_some(()))
        .expect("running again");
    let again = eventually(Duration::from_secs(20), || {
        let l = text(&env.run(&["logs", "hello"]));
        l.contains("starting at tick").then_some(l)
    })
    .expect("redeployed bot logs");
    let resumed: u64 = again
        .rsplit("starting at tick ")
        .next()
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        resumed >= before.saturating_sub(1) && resumed > 0,
        "state survived remove and deploy: {resumed} vs {before}\n{again}"
    );

    // While the server answers on the admin address, stop-all refuses (the server would start
    // the bots again within seconds) and leaves the bot running.
    let out = env.run(&["stop-all"]);
    assert!(!out.status.success() && text(&out).contains("an orchestrator answers on"), "{}", text(&out));
    assert_eq!(running_container(&env.instance, "hello").len(), 1, "stop-all refused: the bot still runs");

    drop(serve);
    let out = env.run(&["stop-all"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(containers(&env.instance, None).is_empty());
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
