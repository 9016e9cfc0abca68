//! Which bots each desired-state change touched, as a short log beside the version that
//! [`super::Store::watch`] carries. Why it exists: whoever follows the store (the reconciler, the
//! query index) can then look at the bots that changed since the version it last saw instead of
//! reading every bot again (issue #17: the work per change must not grow with the fleet). The log
//! is bounded; a follower that fell further behind than it reaches is told to read everything.
//! In memory only: a restarted process starts with full reads anyway.

use std::collections::{BTreeSet, VecDeque};

/// Entries kept: far more than the changes between two reads of a live follower.
pub const KEPT: usize = 4096;
/// Beyond this many changed bots a follower reads them all: one listing of the store is cheaper
/// than this many single reads.
pub const MAX_CHANGED_BOTS: usize = 64;

/// The bots changed since some version, and the version they bring the follower to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// `None`: the log no longer reaches back that far; read everything.
    pub bots: Option<BTreeSet<String>>,
    pub version: u64,
}

/// `(version, bot)` of each change, oldest first; versions grow by one.
#[derive(Debug, Default)]
pub struct ChangeLog {
    entries: VecDeque<(u64, String)>,
    version: u64,
}

impl ChangeLog {
    /// Records a change of `bot`; returns the new version.
    pub fn push(&mut self, bot: &str) -> u64 {
        self.version += 1;
        if self.entries.len() == KEPT {
            self.entries.pop_front();
        }
        self.entries.push_back((self.version, bot.to_string()));
        self.version
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The bots changed after version `seen`.
    pub fn since(&self, seen: u64) -> Changed {
        let oldest = self.entries.front().map_or(self.version + 1, |(v, _)| *v);
        let reaches = seen + 1 >= oldest || seen >= self.version;
        let bots = reaches.then(|| self.entries.iter().filter(|(v, _)| *v > seen).map(|(_, b)| b.clone()).collect());
        Changed { bots, version: self.version }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(c: &Changed) -> Option<Vec<&str>> {
        c.bots.as_ref().map(|b| b.iter().map(String::as_str).collect())
    }

    #[test]
    fn tells_the_bots_changed_since_a_version() {
        let mut log = ChangeLog::default();
        assert_eq!(log.since(0), Changed { bots: Some(BTreeSet::new()), version: 0 });
        assert_eq!(log.push("b1"), 1);
        log.push("b2");
        log.push("b1");
        assert_eq!(ids(&log.since(0)), Some(vec!["b1", "b2"]));
        assert_eq!(ids(&log.since(1)), Some(vec!["b1", "b2"]));
        assert_eq!(ids(&log.since(2)), Some(vec!["b1"]));
        let now = log.since(3);
        assert_eq!((ids(&now), now.version), (Some(vec![]), 3));
    }

    #[test]
    fn a_follower_too_far_behind_reads_everything() {
        let mut log = ChangeLog::default();
        for i in 0..KEPT + 10 {
            log.push(&format!("b{i}"));
        }
        let v = log.version();
        assert_eq!(log.since(0).bots, None, "ten changes fell out of the log");
        assert_eq!(log.since(9).bots, None);
        assert_eq!(log.since(10).bots.map(|b| b.len()), Some(KEPT), "the oldest kept is 11");
        assert_eq!(log.since(v - 1).bots.map(|b| b.len()), Some(1));
        assert_eq!(log.since(v).bots.map(|b| b.len()), Some(0));
    }
}
