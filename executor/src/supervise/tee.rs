//! The tee: copies a child's stdout or stderr to the executor's own stdout or stderr (the container
//! log) and to `bot.log`. Plain threads with blocking I/O: two per bot, no async hazards, and a
//! slow container log never stalls the runtime. [`Tee::finish`] waits for EOF with a bound, since
//! an escaped grandchild may hold a pipe open forever.
//!
//! `bot.log` receives whole lines only: stdout and stderr are two streams into one file, and a
//! writer may emit a line in pieces (unbuffered Python writes the text and its `\n` separately),
//! so appending raw reads would splice a stderr line into the middle of a stdout line. A partial
//! line is held until its newline arrives, or flushed as is after [`PARTIAL_FLUSH`] of silence, at
//! [`MAX_PENDING`] bytes, or at EOF. The container log gets every byte at once, as written.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::logs::botlog::BotLog;

/// How long a partial line may wait for the rest of it.
pub const PARTIAL_FLUSH: Duration = Duration::from_millis(200);
/// A partial line this long is written without waiting for its end.
pub const MAX_PENDING: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whole-line framing of one stream for `bot.log`. Pure, so it is table-tested.
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    /// Adds bytes; returns what may be written now (complete lines, or everything once the
    /// pending partial line passed [`MAX_PENDING`]).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= MAX_PENDING {
            return std::mem::take(&mut self.pending);
        }
        match self.pending.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                let rest = self.pending.split_off(last + 1);
                std::mem::replace(&mut self.pending, rest)
            }
            None => Vec::new(),
        }
    }

    /// Takes the partial line (on silence or EOF).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Waits until `fd` is readable (or hung up); `false` when `timeout` passed first.
fn readable(fd: RawFd, timeout: Option<Duration>) -> bool {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    loop {
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n >= 0 {
            return n > 0;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return true; // let read() report the problem
        }
    }
}

pub struct Tee {
    done: mpsc::Receiver<()>,
}

impl Tee {
    pub fn start<R: Read + AsRawFd + Send + 'static>(
        mut source: R,
        stream: Stream,
        botlog: Option<Arc<BotLog>>,
    ) -> Tee {
        let (tx, done) = mpsc::channel();
        thread::spawn(move || {
            let fd = source.as_raw_fd();
            let mut buf = vec![0u8; 64 * 1024];
            let mut lines = LineBuffer::default();
            let write_log = |bytes: &[u8]| {
                if let (Some(log), false) = (&botlog, bytes.is_empty()) {
                    if let Err(e) = log.append(bytes) {
                        crate::warn!("cannot write bot.log", error = e);
                    }
                }
            };
            loop {
                if lines.has_pending() && !readable(fd, Some(PARTIAL_FLUSH)) {
                    write_log(&lines.take());
                    continue;
                }
                let n = match source.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let chunk = &buf[..n];
                // bot.log first: it is what gets shipped, and a slow container log must not hold it back.
                write_log(&lines.push(chunk));
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().lock().write_all(chunk),
                    Stream::Stderr => std::io::stderr().lock().write_all(chunk),
                };
            }
            write_log(&lines.take());
            let _ = tx.send(());
        });
        Tee { done }
    }

    /// Waits until the source reached EOF, at most `bound`. Returns whether it did.
    pub fn finish(&self, bound: Duration) -> bool {
        self.done.recv_timeout(bound).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_lines_leave_the_buffer() {
        let mut b = LineBuffer::default();
        assert_eq!(b.push(b"{\"_metric\":1}"), b"");
        assert!(b.has_pending());
        assert_eq!(b.push(b"\n"), b"{\"_metric\":1}\n");
        assert_eq!(b.push(b"a\nb\nc"), b"a\nb\n");
        assert_eq!(b.take(), b"c");
        assert!(!b.has_pending());
    }

    #[test]
    fn long_partial_lines_are_not_held_forever() {
        let mut b = LineBuffer::default();
        let big = vec![b'x'; MAX_PENDING];
        assert_eq!(b.push(&big).len(), MAX_PENDING);
        assert!(!b.has_pending());
    }

    #[test]
    fn interleaved_streams_never_split_a_line() {
        // stdout writes a line in two pieces; stderr writes a whole line in between.
        let log = tempfile::tempdir().unwrap();
        let botlog = BotLog::open(&log.path().join("bot.log")).unwrap();
        let (mut out_r, mut out_w) = pipe();
        let (err_r, mut err_w) = pipe();
        let tees = [
            Tee::start(std::mem::replace(&mut out_r, pipe().0), Stream::Stdout, Some(botlog.clone())),
            Tee::start(err_r, Stream::Stderr, Some(botlog.clone())),
        ];
        out_w.write_all(b"{\"_metric\":\"price\"}").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        err_w.write_all(b"{\"level\":\"info\"}\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        out_w.write_all(b"\npartial").unwrap();
        drop((out_w, err_w));
        assert!(tees.iter().all(|t| t.finish(Duration::from_secs(5))));
        let text = std::fs::read_to_string(log.path().join("bot.log")).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        assert_eq!(lines, vec!["partial", "{\"_metric\":\"price\"}", "{\"level\":\"info\"}"], "{text:?}");
    }

    fn pipe() -> (std::fs::File, std::fs::File) {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        use std::os::fd::FromRawFd;
        // SAFETY: both fds were just created and are owned here.
        unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
    }
}
