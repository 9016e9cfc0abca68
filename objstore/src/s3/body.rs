//! Adapters between tokio I/O and hyper bodies, so object data is streamed, never collected:
//! [`ReaderBody`] sends exactly `len` bytes of an `AsyncRead` as a request body, and
//! [`BodyReader`] exposes a response body as an `AsyncRead` that fails when the server stalls.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes read from the source per body frame.
const CHUNK: usize = 256 * 1024;

/// A request body of exactly `len` bytes read from `reader`; a source that ends early is an
/// error (the server then never sees a complete request), extra bytes are not read.
pub(crate) struct ReaderBody<R> {
    reader: R,
    remaining: u64,
    buf: Vec<u8>,
}

impl<R> ReaderBody<R> {
    pub(crate) fn new(reader: R, len: u64) -> Self {
        let cap = usize::try_from(len).unwrap_or(CHUNK).min(CHUNK);
        ReaderBody { reader, remaining: len, buf: vec![0; cap] }
    }
}

impl<R: AsyncRead + Unpin> Body for ReaderBody<R> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining).unwrap_or(usize::MAX).min(this.buf.len());
        let mut rb = ReadBuf::new(&mut this.buf[..want]);
        ready!(Pin::new(&mut this.reader).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            let msg = format!("source ended {} bytes before its announced length", this.remaining);
            return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg))));
        }
        this.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(&this.buf[..n])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A response body as `AsyncRead`. A read that waits more than `idle` for the next bytes fails
/// with `TimedOut`, so a stalled server cannot hang the reader forever. A body cut short before
/// its Content-Length is an error (hyper reports it).
pub(crate) struct BodyReader {
    body: Incoming,
    chunk: Bytes,
    done: bool,
    idle: Duration,
    /// Armed when a read starts waiting for the network, not while the consumer is busy.
    timer: Option<Pin<Box<Sleep>>>,
    what: String,
}

impl BodyReader {
    /// `what` names the object in error messages (`GetObject bucket/key`).
    pub(crate) fn new(body: Incoming, idle: Duration, what: String) -> Self {
        BodyReader { body, chunk: Bytes::new(), done: false, idle, timer: None, what }
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.chunk.is_empty() {
                let n = this.chunk.len().min(buf.remaining());
                buf.put_slice(&this.chunk[..n]);
                this.chunk.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.timer = None;
                    if let Ok(data) = frame.into_data() {
                        this.chunk = data;
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Err(io::Error::other(format!("{}: reading the body: {e}", this.what))));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    this.timer = None;
                }
                Poll::Pending => {
                    let idle = this.idle;
                    let timer =
                        this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + idle)));
                    if timer.as_mut().poll(cx).is_ready() {
                        this.done = true;
                        let msg = format!("{}: no body data for {:?}", this.what, this.idle);
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, msg)));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn reader_body_sends_exactly_len() {
        let data = vec![7u8; 600_000];
        let body = ReaderBody::new(&data[..], 500_000);
        assert_eq!(body.size_hint().exact(), Some(500_000));
        let got = body.collect().await.expect("collect").to_bytes();
        assert_eq!(got.len(), 500_000);
    }

    #[tokio::test]
    async fn reader_body_fails_on_short_source() {
        let data = vec![7u8; 1000];
        let err = ReaderBody::new(&data[..], 2000).collect().await.expect_err("short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
