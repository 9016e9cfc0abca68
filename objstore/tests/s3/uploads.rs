//! `put_stream` and `put_file`: single PUT vs multipart, content checked by SHA-256, and no object
//! or in-progress upload left after a reader failure, a deadline, or a dropped future.

use super::*;

#[tokio::test]
async fn put_stream_small_is_a_single_put() {
    let store = store();
    let b = bucket("small");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let mut src = Source::new(1024, false);
    let n = store
        .put_stream(&b, "s.tar.gz", &mut src, "application/gzip", StreamOptions::default())
        .await
        .expect("put_stream");
    assert_eq!(n.size, 1024);
    assert_eq!(store.head(&b, "s.tar.gz").await.expect("head").map(|m| m.etag), Some(n.etag));
    assert_eq!(sha256(&read_all(&store, &b, "s.tar.gz").await), src.digest());
    // Exactly one part's worth also goes up as one PUT (the stream ends right after it).
    let five = 5 * MIB;
    let mut src = Source::new(five, false);
    let opts = StreamOptions { part_size: five, ..StreamOptions::default() };
    let n = store.put_stream(&b, "exact", &mut src, "", opts).await.expect("put_stream");
    assert_eq!(n.size, five as u64);
    let meta = store.head(&b, "exact").await.expect("head").expect("present");
    assert!(!meta.etag.contains('-'), "not a multipart ETag: {}", meta.etag);
    assert_eq!(sha256(&read_all(&store, &b, "exact").await), src.digest());
}

#[tokio::test]
async fn put_stream_large_is_multipart() {
    let store = store();
    let b = bucket("large");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let len = 22 * MIB + 12_345;
    let mut src = Source::new(len, false);
    let opts = StreamOptions { part_size: 5 * MIB, ..StreamOptions::default() };
    let n = store.put_stream(&b, "state.tar.gz", &mut src, "application/gzip", opts).await.expect("put_stream");
    assert_eq!(n.size, len as u64);
    let meta = store.head(&b, "state.tar.gz").await.expect("head").expect("present");
    assert_eq!(meta, n, "put_stream reports the ETag HEAD shows");
    assert_eq!(meta.size, len as u64);
    assert!(meta.etag.ends_with("-5\""), "5-part multipart ETag, got {}", meta.etag);
    assert_eq!(sha256(&read_all(&store, &b, "state.tar.gz").await), src.digest());
    assert!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty());
}

#[tokio::test]
async fn put_stream_reader_failure_aborts() {
    let store = store();
    let b = bucket("fail");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let opts = StreamOptions { part_size: 5 * MIB, ..StreamOptions::default() };
    let err = store
        .put_stream(&b, "state.tar.gz", Source::new(12 * MIB, true), "application/gzip", opts)
        .await
        .expect_err("reader fails after 12 MiB");
    assert!(matches!(err, Error::Io { op: "PutObject", .. }), "{err}");
    assert!(store.head(&b, "state.tar.gz").await.expect("head").is_none(), "no partial object");
    assert_eq!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads"), Vec::<String>::new());
}

/// Yields `len` bytes, then never anything again.
struct Stall(usize);

impl AsyncRead for Stall {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.0 == 0 {
            return Poll::Pending;
        }
        let n = self.0.min(buf.remaining());
        buf.put_slice(&vec![b'z'; n]);
        self.0 -= n;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn put_stream_deadline_aborts() {
    let store = Arc::new(store());
    let b = bucket("deadline");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let opts = StreamOptions { part_size: 5 * MIB, deadline: Duration::from_secs(6), ..StreamOptions::default() };
    let started = Instant::now();
    let upload = {
        let (store, b) = (store.clone(), b.clone());
        tokio::spawn(async move { store.put_stream(&b, "k", Stall(11 * MIB), "", opts).await })
    };
    // While the source stalls, the upload is in progress (this also shows the listing below can
    // see uploads, so its emptiness at the end means something).
    let mut seen = Vec::new();
    while seen.is_empty() && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        seen = s3(&store).incomplete_uploads(&b, "").await.expect("list uploads");
    }
    assert_eq!(seen, vec!["k".to_string()]);
    let err = upload.await.expect("task").expect_err("deadline");
    assert!(matches!(err, Error::Timeout { op: "PutObject", .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(store.head(&b, "k").await.expect("head").is_none());
    assert_eq!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads"), Vec::<String>::new());
}

#[tokio::test]
async fn put_stream_dropped_midway_aborts_in_background() {
    let store = store();
    let b = bucket("dropped");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let opts = StreamOptions { part_size: 5 * MIB, deadline: Duration::from_secs(600), ..StreamOptions::default() };
    // The caller gives up (drops the future) while the source stalls after part 2.
    let upload = store.put_stream(&b, "k", Stall(11 * MIB), "", opts);
    assert!(tokio::time::timeout(Duration::from_secs(3), upload).await.is_err());
    let started = Instant::now();
    let mut left = vec!["?".to_string()];
    while !left.is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = s3(&store).incomplete_uploads(&b, "").await.expect("list uploads");
    }
    assert_eq!(left, Vec::<String>::new());
    assert!(store.head(&b, "k").await.expect("head").is_none());
}

#[tokio::test]
async fn put_file_small_and_multipart() {
    let store = store();
    let b = bucket("files");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, len) in [("small", 300_000usize), ("big", 64 * MIB + 3 * MIB + 7)] {
        let path = dir.path().join(name);
        let mut src = Source::new(len, false);
        let mut data = Vec::with_capacity(len);
        src.read_to_end(&mut data).await.expect("generate");
        std::fs::write(&path, &data).expect("write file");
        store.put_file(&b, name, &path, "application/zip").await.expect("put_file");
        let dest = dir.path().join(format!("{name}.out"));
        assert_eq!(store.get_to_file(&b, name, &dest).await.expect("get_to_file"), Some(len as u64));
        assert_eq!(sha256(&std::fs::read(&dest).expect("read")), src.digest(), "{name}");
    }
    let big = store.head(&b, "big").await.expect("head").expect("present");
    assert!(big.etag.ends_with("-5\""), "16 MiB parts: {}", big.etag);
    assert!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty());
}
