//! The :9476 front inside a real, hardened container (scratch image with busybox, built by
//! `scripts/build-test-image.sh`): read-only rootfs, uid 1000, no capabilities, the contract's
//! tmpfs mounts, port 9476 published on the host's loopback and queried from the host. The query
//! program is busybox `httpd` with a CGI script (the image has no Python): it shows the front's
//! proxying, D20's parameters, path checks and the restart of a killed program.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

const BOT: &str = "#!/bin/sh\ntrap 'exit 0' TERM\necho ready\nwhile true; do sleep 0.1; done\n";
const QUERY: &str = "#!/bin/sh\nexec httpd -f -p \"127.0.0.1:$THE0_QUERY_PORT\" -h /bot/www\n";
const ECHO_CGI: &str = "#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n'\n\
printf '{\"status\":\"ok\",\"data\":{\"query\":\"%s\",\"method\":\"%s\",\"uid\":\"%s\"}}' \"$QUERY_STRING\" \"$REQUEST_METHOD\" \"$(id -u)\"\n";

async fn start() -> BotContainer {
    start_bot(BotRun {
        prefix: "the0-query-test",
        files: &[("bot.sh", BOT, 0o755), ("query.sh", QUERY, 0o755), ("www/cgi-bin/echo", ECHO_CGI, 0o755)],
        env: &[("QUERY_ENTRYPOINT", "query.sh"), ("THE0_QUERY_TIMEOUT_SEC", "5")],
        args: &["-p", "127.0.0.1::9476"],
        state_size: None,
    })
    .await
}

/// The host port Docker published for the container's 9476.
fn host_port(c: &BotContainer) -> u16 {
    let out = docker(&["port", &c.name, "9476/tcp"]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().rsplit(':').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no published port: {text}\n{}", c.logs()))
}

fn request(port: u16, raw: &str) -> Option<(u16, serde_json::Value)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    s.write_all(raw.as_bytes()).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(body).ok()?))
}

fn post(port: u16, target: &str, body: &str) -> Option<(u16, serde_json::Value)> {
    request(
        port,
        &format!(
            "POST {target} HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_front_answers_from_a_hardened_container() {
    let c = start().await;
    let port = host_port(&c);
    let body = r#"{"symbol":"BTC/USD","n":5}"#;
    let ok = eventually(Duration::from_secs(30), || post(port, "/cgi-bin/echo?a=1", body).filter(|(s, _)| *s == 200))
        .unwrap_or_else(|| panic!("the front never answered 200:\n{}", c.logs()));
    assert_eq!(ok.1["data"]["query"], "a=1&n=5&symbol=BTC%2FUSD", "{}", ok.1);
    assert_eq!(ok.1["data"]["method"], "POST");
    assert_eq!(ok.1["data"]["uid"], "1000");
    // Bad paths never reach the program.
    let (status, v) = request(port, "GET /cgi-bin/../etc/passwd HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!((status, v["status"].as_str()), (400, Some("error")), "{v}");

    // Kill the query program inside the container: the front restarts it, the bot runs on.
    let out = docker(&["exec", &c.name, "sh", "-c", "kill $(pidof httpd)"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(Duration::from_secs(10), || c.logs().contains("query program exited").then_some(()))
        .unwrap_or_else(|| panic!("no exit noticed:\n{}", c.logs()));
    eventually(Duration::from_secs(30), || post(port, "/cgi-bin/echo", "{}").filter(|(s, _)| *s == 200))
        .unwrap_or_else(|| panic!("answers did not resume:\n{}", c.logs()));
    assert!(c.logs().contains("ready"), "the bot ran: {}", c.logs());

    let out = docker(&["stop", "-t", "20", &c.name]);
    assert!(out.status.success());
    let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &c.name]);
    assert_eq!(String::from_utf8_lossy(&code.stdout).trim(), "0", "{}", c.logs());
    assert!(c.logs().contains("query front stopped"), "{}", c.logs());
}
