//! Latency the host's :9477 server adds to a realtime query over calling the container's :9476
//! directly (`make bench`, through `scripts/bench-query-server.sh`, which starts both). Each
//! request is a new connection with `Connection: close` on both paths, so the difference is what
//! :9477 adds: parsing, the index lookup, the pooled hop to the container and the envelope.
//! Rounds alternate so that noise from the shared machine hits both alike.
//!
//! With `--other-bot ID2` instead of `--direct`, the second path is a query of bot ID2 through
//! the same :9477 (a scheduled bot's warm query server against a realtime bot, issue 15).
//!
//! Usage: query_server_bench --via HOST:PORT (--direct HOST:PORT | --other-bot ID2) --bot ID
//!        --path P [--requests N] [--rounds R]
//! Prints `p50_via p99_via p50_second p99_second` in milliseconds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn exchange(addr: &str, request: &[u8]) -> Duration {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    s.write_all(request).expect("send");
    let mut out = Vec::with_capacity(512);
    s.read_to_end(&mut out).expect("read");
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200") && text.contains(r#""status":"ok""#), "bad reply: {text}");
    took
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let need = |n: &str| arg(&args, n).unwrap_or_else(|| panic!("missing {n}"));
    let (via, bot, path) = (need("--via"), need("--bot"), need("--path"));
    let requests: usize = arg(&args, "--requests").and_then(|v| v.parse().ok()).unwrap_or(2000);
    let rounds: usize = arg(&args, "--rounds").and_then(|v| v.parse().ok()).unwrap_or(4).max(1);
    let query_of = |bot: &str| post("/query", &format!(r#"{{"bot_id":"{bot}","query_path":"{path}"}}"#));
    let via_req = query_of(&bot);
    let (direct, direct_req) = match arg(&args, "--other-bot") {
        Some(other) => (via.clone(), query_of(&other)),
        None => (need("--direct"), post(&path, "")),
    };
    for _ in 0..50 {
        exchange(&via, &via_req);
        exchange(&direct, &direct_req);
    }
    let per = requests.div_ceil(rounds);
    let (mut v, mut d) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let via_round = || (0..per).map(|_| exchange(&via, &via_req)).collect::<Vec<_>>();
        let direct_round = || (0..per).map(|_| exchange(&direct, &direct_req)).collect::<Vec<_>>();
        if r % 2 == 0 {
            v.extend(via_round());
            d.extend(direct_round());
        } else {
            d.extend(direct_round());
            v.extend(via_round());
        }
    }
    v.sort_unstable();
    d.sort_unstable();
    println!("{:.3} {:.3} {:.3} {:.3}", pct(&v, 0.5), pct(&v, 0.99), pct(&d, 0.5), pct(&d, 0.99));
}
