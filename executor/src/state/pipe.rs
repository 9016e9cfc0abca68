//! Bounded bridges between blocking archive code and async storage streams, so a state archive
//! is never held whole in memory or on disk (D6).
//!
//! * [`pipe_writer`]: a blocking [`Write`] whose bytes come out of an [`AsyncRead`]. The stream
//!   ends cleanly only after `PipeWriter::finish`; if the writer is dropped without it (an
//!   error, a panic) the reader fails, so an upload never completes with a truncated archive.
//! * [`async_to_sync`]: a blocking [`Read`] fed by a task that reads an [`AsyncRead`].

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::sync::mpsc;

/// Size of the chunks that cross the channel.
pub const CHUNK: usize = 256 * 1024;
/// Chunks in flight: together with [`CHUNK`], the most memory a pipe holds (4 MiB).
pub const DEPTH: usize = 16;

enum Msg {
    Data(Bytes),
    End,
    Fail(String),
}

/// The blocking end of [`pipe_writer`]. Must only be used off the async runtime.
pub struct PipeWriter {
    tx: mpsc::Sender<Msg>,
    buf: BytesMut,
}

/// The async end of [`pipe_writer`].
pub struct PipeReader {
    rx: mpsc::Receiver<Msg>,
    cur: Bytes,
    done: bool,
}

/// A bounded byte pipe from blocking code to an async reader.
pub fn pipe_writer() -> (PipeWriter, PipeReader) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (PipeWriter { tx, buf: BytesMut::with_capacity(CHUNK) }, PipeReader { rx, cur: Bytes::new(), done: false })
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the reading side of the pipe is gone")
}

impl PipeWriter {
    fn send_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.buf.reserve(CHUNK);
        self.tx.blocking_send(Msg::Data(chunk)).map_err(|_| closed())
    }

    /// A handle that can end the stream after the writer itself was consumed.
    pub fn closer(&self) -> PipeCloser {
        PipeCloser { tx: self.tx.clone() }
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

/// Ends a [`pipe_writer`] stream: cleanly, or with an error the reader will return.
pub struct PipeCloser {
    tx: mpsc::Sender<Msg>,
}

impl PipeCloser {
    /// Marks the end of the data (everything written must have been flushed before).
    pub fn finish(self) -> io::Result<()> {
        self.tx.blocking_send(Msg::End).map_err(|_| closed())
    }

    /// Makes the reader fail with `reason` after the data already sent.
    pub fn fail(self, reason: String) {
        let _ = self.tx.blocking_send(Msg::Fail(reason));
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            if !self.cur.is_empty() {
                let n = self.cur.len().min(out.remaining());
                let chunk = self.cur.split_to(n);
                out.put_slice(&chunk);
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Msg::Data(b))) => self.cur = b,
                Poll::Ready(Some(Msg::End)) => self.done = true,
                Poll::Ready(Some(Msg::Fail(reason))) => return Poll::Ready(Err(io::Error::other(reason))),
                Poll::Ready(None) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the archive writer stopped before finishing",
                    )))
                }
            }
        }
    }
}

/// A blocking reader over an async stream, fed by a task spawned on the current runtime.
pub struct SyncReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

/// Spawns a task reading `src` in chunks; the returned reader must be used off the runtime.
pub fn async_to_sync(mut src: Pin<Box<dyn AsyncRead + Send>>) -> SyncReader {
    let (tx, rx) = mpsc::channel(DEPTH);
    tokio::spawn(async move {
        loop {
            let mut buf = BytesMut::with_capacity(CHUNK);
            match src.read_buf(&mut buf).await {
                Ok(0) => break,
                Ok(_) => {
                    if tx.send(Ok(buf.freeze())).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    SyncReader { rx, cur: Bytes::new() }
}

impl Read for SyncReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = self.cur.len().min(out.len());
        out[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_delivers_everything_then_ends() {
        let (mut w, mut r) = pipe_writer();
        let closer = w.closer();
        let job = tokio::task::spawn_blocking(move || {
            for i in 0..1000u32 {
                w.write_all(&[i as u8; 1000]).unwrap();
            }
            w.flush().unwrap();
            drop(w);
            closer.finish().unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        job.await.unwrap();
        assert_eq!(got.len(), 1_000_000);
        assert_eq!(got[999_999], (999u32) as u8);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipe_without_finish_is_an_error_not_an_eof() {
        let (mut w, mut r) = pipe_writer();
        tokio::task::spawn_blocking(move || {
            w.write_all(b"partial").unwrap();
            w.flush().unwrap();
        });
        let mut got = Vec::new();
        assert!(r.read_to_end(&mut got).await.is_err());
        assert_eq!(got, b"partial");
        let (w, mut r) = pipe_writer();
        tokio::task::spawn_blocking(move || w.closer().fail("boom".into()));
        let err = r.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(err.to_string().contains("boom"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sync_reader_reads_an_async_stream() {
        let data: Vec<u8> = (0..700_000u32).map(|i| i as u8).collect();
        let src: Pin<Box<dyn AsyncRead + Send>> = Box::pin(std::io::Cursor::new(data.clone()));
        let mut r = async_to_sync(src);
        let got = tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(got, data);
    }
}
