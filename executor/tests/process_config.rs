//! Bad configuration: the executor exits 1 naming the variable, before contacting any storage.

mod common;

use std::net::TcpListener;

use common::*;

#[test]
fn missing_identity_exits_1_naming_the_variable_without_touching_storage() {
    // A "storage server" that must never be contacted.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = listener.local_addr().unwrap().to_string();
    for var in ["BOT_ID", "RUNTIME", "ENTRYPOINT"] {
        let mut sb = Sandbox::local();
        sb.unset("THE0_STORAGE_DIR")
            .set("MINIO_ENDPOINT", &endpoint)
            .set("MINIO_ACCESS_KEY", "a")
            .set("MINIO_SECRET_KEY", "s");
        sb.set("CODE_FILE", "user/bot/1");
        sb.unset(var);
        let out = sb.execute();
        assert_eq!(out.status.code(), Some(1), "{var}: {}", text(&out));
        let all = text(&out);
        assert!(all.contains(var), "the error names {var}: {all}");
        assert!(listener.accept().is_err(), "storage was contacted although {var} is missing");
    }
}

#[test]
fn missing_storage_settings_name_minio_endpoint() {
    let mut sb = Sandbox::local();
    sb.unset("THE0_STORAGE_DIR");
    let out = sb.execute();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("MINIO_ENDPOINT"), "{}", text(&out));
}

#[test]
fn usage_errors_print_usage_and_error_line() {
    let sb = Sandbox::local();
    let out = sb.command(&["execute", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Usage:") && err.contains("Error: unknown flag: --bogus"), "{err}");
    let out = sb.command(&["version"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), the0_contract::version_line());
}
