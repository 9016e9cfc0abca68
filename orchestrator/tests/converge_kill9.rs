//! kill -9 of the orchestrator at a random moment while it converges 50 bots, then a restart:
//! exactly 50 run, no bot has two containers, and no container that was running or `created`
//! (possibly starting) when the first process died was removed by the second one. Repeated
//! `THE0_CONVERGE_REPS` times (3 by default; `make soak` runs 20 through `scripts/soak.sh`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::json;

const BOTS: usize = 50;

fn reps() -> usize {
    std::env::var("THE0_CONVERGE_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}

/// (container id → (bot id, state, started at)) of the instance's containers.
fn snapshot(inst: &str) -> BTreeMap<String, (String, String, String)> {
    let ids = containers(inst, None);
    if ids.is_empty() {
        return BTreeMap::new();
    }
    let mut args = vec![
        "inspect",
        "--format",
        "{{.Id}} {{index .Config.Labels \"runtime.id\"}} {{.State.Status}} {{.State.StartedAt}}",
    ];
    args.extend(ids.iter().map(String::as_str));
    docker(&args)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4).then(|| (f[0].to_string(), (f[1].to_string(), f[2].to_string(), f[3].to_string())))
        })
        .collect()
}

fn running_bots(snap: &BTreeMap<String, (String, String, String)>) -> Vec<String> {
    snap.values().filter(|(_, st, _)| st == "running").map(|(b, _, _)| b.clone()).collect()
}

/// One repetition; returns (running when killed, created when killed, seconds to converge after
/// the restart).
async fn one_rep(rep: usize) -> (usize, usize, f64) {
    let host = BinaryHost::new("cv");
    let inst = host.inst.clone();
    host.put_code("u/cv/1", "#!/bin/sh\nexec sleep 100000\n");
    let spawn = || host.spawn(&[("THE0_MAX_PARALLEL", "8")]);

    let mut first = spawn();
    eventually_async(Duration::from_secs(30), || host.api("GET", "/bots", None)).await.expect("admin API up");
    for i in 0..BOTS {
        let p = bot_payload(&format!("b{i:02}"), "u/cv/1", json!({"n": i}));
        host.api("PUT", &format!("/bots/b{i:02}"), Some(p)).await.expect("bot stored");
    }
    // A random moment of convergence: once between 1 and 49 bots run.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as usize;
    let target = 1 + (nanos + rep * 7919) % (BOTS - 1);
    eventually(Duration::from_secs(120), || (running_bots(&snapshot(&inst)).len() >= target).then_some(()))
        .unwrap_or_else(|| panic!("rep {rep}: {target} bots never ran"));
    first.0.kill().expect("kill -9");
    let _ = first.0.wait();
    let before = snapshot(&inst);
    let kept: BTreeMap<&String, &(String, String, String)> =
        before.iter().filter(|(_, (_, st, _))| st == "running" || st == "created").collect();
    let running_at_kill = before.values().filter(|(_, st, _)| st == "running").count();
    let created_at_kill = before.values().filter(|(_, st, _)| st == "created").count();

    let t0 = Instant::now();
    let _second = spawn();
    let after = eventually(Duration::from_secs(150), || {
        let s = snapshot(&inst);
        let bots: BTreeSet<String> = running_bots(&s).into_iter().collect();
        (bots.len() == BOTS && s.len() == BOTS).then_some(s)
    })
    .unwrap_or_else(|| panic!("rep {rep}: never exactly {BOTS} running: {:#?}", snapshot(&inst)));
    let took = t0.elapsed().as_secs_f64();
    let running = running_bots(&after);
    let distinct: BTreeSet<&String> = running.iter().collect();
    assert_eq!((running.len(), distinct.len()), (BOTS, BOTS), "rep {rep}: a bot has two containers");
    for (id, (bot, st, started)) in &kept {
        let now = after.get(*id);
        assert!(now.is_some(), "rep {rep}: {st} container {id} of {bot} was removed after the restart");
        let (_, st2, started2) = now.unwrap();
        assert_eq!(st2, "running", "rep {rep}: container {id} of {bot}");
        if st == "running" {
            assert_eq!(started2, started, "rep {rep}: running container {id} of {bot} was restarted");
        }
    }
    (running_at_kill, created_at_kill, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_convergence_of_50_bots_kills_no_running_or_starting_container() {
    let n = reps();
    let t0 = Instant::now();
    for rep in 0..n {
        let (running, created, took) = one_rep(rep).await;
        println!(
            "rep {}/{n}: killed with {running} running and {created} created; {BOTS} running {took:.1}s after the restart; none killed, no duplicate",
            rep + 1
        );
    }
    println!("total: {n} of {n} repetitions passed in {:.0}s", t0.elapsed().as_secs_f64());
}
