//! Pure rules of a query's request target, shared by the executor's :9476 front and the host's
//! :9477 server: JSON-body parameters appended to the URL query string (D20), percent-encoding of
//! those parameters, and validation of the request path. Kept free of I/O so every rule is
//! table-tested.
//!
//! SDK query servers read parameters only from the URL query string (docs/contract.md §4.1); some decode
//! it (Python), some do not (Rust). So only what must be encoded is encoded: everything outside
//! RFC 3986's unreserved set (`A-Z a-z 0-9 - . _ ~`), i.e. the reserved characters plus the bytes
//! that cannot appear in a URL at all. A Rust handler thus sees `BTC-USD` as is.

/// Why a request target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request target must be a path starting with '/'")]
    NotAPath,
    #[error("the query path contains a '..' segment")]
    DotDot,
    #[error("the query path contains a control character")]
    Control,
    #[error("the query path contains an invalid percent-encoding")]
    BadEscape,
}

/// Percent-encodes `s` for a query-string key or value: every byte outside the unreserved set.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `key=value` pairs for the top-level members of a JSON object body: strings raw, every other
/// value as compact JSON. Anything that is not a JSON object gives no pairs (the body is still
/// forwarded as is).
pub fn body_params(body: &[u8]) -> Vec<(String, String)> {
    if body.is_empty() {
        return Vec::new();
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    map.into_iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, value)
        })
        .collect()
}

/// Appends the body's parameters to `target` (`/path[?query]`): `?` if there is no query string
/// yet, else `&` (none when the query is empty or ends in `&`). Parameters already in the URL come
/// first, so a server that takes the first value of a repeated key keeps the URL's. A pair already
/// in the URL with the same value is not added again, so merging is idempotent: the host's :9477
/// server appends the parameters itself and the container's :9476 front then adds nothing.
pub fn merge_target(target: &str, body: &[u8]) -> String {
    let pairs = body_params(body);
    if pairs.is_empty() {
        return target.to_string();
    }
    let existing: Vec<&str> = target.split_once('?').map_or(Vec::new(), |(_, q)| q.split('&').collect());
    let mut out = String::with_capacity(target.len() + 16 * pairs.len());
    out.push_str(target);
    let mut first = true;
    for (k, v) in &pairs {
        let pair = format!("{}={}", encode_component(k), encode_component(v));
        if existing.contains(&pair.as_str()) {
            continue;
        }
        if first {
            // Only the first `?` starts the query; a later `?` is a literal character of it.
            match target.split_once('?') {
                None => out.push('?'),
                Some((_, query)) if query.is_empty() || query.ends_with('&') => {}
                Some(_) => out.push('&'),
            }
            first = false;
        } else {
            out.push('&');
        }
        out.push_str(&pair);
    }
    out
}

/// Decodes `%XX` escapes (no `+` rule: this is a path).
pub fn percent_decode(s: &str) -> Result<Vec<u8>, PathError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
            let hi = (hex[0] as char).to_digit(16).ok_or(PathError::BadEscape)?;
            let lo = (hex[1] as char).to_digit(16).ok_or(PathError::BadEscape)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Normalises a request target to origin form (`/path[?query]`) and validates its path: no `..`
/// segment and no control character, before or after percent-decoding. An absolute-form target
/// (`http://host/p?q`) is reduced to its path and query.
pub fn validate_target(target: &str) -> Result<String, PathError> {
    // An absolute form whose path is empty (`http://host?q`) becomes `/?q`, checked like any other
    // target (the fuzz target `query_target` found that it used to skip the checks below).
    let owned;
    let origin = match target.find("://") {
        Some(i) if !target.starts_with('/') => match target[i + 3..].find(['/', '?']) {
            Some(j) if target[i + 3 + j..].starts_with('/') => &target[i + 3 + j..],
            Some(j) => {
                owned = format!("/{}", &target[i + 3 + j..]);
                owned.as_str()
            }
            None => "/",
        },
        _ => target,
    };
    if !origin.starts_with('/') {
        return Err(PathError::NotAPath);
    }
    if origin.bytes().any(|b| b.is_ascii_control()) {
        return Err(PathError::Control);
    }
    let path = origin.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path)?;
    if decoded.iter().any(|b| b.is_ascii_control()) {
        return Err(PathError::Control);
    }
    if decoded.split(|b| *b == b'/' || *b == b'\\').any(|seg| seg == b"..") {
        return Err(PathError::DotDot);
    }
    Ok(origin.to_string())
}

/// The path part of an origin-form target (what SDKs route on).
pub fn path_of(target: &str) -> &str {
    target.split(['?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_unreserved_only() {
        for (input, want) in [
            ("BTC-USD_1.0~x", "BTC-USD_1.0~x"),
            ("a b", "a%20b"),
            ("x&y=z", "x%26y%3Dz"),
            ("BTC/USD", "BTC%2FUSD"),
            ("?#[]@!$'()*+,;:", "%3F%23%5B%5D%40%21%24%27%28%29%2A%2B%2C%3B%3A"),
            ("100%", "100%25"),
            ("é", "%C3%A9"),
            ("\n\"<>", "%0A%22%3C%3E"),
            ("", ""),
        ] {
            assert_eq!(encode_component(input), want, "{input:?}");
        }
    }

    #[test]
    fn body_parameters_are_merged_into_the_target() {
        for (target, body, want) in [
            ("/p", r#"{"symbol":"BTC"}"#, "/p?symbol=BTC"),
            ("/p?a=1", r#"{"b":"2"}"#, "/p?a=1&b=2"),
            ("/p?", r#"{"b":"2"}"#, "/p?b=2"),
            ("/p?a=1&", r#"{"b":"2"}"#, "/p?a=1&b=2"),
            ("/p", r#"{"n":5,"f":1.5,"t":true,"z":null}"#, "/p?f=1.5&n=5&t=true&z=null"),
            ("/p", r#"{"deep":{"a":[1,"x"]}}"#, "/p?deep=%7B%22a%22%3A%5B1%2C%22x%22%5D%7D"),
            ("/p", r#"{"q":"a b&c=d"}"#, "/p?q=a%20b%26c%3Dd"),
            ("/p", r#"{"k y":"v"}"#, "/p?k%20y=v"),
            ("/p", r#"{}"#, "/p"),
            ("/p", r#"[1,2]"#, "/p"),
            ("/p", r#""text""#, "/p"),
            ("/p", "not json", "/p"),
            ("/p", "", "/p"),
            ("/p?a=1", r#"{"a":"2"}"#, "/p?a=1&a=2"),
            // Idempotent: pairs the URL already has (as the host sends them) are not repeated.
            ("/p?symbol=BTC", r#"{"symbol":"BTC"}"#, "/p?symbol=BTC"),
            ("/p?q=a%20b&n=5", r#"{"n":5,"q":"a b","x":"y"}"#, "/p?q=a%20b&n=5&x=y"),
            ("/p?n=5", r#"{"n":6,"m":1}"#, "/p?n=5&m=1&n=6"),
            // Found by fuzzing: a `?` inside the query is a literal, not where the query starts,
            // so a query ending in one still gets `&` (else the second merge could not see the pair).
            ("/p?a=b?", r#"{"limit":1}"#, "/p?a=b?&limit=1"),
            ("/p?a=b?&limit=1", r#"{"limit":1}"#, "/p?a=b?&limit=1"),
        ] {
            assert_eq!(merge_target(target, body.as_bytes()), want, "{target} + {body}");
        }
    }

    #[test]
    fn big_integers_keep_their_text() {
        assert_eq!(merge_target("/p", br#"{"id":12345678901234567890}"#), "/p?id=12345678901234567890");
    }

    #[test]
    fn targets_are_validated() {
        for (target, want) in [
            ("/portfolio", Ok("/portfolio")),
            ("/a/b?x=1&y=..", Ok("/a/b?x=1&y=..")),
            ("/a/..b/c", Ok("/a/..b/c")),
            ("/", Ok("/")),
            ("http://host:9476/p?q=1", Ok("/p?q=1")),
            ("http://host:9476", Ok("/")),
            ("http://host?q=1", Ok("/?q=1")),
            // Found by fuzzing: an absolute form with an empty path skipped the checks.
            ("http://host:94\x01?/a/b\x17", Err(PathError::Control)),
            ("/a/../b", Err(PathError::DotDot)),
            ("/..", Err(PathError::DotDot)),
            ("/a/%2e%2e/b", Err(PathError::DotDot)),
            ("/a/%2E%2E", Err(PathError::DotDot)),
            ("/a\\..\\b", Err(PathError::DotDot)),
            ("/a%00b", Err(PathError::Control)),
            ("/a%0d%0aX: y", Err(PathError::Control)),
            ("/a\tb", Err(PathError::Control)),
            ("/a%zz", Err(PathError::BadEscape)),
            ("/a%2", Err(PathError::BadEscape)),
            ("*", Err(PathError::NotAPath)),
            ("portfolio", Err(PathError::NotAPath)),
        ] {
            let got = validate_target(target);
            assert_eq!(got.as_deref().map_err(Clone::clone), want, "{target}");
        }
        assert_eq!(path_of("/p?x=1#f"), "/p");
    }
}
