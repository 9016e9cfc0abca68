//! The few frames of the NATS client protocol a publisher needs: reading `INFO`, `PING`, `PONG`,
//! `+OK` and `-ERR` from the server, writing `CONNECT`, `PUB`, `PING` and `PONG`. Pure byte
//! formatting and parsing, kept apart from the I/O so the framing is table-tested.

use serde::{Deserialize, Serialize};

use super::servers::Auth;

pub const PING: &[u8] = b"PING\r\n";
pub const PONG: &[u8] = b"PONG\r\n";

/// The server's `INFO` fields the publisher cares about.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Info {
    /// Largest payload the server accepts (1 MiB by default).
    #[serde(default)]
    pub max_payload: Option<u64>,
    /// The server only speaks TLS: the client upgrades after this `INFO`.
    #[serde(default)]
    pub tls_required: bool,
    /// The server accepts TLS without requiring it (`allow_non_tls`).
    #[serde(default)]
    pub tls_available: bool,
}

/// One line from the server (without its `\r\n`).
#[derive(Debug, PartialEq, Eq)]
pub enum ServerOp<'a> {
    Info(Info),
    Ping,
    Pong,
    Ok,
    /// `-ERR '<message>'`, quotes removed.
    Err(String),
    /// Anything else, including an `INFO` whose JSON does not parse.
    Unknown(&'a str),
}

/// Parses one server line; operation names are case-insensitive, as the server's own parser.
pub fn parse_op(line: &[u8]) -> ServerOp<'_> {
    let line = std::str::from_utf8(line).unwrap_or("").trim_end_matches(['\r', '\n']);
    let (op, rest) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    match op.to_ascii_uppercase().as_str() {
        "PING" => ServerOp::Ping,
        "PONG" => ServerOp::Pong,
        "+OK" => ServerOp::Ok,
        "-ERR" => ServerOp::Err(rest.trim_matches('\'').to_string()),
        "INFO" => match serde_json::from_str::<Info>(rest) {
            Ok(info) => ServerOp::Info(info),
            Err(_) => ServerOp::Unknown(line),
        },
        _ => ServerOp::Unknown(line),
    }
}

#[derive(Serialize)]
struct Connect<'a> {
    verbose: bool,
    pedantic: bool,
    name: &'a str,
    lang: &'a str,
    version: &'a str,
    protocol: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pass: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_token: Option<&'a str>,
    tls_required: bool,
}

/// The `CONNECT {...}\r\n` line: no `+OK` acknowledgements, credentials from the URL.
pub fn connect_line(auth: &Auth, tls: bool) -> Vec<u8> {
    let (user, pass, auth_token) = match auth {
        Auth::None => (None, None, None),
        Auth::UserPass { user, pass } => (Some(user.as_str()), Some(pass.as_str()), None),
        Auth::Token(t) => (None, None, Some(t.as_str())),
    };
    let c = Connect {
        verbose: false,
        pedantic: false,
        name: "the0-runtime",
        lang: "rust",
        version: the0_contract::VERSION,
        protocol: 1,
        user,
        pass,
        auth_token,
        tls_required: tls,
    };
    let mut out = b"CONNECT ".to_vec();
    // Serialising a struct of strings and bools cannot fail.
    out.extend_from_slice(serde_json::to_string(&c).unwrap_or_default().as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// A subject the server will accept in `PUB`: non-empty, no white space, no empty tokens.
pub fn valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && !subject.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        && subject.split('.').all(|token| !token.is_empty())
}

/// Appends `PUB <subject> <len>\r\n<payload>\r\n` to `out`.
pub fn push_pub(out: &mut Vec<u8>, subject: &str, payload: &[u8]) {
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_lines() {
        let info = br#"INFO {"server_id":"X","version":"2.9.10","max_payload":1048576,"headers":true}"#;
        assert_eq!(
            parse_op(info),
            ServerOp::Info(Info { max_payload: Some(1_048_576), tls_required: false, tls_available: false })
        );
        assert_eq!(
            parse_op(b"INFO {\"tls_required\":true}\r\n"),
            ServerOp::Info(Info { max_payload: None, tls_required: true, tls_available: false })
        );
        assert_eq!(parse_op(b"INFO\t{}\r\n"), ServerOp::Info(Info::default()));
        assert_eq!(parse_op(b"PING\r\n"), ServerOp::Ping);
        assert_eq!(parse_op(b"ping"), ServerOp::Ping);
        assert_eq!(parse_op(b"PONG\r\n"), ServerOp::Pong);
        assert_eq!(parse_op(b"+OK\r\n"), ServerOp::Ok);
        assert_eq!(parse_op(b"-ERR 'Authorization Violation'\r\n"), ServerOp::Err("Authorization Violation".into()));
        assert_eq!(parse_op(b"-ERR\r\n"), ServerOp::Err(String::new()));
        assert_eq!(parse_op(b"INFO {broken"), ServerOp::Unknown("INFO {broken"));
        assert_eq!(parse_op(b"MSG a 1 2"), ServerOp::Unknown("MSG a 1 2"));
        assert_eq!(parse_op(b"\xff\r\n"), ServerOp::Unknown(""));
    }

    #[test]
    fn connect_carries_identity_and_credentials() {
        let parse = |auth: &Auth| -> serde_json::Value {
            let line = connect_line(auth, false);
            assert!(line.starts_with(b"CONNECT {") && line.ends_with(b"}\r\n"));
            serde_json::from_slice(&line[8..line.len() - 2]).unwrap()
        };
        let v = parse(&Auth::None);
        assert_eq!(v["verbose"], false);
        assert_eq!(v["pedantic"], false);
        assert_eq!(v["name"], "the0-runtime");
        assert_eq!(v["lang"], "rust");
        assert_eq!(v["version"], the0_contract::VERSION);
        assert_eq!(v["protocol"], 1);
        assert!(v.get("user").is_none() && v.get("auth_token").is_none());
        let v = parse(&Auth::UserPass { user: "u\"x".into(), pass: "p w".into() });
        assert_eq!((v["user"].as_str(), v["pass"].as_str()), (Some("u\"x"), Some("p w")));
        assert!(v.get("auth_token").is_none());
        assert_eq!(v["tls_required"], false);
        let v: serde_json::Value = {
            let line = connect_line(&Auth::None, true);
            serde_json::from_slice(&line[8..line.len() - 2]).unwrap()
        };
        assert_eq!(v["tls_required"], true);
        let v = parse(&Auth::Token("tok".into()));
        assert_eq!(v["auth_token"], "tok");
        assert!(v.get("user").is_none());
    }

    #[test]
    fn pub_frames() {
        let mut out = Vec::new();
        push_pub(&mut out, "the0.bot.logs.b1", b"a\nb\r\n");
        push_pub(&mut out, "s", b"");
        assert_eq!(out, b"PUB the0.bot.logs.b1 5\r\na\nb\r\n\r\nPUB s 0\r\n\r\n");
    }

    #[test]
    fn subjects() {
        for (s, ok) in [
            ("the0.bot.logs.b1", true),
            ("the0.bot.logs._-x", true),
            ("", false),
            ("a b", false),
            ("a\r\nPUB x", false),
            ("a..b", false),
            (".a", false),
            ("a.", false),
        ] {
            assert_eq!(valid_subject(s), ok, "{s:?}");
        }
    }
}
