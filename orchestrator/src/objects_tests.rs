//! The one conversion from the orchestrator's storage settings to the object store's.

use std::path::PathBuf;

use super::*;

fn s3(use_ssl: bool) -> Storage {
    Storage::S3 {
        endpoint: "minio:9000".into(),
        container_endpoint: "host.docker.internal:9000".into(),
        access_key: "ak".into(),
        secret_key: "sk".into(),
        use_ssl,
    }
}

#[test]
fn storage_becomes_the_object_stores_settings() {
    let want_s3 = |use_ssl: bool, region: &str| StoreSettings::S3 {
        s3: S3Settings {
            endpoint: "minio:9000".into(),
            access_key: "ak".into(),
            secret_key: "sk".into(),
            use_ssl,
            region: region.into(),
        },
        credentials_file: None,
    };
    let cases = [
        (s3(false), "us-east-1", want_s3(false, "us-east-1")),
        // TLS and the region are carried; the host dials `endpoint`, never the containers' one.
        (s3(true), "eu-west-2", want_s3(true, "eu-west-2")),
        (
            Storage::Local { root: PathBuf::from("/data/objects") },
            "us-east-1",
            StoreSettings::Local { root: PathBuf::from("/data/objects") },
        ),
    ];
    for (storage, region, want) in cases {
        assert_eq!(store_settings(&storage, region), want, "{storage:?}");
    }
}
