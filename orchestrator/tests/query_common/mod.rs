//! Harness of the :9477 query server tests: bots whose query program is a busybox sh script
//! (realtime: busybox `httpd` with CGI scripts behind the executor's :9476 front; one-shot: the
//! same script writes `/query/result.json` when `QUERY_PATH` is set), a raw HTTP client, a
//! Docker network made by the test (so the host can reach container addresses) and a
//! `query-server` running in this process.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use the0_orchestrator::cmdline;
use the0_orchestrator::config::Cli;
use the0_orchestrator::server::query_server::Standalone;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// One-shot mode writes a result per path; otherwise it serves CGI scripts from `/bot/www`.
pub const QUERY_SH: &str = r#"#!/bin/sh
if [ -n "$QUERY_PATH" ]; then
  case "$QUERY_PATH" in
    /hang) sleep 600 ;;
    /slow) sleep 3 ;;
    /garbage) echo 'this is not json' > /query/result.json; exit 0 ;;
    /fail) echo '{"status":"error","error":"failed on purpose"}' > /query/result.json
           echo "query program failing on purpose" >&2; exit 3 ;;
    /error) echo '{"status":"error","error":"no such symbol"}' > /query/result.json; exit 0 ;;
  esac
  printf '{"status":"ok","data":{"mode":"oneshot","path":"%s","params":%s,"bot_type":"%s"}}' \
    "$QUERY_PATH" "$QUERY_PARAMS" "$BOT_TYPE" > /query/result.json
  exit 0
fi
exec httpd -f -p "127.0.0.1:$THE0_QUERY_PORT" -h /bot/www
"#;

/// Echoes what a handler sees: the URL query string only (the body is never read).
pub const ECHO_CGI: &str = "#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n'\n\
printf '{\"status\":\"ok\",\"data\":{\"query\":\"%s\",\"method\":\"%s\"}}' \"$QUERY_STRING\" \"$REQUEST_METHOD\"\n";

/// Single-threaded: one request at a time (a mkdir lock), each taking 20 ms, numbered.
pub const SERIAL_CGI: &str = "#!/bin/sh\nuntil mkdir /tmp/lock 2>/dev/null; do usleep 2000; done\n\
n=$(cat /tmp/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/count; usleep 20000\nrmdir /tmp/lock\n\
printf 'Content-Type: application/json\\r\\n\\r\\n{\"status\":\"ok\",\"data\":{\"n\":%s}}' $n\n";

pub const HANG_CGI: &str = "#!/bin/sh\nsleep 60\n";
pub const GARBAGE_CGI: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nnot json at all'\n";
pub const BOT_SH: &str = "#!/bin/sh\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done\n";

/// The code zip of a query bot (all files 0755).
pub fn query_bot_zip() -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    for (name, body) in [
        ("bot.sh", BOT_SH),
        ("query.sh", QUERY_SH),
        ("www/cgi-bin/echo", ECHO_CGI),
        ("www/cgi-bin/serial", SERIAL_CGI),
        ("www/cgi-bin/hang", HANG_CGI),
        ("www/cgi-bin/garbage", GARBAGE_CGI),
    ] {
        z.start_file(name, opts).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// Stores the query bot's code as `key` under `objects`.
pub fn put_query_code(objects: &Path, key: &str) {
    let p = objects.join("custom-bots").join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, query_bot_zip()).unwrap();
}

/// An event payload of the query bot; `query: false` leaves out the query entrypoint.
pub fn query_payload(id: &str, key: &str, config: Value, query: bool) -> Value {
    let mut entry = json!({"bot": "bot.sh"});
    if query {
        entry["query"] = json!("query.sh");
    }
    json!({
        "id": id,
        "config": config,
        "custom": {"filePath": key, "version": "1.0.0",
                   "config": {"name": "q", "runtime": "gcc13", "entrypoints": entry}}
    })
}

/// A raw HTTP/1.1 exchange with `Connection: close`: (status, head, body).
pub async fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: q\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), s.read_to_end(&mut buf)).await.expect("reply in time").unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// `POST /query` with a JSON body: (status, reply).
pub async fn query(addr: &str, body: Value) -> (u16, Value) {
    let (status, _, text) = http(addr, "POST", "/query", &body.to_string()).await;
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {text:?}"));
    (status, v)
}

/// Checks the envelope's fixed fields: an int64 `duration`, an RFC3339Nano UTC `timestamp`.
pub fn check_envelope(v: &Value) {
    assert!(v["status"].is_string(), "{v}");
    assert!(v["duration"].is_i64(), "{v}");
    let ts = v["timestamp"].as_str().unwrap_or_else(|| panic!("no timestamp: {v}"));
    assert!(ts.len() >= 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
    assert!(!v.get("error").is_some_and(|e| e == ""), "empty error must be omitted: {v}");
    assert!(!v.get("data").is_some_and(Value::is_null), "null data must be omitted: {v}");
}

/// Files left under a directory (result objects that leaked).
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

/// A `query-server` in this process.
pub struct QueryProc {
    pub addr: String,
    pub cli: Cli,
    pub server: std::sync::Arc<the0_orchestrator::query::QueryServer>,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl QueryProc {
    pub async fn start(data_dir: &Path, instance: &str, extra: &[&str]) -> QueryProc {
        let mut args: Vec<String> = [
            "query-server",
            "--data-dir",
            &data_dir.display().to_string(),
            "--instance",
            instance,
            "--runtime-image",
            &crate::common::image(),
            "--runtime-image-pull-policy",
            "Never",
            "--port",
            "0",
            "--query-bind",
            "127.0.0.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Warm query servers (issue 15) only where a test asks for them: the others count containers.
        if !extra.contains(&"--query-warm-for") {
            args.extend(["--query-warm-for".to_string(), "0".to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let vars = [("DOCKER_NETWORK", "none")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let cli = cmdline::parse(&args, &vars).expect("test flags");
        let s = Standalone::bind(&cli).await.expect("query server starts");
        let addr = s.addr().expect("addr").to_string();
        let server = s.server.clone();
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(s.run(the0_orchestrator::server::flag_set(rx)));
        QueryProc { addr, cli, server, stop: Some(tx), task: Some(task) }
    }

    pub fn objects(&self) -> std::path::PathBuf {
        self.cli.data_dir.join("objects")
    }

    /// Stores a bot as another process would (through its own store connection).
    pub fn put(&self, payload: &Value) {
        use the0_orchestrator::model::{parse_payload, Change};
        let store = the0_orchestrator::store::Store::open(&self.cli.data_dir).unwrap();
        let change: Change = parse_payload(payload.to_string().as_bytes(), false).unwrap();
        store.apply(&change, the0_orchestrator::store::Mode::Put, None).unwrap();
    }

    /// Waits (bounded) until the server's index has the bot as given.
    pub async fn wait_indexed(&self, bot: &str, scheduled: bool) {
        for _ in 0..100 {
            if self.server.index.get(bot).is_some_and(|b| b.scheduled == scheduled) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the query server never indexed bot {bot}");
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
    }
}
