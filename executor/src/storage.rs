//! Opens the object store a [`StorageConfig`] describes. With a credentials file (scoped
//! credentials, issue #10) the store signs with the keys that file holds, re-reading it whenever
//! the orchestrator rewrites it; a missing or malformed file fails here, naming the file.

use the0_objstore::s3::{CredentialSource, CredentialsFile};
use the0_objstore::{S3Settings, Store};

use crate::config::StorageConfig;

pub fn open(cfg: &StorageConfig) -> Result<Store, the0_objstore::Error> {
    match cfg {
        StorageConfig::Local { root } => Ok(Store::local(root.clone())),
        StorageConfig::S3 { endpoint, access_key, secret_key, use_ssl, region, credentials_file } => {
            let settings = S3Settings {
                endpoint: endpoint.clone(),
                access_key: access_key.clone(),
                secret_key: secret_key.clone(),
                use_ssl: *use_ssl,
                region: region.clone(),
            };
            match credentials_file {
                // CredentialsFile::open reads the file now; its errors name the file.
                Some(path) => {
                    Store::s3_with_credentials(settings, CredentialSource::File(CredentialsFile::open(path)?))
                }
                None => Store::s3(settings),
            }
        }
    }
}

/// Logs, once per process, that the server refuses part copies to our credentials, so state and
/// log uploads go whole from now on (Ceph 16 and STS sessions). Returns whether it is refused.
pub fn note_part_copy_refused(store: &Store) -> bool {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let refused = store.part_copy_refused();
    if refused && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::warn!(
            "the object store refuses server-side part copy (UploadPartCopy) to these credentials; \
             state and log uploads are whole uploads from now on (Ceph 16 does so to every STS session)"
        );
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(path: &std::path::Path) -> StorageConfig {
        StorageConfig::S3 {
            endpoint: "127.0.0.1:1".into(),
            access_key: String::new(),
            secret_key: String::new(),
            use_ssl: false,
            region: "us-east-1".into(),
            credentials_file: Some(path.to_path_buf()),
        }
    }

    #[test]
    fn a_missing_or_bad_credentials_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("credentials.json");
        let e = open(&cfg(&missing)).err().expect("missing file").to_string();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        std::fs::write(&missing, "{not json").expect("write");
        let e = open(&cfg(&missing)).err().expect("bad file").to_string();
        assert!(e.contains(&missing.display().to_string()) && e.contains("not JSON"), "{e}");
        std::fs::write(&missing, r#"{"access_key":"a","secret_key":"s","session_token":"t"}"#).expect("write");
        assert!(open(&cfg(&missing)).is_ok());
    }
}
