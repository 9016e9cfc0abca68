//! The shipped offset into `bot.log`, persisted in `<run dir>/.bot-log-offset` (D9).
//!
//! The original kept the offset in memory only, so a restarted executor re-shipped (or, after a
//! rewrite, skipped) log lines. The file holds the offset in decimal; it is replaced atomically
//! (`the0_objstore::atomic`) so a crash leaves either the old or the new value, never a torn one.

use std::io;
use std::path::{Path, PathBuf};

use the0_contract::paths;

#[derive(Debug, thiserror::Error)]
#[error("writing the log offset file {path}: {source}")]
pub struct OffsetError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// `<run dir>/.bot-log-offset`.
#[derive(Debug, Clone)]
pub struct OffsetFile {
    path: PathBuf,
}

impl OffsetFile {
    pub fn in_run_dir(run_dir: &Path) -> OffsetFile {
        OffsetFile { path: run_dir.join(paths::BOT_LOG_OFFSET) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The persisted offset; a missing file is 0, and so is an unreadable or garbage one (logged).
    pub fn load(&self) -> u64 {
        match std::fs::read(&self.path) {
            Ok(bytes) => match parse(&bytes) {
                Some(n) => n,
                None => {
                    crate::warn!(
                        "log offset file is not a decimal number; shipping bot.log from the start",
                        path = self.path.display(),
                        content = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]),
                    );
                    0
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => {
                crate::warn!(
                    "log offset file unreadable; shipping bot.log from the start",
                    path = self.path.display(),
                    error = e,
                );
                0
            }
        }
    }

    /// Replaces the file with `offset` ([`the0_objstore::atomic`]).
    pub fn store(&self, offset: u64) -> Result<(), OffsetError> {
        the0_objstore::atomic::write_file(&self.path, offset.to_string().as_bytes(), 0o644)
            .map_err(|source| OffsetError { path: self.path.clone(), source })
    }
}

/// Decimal digits with optional surrounding white space.
fn parse(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

/// Where to resume given the saved offset and the current `bot.log` length: a file shorter than
/// the offset was truncated or recreated, so shipping restarts at 0.
pub fn resume_at(saved: u64, file_len: u64) -> u64 {
    if file_len < saved {
        0
    } else {
        saved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        for (text, want) in [
            (&b"0"[..], Some(0)),
            (b"12345", Some(12345)),
            (b"  77\n", Some(77)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"", None),
            (b"-1", None),
            (b"12x", None),
            (b"18446744073709551616", None),
            (b"\xff", None),
        ] {
            assert_eq!(parse(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn store_then_load_round_trips_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let f = OffsetFile::in_run_dir(dir.path());
        assert_eq!(f.path(), dir.path().join(".bot-log-offset"));
        assert_eq!(f.load(), 0, "missing file");
        f.store(4096).unwrap();
        assert_eq!(std::fs::read_to_string(f.path()).unwrap(), "4096");
        assert_eq!(f.load(), 4096);
        f.store(7).unwrap();
        assert_eq!(f.load(), 7);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(".bot-log-offset")]);
    }

    #[test]
    fn garbage_loads_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        let f = OffsetFile::in_run_dir(dir.path());
        std::fs::write(f.path(), "not a number").unwrap();
        assert_eq!(f.load(), 0);
        // A directory where the file should be: unreadable, 0; storing fails naming the path.
        std::fs::remove_file(f.path()).unwrap();
        std::fs::create_dir(f.path()).unwrap();
        assert_eq!(f.load(), 0);
        let err = f.store(1).unwrap_err();
        assert!(err.to_string().contains(".bot-log-offset"), "{err}");
    }

    #[test]
    fn resume_restarts_when_the_file_shrank() {
        assert_eq!(resume_at(0, 0), 0);
        assert_eq!(resume_at(10, 10), 10);
        assert_eq!(resume_at(10, 50), 10);
        assert_eq!(resume_at(10, 9), 0);
    }
}
