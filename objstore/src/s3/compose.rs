//! [`crate::Store::compose`] on S3: a HEAD to check the object is still the expected version,
//! then one multipart upload whose parts are UploadPartCopy of the unchanged byte ranges of the
//! object itself (each guarded by `x-amz-copy-source-if-match`, so on servers that honour it a
//! version written between the HEAD and the copy is never mixed in) and UploadPart of the new
//! bytes, all sent at once. Completed only if every part succeeded, aborted otherwise: the old
//! object stays.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::future::try_join_all;

use super::append::split_copy;
use super::multipart::{Upload, MIN_PART_SIZE};
use super::S3Store;
use crate::compose::check_pieces;
use crate::names::check_key;
use crate::{Error, ObjectMeta, Piece, Precondition, Result};

const OP: &str = "ComposeObject";

impl S3Store {
    pub(crate) async fn compose(
        &self,
        bucket: &str,
        key: &str,
        source: &ObjectMeta,
        pieces: &[Piece],
        content_type: &str,
        deadline: Duration,
    ) -> Result<ObjectMeta> {
        check_key(OP, bucket, key)?;
        check_pieces(OP, bucket, key, pieces, source.size, MIN_PART_SIZE as u64)?;
        let changed =
            |detail: String| Error::Changed { op: OP, bucket: bucket.to_owned(), key: key.to_owned(), detail };
        match self.head(bucket, key).await? {
            None => return Err(changed("it no longer exists".into())),
            Some(now) if now.size != source.size || !same_etag(&now.etag, &source.etag) => {
                return Err(changed(format!(
                    "expected {} ({} bytes), found {} ({} bytes)",
                    source.etag, source.size, now.etag, now.size
                )))
            }
            Some(_) => {}
        }
        let if_match = Some(source.etag.as_str()).filter(|e| !e.is_empty());
        let slot = OnceLock::new();
        let work = async {
            let up = Upload::create(self, OP, bucket, key, content_type, &slot).await?;
            // All parts at once: the server's copies of the unchanged ranges take longest (their
            // time grows with the object), so the new bytes go up meanwhile.
            let mut parts: Vec<Pin<Box<dyn Future<Output = Result<String>> + Send + '_>>> = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Copy { start, end } => {
                        for range in split_copy(*start, end - start) {
                            let n = parts.len() as u64 + 1;
                            parts.push(Box::pin(up.part_copy(n, Some(range), source.size, if_match)));
                        }
                    }
                    Piece::Data(bytes) => {
                        let n = parts.len() as u64 + 1;
                        parts.push(Box::pin(up.part(n, bytes.clone())));
                    }
                }
            }
            let etags = try_join_all(parts).await?;
            // The Complete carries the source's ETag too: where the server honours `If-Match` on
            // it, a version written since the HEAD is never replaced.
            let pre = if_match.map_or(Precondition::None, |e| Precondition::Etag(e.to_owned()));
            let etag = up.complete(&etags, &pre).await?;
            Ok(ObjectMeta { size: pieces.iter().map(Piece::len).sum(), etag })
        };
        match self.guarded(OP, bucket, key, Some(deadline), &slot, work).await {
            Err(Error::Server { status: 412, message, .. }) => Err(changed(message)),
            other => other,
        }
    }
}

/// ETags compare without their quotes (some answers carry them, some do not); an empty ETag
/// never matches.
fn same_etag(a: &str, b: &str) -> bool {
    let bare = |s: &str| s.trim().trim_matches('"').to_owned();
    !bare(a).is_empty() && bare(a) == bare(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_compare_without_quotes() {
        assert!(super::same_etag("\"abc-2\"", "abc-2"));
        assert!(!super::same_etag("\"abc\"", "abd"));
        assert!(!super::same_etag("", ""));
    }
}
