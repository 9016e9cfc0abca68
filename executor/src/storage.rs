//! What the executor adds to its object store: noting once that the server refuses part copies.
//! (The store itself is opened with `Store::open` from the configured
//! [`StorageConfig`](crate::config::StorageConfig); with a credentials file, scoped credentials,
//! the store signs with the keys that file holds, and a missing or malformed file fails there,
//! naming the file.)

use the0_objstore::Store;

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

    use crate::config::StorageConfig;

    fn open(cfg: &StorageConfig) -> Result<Store, the0_objstore::Error> {
        Store::open(cfg)
    }

    fn cfg(path: &std::path::Path) -> StorageConfig {
        StorageConfig::S3 {
            s3: the0_objstore::S3Settings {
                endpoint: "127.0.0.1:1".into(),
                access_key: String::new(),
                secret_key: String::new(),
                use_ssl: false,
                region: "us-east-1".into(),
            },
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
