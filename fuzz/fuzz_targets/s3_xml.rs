//! The S3 client's reading of server answers (`objstore/src/s3/xml.rs`, dates of `date.rs`):
//! error documents, ListObjectsV2 pages, element lookup, entity unescaping. Also: escaping then
//! unescaping gives the text back (keys we send in CompleteMultipartUpload and compare).
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_objstore::s3::fuzzing::{elements, error, escape, first, list_page, parse_rfc3339, unescape};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else { return };
    let _ = error(xml);
    if let Ok((objects, next)) = list_page(xml) {
        let _ = (objects.len(), next);
    }
    for tag in ["Contents", "Key", "ETag", "UploadId", "Error"] {
        for e in elements(xml, tag) {
            assert!(xml.contains(e), "an element's text is a slice of the document");
        }
        let _ = first(xml, tag);
    }
    let _ = unescape(xml);
    assert_eq!(unescape(&escape(xml)), xml, "escape then unescape round-trips");
    let _ = parse_rfc3339(xml);
});
