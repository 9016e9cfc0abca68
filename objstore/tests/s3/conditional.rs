//! Conditional writes (`StreamOptions::precondition`): `If-Match` / `If-None-Match: *` on a single
//! PUT and on CompleteMultipartUpload. Servers differ (see `docs/security/storage.md`,
//! "Conditional writes"), so `THE0_TEST_S3_CONDITIONAL` lists what the server under test is known
//! to honour, as measured: `put-if-match`, `put-if-none-match`, `complete-if-match`,
//! `complete-if-none-match` (comma-separated; unset: moto's set). Each test asserts exactly that:
//! a listed condition must be refused with `Error::Changed` and the other writer's object kept; an
//! unlisted one must be ignored (the write lands), so the table cannot silently go stale either
//! way. A condition that holds must always let the write through.

use super::*;
use the0_objstore::Precondition;

/// What moto 5.2 honours (measured; `scripts/test.sh` sets the same explicitly).
const MOTO: &str = "put-if-match,put-if-none-match,complete-if-none-match";

fn honoured(what: &str) -> bool {
    let list = std::env::var("THE0_TEST_S3_CONDITIONAL").unwrap_or_else(|_| MOTO.to_owned());
    list.split(',').any(|w| w.trim() == what)
}

/// A body that goes up as one PUT (`multipart` false) or as a two-part multipart upload.
fn body(tag: u8, multipart: bool) -> Vec<u8> {
    vec![tag; if multipart { 6 * MIB } else { 1024 }]
}

async fn write(store: &Store, b: &str, key: &str, data: &[u8], precondition: Precondition) -> Result<String, Error> {
    let opts = StreamOptions { part_size: 5 * MIB, precondition, ..StreamOptions::default() };
    store.put_stream(b, key, data, "application/gzip", opts).await.map(|m| m.etag)
}

/// One condition on one kind of write: the refused case (per the table) and the holding case.
async fn check(kind: &str, if_match: bool) {
    let multipart = kind == "complete";
    let what = format!("{kind}-{}", if if_match { "if-match" } else { "if-none-match" });
    let store = store();
    let b = bucket("cond");
    store.ensure_bucket(&b).await.expect("ensure_bucket");
    let key = "bot/state.tar.gz";
    // This writer read version 1; another writer then put version 2.
    let v1 = write(&store, &b, key, &body(1, false), Precondition::None).await.expect("v1");
    let v2 = write(&store, &b, key, &body(2, false), Precondition::None).await.expect("v2");
    assert_ne!(v1, v2);
    let refused = if if_match { Precondition::Etag(v1) } else { Precondition::Absent };
    let r = write(&store, &b, key, &body(3, multipart), refused).await;
    if honoured(&what) {
        let err = r.expect_err("the condition does not hold: refused");
        assert!(matches!(err, Error::Changed { .. }), "{what}: {err}");
        assert!(read_all(&store, &b, key).await == body(2, false), "{what}: the other writer's object is kept");
    } else {
        // The server ignores the header: the write lands. If this fails, the server now honours
        // the condition: measure again and update the table and THE0_TEST_S3_CONDITIONAL.
        r.unwrap_or_else(|e| panic!("{what} is not listed as honoured, yet the write was refused: {e}"));
        assert!(read_all(&store, &b, key).await == body(3, multipart), "{what}: ignored, so written");
        eprintln!("{what}: ignored by this server (as listed)");
    }
    assert!(s3(&store).incomplete_uploads(&b, "").await.expect("list uploads").is_empty(), "{what}");
    // A condition that holds always lets the write through.
    let current = store.head(&b, key).await.expect("head").expect("present").etag;
    let (holds, target) =
        if if_match { (Precondition::Etag(current), key) } else { (Precondition::Absent, "bot/fresh.tar.gz") };
    let etag = write(&store, &b, target, &body(4, multipart), holds).await.expect("the condition holds: written");
    assert!(read_all(&store, &b, target).await == body(4, multipart), "{what}");
    assert_eq!(store.head(&b, target).await.expect("head").map(|m| m.etag), Some(etag), "{what}: reported ETag");
}

#[tokio::test]
async fn put_if_match() {
    check("put", true).await;
}

#[tokio::test]
async fn put_if_none_match() {
    check("put", false).await;
}

#[tokio::test]
async fn complete_if_match() {
    check("complete", true).await;
}

#[tokio::test]
async fn complete_if_none_match() {
    check("complete", false).await;
}
