//! The local-directory backend against real temp directories: atomic writes, append, listing,
//! traversal rejection and absence.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use the0_objstore::{Error, Piece, Precondition, Store, StreamOptions};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Yields `ok` bytes of `b'x'`, then fails.
struct FailingReader {
    ok: usize,
}

impl AsyncRead for FailingReader {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.ok == 0 {
            return Poll::Ready(Err(std::io::Error::other("source broke")));
        }
        let n = self.ok.min(buf.remaining()).min(64 * 1024);
        buf.put_slice(&vec![b'x'; n]);
        self.ok -= n;
        Poll::Ready(Ok(()))
    }
}

/// Every file under `dir`, relative, sorted (to see stray temp files).
fn files(dir: &Path) -> Vec<String> {
    fn go(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            if e.file_type().expect("type").is_dir() {
                go(base, &e.path(), out);
            } else {
                out.push(e.path().strip_prefix(base).expect("prefix").to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

async fn read_all(store: &Store, bucket: &str, key: &str) -> Vec<u8> {
    let mut obj = store.get(bucket, key).await.expect("get").expect("object exists");
    let mut v = Vec::new();
    obj.body.read_to_end(&mut v).await.expect("read body");
    assert_eq!(obj.meta.size, v.len() as u64);
    v
}

#[tokio::test]
async fn put_get_head_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path().join("root"));
    assert!(!store.bucket_exists("b").await.expect("exists"));
    store.put_bytes("b", "a/b c/ü+.txt", Bytes::from_static(b"hello"), "text/plain").await.expect("put");
    assert!(store.bucket_exists("b").await.expect("exists"));
    assert_eq!(read_all(&store, "b", "a/b c/ü+.txt").await, b"hello");
    let meta = store.head("b", "a/b c/ü+.txt").await.expect("head").expect("present");
    assert_eq!(meta.size, 5);

    store.put_bytes("b", "a/b c/ü+.txt", Bytes::from_static(b"world!"), "text/plain").await.expect("put");
    let meta2 = store.head("b", "a/b c/ü+.txt").await.expect("head").expect("present");
    assert_ne!(meta.etag, meta2.etag);
    assert_eq!(read_all(&store, "b", "a/b c/ü+.txt").await, b"world!");

    let file = dir.path().join("root/b/a/b c/ü+.txt");
    assert_eq!(std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777, 0o644);
    assert_eq!(std::fs::metadata(file.parent().expect("parent")).expect("meta").permissions().mode() & 0o777, 0o755);

    store.delete("b", "a/b c/ü+.txt").await.expect("delete");
    store.delete("b", "a/b c/ü+.txt").await.expect("delete missing is ok");
    assert!(store.head("b", "a/b c/ü+.txt").await.expect("head").is_none());
    assert_eq!(files(&dir.path().join("root")), Vec::<String>::new());
}

#[tokio::test]
async fn missing_objects_and_buckets_are_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path());
    assert!(store.get("nobucket", "k").await.expect("get").is_none());
    assert!(store.head("nobucket", "k").await.expect("head").is_none());
    store.ensure_bucket("b").await.expect("ensure");
    store.ensure_bucket("b").await.expect("ensure twice");
    assert!(store.get("b", "k").await.expect("get").is_none());
    assert!(store.get("b", "dir/k").await.expect("get").is_none());
    store.put_bytes("b", "file", Bytes::from_static(b"x"), "").await.expect("put");
    // A key "under" a file, and a key naming a directory, do not exist either.
    assert!(store.get("b", "file/k").await.expect("get").is_none());
    store.put_bytes("b", "d/k", Bytes::from_static(b"x"), "").await.expect("put");
    assert!(store.get("b", "d").await.expect("get").is_none());
    assert!(store.head("b", "d").await.expect("head").is_none());
    let dest = dir.path().join("out/x");
    assert_eq!(store.get_to_file("b", "nope", &dest).await.expect("get_to_file"), None);
    assert!(!dest.exists());
    assert!(store.list("nobucket", "").await.expect("list").is_empty());
}

#[tokio::test]
async fn failed_stream_leaves_old_content_and_no_temp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path());
    store.put_bytes("b", "s/state.tar.gz", Bytes::from_static(b"old"), "").await.expect("put");
    let err = store
        .put_stream("b", "s/state.tar.gz", FailingReader { ok: 300_000 }, "", StreamOptions::default())
        .await
        .expect_err("reader fails");
    assert!(matches!(err, Error::Io { op: "PutObject", .. }), "{err}");
    assert_eq!(read_all(&store, "b", "s/state.tar.gz").await, b"old");
    assert_eq!(files(dir.path()), vec!["b/s/state.tar.gz".to_string()]);

    let n = store
        .put_stream("b", "s/state.tar.gz", &b"new content"[..], "", StreamOptions::default())
        .await
        .expect("put_stream");
    assert_eq!(n.size, 11);
    assert_eq!(store.head("b", "s/state.tar.gz").await.expect("head"), Some(n));
    assert_eq!(read_all(&store, "b", "s/state.tar.gz").await, b"new content");
    assert_eq!(files(dir.path()), vec!["b/s/state.tar.gz".to_string()]);
}

#[tokio::test]
async fn stream_deadline_is_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path());
    let (_w, r) = tokio::io::duplex(16); // never written, never closed
    let opts = StreamOptions { deadline: Duration::from_millis(200), ..StreamOptions::default() };
    let err = store.put_stream("b", "k", r, "", opts).await.expect_err("deadline");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(store.head("b", "k").await.expect("head").is_none());
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn put_file_and_get_to_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path().join("root"));
    let src = dir.path().join("src.bin");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).expect("write src");
    store.put_file("code", "u/bot/1", &src, "application/zip").await.expect("put_file");
    let dest = dir.path().join("dl/code.zip");
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    std::fs::write(&dest, b"previous").expect("write dest");
    let n = store.get_to_file("code", "u/bot/1", &dest).await.expect("get_to_file");
    assert_eq!(n, Some(data.len() as u64));
    assert_eq!(std::fs::read(&dest).expect("read dest"), data);
    assert_eq!(files(&dir.path().join("dl")), vec!["code.zip".to_string()]);
    let missing = store.put_file("code", "k", &dir.path().join("nope"), "").await.expect_err("no source");
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
}

#[tokio::test]
async fn append_creates_and_extends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path());
    store.append("logs", "logs/bot/20250131.log", Bytes::from_static(b"one\n"), "text/plain").await.expect("append");
    store.append("logs", "logs/bot/20250131.log", Bytes::from_static(b"two\n"), "text/plain").await.expect("append");
    assert_eq!(read_all(&store, "logs", "logs/bot/20250131.log").await, b"one\ntwo\n");
}

#[tokio::test]
async fn list_is_recursive_sorted_and_skips_temps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path());
    for key in ["b/2/x", "a", "b/1", "bb", "c d/ü"] {
        store.put_bytes("bk", key, Bytes::from(key.as_bytes().to_vec()), "").await.expect("put");
    }
    std::fs::write(dir.path().join("bk/b/.1.tmp-12-3"), b"partial").expect("write temp");
    let keys = |v: Vec<the0_objstore::ObjectInfo>| v.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(keys(store.list("bk", "").await.expect("list")), ["a", "b/1", "b/2/x", "bb", "c d/ü"]);
    assert_eq!(keys(store.list("bk", "b").await.expect("list")), ["b/1", "b/2/x", "bb"]);
    assert_eq!(keys(store.list("bk", "b/").await.expect("list")), ["b/1", "b/2/x"]);
    assert_eq!(keys(store.list("bk", "b/2/").await.expect("list")), ["b/2/x"]);
    assert!(store.list("bk", "zz").await.expect("list").is_empty());
    let all = store.list("bk", "c").await.expect("list");
    assert_eq!(all[0].size, "c d/ü".len() as u64);
    assert!(all[0].last_modified > std::time::UNIX_EPOCH);
}

#[tokio::test]
async fn traversal_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path().join("root"));
    for key in ["../escape", "a/../../escape", "/etc/passwd", "a\0b", "", "a//b"] {
        let err = store.put_bytes("b", key, Bytes::from_static(b"x"), "").await.expect_err(key);
        assert!(matches!(err, Error::Invalid(_)), "{key:?}: {err}");
        assert!(matches!(store.get("b", key).await, Err(Error::Invalid(_))), "{key:?}");
        assert!(matches!(store.delete("b", key).await, Err(Error::Invalid(_))), "{key:?}");
    }
    for bucket in ["..", "a/b", ""] {
        assert!(matches!(store.ensure_bucket(bucket).await, Err(Error::Invalid(_))), "{bucket:?}");
    }
    assert!(!dir.path().join("escape").exists());
}

#[tokio::test]
async fn existing_subdirectory_needs_no_writable_parent() {
    // Production bind-mounts only <root>/bot-state/<id>/; the bucket directory itself is read-only.
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("bot-state/bot1");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let bucket_dir = dir.path().join("bot-state");
    std::fs::set_permissions(&bucket_dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let store = Store::local(dir.path());
    let r = store.put_bytes("bot-state", "bot1/state.tar.gz", Bytes::from_static(b"s"), "").await;
    let r2 = store.append("bot-state", "bot1/log", Bytes::from_static(b"l"), "").await;
    std::fs::set_permissions(&bucket_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    r.expect("put into writable subdirectory");
    r2.expect("append into writable subdirectory");
    assert_eq!(read_all(&store, "bot-state", "bot1/state.tar.gz").await, b"s");
}

#[tokio::test]
async fn compose_copies_ranges_and_refuses_a_changed_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path());
    let old =
        store.put_stream("b", "s/state.tar.gz", &b"0123456789"[..], "", StreamOptions::default()).await.expect("put");
    let pieces = vec![
        Piece::Copy { start: 0, end: 3 },
        Piece::Data(Bytes::from_static(b"abc")),
        Piece::Copy { start: 7, end: 10 },
    ];
    let new =
        store.compose("b", "s/state.tar.gz", &old, pieces.clone(), "", Duration::from_secs(5)).await.expect("compose");
    assert_eq!(read_all(&store, "b", "s/state.tar.gz").await, b"012abc789");
    assert_eq!(store.head("b", "s/state.tar.gz").await.expect("head"), Some(new.clone()));
    // `old` is not the current version any more: nothing is written, no temp is left.
    let err = store.compose("b", "s/state.tar.gz", &old, pieces, "", Duration::from_secs(5)).await.expect_err("stale");
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert_eq!(read_all(&store, "b", "s/state.tar.gz").await, b"012abc789");
    let err = store
        .compose("b", "s/state.tar.gz", &new, vec![Piece::Copy { start: 5, end: 10 }], "", Duration::from_secs(5))
        .await
        .expect_err("range past the end");
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    store.delete("b", "s/state.tar.gz").await.expect("delete");
    let err = store
        .compose("b", "s/state.tar.gz", &new, vec![Piece::Data(Bytes::from_static(b"x"))], "", Duration::from_secs(5))
        .await
        .expect_err("gone");
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

/// `put_stream` under each precondition: written only when it holds; a refusal is
/// `Error::Changed`, keeps the object and leaves no temp file.
#[tokio::test]
async fn conditional_put_stream_writes_only_when_the_condition_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::local(dir.path());
    let key = "s/state.tar.gz";
    let put = |body: &'static [u8], precondition: Precondition| {
        let store = &store;
        async move {
            let opts = StreamOptions { precondition, ..StreamOptions::default() };
            store.put_stream("b", key, body, "", opts).await
        }
    };
    let first = put(b"one", Precondition::Absent).await.expect("absent: written");
    let err = put(b"two", Precondition::Absent).await.expect_err("exists");
    assert!(matches!(err, Error::Changed { op: "PutObject", .. }), "{err}");
    let second = put(b"two", Precondition::Etag(first.etag.clone())).await.expect("current ETag: written");
    assert_eq!(store.head("b", key).await.expect("head"), Some(second.clone()));
    // `first` is stale now: another writer's version stays.
    let err = put(b"three", Precondition::Etag(first.etag.clone())).await.expect_err("stale ETag");
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert!(err.to_string().contains(&second.etag), "{err}");
    assert_eq!(read_all(&store, "b", key).await, b"two");
    store.delete("b", key).await.expect("delete");
    let err = put(b"four", Precondition::Etag(second.etag)).await.expect_err("gone");
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert!(store.head("b", key).await.expect("head").is_none());
    assert_eq!(files(dir.path()), Vec::<String>::new());
}

/// Writers that all read the same version and each write conditionally on it, at once, each
/// through its own directory descriptor (as separate processes would): exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_writers_one_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "s/state.tar.gz";
    for round in 0..20 {
        let base = Store::local(dir.path());
        let old = base.put_stream("b", key, &b"base"[..], "", StreamOptions::default()).await.expect("put");
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let (root, etag) = (dir.path().to_path_buf(), old.etag.clone());
                tokio::spawn(async move {
                    let store = Store::local(root);
                    let body = format!("writer {i}").into_bytes();
                    let opts = StreamOptions { precondition: Precondition::Etag(etag), ..StreamOptions::default() };
                    store.put_stream("b", key, &body[..], "", opts).await.map(|_| body)
                })
            })
            .collect();
        let mut won = Vec::new();
        for w in writers {
            match w.await.expect("task") {
                Ok(body) => won.push(body),
                Err(Error::Changed { .. }) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(won.len(), 1, "round {round}: exactly one writer replaces the version all of them read");
        assert_eq!(read_all(&base, "b", key).await, won[0], "round {round}");
    }
    assert_eq!(files(dir.path()), vec![format!("b/{key}")]);
}
