//! Validation of bucket names and keys, the same for both backends so that a key accepted by one
//! is accepted by the other. Keys map to file paths locally and to URL paths on S3, where `..`,
//! `.` or empty segments could escape the root or be normalised away by a proxy.

use crate::{Error, Result};

fn invalid(op: &str, bucket: &str, key: &str, why: &str) -> Error {
    Error::Invalid(format!("{op} {bucket:?}/{key:?}: {why}"))
}

/// A bucket is one non-empty path segment other than `.` / `..`, without NUL.
pub(crate) fn check_bucket(op: &str, bucket: &str) -> Result<()> {
    if bucket.is_empty() || bucket == "." || bucket == ".." || bucket.contains(['/', '\0']) {
        return Err(invalid(op, bucket, "", "bucket must be a single non-empty path segment"));
    }
    Ok(())
}

/// A key is a relative `/`-separated path of non-empty segments, none `.` or `..`, without NUL,
/// whose last segment does not look like one of our temp files.
pub(crate) fn check_key(op: &str, bucket: &str, key: &str) -> Result<()> {
    check_path(op, bucket, key)?;
    if key.rsplit('/').next().is_some_and(crate::atomic::is_temp_name) {
        return Err(invalid(op, bucket, key, "key has the shape of a temp file name"));
    }
    Ok(())
}

/// The key of one of our temp files (local backend, to remove one left behind): a key as
/// [`check_key`] wants it except that its last segment must have the temp files' shape.
pub(crate) fn check_temp_key(op: &str, bucket: &str, key: &str) -> Result<()> {
    check_path(op, bucket, key)?;
    if !key.rsplit('/').next().is_some_and(crate::atomic::is_temp_name) {
        return Err(invalid(op, bucket, key, "not the name of a temp file"));
    }
    Ok(())
}

/// What [`check_key`] and [`check_temp_key`] share: the shape of a relative path.
fn check_path(op: &str, bucket: &str, key: &str) -> Result<()> {
    check_bucket(op, bucket)?;
    if key.is_empty() {
        return Err(invalid(op, bucket, key, "empty key"));
    }
    if key.contains('\0') {
        return Err(invalid(op, bucket, key, "key contains NUL"));
    }
    if key.starts_with('/') {
        return Err(invalid(op, bucket, key, "absolute key"));
    }
    for seg in key.split('/') {
        match seg {
            "" => return Err(invalid(op, bucket, key, "empty path segment in key")),
            "." | ".." => return Err(invalid(op, bucket, key, "`.` or `..` segment in key")),
            _ => {}
        }
    }
    Ok(())
}

/// A listing prefix: anything but NUL.
pub(crate) fn check_prefix(op: &str, bucket: &str, prefix: &str) -> Result<()> {
    check_bucket(op, bucket)?;
    if prefix.contains('\0') {
        return Err(invalid(op, bucket, prefix, "prefix contains NUL"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["a", "a/b.log", "logs/bot 1/20250131.log", "x+y/ü", ".the0-state/k.json", "a..b"] {
            assert!(check_key("t", "b", ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/..", "./a", "a//b", "a/", "a\0b", ".x.tmp-1-2"] {
            assert!(matches!(check_key("t", "b", bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn temp_keys() {
        for ok in [".x.tmp-1-2", "a/b/.state.tar.gz.tmp-42-0"] {
            assert!(check_temp_key("t", "b", ok).is_ok(), "{ok}");
        }
        for bad in ["", "x", "a/.x.tmp-1", "../.x.tmp-1-2", "a//.x.tmp-1-2", "/.x.tmp-1-2"] {
            assert!(matches!(check_temp_key("t", "b", bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn buckets() {
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert!(matches!(check_bucket("t", bad), Err(Error::Invalid(_))), "{bad:?}");
        }
        assert!(check_bucket("t", "bot-state").is_ok());
    }
}
