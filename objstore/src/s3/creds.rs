//! Where an S3 store's keys come from. Fixed keys (the shared deployment keys) or a credentials
//! file that another process rewrites: with per-bot scoped credentials (issue #10) the
//! orchestrator obtains temporary keys by STS AssumeRole and rewrites this file, bind-mounted
//! read-only into the container, well before they expire. A container's environment cannot
//! change, so the executor re-reads the file whenever it changed (checked before every request:
//! one `stat`), and a temporary key's session token travels as `x-amz-security-token`.
//!
//! File format (JSON object, at most 64 KiB):
//! `{"access_key":"…","secret_key":"…","session_token":"…","expiration_unix":1765000000}`;
//! `session_token` and `expiration_unix` are optional.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Error, Result};

/// Largest credentials file we read.
const MAX_FILE: u64 = 64 * 1024;

/// One set of keys. `Debug` never shows the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    /// Set for temporary credentials (STS); sent as `x-amz-security-token`.
    pub session_token: Option<String>,
    /// When temporary credentials stop working.
    pub expiration: Option<SystemTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

impl Credentials {
    /// The JSON document of the credentials file.
    pub fn to_json(&self) -> String {
        let mut v = serde_json::json!({ "access_key": self.access_key, "secret_key": self.secret_key });
        if let Some(t) = &self.session_token {
            v["session_token"] = serde_json::Value::from(t.as_str());
        }
        if let Some(e) = self.expiration {
            v["expiration_unix"] = serde_json::Value::from(e.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs());
        }
        v.to_string()
    }

    /// Parses the credentials file's JSON; `what` names the file in errors.
    pub fn from_json(text: &str, what: &str) -> Result<Credentials> {
        let bad = |why: &str| Error::Invalid(format!("credentials file {what}: {why}"));
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let text_field = |name: &str, required: bool| -> Result<Option<String>> {
            match obj.get(name) {
                None | Some(serde_json::Value::Null) if !required => Ok(None),
                None | Some(serde_json::Value::Null) => Err(bad(&format!("{name} is missing"))),
                Some(serde_json::Value::String(s)) if s.is_empty() && required => Err(bad(&format!("{name} is empty"))),
                Some(serde_json::Value::String(s)) if s.chars().any(char::is_control) => {
                    Err(bad(&format!("{name} contains a control character")))
                }
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(&format!("{name} is not a string"))),
            }
        };
        let access_key = text_field("access_key", true)?.unwrap_or_default();
        let secret_key = text_field("secret_key", true)?.unwrap_or_default();
        let session_token = text_field("session_token", false)?.filter(|t| !t.is_empty());
        let expiration = match obj.get("expiration_unix") {
            None | Some(serde_json::Value::Null) => None,
            Some(e) => {
                let secs = e.as_u64().ok_or_else(|| bad("expiration_unix is not a whole number of seconds"))?;
                Some(UNIX_EPOCH + Duration::from_secs(secs))
            }
        };
        Ok(Credentials { access_key, secret_key, session_token, expiration })
    }
}

/// What identifies one version of the file without reading it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(meta: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp { modified: meta.modified().ok(), len: meta.len(), inode: meta.ino() }
}

/// A credentials file, re-read whenever its inode, size or mtime changed (an atomic rewrite by
/// rename always changes the inode).
pub struct CredentialsFile {
    path: PathBuf,
    cached: Mutex<Option<(Stamp, Arc<Credentials>)>>,
}

impl CredentialsFile {
    /// Reads the file once now, so a missing or malformed file is an error at startup.
    pub fn open(path: impl Into<PathBuf>) -> Result<CredentialsFile> {
        let file = CredentialsFile { path: path.into(), cached: Mutex::new(None) };
        file.current()?;
        Ok(file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials the file holds now.
    pub fn current(&self) -> Result<Arc<Credentials>> {
        let what = self.path.display().to_string();
        let io = |e: std::io::Error| Error::Invalid(format!("credentials file {what}: {e}"));
        let meta = std::fs::metadata(&self.path).map_err(io)?;
        if !meta.is_file() {
            return Err(Error::Invalid(format!("credentials file {what}: not a regular file")));
        }
        if meta.len() > MAX_FILE {
            return Err(Error::Invalid(format!("credentials file {what}: larger than {MAX_FILE} bytes")));
        }
        let now = stamp(&meta);
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, c)) = cached.as_ref() {
            if *s == now {
                return Ok(c.clone());
            }
        }
        let text = std::fs::read_to_string(&self.path).map_err(io)?;
        let creds = Arc::new(Credentials::from_json(&text, &what)?);
        *cached = Some((now, creds.clone()));
        Ok(creds)
    }
}

/// Where a store gets the keys it signs with.
pub enum CredentialSource {
    Fixed(Arc<Credentials>),
    File(CredentialsFile),
}

impl CredentialSource {
    pub(crate) fn current(&self) -> Result<Arc<Credentials>> {
        match self {
            CredentialSource::Fixed(c) => Ok(c.clone()),
            CredentialSource::File(f) => f.current(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_errors() {
        let full = Credentials {
            access_key: "AK".into(),
            secret_key: "S/K+=".into(),
            session_token: Some("tok en".into()),
            expiration: Some(UNIX_EPOCH + Duration::from_secs(1_765_000_000)),
        };
        assert_eq!(Credentials::from_json(&full.to_json(), "f").expect("round trip"), full);
        let bare = Credentials { session_token: None, expiration: None, ..full.clone() };
        assert_eq!(Credentials::from_json(&bare.to_json(), "f").expect("round trip"), bare);

        let cases: &[(&str, Option<&str>)] = &[
            (r#"{"access_key":"a","secret_key":"s"}"#, None),
            (r#"{"access_key":"a","secret_key":"s","session_token":"","expiration_unix":null}"#, None),
            (r#"{"access_key":"a"}"#, Some("secret_key is missing")),
            (r#"{"access_key":"","secret_key":"s"}"#, Some("access_key is empty")),
            (r#"{"access_key":1,"secret_key":"s"}"#, Some("access_key is not a string")),
            (r#"{"access_key":"a\n","secret_key":"s"}"#, Some("control character")),
            (r#"{"access_key":"a","secret_key":"s","expiration_unix":-1}"#, Some("expiration_unix")),
            (r#"{"access_key":"a","secret_key":"s","expiration_unix":"soon"}"#, Some("expiration_unix")),
            ("[]", Some("not a JSON object")),
            ("", Some("not JSON")),
        ];
        for (text, want) in cases {
            match (Credentials::from_json(text, "/x/creds.json"), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => {
                    let e = e.to_string();
                    assert!(e.contains(w) && e.contains("/x/creds.json"), "{text}: {e}");
                }
                (r, _) => panic!("{text}: unexpected {r:?}"),
            }
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials {
            access_key: "AK".into(),
            secret_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
            expiration: None,
        };
        let d = format!("{c:?}");
        assert!(d.contains("AK") && !d.contains("very-secret") && !d.contains("token-secret"), "{d}");
    }

    #[test]
    fn file_is_reread_after_an_atomic_rewrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("creds.json");
        let write = |ak: &str| {
            let tmp = dir.path().join(".creds.tmp");
            std::fs::write(&tmp, format!(r#"{{"access_key":"{ak}","secret_key":"s"}}"#)).expect("write");
            std::fs::rename(&tmp, &path).expect("rename");
        };
        assert!(CredentialsFile::open(&path).is_err(), "a missing file must be an error");
        write("one");
        let f = CredentialsFile::open(&path).expect("open");
        assert_eq!(f.current().expect("read").access_key, "one");
        write("two");
        assert_eq!(f.current().expect("read").access_key, "two");
        std::fs::write(&path, "{").expect("write");
        assert!(f.current().is_err(), "a malformed rewrite must be an error, not the stale keys");
    }
}
