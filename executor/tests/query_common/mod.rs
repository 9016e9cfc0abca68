//! Shared harness of the query tests: the fixture query program, a Python bot that idles, a
//! running `runtime` whose output is collected, and a raw HTTP/1.1 client (raw, so malformed
//! requests can be sent too).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

pub const FIXTURE: &str = include_str!("../fixtures/query_server.py");

/// A bot that idles until it is stopped (the Python wrapper turns SIGTERM into exit 0).
pub const IDLE_BOT: &str = "import time\n\ndef main(bot_id, config):\n    print('bot running', flush=True)\n    while True:\n        time.sleep(0.2)\n";

pub use the0_test_support::free_port;

/// A Python realtime bot with the fixture as its query program, the front on a free port.
pub async fn realtime_sandbox(extra: &[(&str, &str)], with_query: bool) -> (Sandbox, u16) {
    let mut sb = Sandbox::local();
    let port = free_port();
    sb.set("RUNTIME", "python3.11")
        .set("ENTRYPOINT", "main.py")
        .set("BOT_TYPE", "realtime")
        .set("THE0_QUERY_PORT", &port.to_string())
        .set("THE0_QUERY_TIMEOUT_SEC", "5");
    if with_query {
        sb.set("QUERY_ENTRYPOINT", "query.py");
    }
    for (k, v) in extra {
        sb.set(k, v);
    }
    sb.upload_code(&[("main.py", IDLE_BOT, 0o644), ("query.py", FIXTURE, 0o644)]).await;
    (sb, port)
}

/// A running `runtime` whose stdout and stderr are collected all along.
pub struct Running {
    pub child: Option<Child>,
    pub output: Arc<Mutex<String>>,
}

impl Running {
    pub fn start(sb: &Sandbox, args: &[&str]) -> Running {
        let mut child = sb
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn runtime");
        let output = Arc::new(Mutex::new(String::new()));
        let pipes: Vec<Box<dyn Read + Send>> =
            vec![Box::new(child.stdout.take().expect("stdout")), Box::new(child.stderr.take().expect("stderr"))];
        for mut pipe in pipes {
            let out = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Running { child: Some(child), output }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until `needle` appears in the output (bounded).
    pub fn wait_for(&self, needle: &str) {
        eventually(Duration::from_secs(30), || self.output().contains(needle).then_some(()))
            .unwrap_or_else(|| panic!("{needle:?} never appeared:\n{}", self.output()));
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGTERM, then the exit code (bounded).
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        send_signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("runtime did not stop within 20 s:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(&child, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A parsed reply: status, headers (lowercased names), body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Asserts the contract's error envelope with `status`.
    pub fn assert_envelope(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let v = self.json();
        assert_eq!(v["status"], "error", "{self:?}");
        let msg = v["error"].as_str().unwrap_or_else(|| panic!("no error message: {self:?}")).to_string();
        assert!(!msg.is_empty());
        assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
        msg
    }
}

pub fn parse_resp(raw: &[u8]) -> Option<Resp> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Resp { status, headers, body: body.to_string() })
}

/// Sends raw bytes, half-closes nothing, reads to EOF (the request should ask to close).
pub fn raw(port: u16, request: &[u8]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the front");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_resp(&out).unwrap_or_else(|| panic!("no HTTP reply to {:?}: {:?}", String::from_utf8_lossy(request), out))
}

pub fn get(port: u16, target: &str) -> Resp {
    raw(port, format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
}

pub fn post(port: u16, target: &str, body: &str) -> Resp {
    raw(
        port,
        format!(
            "POST {target} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// Polls `target` until it answers 200, up to `bound`.
pub fn until_ok(port: u16, target: &str, bound: Duration, running: &Running) -> Resp {
    eventually(bound, || {
        TcpStream::connect(("127.0.0.1", port)).ok()?;
        let r = get(port, target);
        (r.status == 200).then_some(r)
    })
    .unwrap_or_else(|| panic!("{target} never answered 200 within {bound:?}:\n{}", running.output()))
}

/// Whether a process exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}
