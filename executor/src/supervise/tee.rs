//! The tee: copies a child's stdout or stderr to the executor's own stdout or stderr (the container
//! log) and to `bot.log`. Plain threads with blocking I/O: two per bot, no async hazards, and a
//! slow container log never stalls the runtime. [`Tee::finish`] waits for EOF with a bound, since
//! an escaped grandchild may hold a pipe open forever.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::logs::botlog::BotLog;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

pub struct Tee {
    done: mpsc::Receiver<()>,
}

impl Tee {
    pub fn start(mut source: impl Read + Send + 'static, stream: Stream, botlog: Option<Arc<BotLog>>) -> Tee {
        let (tx, done) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let chunk = &buf[..n];
                // bot.log first: it is what gets shipped, and a slow container log must not hold it back.
                if let Some(log) = &botlog {
                    if let Err(e) = log.append(chunk) {
                        crate::warn!("cannot write bot.log", error = e);
                    }
                }
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().lock().write_all(chunk),
                    Stream::Stderr => std::io::stderr().lock().write_all(chunk),
                };
            }
            let _ = tx.send(());
        });
        Tee { done }
    }

    /// Waits until the source reached EOF, at most `bound`. Returns whether it did.
    pub fn finish(&self, bound: Duration) -> bool {
        self.done.recv_timeout(bound).is_ok()
    }
}
