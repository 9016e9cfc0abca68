//! What this executor knows about the state archive it last uploaded: which segment lies at which
//! byte range of which object version. Kept in memory by the syncer and in
//! `<run dir>/.state-archive.json` (written atomically), so a restarted executor in the same pod
//! can still upload incrementally. It is only a hint: every use is checked against the remote
//! object's size and ETag, and a mismatch means a full upload.

use std::io;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::segment::Digest;
use super::tree;

/// File name of the saved layout in the run directory.
pub const LAYOUT_FILE: &str = ".state-archive.json";
const VERSION: u32 = 1;

/// One segment's gzip member in the object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub digest: Digest,
    pub offset: u64,
    pub len: u64,
}

/// The layout of one uploaded archive object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    version: u32,
    pub bucket: String,
    pub key: String,
    /// ETag and size of the object as its upload reported them.
    pub etag: String,
    pub size: u64,
    /// The segments' members in object order, from offset 0, contiguous; the end member follows.
    pub members: Vec<Member>,
}

impl Layout {
    /// A layout of an object whose segments (digest, compressed length) were written in order.
    pub fn new(
        bucket: &str,
        key: &str,
        etag: String,
        size: u64,
        segments: impl IntoIterator<Item = (Digest, u64)>,
    ) -> Layout {
        let mut offset = 0;
        let members = segments
            .into_iter()
            .map(|(digest, len)| {
                let m = Member { digest, offset, len };
                offset += len;
                m
            })
            .collect();
        Layout { version: VERSION, bucket: bucket.to_owned(), key: key.to_owned(), etag, size, members }
    }

    /// The byte range of the member of the segment with this digest, if the object has it.
    pub fn find(&self, digest: &str) -> Option<Range<u64>> {
        self.members.iter().find(|m| m.digest == digest).map(|m| m.offset..m.offset + m.len)
    }

    /// Whether the members are contiguous from 0 and fit in the object (a hand-edited or
    /// truncated file is not trusted).
    fn is_consistent(&self) -> bool {
        let mut next = 0;
        for m in &self.members {
            if m.offset != next || m.len == 0 {
                return false;
            }
            next += m.len;
        }
        self.version == VERSION && next < self.size && !self.etag.is_empty()
    }

    /// The layout saved in `run_dir` for `bucket/key`, if there is a usable one.
    pub fn load(run_dir: &Path, bucket: &str, key: &str) -> Option<Layout> {
        let path = run_dir.join(LAYOUT_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                crate::warn!(
                    "could not read the state archive layout; the next upload is a full one",
                    path = path.display(),
                    error = e
                );
                return None;
            }
        };
        match serde_json::from_slice::<Layout>(&text) {
            Ok(l) if l.bucket == bucket && l.key == key && l.is_consistent() => Some(l),
            Ok(_) => None,
            Err(e) => {
                crate::warn!(
                    "unusable state archive layout; the next upload is a full one",
                    path = path.display(),
                    error = e
                );
                None
            }
        }
    }

    /// Saves the layout in `run_dir` (atomically); a failure only costs a full upload later.
    pub fn save(&self, run_dir: &Path) {
        let path = run_dir.join(LAYOUT_FILE);
        let res = serde_json::to_vec(self).map_err(io::Error::other).and_then(|text| {
            tree::mkdir_all(run_dir, 0o755).and_then(|()| the0_objstore::atomic::write_file(&path, &text, 0o644))
        });
        if let Err(e) = res {
            crate::warn!("could not save the state archive layout", path = path.display(), error = e);
        }
    }

    /// Removes the saved layout (the object it describes is gone or unknown).
    pub fn forget(run_dir: &Path) {
        let _ = tree::remove_any(&run_dir.join(LAYOUT_FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_and_distrust() {
        let d = tempfile::tempdir().unwrap();
        let l = Layout::new("b", "k", "\"e-2\"".into(), 100, [("aa".to_string(), 40), ("bb".to_string(), 50)]);
        assert_eq!(l.find("bb"), Some(40..90));
        assert_eq!(l.find("cc"), None);
        assert_eq!(Layout::load(d.path(), "b", "k"), None);
        l.save(d.path());
        assert_eq!(Layout::load(d.path(), "b", "k"), Some(l.clone()));
        assert_eq!(Layout::load(d.path(), "b", "other"), None, "another key's layout");
        let mut bad = l.clone();
        bad.members[1].offset = 41;
        bad.save(d.path());
        assert_eq!(Layout::load(d.path(), "b", "k"), None, "not contiguous");
        let mut bad = l.clone();
        bad.size = 90;
        bad.save(d.path());
        assert_eq!(Layout::load(d.path(), "b", "k"), None, "no room for the end member");
        std::fs::write(d.path().join(LAYOUT_FILE), b"{not json").unwrap();
        assert_eq!(Layout::load(d.path(), "b", "k"), None);
        Layout::forget(d.path());
        assert!(!d.path().join(LAYOUT_FILE).exists());
    }
}
