//! The client side of the front: one request to the query program on `127.0.0.1:<internal port>`.
//!
//! SDK query servers are minimal (docs/contract.md §4.1): serial, HTTP/1.0 or bare-LF replies, no
//! `Content-Length`, reading only the request line and closing with unread bytes (which may reset
//! the connection after the reply was sent). So this is a small hand-written client: it sends a
//! small HTTP/1.1 request with `Connection: close`, reads until the reply is complete or the
//! connection ends (a reset after some bytes counts as the end), and parses tolerantly. A reply
//! that is not HTTP, or whose body is not JSON, is refused, so the front only ever passes on what
//! the contract's clients can parse.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::{decode_chunked, is_hop_header, Chunked};
use super::reply::{Refusal, Reply};

/// Largest reply accepted from the program.
pub const MAX_REPLY: usize = 16 * 1024 * 1024;

/// What the front forwards.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Origin-form target with the body parameters already merged (D20).
    pub target: &'a str,
    pub headers: &'a [(String, Vec<u8>)],
    pub body: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Nothing listens on the port: the program died or is not up yet.
    #[error("cannot connect to the query program: {0}")]
    Connect(io::Error),
    #[error("the query program closed the connection without replying")]
    NoReply,
    #[error("the query program's reply is not HTTP: {0}")]
    NotHttp(String),
    #[error("the query program replied {status} with a body that is not JSON: {snippet}")]
    NotJson { status: u16, snippet: String },
    #[error("the query program's reply is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the query program's reply was cut short")]
    Truncated,
    #[error("reading the query program's reply: {0}")]
    Io(io::Error),
}

impl UpstreamError {
    /// What the client is told.
    pub fn refusal(&self) -> Refusal {
        match self {
            UpstreamError::Connect(_) => Refusal::Restarting,
            other => Refusal::BadGateway(other.to_string()),
        }
    }
}

/// The request bytes: small, HTTP/1.1, `Connection: close`.
pub fn encode_request(req: &Request<'_>, port: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + req.body.len());
    out.extend_from_slice(format!("{} {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n", req.method, req.target).as_bytes());
    for (name, value) in req.headers {
        // Replies must stay identity-encoded JSON: no compression is negotiated.
        if is_hop_header(name) || name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("accept-encoding") {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !req.body.is_empty() || matches!(req.method, "POST" | "PUT" | "PATCH") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", req.body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(req.body);
    out
}

/// Sends `req` to the program on `port` and returns its reply, ready to pass on.
/// Unbounded in time: the caller applies the query timeout.
pub async fn exchange(port: u16, req: &Request<'_>) -> Result<Reply, UpstreamError> {
    // Small buffers and no extra socket options: this is the per-query hot path (a static musl
    // binary returns freed large blocks to the kernel, so big scratch buffers cost mmap/munmap).
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.map_err(UpstreamError::Connect)?;
    // A server that replies without reading may close early; its reply is still worth reading.
    let _ = stream.write_all(&encode_request(req, port)).await;
    let head_only = req.method.eq_ignore_ascii_case("HEAD");
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    loop {
        if let Some(reply) = parse_reply(&buf, false, head_only)? {
            return validate(reply, head_only);
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(buf.len().max(2048));
        }
        let n = match stream.read_buf(&mut buf).await {
            Ok(n) => n,
            Err(e) if is_reset(&e) && buf.is_empty() => return Err(UpstreamError::NoReply),
            Err(e) if is_reset(&e) => 0,
            Err(e) => return Err(UpstreamError::Io(e)),
        };
        if n == 0 {
            if buf.is_empty() {
                return Err(UpstreamError::NoReply);
            }
            let reply = parse_reply(&buf, true, head_only)?.ok_or(UpstreamError::Truncated)?;
            return validate(reply, head_only);
        }
        if buf.len() > MAX_REPLY {
            return Err(UpstreamError::TooLarge(MAX_REPLY));
        }
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe)
}

fn validate(reply: Reply, head_only: bool) -> Result<Reply, UpstreamError> {
    if head_only || serde_json::from_slice::<serde::de::IgnoredAny>(&reply.body).is_ok() {
        return Ok(reply);
    }
    Err(UpstreamError::NotJson { status: reply.status, snippet: snippet(&reply.body) })
}

fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(120)]).to_string();
    if s.is_empty() {
        "(empty)".into()
    } else {
        s
    }
}

/// The end of the head: after the first empty line (CRLF or bare LF).
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|b| *b == b'\n') {
        let line_end = i + p + 1;
        match buf.get(line_end) {
            Some(b'\n') => return Some(line_end + 1),
            Some(b'\r') if buf.get(line_end + 1) == Some(&b'\n') => return Some(line_end + 2),
            None => return None,
            _ => i = line_end,
        }
    }
    None
}

/// Parses a (possibly partial) reply. `Ok(None)`: more bytes are needed. `eof`: no more will come,
/// so a body without framing ends here.
pub fn parse_reply(buf: &[u8], eof: bool, head_only: bool) -> Result<Option<Reply>, UpstreamError> {
    let not_http = || UpstreamError::NotHttp(snippet(buf));
    if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
        return Err(not_http());
    }
    let Some(end) = head_end(buf) else {
        return if eof { Err(not_http()) } else { Ok(None) };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.lines().map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let _version = parts.next();
    let status = parts
        .next()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(not_http)?;
    let reason = parts.next().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string);
    let mut headers = Vec::new();
    let (mut length, mut chunked) = (None, false);
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
        if !is_hop_header(name) && !name.is_empty() {
            headers.push((name.to_string(), value.as_bytes().to_vec()));
        }
    }
    let rest = &buf[end..];
    let body: Bytes = if head_only || status == 204 || status == 304 {
        Bytes::new()
    } else if chunked {
        // Decoding re-scans the body: only try once the terminating empty line may have arrived.
        if !(eof || rest.ends_with(b"\n\r\n") || rest.ends_with(b"\n\n")) {
            return Ok(None);
        }
        let mut out = Vec::new();
        match decode_chunked(rest, &mut out, MAX_REPLY).map_err(|_| not_http())? {
            Chunked::Done(_) => out.into(),
            Chunked::Partial if eof => return Err(UpstreamError::Truncated),
            Chunked::Partial => return Ok(None),
        }
    } else if let Some(len) = length {
        if rest.len() < len {
            return if eof { Err(UpstreamError::Truncated) } else { Ok(None) };
        }
        Bytes::copy_from_slice(&rest[..len])
    } else if eof {
        Bytes::copy_from_slice(rest)
    } else {
        return Ok(None);
    };
    Ok(Some(Reply { status, reason, headers, body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(raw: &str) -> Reply {
        parse_reply(raw.as_bytes(), true, false).unwrap().unwrap()
    }

    #[test]
    fn tolerant_parsing() {
        // Python's http.server: HTTP/1.0, no Content-Length, body until close.
        let r = done("HTTP/1.0 200 OK\r\nServer: x\r\nContent-Type: application/json\r\n\r\n{\"status\":\"ok\"}");
        assert_eq!((r.status, r.reason.as_deref()), (200, Some("OK")));
        assert_eq!(&r.body[..], b"{\"status\":\"ok\"}");
        assert!(r.headers.iter().any(|(n, v)| n == "Content-Type" && v == b"application/json"));
        // Bare LF, no reason phrase.
        let r = done("HTTP/1.1 404\nContent-Type: application/json\n\n{}");
        assert_eq!((r.status, r.reason, &r.body[..]), (404, None, &b"{}"[..]));
        // Content-Length wins over trailing bytes; hop headers are dropped.
        let r = done("HTTP/1.1 500 Oops\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}junk");
        assert_eq!((&r.body[..], r.headers.len()), (&b"{}"[..], 0));
        // Chunked.
        let r = done("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
        assert_eq!(&r.body[..], b"{}");
    }

    #[test]
    fn partial_and_broken_replies() {
        assert!(parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", false, false).unwrap().is_none());
        assert!(matches!(
            parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", true, false),
            Err(UpstreamError::Truncated)
        ));
        assert!(parse_reply(b"HTTP/1.0 200 OK\r\n\r\n{}", false, false).unwrap().is_none(), "waits for EOF");
        assert!(parse_reply(b"HTT", false, false).unwrap().is_none());
        assert!(matches!(parse_reply(b"hello world\n\n", true, false), Err(UpstreamError::NotHttp(_))));
        assert!(matches!(parse_reply(b"HTTP/1.1 abc\r\n\r\n", true, false), Err(UpstreamError::NotHttp(_))));
        assert!(matches!(parse_reply(b"HTTP/1.1 200 OK\r\n", true, false), Err(UpstreamError::NotHttp(_))));
        let head = parse_reply(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", false, true).unwrap().unwrap();
        assert!(head.body.is_empty());
    }

    #[test]
    fn json_is_required_except_for_head() {
        let r = done("HTTP/1.0 200 OK\r\n\r\n<html>nope</html>");
        assert!(matches!(validate(r.clone(), false), Err(UpstreamError::NotJson { status: 200, .. })));
        assert!(validate(r, true).is_ok());
        assert!(matches!(validate(done("HTTP/1.0 200 OK\r\n\r\n"), false), Err(UpstreamError::NotJson { .. })));
        assert!(validate(done("HTTP/1.0 200 OK\r\n\r\n[1, 2]"), false).is_ok());
    }

    #[test]
    fn requests_are_small_and_close() {
        let headers = vec![
            ("Content-Type".to_string(), b"application/json".to_vec()),
            ("Host".to_string(), b"front".to_vec()),
            ("Connection".to_string(), b"keep-alive".to_vec()),
            ("Accept-Encoding".to_string(), b"gzip".to_vec()),
            ("Content-Length".to_string(), b"99".to_vec()),
        ];
        let req = Request { method: "POST", target: "/p?a=1", headers: &headers, body: b"{\"a\":1}" };
        let text = String::from_utf8(encode_request(&req, 4000)).unwrap();
        assert_eq!(
            text,
            "POST /p?a=1 HTTP/1.1\r\nHost: 127.0.0.1:4000\r\nContent-Type: application/json\r\n\
             Content-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}"
        );
        let get = Request { method: "GET", target: "/h", headers: &[], body: b"" };
        assert!(!String::from_utf8(encode_request(&get, 1)).unwrap().contains("Content-Length"));
    }
}
