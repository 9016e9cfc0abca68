//! A minimal blocking NATS subscriber (raw protocol) to observe what the executor publishes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct Subscriber {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Subscriber {
    /// Connects to `nats://host:port` and subscribes to `subject`; returns once the server confirmed.
    pub fn subscribe(url: &str, subject: &str) -> Subscriber {
        let addr = url.trim_start_matches("nats://");
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        let mut reader = BufReader::new(stream);
        let mut info = String::new();
        reader.read_line(&mut info).expect("INFO");
        assert!(info.starts_with("INFO"), "{info}");
        writer
            .write_all(format!("CONNECT {{\"verbose\":false}}\r\nSUB {subject} 1\r\nPING\r\n").as_bytes())
            .expect("sub");
        let mut sub = Subscriber { reader, writer };
        let line = sub.line();
        assert_eq!(line.trim(), "PONG", "subscription confirmed");
        sub
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read line");
        l
    }

    /// Collects message payloads until `done(all)` or `bound` passes.
    pub fn collect(&mut self, bound: Duration, done: impl Fn(&[Vec<u8>]) -> bool) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + bound;
        let mut got = Vec::new();
        while !done(&got) && Instant::now() < deadline {
            let line = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.line())) {
                Ok(l) => l,
                Err(_) => break,
            };
            if line.starts_with("PING") {
                let _ = self.writer.write_all(b"PONG\r\n");
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let len: usize = rest.split_whitespace().last().and_then(|n| n.parse().ok()).expect("MSG length");
                let mut payload = vec![0u8; len + 2];
                self.reader.read_exact(&mut payload).expect("payload");
                payload.truncate(len);
                got.push(payload);
            }
        }
        got
    }
}
