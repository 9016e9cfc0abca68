//! Parsing `NATS_URL`: a comma-separated list of `[nats://|tls://][user:pass@|token@]host[:port][/]`
//! (docs/contract.md §2.2), as the Go client accepts it. Pure, so each accepted and refused shape is
//! table-tested; errors name the offending entry (with any credentials masked).

use super::NatsError;

pub const DEFAULT_PORT: u16 = 4222;

/// Credentials carried in a server URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `user:pass@` (an empty password is allowed).
    UserPass {
        user: String,
        pass: String,
    },
    /// `token@`: a bare user part is a token, as in the Go client.
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPass { user, .. } => write!(f, "UserPass({user:?}, ***)"),
            Auth::Token(_) => f.write_str("Token(***)"),
        }
    }
}

/// One server of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub auth: Auth,
    /// `tls://`: TLS is required even if the server does not demand it.
    pub tls: bool,
}

impl std::fmt::Display for ServerAddr {
    /// `host:port` only: never prints credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `entry` with any user info replaced by `***`, for error messages.
fn masked(entry: &str) -> String {
    let (scheme, rest) = match entry.find("://") {
        Some(i) => entry.split_at(i + 3),
        None => ("", entry),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => entry.to_string(),
    }
}

/// `%XX` decoding of URL user info; an invalid escape is kept literally.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_one(entry: &str) -> Result<ServerAddr, NatsError> {
    let bad = |reason: &str| NatsError::BadServer { server: masked(entry), reason: reason.to_string() };
    let (rest, tls) = match entry.split_once("://") {
        None => (entry, false),
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "nats" => (rest, false),
            "tls" => (rest, true),
            _ => return Err(bad(&format!("unsupported scheme {scheme:?} (only nats:// and tls:// are supported)"))),
        },
    };
    // The authority ends at the first `/`, `?` or `#`; what follows is ignored, as in the Go client.
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    let auth = match userinfo {
        None => Auth::None,
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => Auth::UserPass { user: percent_decode(user), pass: percent_decode(pass) },
            None if u.is_empty() => Auth::None,
            None => Auth::Token(percent_decode(u)),
        },
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '[' in IPv6 address"))?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or_else(|| bad("junk after IPv6 address"))?)),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains(':') && !hostport.starts_with('[') {
        return Err(bad("IPv6 addresses must be in brackets"));
    }
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad(&format!("invalid port {p:?}"))),
        },
    };
    Ok(ServerAddr { host: host.to_string(), port, auth, tls })
}

/// Parses the whole list; empty entries (stray commas, spaces) are skipped.
pub fn parse_servers(list: &str) -> Result<Vec<ServerAddr>, NatsError> {
    let servers =
        list.split(',').map(str::trim).filter(|e| !e.is_empty()).map(parse_one).collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(NatsError::NoServers);
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(host: &str, port: u16, auth: Auth) -> ServerAddr {
        ServerAddr { host: host.into(), port, auth, tls: false }
    }

    #[test]
    fn accepted_shapes() {
        let up = |u: &str, p: &str| Auth::UserPass { user: u.into(), pass: p.into() };
        for (input, want) in [
            ("nats://127.0.0.1:4222", vec![addr("127.0.0.1", 4222, Auth::None)]),
            ("nats://nats", vec![addr("nats", 4222, Auth::None)]),
            ("nats:4223", vec![addr("nats", 4223, Auth::None)]),
            ("localhost", vec![addr("localhost", 4222, Auth::None)]),
            ("NATS://h:1/", vec![addr("h", 1, Auth::None)]),
            ("nats://h:", vec![addr("h", 4222, Auth::None)]),
            ("nats://u:p@h:5", vec![addr("h", 5, up("u", "p"))]),
            ("nats://u:@h", vec![addr("h", 4222, up("u", ""))]),
            ("nats://s3cr%40t@h", vec![addr("h", 4222, Auth::Token("s3cr@t".into()))]),
            ("nats://u%3Ax:p%2Fw%zz@h", vec![addr("h", 4222, up("u:x", "p/w%zz"))]),
            ("nats://u:p@ss@h", vec![addr("h", 4222, up("u", "p@ss"))]),
            ("nats://@h", vec![addr("h", 4222, Auth::None)]),
            ("nats://[::1]:4333", vec![addr("::1", 4333, Auth::None)]),
            ("[fe80::1]", vec![addr("fe80::1", 4222, Auth::None)]),
            ("TLS://u:p@h:4443", vec![ServerAddr { tls: true, ..addr("h", 4443, up("u", "p")) }]),
            ("tls://h", vec![ServerAddr { tls: true, ..addr("h", 4222, Auth::None) }]),
            (
                " nats://a:1 , ,b:2,nats://t@c ",
                vec![addr("a", 1, Auth::None), addr("b", 2, Auth::None), addr("c", 4222, Auth::Token("t".into()))],
            ),
        ] {
            assert_eq!(parse_servers(input).unwrap(), want, "input {input:?}");
        }
    }

    #[test]
    fn refused_shapes_name_the_entry_without_secrets() {
        for (input, fragment) in [
            ("", "no NATS server"),
            (" , ", "no NATS server"),
            ("nats://a:1,tls://u:pw@b:x", "invalid port"),
            ("ws://h", "unsupported scheme"),
            ("nats://:4222", "no host"),
            ("nats://h:abc", "invalid port"),
            ("nats://h:0", "invalid port"),
            ("nats://h:70000", "invalid port"),
            ("nats://[::1", "unclosed"),
            ("nats://[::1]x", "junk"),
            ("nats://::1", "brackets"),
            ("nats://user:hunter2@h:abc", "invalid port"),
        ] {
            let err = parse_servers(input).unwrap_err().to_string();
            assert!(err.contains(fragment), "input {input:?}: {err}");
            assert!(!err.contains("hunter2") && !err.contains("pw@"), "secret leaked: {err}");
        }
    }

    #[test]
    fn display_and_debug_hide_credentials() {
        let a = parse_servers("nats://u:hunter2@h:1,nats://tok@[::1]").unwrap();
        assert_eq!(a[0].to_string(), "h:1");
        assert_eq!(a[1].to_string(), "[::1]:4222");
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("tok\""), "{dbg}");
    }
}
