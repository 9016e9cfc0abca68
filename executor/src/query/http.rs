//! The HTTP/1.1 wire format of the front, by hand on top of `httparse`: a hyper server answers
//! malformed requests with a bare 400 of its own, while every answer of :9476 must carry the
//! contract's envelope (docs/contract.md §4.1). Request heads, bodies (length or chunked, bounded) and
//! responses; the socket handling lives in `front.rs`.

use bytes::{Buf, BytesMut};

use super::reply::Reply;

/// Most request headers accepted.
pub const MAX_HEADERS: usize = 64;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .any(|(_, v)| String::from_utf8_lossy(v).split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 only with `keep-alive`.
    pub fn keep_alive(&self) -> bool {
        if self.version >= 1 {
            !self.has_token("connection", "close")
        } else {
            self.has_token("connection", "keep-alive")
        }
    }

    pub fn expects_continue(&self) -> bool {
        self.version >= 1 && self.has_token("expect", "100-continue")
    }

    /// The body framing, refusing the ambiguous combinations used for request smuggling.
    pub fn framing(&self) -> Result<Framing, Reply> {
        let te: Vec<&[u8]> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .map(|(_, v)| &v[..])
            .collect();
        let cl: Vec<&[u8]> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| &v[..])
            .collect();
        if !te.is_empty() {
            if !cl.is_empty() {
                return Err(Reply::bad_request("both Transfer-Encoding and Content-Length are set"));
            }
            let last = String::from_utf8_lossy(te[te.len() - 1]).rsplit(',').next().unwrap_or("").trim().to_string();
            return if last.eq_ignore_ascii_case("chunked") {
                Ok(Framing::Chunked)
            } else {
                Err(Reply::bad_request("unsupported Transfer-Encoding"))
            };
        }
        let mut length = None;
        for v in cl {
            let n = std::str::from_utf8(v)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| Reply::bad_request("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(Reply::bad_request("conflicting Content-Length headers"));
            }
            length = Some(n);
        }
        Ok(length.map_or(Framing::None, Framing::Length))
    }
}

/// Parses a request head at the start of `buf`: `Ok(None)` if incomplete, else the head and its
/// length. Bare-LF line endings are accepted.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, Reply> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(n)) => {
            let head = Head {
                method: req.method.unwrap_or("GET").to_string(),
                target: req.path.unwrap_or("/").to_string(),
                version: req.version.unwrap_or(1),
                headers: req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect(),
            };
            Ok(Some((head, n)))
        }
        Err(httparse::Error::TooManyHeaders) => Err(Reply::headers_too_large()),
        Err(e) => Err(Reply::bad_request(&format!("malformed HTTP request: {e}"))),
    }
}

/// Progress of decoding a chunked body from a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunked {
    /// More bytes are needed.
    Partial,
    /// The whole body was decoded; this many bytes of the buffer were used.
    Done(usize),
}

/// Decodes a chunked body at the start of `buf` into `out` (at most `limit` bytes of payload).
/// Stateless: it re-scans from the start, which is fine for bodies bounded by `limit`.
pub fn decode_chunked(buf: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<Chunked, Reply> {
    out.clear();
    let mut pos = 0;
    loop {
        let Some(eol) = buf[pos..].iter().position(|b| *b == b'\n') else { return Ok(Chunked::Partial) };
        let line = String::from_utf8_lossy(&buf[pos..pos + eol]);
        let size_text = line.trim_end_matches('\r').split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16).map_err(|_| Reply::bad_request("invalid chunk size"))?;
        pos += eol + 1;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let Some(eol) = buf[pos..].iter().position(|b| *b == b'\n') else { return Ok(Chunked::Partial) };
                let empty = buf[pos..pos + eol].iter().all(|b| *b == b'\r');
                pos += eol + 1;
                if empty {
                    return Ok(Chunked::Done(pos));
                }
            }
        }
        if out.len().saturating_add(size) > limit {
            return Err(Reply::too_large(limit));
        }
        if buf.len() < pos + size {
            return Ok(Chunked::Partial);
        }
        out.extend_from_slice(&buf[pos..pos + size]);
        pos += size;
        // The CRLF (or LF) after the chunk data.
        match buf.get(pos..) {
            Some([b'\r', b'\n', ..]) => pos += 2,
            Some([b'\n', ..]) => pos += 1,
            Some([]) | Some([b'\r']) => return Ok(Chunked::Partial),
            _ => return Err(Reply::bad_request("malformed chunk")),
        }
    }
}

/// Hop-by-hop and framing headers: never copied from one side to the other.
pub fn is_hop_header(name: &str) -> bool {
    const HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    ];
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Serialises a response: status line, headers, our own `Content-Length` and `Connection`, body
/// (left out for HEAD requests).
pub fn write_response(reply: &Reply, keep_alive: bool, head_only: bool, out: &mut BytesMut) {
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", reply.status, reply.reason()).as_bytes());
    for (name, value) in &reply.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n", reply.body.len()).as_bytes());
    out.extend_from_slice(if keep_alive { b"Connection: keep-alive\r\n\r\n" } else { b"Connection: close\r\n\r\n" });
    if !head_only {
        out.extend_from_slice(&reply.body);
    }
}

/// Drops `n` consumed bytes from the front of `buf`.
pub fn consume(buf: &mut BytesMut, n: usize) {
    buf.advance(n.min(buf.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        parse_head(raw.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn heads_parse_with_crlf_and_bare_lf() {
        let (h, n) = parse_head(b"POST /q?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}").unwrap().unwrap();
        assert_eq!((h.method.as_str(), h.target.as_str(), h.version, n), ("POST", "/q?a=1", 1, 52));
        assert_eq!(h.framing(), Ok(Framing::Length(2)));
        let h = head("GET /x HTTP/1.0\nHost: x\n\n");
        assert_eq!(h.version, 0);
        assert!(!h.keep_alive());
        assert_eq!(parse_head(b"GET /x HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
    }

    #[test]
    fn malformed_heads_are_envelope_errors() {
        for raw in
            ["HELLO\r\n\r\n", "GET /a b c HTTP/1.1\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n", "GET / HTTP/9\r\n\r\n"]
        {
            let err = parse_head(raw.as_bytes()).unwrap_err();
            assert_eq!(err.status, 400, "{raw:?}");
        }
        let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        let err = parse_head(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).unwrap_err();
        assert_eq!(err.status, 431);
    }

    #[test]
    fn keep_alive_and_expect() {
        assert!(head("GET / HTTP/1.1\r\n\r\n").keep_alive());
        assert!(!head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
        assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
        assert!(head("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expects_continue());
    }

    #[test]
    fn framing_rules() {
        for (raw, want) in [
            ("GET / HTTP/1.1\r\n\r\n", Ok(Framing::None)),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(Framing::Chunked)),
            ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", Ok(Framing::Length(3))),
            ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", Err(400)),
        ] {
            assert_eq!(head(raw).framing().map_err(|r| r.status), want, "{raw:?}");
        }
    }

    #[test]
    fn chunked_bodies() {
        let mut out = Vec::new();
        let body = b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\nNEXT";
        assert_eq!(decode_chunked(body, &mut out, 100), Ok(Chunked::Done(body.len() - 4)));
        assert_eq!(out, b"abcde");
        assert_eq!(decode_chunked(b"3\nabc\n0\n\n", &mut out, 100), Ok(Chunked::Done(9)));
        assert_eq!(decode_chunked(b"3\r\nab", &mut out, 100), Ok(Chunked::Partial));
        assert_eq!(decode_chunked(b"3\r\nabc\r\n0\r\n", &mut out, 100), Ok(Chunked::Partial));
        assert_eq!(decode_chunked(b"zz\r\n", &mut out, 100).unwrap_err().status, 400);
        assert_eq!(decode_chunked(b"65\r\n", &mut out, 100).unwrap_err().status, 413);
    }

    #[test]
    fn responses_are_framed() {
        let mut out = BytesMut::new();
        write_response(&Reply::error(503, "starting"), true, false, &mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text}");
        assert!(text.contains("Content-Type: application/json\r\n"));
        assert!(text.contains("Connection: keep-alive\r\n\r\n"));
        assert!(text.ends_with(r#"{"status":"error","error":"starting"}"#));
        let mut out = BytesMut::new();
        write_response(&Reply::error(404, "x"), false, true, &mut out);
        assert!(String::from_utf8(out.to_vec()).unwrap().ends_with("Connection: close\r\n\r\n"));
    }
}
