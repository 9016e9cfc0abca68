//! Latency the :9476 front adds over calling the query program directly (`make bench`, through
//! `scripts/bench-query.sh`, which starts both). Each client thread sends `GET /ping` with
//! `Connection: close` on a new connection (SDK servers close after each reply, so the direct path
//! cannot reuse connections either) and times the whole exchange. Direct and front runs alternate
//! in rounds so that noise from the shared machine hits both alike.
//!
//! Usage: query_bench --direct PORT --front PORT [--requests N] [--clients C] [--rounds R]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str, default: Option<usize>) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .or(default)
        .unwrap_or_else(|| panic!("missing {name}"))
}

fn one(port: u16) -> Duration {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").expect("send");
    let mut out = Vec::with_capacity(512);
    s.read_to_end(&mut out).expect("read");
    let took = t0.elapsed();
    assert!(out.starts_with(b"HTTP/1.") && out.windows(4).any(|w| w == b"pong"), "bad reply: {out:?}");
    took
}

/// `requests` exchanges spread over `clients` threads; all latencies.
fn run(port: u16, requests: usize, clients: usize) -> Vec<Duration> {
    let per = requests.div_ceil(clients);
    let threads: Vec<_> =
        (0..clients).map(|_| std::thread::spawn(move || (0..per).map(|_| one(port)).collect::<Vec<_>>())).collect();
    threads.into_iter().flat_map(|t| t.join().expect("client thread")).collect()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let direct = arg(&args, "--direct", None) as u16;
    let front = arg(&args, "--front", None) as u16;
    let requests = arg(&args, "--requests", Some(2000));
    let clients = arg(&args, "--clients", Some(1));
    let rounds = arg(&args, "--rounds", Some(5));
    // Warm up both paths.
    run(direct, 50, clients.min(4));
    run(front, 50, clients.min(4));
    let (mut d, mut f) = (Vec::new(), Vec::new());
    let mut round_p50 = Vec::new();
    for r in 0..rounds {
        let per = requests / rounds;
        // Alternate which path goes first.
        let (a, b) = if r % 2 == 0 {
            let a = run(direct, per, clients);
            (a, run(front, per, clients))
        } else {
            let b = run(front, per, clients);
            (run(direct, per, clients), b)
        };
        let (mut sa, mut sb) = (a.clone(), b.clone());
        sa.sort();
        sb.sort();
        round_p50.push(ms(pct(&sb, 0.5)) - ms(pct(&sa, 0.5)));
        d.extend(a);
        f.extend(b);
    }
    d.sort();
    f.sort();
    let (d50, d99, f50, f99) = (pct(&d, 0.5), pct(&d, 0.99), pct(&f, 0.5), pct(&f, 0.99));
    println!(
        "clients={clients:<3} requests={:<6} direct p50={:.3}ms p99={:.3}ms | front p50={:.3}ms p99={:.3}ms | added p50={:+.3}ms p99={:+.3}ms | per-round added p50: {}",
        d.len(),
        ms(d50),
        ms(d99),
        ms(f50),
        ms(f99),
        ms(f50) - ms(d50),
        ms(f99) - ms(d99),
        round_p50.iter().map(|x| format!("{x:+.3}")).collect::<Vec<_>>().join(" ")
    );
}
