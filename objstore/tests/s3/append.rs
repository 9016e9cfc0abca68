//! `append` (D9): small objects by GET/cached body + PUT, large ones by UploadPartCopy, and other
//! writers' changes never lost to the cache.

use super::*;

#[tokio::test]
async fn append_small_concatenates() {
    let store = store();
    let b = bucket("append");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let key = "logs/bot-1/20250131.log";
    store.append(&b, key, Bytes::from_static(b"{\"a\":1}\n"), "text/plain").await.expect("append 1");
    store.append(&b, key, Bytes::from_static(b"{\"b\":2}\n"), "text/plain").await.expect("append 2");
    store.append(&b, key, Bytes::from_static(b"tail"), "text/plain").await.expect("append 3");
    assert_eq!(read_all(&store, &b, key).await, b"{\"a\":1}\n{\"b\":2}\ntail");
    // A fresh store (empty cache) appends correctly too.
    let other = self::store();
    other.append(&b, key, Bytes::from_static(b"!"), "text/plain").await.expect("append 4");
    assert_eq!(read_all(&store, &b, key).await, b"{\"a\":1}\n{\"b\":2}\ntail!");
}

#[tokio::test]
async fn append_sees_changes_by_other_writers() {
    let store = store();
    let b = bucket("append-race");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let key = "logs/bot/day.log";
    store.append(&b, key, Bytes::from_static(b"one\n"), "text/plain").await.expect("append");
    // Another writer replaces the object, same length, between our appends.
    let other = self::store();
    other.put_bytes(&b, key, Bytes::from_static(b"ONE\n"), "text/plain").await.expect("other put");
    store.append(&b, key, Bytes::from_static(b"two\n"), "text/plain").await.expect("append");
    assert_eq!(read_all(&store, &b, key).await, b"ONE\ntwo\n");
    // Another writer appends; our cache must not drop its bytes.
    other.append(&b, key, Bytes::from_static(b"three\n"), "text/plain").await.expect("other append");
    store.append(&b, key, Bytes::from_static(b"four\n"), "text/plain").await.expect("append");
    assert_eq!(read_all(&store, &b, key).await, b"ONE\ntwo\nthree\nfour\n");
    // Deleted meanwhile: the append recreates it with just the new bytes.
    other.delete(&b, key).await.expect("delete");
    store.append(&b, key, Bytes::from_static(b"five\n"), "text/plain").await.expect("append");
    assert_eq!(read_all(&store, &b, key).await, b"five\n");
}

#[tokio::test]
async fn append_onto_large_object_copies_server_side() {
    let store = store();
    let b = bucket("append-big");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let key = "logs/bot/big.log";
    let mut src = Source::new(5 * MIB + 100, false);
    let mut old = Vec::new();
    src.read_to_end(&mut old).await.expect("generate");
    store.put_bytes(&b, key, Bytes::from(old.clone()), "text/plain").await.expect("put");
    store.append(&b, key, Bytes::from_static(b"appended line\n"), "text/plain").await.expect("append");
    store.append(&b, key, Bytes::from_static(b"and another\n"), "text/plain").await.expect("append");
    let mut want = old;
    want.extend_from_slice(b"appended line\nand another\n");
    let got = read_all(&store, &b, key).await;
    assert_eq!(got.len(), want.len());
    assert!(got == want, "content differs");
    let meta = store.head(&b, key).await.expect("head").expect("present");
    assert!(meta.etag.ends_with("-2\""), "copy part + data part: {}", meta.etag);
    assert!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty());
    let listed = store.list(&b, "logs/").await.expect("list");
    assert_eq!(listed.len(), 1, "no temp objects: {listed:?}");
}
