//! The Ceph lane's S3 gateway (`scripts/ceph-s3.sh start` exports `THE0_TEST_CEPH_*`), for the
//! tests that need what moto does not do (STS AssumeRole with a session policy, scoped keys).

use the0_objstore::S3Settings;

/// A `THE0_TEST_CEPH_*` variable. Panics without it, so a missing gateway is never a silent pass.
pub fn ceph_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start Ceph's gateway first with eval \"$(scripts/ceph-s3.sh start)\"")
    })
}

/// `THE0_TEST_CEPH_REGION`, else Ceph's `default`.
pub fn ceph_region() -> String {
    std::env::var("THE0_TEST_CEPH_REGION").unwrap_or_else(|_| "default".into())
}

/// The gateway's admin connection (plain HTTP).
pub fn ceph_settings() -> S3Settings {
    S3Settings {
        endpoint: ceph_var("THE0_TEST_CEPH_ENDPOINT"),
        access_key: ceph_var("THE0_TEST_CEPH_ACCESS_KEY"),
        secret_key: ceph_var("THE0_TEST_CEPH_SECRET_KEY"),
        use_ssl: false,
        region: ceph_region(),
    }
}
