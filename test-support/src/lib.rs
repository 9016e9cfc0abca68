//! Harness code shared by the integration tests of the workspace's crates, so each rule (which
//! variables name the test servers, how a free port is found, how long to poll) is written once.
//! Only tests depend on this crate (a dev-dependency); it is never part of a binary.
//!
//! # Layout
//!
//! * [`s3_endpoint`], [`s3_key`], [`s3_settings`]: the S3-compatible test server (`make test`
//!   starts moto; the Ceph lane points the same `THE0_TEST_S3_*` variables at Ceph's gateway).
//! * [`free_port`], [`free_addr`]: loopback ports for servers a test starts.
//! * [`eventually`]: polling a condition within a bound.
//! * [`names`]: unique names for test containers, instances and keys.
//! * [`ceph`]: the Ceph lane's settings (`THE0_TEST_CEPH_*`).
//! * [`container`]: a bot container started from the test image, removed on drop.

use std::time::{Duration, Instant};

pub mod ceph;
pub mod container;
pub mod names;

use the0_objstore::S3Settings;

/// `THE0_TEST_S3_ENDPOINT` (`host:port`). Panics without it, so a missing server is never a
/// silent pass.
pub fn s3_endpoint() -> String {
    std::env::var("THE0_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "THE0_TEST_S3_ENDPOINT is not set: run the tests with `make test` (scripts/test.sh starts the S3 \
             server), or start it with eval \"$(scripts/test-services.sh start)\""
        )
    })
}

/// The test S3 server's keys and region: moto accepts any keys; another server (the Ceph lane of
/// `make test`) sets `THE0_TEST_S3_ACCESS_KEY`, `THE0_TEST_S3_SECRET_KEY` and `THE0_TEST_S3_REGION`
/// beside `THE0_TEST_S3_ENDPOINT`.
pub fn s3_key(var: &str) -> String {
    let default = match var {
        "THE0_TEST_S3_ACCESS_KEY" => "testing",
        "THE0_TEST_S3_SECRET_KEY" => "testing-secret",
        "THE0_TEST_S3_REGION" => "us-east-1",
        other => panic!("unknown test S3 variable {other}"),
    };
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// Settings for the test S3 server at `endpoint` (plain HTTP).
pub fn s3_settings(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint: endpoint.to_owned(),
        access_key: s3_key("THE0_TEST_S3_ACCESS_KEY"),
        secret_key: s3_key("THE0_TEST_S3_SECRET_KEY"),
        use_ssl: false,
        region: s3_key("THE0_TEST_S3_REGION"),
    }
}

/// A loopback port free right now (for a child that must be told its port).
///
/// Never the same port twice in one process: two calls in a row may otherwise get the same port
/// back (the first listener is closed before the second binds), and a server told to listen on
/// both would fail to start.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..1000 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = l.local_addr().expect("local address").port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
    panic!("1000 loopback ports in a row were ones this process had already handed out");
}

/// [`free_port`] as `127.0.0.1:<port>`.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `bound`.
pub fn eventually<T>(bound: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
