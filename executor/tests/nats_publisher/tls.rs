//! NATS over TLS against a real `nats-server` with a CA and server certificate made here by the
//! `openssl` CLI: a `tls://` URL and a plain URL to a server that requires TLS both publish; a
//! certificate from another CA is refused and retried until the server presents a valid one. What
//! arrived is read from the server's own monitoring endpoint (`/varz` `in_msgs`, `/connz`
//! `tls_version`), so the check is on the server side.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use the0_executor::nats::tls::RootSource;
use the0_executor::nats::Publisher;
use tokio::time::sleep;

use super::{bounded, free_port, stats, wait_for, Server};

/// A CA, a server certificate for 127.0.0.1 signed by it, and a second, unrelated CA with its
/// own server certificate.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    good: (String, String),
    bad: (String, String),
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN=the0 test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn make_server_cert(dir: &Path, ca: &str, name: &str) -> (String, String) {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            "ext.cnf",
        ],
    );
    let p = |f: String| dir.join(f).to_str().expect("utf-8").to_string();
    (p(format!("{name}.pem")), p(format!("{name}.key")))
}

fn make_pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "other-ca");
    let good = make_server_cert(dir.path(), "ca", "server");
    let bad = make_server_cert(dir.path(), "other-ca", "imposter");
    Pki { ca: dir.path().join("ca.pem"), _dir: dir, good, bad }
}

/// A TLS-only server with its monitoring port.
async fn tls_server(port: u16, mport: u16, cert: &(String, String)) -> Server {
    let m = mport.to_string();
    Server::start(port, &["--tls", "--tlscert", &cert.0, "--tlskey", &cert.1, "-m", &m]).await
}

/// GET `path` from the monitoring port; the JSON body.
fn monitor(mport: u16, path: &str) -> serde_json::Value {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", mport)).expect("monitoring port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("monitoring answer");
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {resp}"))
}

async fn publish_and_check(url: &str, roots: RootSource, mport: u16) {
    let p = Publisher::start_with_roots(url, roots).expect("start");
    for i in 0..3 {
        p.publish("the0.bot.logs.tls", Bytes::from(format!("chunk-{i}")));
    }
    wait_for("3 messages published over TLS", || stats(&p).published == 3).await;
    let connz = monitor(mport, "/connz");
    let conns = connz["connections"].as_array().expect("connections");
    assert!(
        conns.iter().any(|c| c["name"] == "the0-runtime" && c["tls_version"].as_str().is_some_and(|v| !v.is_empty())),
        "the publisher's connection is TLS: {connz}"
    );
    p.drain(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn tls_url_and_a_server_requiring_tls_both_publish() {
    bounded(async {
        let pki = make_pki();
        let (port, mport) = (free_port(), free_port());
        let _server = tls_server(port, mport, &pki.good).await;
        publish_and_check(&format!("tls://127.0.0.1:{port}"), RootSource::File(pki.ca.clone()), mport).await;
        // A plain URL: the server's INFO says tls_required, so the client upgrades.
        publish_and_check(&format!("nats://127.0.0.1:{port}"), RootSource::File(pki.ca.clone()), mport).await;
        let varz = monitor(mport, "/varz");
        assert_eq!(varz["in_msgs"].as_u64(), Some(6), "every message reached the server: {varz}");
    })
    .await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_and_retried() {
    bounded(async {
        let pki = make_pki();
        let (port, mport) = (free_port(), free_port());
        let imposter = tls_server(port, mport, &pki.bad).await;
        let p = Publisher::start_with_roots(&format!("tls://127.0.0.1:{port}"), RootSource::File(pki.ca.clone()))
            .expect("start");
        p.publish("the0.bot.logs.tls", Bytes::from_static(b"kept"));
        sleep(Duration::from_millis(2500)).await; // at least two refused handshakes
        let st = stats(&p);
        assert!(!st.connected && st.published == 0, "an unverified server got the message: {st:?}");
        assert_eq!((st.queued, st.dropped), (1, 0), "refused, not disabled: {st:?}");
        assert_eq!(monitor(mport, "/varz")["in_msgs"].as_u64(), Some(0));
        imposter.stop().await;

        let _server = tls_server(port, mport, &pki.good).await;
        wait_for("the retry to reach the genuine server", || stats(&p).published == 1).await;
        assert_eq!(monitor(mport, "/varz")["in_msgs"].as_u64(), Some(1));
        p.drain(Duration::from_secs(5)).await;
    })
    .await;
}

#[tokio::test]
async fn a_tls_url_to_a_plain_server_is_refused() {
    bounded(async {
        let (port, mport) = (free_port(), free_port());
        let m = mport.to_string();
        let _server = Server::start(port, &["-m", &m]).await;
        let p = Publisher::start_with_roots(&format!("tls://127.0.0.1:{port}"), RootSource::Builtin).expect("start");
        p.publish("the0.bot.logs.tls", Bytes::from_static(b"x"));
        sleep(Duration::from_millis(1500)).await;
        let st = stats(&p);
        assert!(!st.connected && st.published == 0, "{st:?}");
        assert_eq!(monitor(mport, "/varz")["in_msgs"].as_u64(), Some(0), "nothing went out in clear text");
    })
    .await;
}
