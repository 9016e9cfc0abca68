//! One-command standalone use, through the built binary: `orchestrator serve` with no NATS and no
//! MinIO, then `deploy` of a sample bot directory → running, `logs` shows its output (from the
//! container, then from stored logs, whole and cut by `--tail` and `--since`), state survives `remove` and re-`deploy`, `stop-all` clears.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::cli::{fixture_copy, text, Env};
use common::*;

fn ticks_in(s: &str) -> u64 {
    s.lines()
        .filter_map(|l| l.split("\"value\":").nth(1))
        .filter_map(|v| v.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_logs_remove_redeploy_without_nats_or_minio() {
    let env = Env::new("cli");
    let _guard = Cleanup(env.instance.clone());
    let bot = fixture_copy("hello");
    std::fs::write(bot.path().join(".secret"), "no").unwrap();
    std::fs::write(bot.path().join("scratch.tmp"), "no").unwrap();
    let botdir = bot.path().to_str().unwrap();

    // No server yet: deploy says how to start it.
    let out = env.run(&["deploy", botdir]);
    assert!(!out.status.success());
    assert!(text(&out).contains("orchestrator serve"), "{}", text(&out));

    let serve = env.serve().await;
    let out = env.run(&["deploy", botdir]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("deployed hello"), "{}", text(&out));
    eventually(Duration::from_secs(10), || {
        let l = text(&env.run(&["list"]));
        (l.contains("hello") && l.contains("running")).then_some(())
    })
    .unwrap_or_else(|| panic!("not running: {}", text(&env.run(&["list"]))));
    // `-o json` and the filters of `list`: the admin API's array, filtered by state and type.
    let ids = |args: &[&str]| -> Vec<String> {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list -o json prints JSON");
        v.as_array().expect("an array").iter().filter_map(|b| b["id"].as_str().map(str::to_string)).collect()
    };
    assert_eq!(ids(&["list", "-o", "json"]), ["hello"]);
    assert_eq!(ids(&["list", "--state", "running", "--type", "realtime", "-o", "json"]), ["hello"]);
    assert!(ids(&["list", "--type", "scheduled", "-o", "json"]).is_empty());
    assert!(ids(&["list", "--state", "disabled", "-o", "json"]).is_empty());
    let table = text(&env.run(&["list", "--state", "running"]));
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with("hello") && l.contains("realtime")), "{table}");
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
    // `--tail N` and `--since D` from the container (Docker cuts the output): once the bot has
    // run for 3 s, the last 2 lines are recent ones, and the last second holds ticks but not the start.
    let stdout = |args: &[&str]| -> String {
        let out = env.run(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    eventually(Duration::from_secs(15), || (ticks_in(&text(&env.run(&["logs", "hello"]))) >= 10).then_some(()))
        .expect("the bot runs for 3 s");
    let tail = stdout(&["logs", "hello", "--tail", "2"]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(!tail.contains("starting at tick"), "{tail}");
    let recent = stdout(&["logs", "hello", "--since", "1s"]);
    assert!(ticks_in(&recent) > 0 && !recent.contains("starting at tick 0"), "{recent}");
    // `query`: asked through :9477 as the0's API asks; a bot without a query program, or an
    // unknown bot, is one line naming what is wrong and exit 1.
    for (args, want) in
        [(&["query", "hello", "/status"][..], "hello"), (&["query", "nobody", "/status", "a=1"][..], "nobody")]
    {
        let out = env.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.stdout.is_empty(), "{args:?}: {}", text(&out));
        assert!(err.lines().count() == 1 && err.starts_with("Error: ") && err.contains(want), "{args:?}: {err}");
    }
    // `logs --all`: every bot's lines, prefixed with its id as compose does.
    let all = stdout(&["logs", "--all", "--tail", "3"]);
    assert!(!all.is_empty() && all.lines().all(|l| l.starts_with("hello | ")), "{all}");
    // `logs -f` follows the bot across a replacement: after `restart`, the new container's
    // first line arrives on the same stream.
    let mut follower = env.cmd(&["logs", "hello", "-f"]).stdout(std::process::Stdio::piped()).spawn().expect("logs -f");
    let piped = follower.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(piped).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let follower = KillOnDrop(follower);
    let starts = |want: usize, within: Duration| -> usize {
        let deadline = std::time::Instant::now() + within;
        let mut n = 0;
        while n < want {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.contains("starting at tick") => n += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        n
    };
    assert_eq!(starts(1, Duration::from_secs(10)), 1, "logs -f prints the current container's output");
    let out = env.run(&["restart", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(starts(1, Duration::from_secs(30)), 1, "logs -f went on with the replacement's output");
    drop(follower);

    let out = env.run(&["remove", "hello", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("remove -o json prints JSON");
    assert_eq!(v, serde_json::json!({"id": "hello", "deleted": true}));
    eventually(Duration::from_secs(20), || containers(&env.instance, None).is_empty().then_some(())).expect("removed");
    // Without a container, logs come from storage.
    let stored = text(&env.run(&["logs", "hello"]));
    let before = ticks_in(&stored);
    assert!(before >= 3, "stored logs: {stored}");
    // The same cuts on the stored records: the last line, and nothing written in the last second
    // once two have passed (by each record's timestamp).
    let full = stdout(&["logs", "hello"]);
    let last = stdout(&["logs", "hello", "--tail", "1"]);
    assert_eq!(last.trim_end(), full.trim_end().lines().last().unwrap_or_default(), "{full}");
    assert_eq!(stdout(&["logs", "hello", "--since", "1h"]).lines().count(), full.lines().count());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stdout(&["logs", "hello", "--since", "1s"]), "", "nothing written in the last second");

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

    // The admin API serves its OpenAPI document (checked against the route table in admin::routes).
    let (status, body) = http_get(&env.admin, "/openapi.json").await;
    let doc: serde_json::Value = serde_json::from_str(&body).expect("openapi.json is JSON");
    assert_eq!((status, doc["paths"]["/bots/{id}/enable"]["post"]["operationId"].as_str()), (200, Some("enableBot")));
    let (status, body) = http_get(&env.admin, "/openapi/query.json").await;
    let doc: serde_json::Value = serde_json::from_str(&body).expect("query.json is JSON");
    assert_eq!((status, doc["paths"]["/query"]["post"]["operationId"].as_str()), (200, Some("query")));
    // show, runs, disable and enable through the admin API; a wrong id is one line and exit 1.
    let out = env.run(&["show", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    for line in ["id:                hello", "type:              realtime", "state:             running"] {
        assert!(shown.lines().any(|l| l == line), "{line:?} in\n{shown}");
    }
    let out = env.run(&["show", "hello", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("show -o json prints JSON");
    assert_eq!((v["id"].as_str(), v["status"]["state"].as_str()), (Some("hello"), Some("running")), "{v}");
    let out = env.run(&["runs", "hello", "-o", "json"]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).ok(), Some(serde_json::json!([])));
    for args in [
        &["show", "nobody"][..],
        &["disable", "nobody"],
        &["runs", "nobody"],
        &["remove", "nobody"],
        &["restart", "nobody"],
    ] {
        let out = env.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("404") && err.contains("no bot \"nobody\""), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let out = env.run(&["disable", "hello", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("disable -o json prints JSON");
    assert_eq!(v["enabled"], false, "{v}");
    eventually(Duration::from_secs(20), || running_container(&env.instance, "hello").is_empty().then_some(()))
        .expect("disable stops the container");
    eventually(Duration::from_secs(10), || {
        text(&env.run(&["list", "--state", "disabled"])).contains("hello").then_some(())
    })
    .expect("listed as disabled");
    let out = env.run(&["enable", "hello"]);
    assert!(out.status.success(), "{}", text(&out));
    eventually(Duration::from_secs(20), || (running_container(&env.instance, "hello").len() == 1).then_some(()))
        .expect("enable starts it again");

    // restart: another container, and the history says what happened and why.
    let before = running_container(&env.instance, "hello");
    let mut follower = env.cmd(&["events", "-f", "--bot", "hello", "-o", "json", "-n", "1"]);
    let follower = KillOnDrop(follower.stdout(std::process::Stdio::piped()).spawn().expect("events -f"));
    let out = env.run(&["restart", "hello"]);
    assert_eq!((out.status.success(), text(&out).trim()), (true, "hello: restart requested"), "{}", text(&out));
    eventually(Duration::from_secs(30), || {
        let now = running_container(&env.instance, "hello");
        (now.len() == 1 && now != before).then_some(())
    })
    .expect("restart replaces the container");
    let kinds = || -> Vec<String> {
        let out = env.run(&["events", "--bot", "hello", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("events -o json prints JSON");
        v.as_array().expect("an array").iter().filter_map(|e| e["kind"].as_str().map(str::to_string)).collect()
    };
    let kinds = eventually(Duration::from_secs(10), || {
        let k = kinds();
        k.ends_with(&["restart-requested".into(), "stopped".into(), "started".into()]).then_some(k)
    })
    .unwrap_or_else(|| panic!("restart's events: {:?}", kinds()));
    assert_eq!(kinds.first().map(String::as_str), Some("started"), "{kinds:?}");
    assert!(kinds.contains(&"stopped".into()), "disable's stop: {kinds:?}");
    let shown = text(&env.run(&["show", "hello"]));
    assert!(shown.contains("events:\n") && shown.contains(" restart-requested restart requested"), "{shown}");
    // `events -f` prints what comes after it started, one JSON object a line; Ctrl-C ends it with 0.
    let mut follower = follower;
    let lines = std::io::BufRead::lines(std::io::BufReader::new(follower.0.stdout.take().expect("stdout")));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !seen.ends_with(&["restart-requested".into(), "stopped".into(), "started".into()]) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else { panic!("events -f printed {seen:?}") };
        let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object a line");
        seen.push(v["kind"].as_str().unwrap_or_default().to_string());
    }
    let pid = follower.0.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
    let status = eventually(Duration::from_secs(10), || follower.0.try_wait().ok().flatten()).expect("events -f exits");
    assert!(status.success(), "events -f after Ctrl-C: {status:?}");
    // Bad input: one JSON error, 400.
    for q in ["since=x", "since=-1", "limit=0", "bot=a/b", "nope=1"] {
        let (status, body) = http_get(&env.admin, &format!("/events?{q}")).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!((status, v["error"].is_string()), (400, true), "{q}: {body}");
    }
    let (status, body) = http_get(&env.admin, "/events?bot=nobody").await;
    assert_eq!((status, body.as_str()), (200, "[]"), "an unknown bot has no events");

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
