//! Code fetch against a local object store (D16) and the entrypoint chmod (docs/contract.md §2.5).

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use bytes::Bytes;
use the0_executor::code::{chmod_entrypoints, fetch, CodeError, FetchOutcome};
use the0_executor::config::Config;
use the0_objstore::Store;

fn config(root: &Path, extra: &[(&str, &str)]) -> Config {
    common::local_config(root, extra)
}

fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn our_temp_zips() -> Vec<String> {
    let prefix = format!("the0-code-{}-", std::process::id());
    fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

// One test, so no other fetch in this process races the temp-file check.
#[tokio::test]
async fn fetch_extracts_once_per_key_and_cleans_up() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::local(d.path().join("objects"));
    store.ensure_bucket("custom-bots").await.unwrap();
    store
        .put_bytes(
            "custom-bots",
            "u1/bot/1",
            Bytes::from(zip_of(&[("main.py", b"v1"), ("lib/util.py", b"u")])),
            "application/zip",
        )
        .await
        .unwrap();
    store
        .put_bytes("custom-bots", "u1/bot/2", Bytes::from(zip_of(&[("main.py", b"v2")])), "application/zip")
        .await
        .unwrap();

    // No CODE_FILE: nothing to do.
    let cfg = config(d.path(), &[]);
    assert_eq!(fetch(&store, &cfg).await.unwrap(), FetchOutcome::NoCodeFile);
    assert!(!cfg.code_path.exists());

    // First fetch extracts and records the key.
    let cfg = config(d.path(), &[("CODE_FILE", "u1/bot/1")]);
    let FetchOutcome::Extracted(stats) = fetch(&store, &cfg).await.unwrap() else { panic!() };
    assert_eq!(stats.files, 2);
    assert_eq!(fs::read(cfg.code_path.join("main.py")).unwrap(), b"v1");
    assert_eq!(fs::read_to_string(cfg.run_dir().join("code-key")).unwrap(), "u1/bot/1");
    assert!(our_temp_zips().is_empty(), "temp zip removed");

    // Same key again (in-pod restart): left alone, even if the bot changed a file.
    fs::write(cfg.code_path.join("main.py"), b"edited").unwrap();
    assert_eq!(fetch(&store, &cfg).await.unwrap(), FetchOutcome::AlreadyPresent);
    assert_eq!(fs::read(cfg.code_path.join("main.py")).unwrap(), b"edited");

    // A new version is extracted over the old one.
    let cfg2 = config(d.path(), &[("CODE_FILE", "u1/bot/2")]);
    assert!(matches!(fetch(&store, &cfg2).await.unwrap(), FetchOutcome::Extracted(_)));
    assert_eq!(fs::read(cfg.code_path.join("main.py")).unwrap(), b"v2");
    assert_eq!(fs::read_to_string(cfg.run_dir().join("code-key")).unwrap(), "u1/bot/2");

    // A missing object is an error naming bucket and key; the stale marker is gone.
    let cfg3 = config(d.path(), &[("CODE_FILE", "u1/bot/404")]);
    let err = fetch(&store, &cfg3).await.unwrap_err();
    assert!(matches!(err, CodeError::NotFound { .. }));
    assert_eq!(err.to_string(), "code object custom-bots/u1/bot/404 not found");
    assert!(!cfg.run_dir().join("code-key").exists());

    // A code zip over THE0_MAX_CODE_SIZE_MB fails and leaves no temp file either.
    store
        .put_bytes(
            "custom-bots",
            "u1/bot/big",
            Bytes::from(zip_of(&[("big.bin", &vec![0u8; 1024 * 1024 + 1])])),
            "application/zip",
        )
        .await
        .unwrap();
    let cfg4 = config(d.path(), &[("CODE_FILE", "u1/bot/big"), ("THE0_MAX_CODE_SIZE_MB", "1")]);
    let err = fetch(&store, &cfg4).await.unwrap_err();
    assert!(matches!(err, CodeError::DeclaredTooLarge { .. }), "{err}");
    assert!(our_temp_zips().is_empty(), "temp zip removed after a failure");
    assert!(!cfg.run_dir().join("code-key").exists());

    // A marker naming the key but an empty code dir (wiped) means extract again.
    let cfg5 = config(&d.path().join("other"), &[("CODE_FILE", "u1/bot/1"), ("THE0_STORAGE_DIR", "unused")]);
    fs::create_dir_all(cfg5.run_dir()).unwrap();
    fs::write(cfg5.run_dir().join("code-key"), "u1/bot/1").unwrap();
    assert!(matches!(fetch(&store, &cfg5).await.unwrap(), FetchOutcome::Extracted(_)));
}

#[test]
fn compiled_runtimes_get_executable_entrypoints() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(
        d.path(),
        &[("RUNTIME", "rust-stable"), ("ENTRYPOINT", "target/bot"), ("QUERY_ENTRYPOINT", "missing-query")],
    );
    fs::create_dir_all(cfg.code_path.join("target")).unwrap();
    fs::write(cfg.code_path.join("target/bot"), b"\x7fELF").unwrap();
    fs::set_permissions(cfg.code_path.join("target/bot"), fs::Permissions::from_mode(0o644)).unwrap();
    chmod_entrypoints(&cfg); // the missing query entrypoint only warns
    let mode = fs::metadata(cfg.code_path.join("target/bot")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);

    let py = config(d.path(), &[("ENTRYPOINT", "target/bot")]);
    fs::set_permissions(cfg.code_path.join("target/bot"), fs::Permissions::from_mode(0o644)).unwrap();
    chmod_entrypoints(&py);
    let mode = fs::metadata(cfg.code_path.join("target/bot")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "interpreted runtimes are left alone");
}
