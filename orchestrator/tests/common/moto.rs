//! A moto S3 server of a test's own, bound where the test's containers reach it (a Docker
//! network's gateway), unlike the loopback one `scripts/test-services.sh` starts.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{eventually, KillOnDrop};

fn moto_bin() -> PathBuf {
    let venv = std::env::var("THE0_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/venv"));
    let bin = venv.join("bin/moto_server");
    assert!(bin.is_file(), "{} missing: run scripts/install-deps.sh (or set THE0_VENV)", bin.display());
    bin
}

/// A moto S3 server bound to `host` (the network's gateway, so containers reach it); killed when
/// the guard drops. Returns the guard and `host:port`.
pub fn start_moto(host: &str) -> (KillOnDrop, String) {
    let port = TcpListener::bind((host, 0)).expect("bind on the gateway").local_addr().unwrap().port();
    let child = Command::new(moto_bin())
        .args(["-H", host, "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let addr = format!("{host}:{port}");
    let up = eventually(Duration::from_secs(20), || std::net::TcpStream::connect(&addr).ok().map(|_| ()));
    assert!(up.is_some(), "moto did not start on {addr}");
    (KillOnDrop(child), addr)
}
