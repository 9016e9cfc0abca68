//! The local store against layouts a hostile bot can plant in the directories it sees
//! read-write (issue #10, item 1): symlinks at the key or at a parent directory, FIFOs, sockets,
//! and a thread racing a symlink in and out while the store reads. No operation may ever read,
//! write or list a file outside the store through them, and a FIFO must never block.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use the0_objstore::{Error, Piece, Store, StreamOptions};
use tokio::io::AsyncReadExt;

const SECRET: &[u8] = b"host-secret-7f3a9c";

/// A store under `dir/root` with bucket `b`, and a secret file outside it at `dir/secret`.
fn setup(dir: &Path) -> (Store, std::path::PathBuf) {
    let secret = dir.join("secret");
    std::fs::write(&secret, SECRET).expect("write secret");
    std::fs::create_dir_all(dir.join("root/b/bot")).expect("mkdir");
    (Store::local(dir.join("root")), secret)
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o644), 0)
        .expect("mkfifo");
}

/// Every way one operation can end, for the table.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Refused with `Error::NotRegular` naming this kind.
    Refused(&'static str),
    /// "No such object".
    Absent,
}

fn classify<T>(r: Result<Option<T>, Error>) -> Outcome {
    match r {
        Ok(None) => Outcome::Absent,
        Err(Error::NotRegular { found, .. }) => Outcome::Refused(found),
        Ok(Some(_)) => panic!("the operation succeeded on a hostile layout"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test]
async fn hostile_layouts_are_refused_for_every_operation() {
    // (name, plant it under root/b, key to use, what get/head must say)
    type Plant = fn(&Path, &Path);
    let cases: &[(&str, Plant, &str, Outcome)] = &[
        (
            "symlink at the key",
            |b, s| symlink(s, b.join("bot/k")).expect("symlink"),
            "bot/k",
            Outcome::Refused("symbolic link"),
        ),
        (
            "symlinked parent directory",
            |b, s| symlink(s.parent().expect("parent"), b.join("bot/d")).expect("symlink"),
            "bot/d/secret",
            Outcome::Refused("symbolic link"),
        ),
        (
            "symlinked bot directory",
            |b, s| {
                std::fs::remove_dir(b.join("bot")).expect("rmdir");
                symlink(s.parent().expect("parent"), b.join("bot")).expect("symlink")
            },
            "bot/secret",
            Outcome::Refused("symbolic link"),
        ),
        ("FIFO at the key", |b, _| mkfifo(&b.join("bot/k")), "bot/k", Outcome::Refused("FIFO")),
        (
            "socket at the key",
            |b, _| drop(std::os::unix::net::UnixListener::bind(b.join("bot/k")).expect("bind")),
            "bot/k",
            Outcome::Refused("socket"),
        ),
        (
            "dangling symlink",
            |b, _| symlink("/nonexistent/x", b.join("bot/k")).expect("symlink"),
            "bot/k",
            Outcome::Refused("symbolic link"),
        ),
        ("directory at the key", |b, _| std::fs::create_dir(b.join("bot/k")).expect("mkdir"), "bot/k", Outcome::Absent),
    ];
    for (name, plant, key, want) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, secret) = setup(dir.path());
        plant(&dir.path().join("root/b"), &secret);
        // Reads: bounded in time (a FIFO must not block the host).
        let get = tokio::time::timeout(Duration::from_secs(10), store.get("b", key)).await.expect("get blocked");
        assert_eq!(classify(get), *want, "{name}: get");
        let head = tokio::time::timeout(Duration::from_secs(10), store.head("b", key)).await.expect("head blocked");
        assert_eq!(classify(head), *want, "{name}: head");
        let dest = dir.path().join("out");
        let dl =
            tokio::time::timeout(Duration::from_secs(10), store.get_to_file("b", key, &dest)).await.expect("blocked");
        assert_eq!(classify(dl), *want, "{name}: get_to_file");
        assert!(!dest.exists() || std::fs::read(&dest).expect("read") != SECRET, "{name}");

        // Writes never write through a link: either refused, or the link itself is replaced.
        let _ = tokio::time::timeout(Duration::from_secs(10), store.append("b", key, Bytes::from_static(b"A"), ""))
            .await
            .expect("append blocked");
        let _ = store.put_bytes("b", key, Bytes::from_static(b"P"), "").await;
        let _ = store
            .put_stream(
                "b",
                key,
                &b"S"[..],
                "",
                StreamOptions { deadline: Duration::from_secs(10), ..Default::default() },
            )
            .await;
        let meta = the0_objstore::ObjectMeta { size: SECRET.len() as u64, etag: String::new() };
        let _ =
            store.compose("b", key, &meta, vec![Piece::Copy { start: 0, end: 4 }], "", Duration::from_secs(10)).await;
        let _ = store.delete("b", key).await;
        assert_eq!(std::fs::read(&secret).expect("secret still there"), SECRET, "{name}: secret modified");

        // Listing never reports anything outside the store.
        for o in store.list("b", "").await.expect("list") {
            let mut got = Vec::new();
            if let Ok(Some(mut obj)) = store.get("b", &o.key).await {
                obj.body.read_to_end(&mut got).await.expect("read");
            }
            assert_ne!(got, SECRET, "{name}: listed {} reads the secret", o.key);
        }
        for e in std::fs::read_dir(dir.path()).expect("read_dir") {
            let n = e.expect("entry").file_name();
            assert!(
                ["root", "secret", "out"].contains(&n.to_str().unwrap_or("")),
                "{name}: {n:?} created outside the root"
            );
        }
    }
}

#[tokio::test]
async fn refusal_names_bucket_key_and_what_was_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, secret) = setup(dir.path());
    symlink(&secret, dir.path().join("root/b/bot/result.json")).expect("symlink");
    let err = match store.get("b", "bot/result.json").await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a symlink was opened"),
    };
    assert!(err.contains("b/bot/result.json") && err.contains("symbolic link"), "{err}");
    assert!(!err.contains("host-secret"), "{err}");
}

#[tokio::test]
async fn writes_replace_a_planted_link_instead_of_writing_through_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, secret) = setup(dir.path());
    symlink(&secret, dir.path().join("root/b/bot/state.tar.gz")).expect("symlink");
    store.put_bytes("b", "bot/state.tar.gz", Bytes::from_static(b"mine"), "").await.expect("put replaces the link");
    assert_eq!(std::fs::read(&secret).expect("read"), SECRET);
    let m = std::fs::symlink_metadata(dir.path().join("root/b/bot/state.tar.gz")).expect("meta");
    assert!(m.file_type().is_file());
    // A symlinked directory on the way is refused for writes too.
    symlink(dir.path(), dir.path().join("root/b/bot/up")).expect("symlink");
    let err = store.put_bytes("b", "bot/up/x", Bytes::from_static(b"x"), "").await.expect_err("refused");
    assert!(matches!(err, Error::NotRegular { found: "symbolic link", .. }), "{err}");
    let err = store.append("b", "bot/up/x", Bytes::from_static(b"x"), "").await.expect_err("refused");
    assert!(matches!(err, Error::NotRegular { .. }), "{err}");
    assert!(!dir.path().join("x").exists());
}

#[tokio::test]
async fn list_does_not_follow_or_report_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, secret) = setup(dir.path());
    store.put_bytes("b", "bot/real", Bytes::from_static(b"r"), "").await.expect("put");
    symlink(&secret, dir.path().join("root/b/bot/link")).expect("symlink");
    symlink(dir.path(), dir.path().join("root/b/bot/dirlink")).expect("symlink");
    mkfifo(&dir.path().join("root/b/bot/fifo"));
    let keys: Vec<String> = store.list("b", "").await.expect("list").into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["bot/real"]);
}

/// A thread swaps the object between a regular file and a symlink to the secret as fast as it
/// can while the store reads it: no read may ever return the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_symlink_swap_never_leaks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, secret) = setup(dir.path());
    let obj = dir.path().join("root/b/bot/result.json");
    std::fs::write(&obj, b"{\"ok\":1}").expect("write");
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, obj, secret) = (stop.clone(), obj.clone(), secret.clone());
        let link_tmp = obj.with_file_name("l");
        let file_tmp = obj.with_file_name("f");
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) && swaps < 2_000_000 {
                let _ = std::fs::remove_file(&link_tmp);
                let _ = symlink(&secret, &link_tmp);
                let _ = std::fs::rename(&link_tmp, &obj);
                let _ = std::fs::write(&file_tmp, b"{\"ok\":1}");
                let _ = std::fs::rename(&file_tmp, &obj);
                swaps += 1;
            }
            swaps
        })
    };
    let (mut refused, mut read) = (0u32, 0u32);
    for _ in 0..5000 {
        match store.get("b", "bot/result.json").await {
            Ok(Some(mut o)) => {
                let mut got = Vec::new();
                o.body.read_to_end(&mut got).await.expect("read");
                assert!(!got.windows(SECRET.len()).any(|w| w == SECRET), "the secret leaked");
                read += 1;
            }
            Ok(None) => {}
            Err(Error::NotRegular { .. }) => refused += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
        if let Ok(Some(m)) = store.head("b", "bot/result.json").await {
            assert_ne!(m.size, SECRET.len() as u64, "head reported the secret's size");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    eprintln!("5000 reads during {swaps} swaps: {read} read the file, {refused} refused the link");
    // The race was real: both sides were seen.
    assert!(refused > 0 && read > 0, "read {read}, refused {refused}");
}

/// `uploads` lists only regular temp files (a link or FIFO with a temp file's name is skipped,
/// and a linked directory is not walked into); `abort_upload` removes a link planted at a temp
/// name itself, never its target, and refuses a key that is not a temp file's.
#[tokio::test]
async fn unfinished_uploads_never_reach_through_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, secret) = setup(dir.path());
    let b = dir.path().join("root/b");
    std::fs::write(b.join("bot/.state.tar.gz.tmp-1-0"), b"half").expect("temp");
    std::fs::write(b.join("bot/state.tar.gz"), b"whole").expect("object");
    symlink(&secret, b.join("bot/.x.tmp-2-0")).expect("symlink");
    mkfifo(&b.join("bot/.y.tmp-3-0"));
    std::fs::create_dir_all(dir.path().join("outside")).expect("mkdir");
    std::fs::write(dir.path().join("outside/.z.tmp-4-0"), b"outside").expect("outside temp");
    symlink(dir.path().join("outside"), b.join("linked")).expect("dir symlink");

    let ups = store.uploads("b", "").await.expect("uploads");
    let keys: Vec<&str> = ups.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["bot/.state.tar.gz.tmp-1-0"]);
    assert_eq!(ups[0].upload_id, "");
    assert!(store.uploads("missing", "").await.expect("missing bucket").is_empty());

    let link = the0_objstore::PendingUpload { key: "bot/.x.tmp-2-0".into(), ..ups[0].clone() };
    store.abort_upload("b", &link).await.expect("abort the link");
    assert!(std::fs::symlink_metadata(b.join("bot/.x.tmp-2-0")).is_err(), "the link itself is gone");
    assert_eq!(std::fs::read(&secret).expect("secret"), SECRET, "its target is untouched");

    let object = the0_objstore::PendingUpload { key: "bot/state.tar.gz".into(), ..ups[0].clone() };
    let err = store.abort_upload("b", &object).await.expect_err("not a temp file");
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("not the name of a temp file"), "{err}");
    assert_eq!(std::fs::read(b.join("bot/state.tar.gz")).expect("object"), b"whole");

    store.abort_upload("b", &ups[0]).await.expect("abort");
    store.abort_upload("b", &ups[0]).await.expect("aborting twice is fine");
    assert!(store.uploads("b", "").await.expect("uploads").is_empty());
    assert!(dir.path().join("outside/.z.tmp-4-0").exists(), "nothing outside the root is touched");
}
