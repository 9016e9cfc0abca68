//! The status page's HTTP answers: `text/html; charset=utf-8` always, a strict
//! Content-Security-Policy (nothing may load or run; the one inline stylesheet is allowed by its
//! SHA-256), no sniffing, no framing, no caching, and a 401 that asks a browser for HTTP Basic
//! credentials (any user, the admin token as the password).

use std::sync::LazyLock;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::render::{self, CSS};
use crate::http::Resp;

/// The Content-Security-Policy of every page: no script, no connection, no external anything.
pub static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = ring::digest::digest(&ring::digest::SHA256, CSS.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(hash.as_ref());
    format!(
        "default-src 'none'; style-src 'sha256-{b64}'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
});

/// An HTML answer with the page's headers.
pub fn html(status: StatusCode, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    r
}

/// A page saying one thing, with `status`.
pub fn message(status: StatusCode, title: &str, text: &str) -> Resp {
    html(status, render::message(title, text))
}

/// 401 with `WWW-Authenticate: Basic realm="the0"`: a browser asks for the token.
pub fn unauthorized() -> Resp {
    let mut r = message(
        StatusCode::UNAUTHORIZED,
        "sign in",
        "This page needs the admin token: any user name, the token (THE0_ADMIN_TOKEN) as the password.",
    );
    r.headers_mut()
        .insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"the0\", charset=\"UTF-8\""));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_answer_is_html_under_the_policy() {
        for r in [html(StatusCode::OK, "<p>".into()), message(StatusCode::NOT_FOUND, "a", "b"), unauthorized()] {
            let h = r.headers();
            assert_eq!(h["content-type"], "text/html; charset=utf-8");
            let csp = h["content-security-policy"].to_str().expect("ascii");
            assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
            assert_eq!(h["x-content-type-options"], "nosniff");
        }
        let r = unauthorized();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"the0\", charset=\"UTF-8\"");
    }
}
