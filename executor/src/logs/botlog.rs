//! `bot.log`: the file the bot's stdout and stderr are teed into (docs/contract.md §2.4), shared by the
//! tee tasks that append to it and the log shipper that may truncate it once fully shipped (D9).
//! One mutex orders appends and truncation, so no byte written by the bot is ever lost to a
//! truncate.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct BotLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl BotLog {
    /// Opens (creating with 0644, parents 0755) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Arc<BotLog>> {
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o755).create(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).mode(0o644).open(path)?;
        Ok(Arc::new(BotLog { path: path.to_path_buf(), file: Mutex::new(file) }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends bytes in one locked write.
    pub fn append(&self, bytes: &[u8]) -> io::Result<()> {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(bytes)
    }

    /// Truncates the file to zero if its length is exactly `shipped` (everything was shipped) and
    /// larger than `min_size`. Returns whether it truncated. Appends wait while this runs.
    pub fn truncate_if_shipped(&self, shipped: u64, min_size: u64) -> io::Result<bool> {
        let f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let len = f.metadata()?.len();
        if len == shipped && len > min_size {
            f.set_len(0)?;
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_truncates_only_when_shipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs/bot.log");
        let log = BotLog::open(&p).unwrap();
        log.append(b"hello\n").unwrap();
        log.append(b"world\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello\nworld\n");
        assert!(!log.truncate_if_shipped(6, 0).unwrap(), "not everything shipped");
        assert!(!log.truncate_if_shipped(12, 100).unwrap(), "too small to bother");
        assert!(log.truncate_if_shipped(12, 0).unwrap());
        log.append(b"again\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"again\n");
    }
}
