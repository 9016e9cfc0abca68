//! `compose`: a new version from server-side copies of the old one plus new bytes, all or nothing.

use super::*;
use the0_objstore::{ObjectMeta, Piece};

async fn put_random(store: &Store, b: &str, key: &str, len: usize) -> (Vec<u8>, ObjectMeta) {
    let mut old = Vec::new();
    Source::new(len, false).read_to_end(&mut old).await.expect("generate");
    let meta = store.put_stream(b, key, &old[..], "application/gzip", StreamOptions::default()).await.expect("put");
    (old, meta)
}

#[tokio::test]
async fn compose_copies_unchanged_ranges_and_uploads_new_bytes() {
    let store = store();
    let b = bucket("compose");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let key = "bot/state.tar.gz";
    let (old, meta) = put_random(&store, &b, key, 14 * MIB).await;
    let fresh = vec![b'x'; 5 * MIB];
    let pieces = vec![
        Piece::Copy { start: 0, end: 5 * MIB as u64 + 1 },
        Piece::Data(Bytes::from(fresh.clone())),
        Piece::Copy { start: 8 * MIB as u64, end: 14 * MIB as u64 },
        Piece::Data(Bytes::from_static(b"tail")),
    ];
    let new =
        store.compose(&b, key, &meta, pieces, "application/gzip", Duration::from_secs(60)).await.expect("compose");
    let mut want = old[..5 * MIB + 1].to_vec();
    want.extend_from_slice(&fresh);
    want.extend_from_slice(&old[8 * MIB..]);
    want.extend_from_slice(b"tail");
    let got = read_all(&store, &b, key).await;
    assert!(got == want, "content differs ({} vs {} bytes)", got.len(), want.len());
    assert_eq!(store.head(&b, key).await.expect("head"), Some(new.clone()), "compose reports the new ETag");
    assert_ne!(new.etag, meta.etag);
    assert!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty());
}

#[tokio::test]
async fn compose_refuses_a_changed_source_and_leaves_nothing_behind() {
    let store = store();
    let b = bucket("compose-changed");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let key = "bot/state.tar.gz";
    let (_, meta) = put_random(&store, &b, key, 6 * MIB).await;
    // Another writer (the0's API editing a key) replaces it with a same-size object.
    let (edited, _) = put_random(&store, &b, key, 6 * MIB).await;
    let mut other = edited.clone();
    other[0] ^= 0xff;
    store.put_bytes(&b, key, Bytes::from(other.clone()), "application/gzip").await.expect("edit");
    let pieces = vec![Piece::Copy { start: 0, end: 6 * MIB as u64 }, Piece::Data(Bytes::from_static(b"x"))];
    let err = store.compose(&b, key, &meta, pieces, "", Duration::from_secs(60)).await.expect_err("changed");
    assert!(matches!(err, Error::Changed { .. }), "{err}");
    assert!(read_all(&store, &b, key).await == other, "the edited object is kept");
    // A piece too small to be a middle part is refused before anything starts.
    let meta = store.head(&b, key).await.expect("head").expect("present");
    let small = vec![Piece::Data(Bytes::from_static(b"x")), Piece::Copy { start: 0, end: 6 * MIB as u64 }];
    let err = store.compose(&b, key, &meta, small, "", Duration::from_secs(60)).await.expect_err("small piece");
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_stopped_midway_is_aborted_and_the_old_object_stays() {
    let store = Arc::new(store());
    let b = bucket("compose-abort");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let key = "bot/state.tar.gz";
    let (old, meta) = put_random(&store, &b, key, 6 * MIB).await;
    let mut pieces = vec![Piece::Copy { start: 0, end: 6 * MIB as u64 }];
    // 60 MiB of new parts: long enough on a loopback server that the stop usually lands midway.
    const PARTS: u8 = 12;
    pieces.extend((0..PARTS).map(|i| Piece::Data(Bytes::from(vec![b'a' + i; 5 * MIB]))));
    let job = {
        let (store, b) = (store.clone(), b.clone());
        tokio::spawn(async move { store.compose(&b, key, &meta, pieces, "", Duration::from_secs(60)).await })
    };
    // Once the upload exists (and its id has surely reached the client), the caller gives up on
    // it, as a sync bounded by its deadline would, while the parts are still going up.
    let started = Instant::now();
    while s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty() {
        assert!(!job.is_finished(), "compose finished before its upload was seen");
        assert!(started.elapsed() < Duration::from_secs(30), "no upload started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!job.is_finished(), "compose finished before it could be stopped");
    job.abort();
    assert!(job.await.expect_err("cancelled").is_cancelled());
    // The abort runs in the background; it must leave nothing behind, and the object unchanged.
    let started = Instant::now();
    while !s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "the stopped upload was never aborted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A stop can land while the Complete is already on the wire: the server then finishes it and
    // nothing can take it back. Either way the object is whole: the old one, or all of the new one.
    let now = read_all(&store, &b, key).await;
    let mut composed = old.clone();
    (0..PARTS).for_each(|i| composed.extend(std::iter::repeat_n(b'a' + i, 5 * MIB)));
    assert!(now == old || now == composed, "the object is the old one or the whole new one ({} bytes)", now.len());
}
