//! Bad bot code on the universal image with the real orchestrator (issue #6): a zip without the
//! entrypoint, a Python syntax error, a Node `main` that rejects, a "binary" that is not one, a
//! JAR without a main class. Each ends with a clear line in `bot.log` (as shipped to the stored
//! logs), exit code 1 and the orchestrator's crash backoff, never a hang; the other bots run on.
//! A native binary without its exec bit runs: the executor restores the mode (docs/contract.md §2.5).

mod common;

use std::time::Duration;

use common::e2e::*;
use common::*;
use serde_json::Value;

struct Case {
    id: &'static str,
    runtime: &'static str,
    entry: &'static str,
    files: Vec<(&'static str, Vec<u8>, u32)>,
    /// What `bot.log` must say.
    says: &'static str,
}

fn cases(ticker: Vec<u8>) -> Vec<Case> {
    let manifest_only: Vec<u8> = zip_files(&[("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\n\r\n", 0o644)]);
    vec![
        Case {
            id: "no-entrypoint",
            runtime: "python3.11",
            entry: "main.py",
            files: vec![("helper.py", b"X = 1\n".to_vec(), 0o644)],
            says: "IMPORT_ERROR: [Errno 2] No such file or directory: '/bot/main.py'",
        },
        Case {
            id: "py-syntax",
            runtime: "python3.11",
            entry: "main.py",
            files: vec![("main.py", b"def main(bot_id, config)\n    pass\n".to_vec(), 0o644)],
            says: "SyntaxError",
        },
        Case {
            id: "node-rejects",
            runtime: "nodejs20",
            entry: "index.js",
            files: vec![(
                "index.js",
                b"module.exports = async () => { throw new Error('exchange said no'); };\n".to_vec(),
                0o644,
            )],
            says: "exchange said no",
        },
        Case {
            id: "not-a-binary",
            runtime: "gcc13",
            entry: "bot",
            files: vec![("bot", b"this is text, not an executable\n".to_vec(), 0o755)],
            says: "Failed to start process: Exec format error",
        },
        Case {
            id: "jar-no-main",
            runtime: "scala3",
            entry: "bot.jar",
            files: vec![("bot.jar", manifest_only, 0o644)],
            says: "no main manifest attribute, in bot.jar",
        },
        Case {
            id: "no-exec-bit",
            runtime: "gcc13",
            entry: "ticker",
            files: vec![("ticker", ticker, 0o644)],
            says: "\"_metric\":\"tick\"",
        },
    ]
}

/// Milliseconds since the epoch of the admin API's `YYYY-MM-DDTHH:MM:SS[.f…]Z` times.
fn ms_of(v: &Value) -> Option<i64> {
    let (date, time) = v.as_str()?.strip_suffix('Z')?.split_once('T')?;
    let d: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    let days = the0_contract::timefmt::days_from_civil(d[0], d[1] as u32, d[2] as u32);
    Some(((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms)
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bot_code_ends_with_a_clear_line_exit_1_and_backoff() {
    let ticker = examples().join("c-ticker/ticker");
    if !have(&[UNIVERSAL], std::slice::from_ref(&ticker)) {
        return;
    }
    let inst = unique("e2eb");
    let _guard = Cleanup(inst.clone());
    let dir = tempfile::tempdir().unwrap();
    let o = Orch::start(dir.path(), &inst, &["--runtime-image", UNIVERSAL], &[]).await;
    let cases = cases(std::fs::read(&ticker).unwrap());
    for c in &cases {
        let key = format!("e2e/{}/1.zip", c.id);
        let p = o.objects().join("custom-bots").join(&key);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let files: Vec<(&str, &[u8], u32)> = c.files.iter().map(|(n, b, m)| (*n, b.as_slice(), *m)).collect();
        std::fs::write(p, zip_files(&files)).unwrap();
        o.put(payload(c.id, &key, c.runtime, c.entry, None)).await;
    }
    let objects = o.objects();
    for c in &cases {
        let log = eventually(Duration::from_secs(120), || {
            let log = stored_log(&objects, c.id);
            log.contains(c.says).then_some(log)
        })
        .unwrap_or_else(|| panic!("{}: bot.log never said {:?}: {}", c.id, c.says, stored_log(&objects, c.id)));
        if c.id == "no-exec-bit" {
            let s = o.wait_state(c.id, "running", Duration::from_secs(30)).await;
            assert_eq!(s["restarts"], 0, "{s}");
            continue;
        }
        // Bounded: the exit is recorded and the restart delayed, or the test fails with the status.
        let t0 = std::time::Instant::now();
        let s = loop {
            let s = o.status(c.id).await;
            if s["last_exit_code"] == 1 && s["backoff_until"].is_string() {
                break s;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "{}: never exited 1 into backoff: {s}; log {log}", c.id);
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let exit = ms_of(&s["last_exit_at"]).expect("last_exit_at");
        let until = ms_of(&s["backoff_until"]).expect("backoff_until");
        assert!(until - exit >= 500, "{}: restart is delayed by the backoff: {s}", c.id);
        assert!(s["consecutive_failures"].as_u64() >= Some(1), "{s}");
        // A crash is retried after the delay, never marked permanently failed: the code may be fixed.
        assert_eq!(s["state"], "backing-off", "{}: {s}", c.id);
    }
    // None of them took another down.
    let s = o.status("no-exec-bit").await;
    assert_eq!((s["state"].as_str(), s["restarts"].as_u64()), (Some("running"), Some(0)), "{s}");
    o.stop().await;
}
