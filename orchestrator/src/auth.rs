//! Bearer-token checks of the admin API and the :9477 query API, in constant time, and HTTP Basic
//! with the token as the password for the status page (`/ui`), which a browser can send.
//!
//! Why it exists: a plain `==` on the token returns at the first differing byte, so the time of a
//! refusal tells an attacker how much of a guess was right. Both servers call [`bearer_ok`].

use base64::Engine as _;

/// Whether an `Authorization` header value carries `Bearer <token>`. The comparison takes the
/// same time wherever the first difference is (it depends only on the lengths).
pub fn bearer_ok(header: Option<&str>, token: &str) -> bool {
    let got = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("");
    constant_time_eq(got.as_bytes(), token.as_bytes())
}

/// Whether an `Authorization` header value carries `Basic base64(user:token)`: any user name,
/// the token as the password (compared in constant time).
pub fn basic_ok(header: Option<&str>, token: &str) -> bool {
    let decoded = header
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .unwrap_or_default();
    let password = decoded.iter().position(|&b| b == b':').map_or(&[][..], |i| &decoded[i + 1..]);
    // An empty token is never a password: a header without one must not pass.
    !password.is_empty() && constant_time_eq(password, token.as_bytes())
}

/// Byte equality whose time does not depend on where the inputs differ: a xor fold over every
/// byte of the expected value (a different length is folded in as well, never returned early).
pub fn constant_time_eq(got: &[u8], want: &[u8]) -> bool {
    let mut diff = (got.len() ^ want.len()) as u64;
    for (i, w) in want.iter().enumerate() {
        let g = got.get(i).copied().unwrap_or(!w);
        diff |= u64::from(g ^ w);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_table() {
        let rows: &[(&[u8], &[u8], bool)] = &[
            (b"secret", b"secret", true),
            (b"", b"", true),
            (b"secreT", b"secret", false),
            (b"Secret", b"secret", false),
            (b"secre", b"secret", false),
            (b"secrets", b"secret", false),
            (b"", b"secret", false),
            (b"secret", b"", false),
            // A prefix padded with the complement must not pass.
            (b"sec", b"sec\0", false),
        ];
        for (got, want, eq) in rows {
            assert_eq!(constant_time_eq(got, want), *eq, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn basic_header_table() {
        use base64::engine::general_purpose::STANDARD;
        let b = |s: &str| format!("Basic {}", STANDARD.encode(s));
        let rows: Vec<(Option<String>, bool)> = vec![
            (Some(b("admin:tok")), true),
            (Some(b(":tok")), true),
            (Some(b("anyone:tok")), true),
            (Some(b("admin:tok2")), false),
            (Some(b("admin:to")), false),
            (Some(b("tok")), false),
            (Some(b("tok:")), false),
            (Some(b("a:b:tok")), false),
            (Some(format!("basic {}", STANDARD.encode("a:tok"))), false),
            (Some("Basic !!!".into()), false),
            (Some("Bearer tok".into()), false),
            (None, false),
        ];
        for (h, ok) in rows {
            assert_eq!(basic_ok(h.as_deref(), "tok"), ok, "{h:?}");
        }
    }

    #[test]
    fn bearer_header_table() {
        let rows: &[(Option<&str>, bool)] = &[
            (Some("Bearer tok"), true),
            (Some("Bearer tok2"), false),
            (Some("bearer tok"), false),
            (Some("tok"), false),
            (Some("Bearer "), false),
            (None, false),
        ];
        for (h, ok) in rows {
            assert_eq!(bearer_ok(*h, "tok"), *ok, "{h:?}");
        }
    }
}
