//! The Python and Node wrappers (docs/contract.md §2.6, D13–D15) run by the real executor: each way a
//! bot can end gives the right result.json, exit code and a clear line in bot.log.

mod common;

use std::time::Duration;

use common::*;

fn result(sb: &Sandbox) -> serde_json::Value {
    let raw = std::fs::read_to_string(sb.path("bot/result.json")).expect("result.json written");
    serde_json::from_str(&raw).expect("result.json is JSON")
}

fn bot(runtime: &str, entry: &str, source: &str) -> Sandbox {
    let mut sb = Sandbox::local();
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    std::fs::write(sb.path("bot").join(entry), source).unwrap();
    sb.set("RUNTIME", runtime).set("ENTRYPOINT", entry);
    sb
}

fn bot_log(sb: &Sandbox) -> String {
    std::fs::read_to_string(sb.path("the0/logs/bot.log")).unwrap_or_default()
}

#[test]
fn python_outcomes() {
    for (source, config, code, status, log_needle) in [
        ("def main(bot_id, config):\n    print('cfg', config)\n", "", 0, Some("success"), "cfg {}"),
        (
            "def main(bot_id, config):\n    raise ValueError('bad ' + bot_id[:3])\n",
            "{}",
            1,
            Some("error"),
            "ValueError: bad bot",
        ),
        ("import sys\ndef main(bot_id, config):\n    sys.exit(3)\n", "{}", 3, None, ""),
        ("def main(bot_id, config)\n    pass\n", "{}", 1, Some("error"), "SyntaxError"),
        ("x = 1\n", "{}", 1, Some("error"), "does not define main"),
        ("def main(bot_id, config):\n    pass\n", "{not json", 1, Some("error"), "BOT_CONFIG is not valid JSON"),
    ] {
        let mut sb = bot("python3.11", "main.py", source);
        if !config.is_empty() {
            sb.set("BOT_CONFIG", config);
        }
        let out = sb.execute();
        assert_eq!(out.status.code(), Some(code), "{source}: {}", text(&out));
        if let Some(status) = status {
            assert_eq!(result(&sb)["status"], status, "{source}");
        }
        assert!(bot_log(&sb).contains(log_needle), "{source}: bot.log lacks {log_needle:?}:\n{}", bot_log(&sb));
    }
}

#[test]
fn python_sigterm_is_terminated_with_exit_0() {
    let sb = bot("python3.11", "main.py", "import time\ndef main(bot_id, config):\n    print('ready', flush=True)\n    while True:\n        time.sleep(0.1)\n");
    let child = sb.spawn();
    eventually(Duration::from_secs(20), || bot_log(&sb).contains("ready").then_some(())).expect("ready");
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(result(&sb)["status"], "terminated");
}

#[test]
fn node_outcomes() {
    for (source, code, status, log_needle) in [
        ("module.exports = async (id, cfg) => { console.log('cfg', JSON.stringify(cfg)); };", 0, "success", "cfg {}"),
        ("exports.main = async () => ({ status: 'success', trades: 2 });", 0, "success", ""),
        ("exports.main = async () => { throw new Error('exchange down'); };", 1, "error", "exchange down"),
        ("exports.default = () => Promise.reject(new Error('nope'));", 1, "error", "nope"),
        ("exports.main = async ( => {};", 1, "error", "SyntaxError"),
        ("exports.notMain = 1;", 1, "error", "does not export"),
    ] {
        let sb = bot("nodejs20", "index.js", source);
        let out = sb.execute();
        assert_eq!(out.status.code(), Some(code), "{source}: {}", text(&out));
        assert_eq!(result(&sb)["status"], status, "{source}");
        assert!(bot_log(&sb).contains(log_needle), "{source}: bot.log lacks {log_needle:?}:\n{}", bot_log(&sb));
    }
    let sb = bot("nodejs20", "index.js", "exports.main = async () => ({ status: 'success', trades: 2 });");
    sb.execute();
    assert_eq!(result(&sb)["trades"], 2, "the returned object is the result");
}

#[test]
fn node_sigterm_defers_to_the_bot_or_terminates() {
    // No listener of its own: terminated, exit 0.
    let sb = bot(
        "nodejs20",
        "index.js",
        "exports.main = () => new Promise(() => { console.log('ready'); setInterval(() => {}, 1000); });",
    );
    let child = sb.spawn();
    eventually(Duration::from_secs(20), || bot_log(&sb).contains("ready").then_some(())).expect("ready");
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(result(&sb)["status"], "terminated");

    // The bot listens: it decides (here: clean up and exit 5).
    let src = "exports.main = () => new Promise(() => { process.on('SIGTERM', () => { console.log('cleanup'); process.exit(5); }); console.log('ready'); setInterval(() => {}, 1000); });";
    let sb = bot("nodejs20", "index.js", src);
    let child = sb.spawn();
    eventually(Duration::from_secs(20), || bot_log(&sb).contains("ready").then_some(())).expect("ready");
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(bot_log(&sb).contains("cleanup"));
}
