//! TLS for the NATS connection (`tls://` URLs, or a server whose `INFO` says `tls_required`), with
//! the rustls + ring stack the S3 client already links. NATS starts in plain text: the server sends
//! `INFO`, then the client upgrades the same TCP connection before `CONNECT`.
//!
//! Trusted roots, in order: the PEM bundle named by `SSL_CERT_FILE`; else the system bundle
//! (`/etc/ssl/certs/ca-certificates.crt`) if present; else the compiled-in Mozilla roots
//! (webpki-roots). The server name checked is the URL's host (a DNS name or an IP address).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The system bundle on Debian-like images (the0's bot images are Debian based).
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Names a PEM bundle that replaces the default roots.
pub const CA_FILE_ENV: &str = "SSL_CERT_FILE";

/// Where the trusted roots came from (logged once, so an operator sees which bundle is used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    File(PathBuf),
    Builtin,
}

impl std::fmt::Display for RootSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootSource::File(p) => write!(f, "{}", p.display()),
            RootSource::Builtin => f.write_str("built-in Mozilla roots"),
        }
    }
}

impl RootSource {
    /// From `SSL_CERT_FILE` and the system bundle's presence.
    pub fn from_env() -> RootSource {
        let ca_env = std::env::var(CA_FILE_ENV).ok();
        root_source(ca_env.as_deref(), Path::new(SYSTEM_BUNDLE).exists())
    }
}

/// Which roots to load, from `SSL_CERT_FILE` (if set and non-empty) and whether the system
/// bundle exists. Pure, so each case is table-tested.
pub fn root_source(ca_file_env: Option<&str>, system_bundle_exists: bool) -> RootSource {
    match ca_file_env.map(str::trim).filter(|s| !s.is_empty()) {
        Some(p) => RootSource::File(PathBuf::from(p)),
        None if system_bundle_exists => RootSource::File(PathBuf::from(SYSTEM_BUNDLE)),
        None => RootSource::Builtin,
    }
}

/// A client configuration for NATS; the error names the bundle and what was wrong with it.
pub fn client_config(source: &RootSource) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match source {
        RootSource::Builtin => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        RootSource::File(path) => {
            let added = load_pem(&mut roots, path)?;
            if added == 0 {
                return Err(format!("CA bundle {}: no usable certificate in it", path.display()));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn load_pem(roots: &mut rustls::RootCertStore, path: &Path) -> Result<usize, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("CA bundle {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA bundle {}: {e}", path.display()))?;
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    Ok(added)
}

/// The name the server's certificate must carry: the URL's host.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?} is not a valid TLS server name: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_source_order() {
        for (env, system, want) in [
            (Some("/ca.pem"), true, RootSource::File("/ca.pem".into())),
            (Some("/ca.pem"), false, RootSource::File("/ca.pem".into())),
            (Some("  "), true, RootSource::File(SYSTEM_BUNDLE.into())),
            (None, true, RootSource::File(SYSTEM_BUNDLE.into())),
            (None, false, RootSource::Builtin),
            (Some(""), false, RootSource::Builtin),
        ] {
            assert_eq!(root_source(env, system), want, "{env:?} {system}");
        }
    }

    #[test]
    fn bad_bundles_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        for (path, fragment) in [(empty, "no usable certificate"), (missing, "missing.pem")] {
            let err = client_config(&RootSource::File(path)).unwrap_err();
            assert!(err.contains(fragment), "{err}");
        }
        assert!(client_config(&RootSource::Builtin).is_ok());
    }

    #[test]
    fn server_names() {
        assert!(server_name("nats.example").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("::1").is_ok());
        assert!(server_name("bad name").is_err());
    }
}
