//! When the reconciler's next pass is due and whether it must look at every bot. Why it exists:
//! a pass that answers stored changes plans only the bots they touched (issue #17), so the loop
//! must remember what the last full pass asked for (its wake time) and bring a full pass soon
//! after changed-bot passes (the aggregate gauges, anything a changed-bot pass does not look at).
//! Pure, table-tested.

/// A pass that answered stored changes is followed by a full pass at most this much later, which
/// brings the aggregate gauges up to date (however long changes keep coming).
pub const FULL_PASS_AFTER_CHANGES_MS: i64 = 1000;

/// What a pass found and did, for the loop's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassDone {
    /// When a pass is needed at the latest, for what this pass looked at.
    pub wake_at: Option<i64>,
    /// Whether it looked at every bot.
    pub full: bool,
}

/// The loop's memory across passes, pure: a full pass's wake time stays in force through the
/// passes over changed bots that follow it (they looked only at their bots), and the first of
/// those brings a full pass due [`FULL_PASS_AFTER_CHANGES_MS`] later.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// The last full pass's wake time.
    full_wake: Option<i64>,
    /// When a full pass must come, once passes over changed bots have run.
    full_at: Option<i64>,
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl Due {
    /// Whether the next pass must be a full one at `now`.
    pub fn full_due(&self, now: i64) -> bool {
        earliest(self.full_wake, self.full_at).is_some_and(|at| at <= now)
    }

    /// Takes in a pass's outcome at `now`; returns when the next pass is needed at the latest.
    pub fn after(&mut self, done: PassDone, now: i64) -> Option<i64> {
        if done.full {
            *self = Due { full_wake: done.wake_at, full_at: None };
            return done.wake_at;
        }
        self.full_at.get_or_insert(now + FULL_PASS_AFTER_CHANGES_MS);
        earliest(earliest(self.full_wake, self.full_at), done.wake_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: i64 = FULL_PASS_AFTER_CHANGES_MS;

    fn full(wake_at: Option<i64>) -> PassDone {
        PassDone { wake_at, full: true }
    }
    fn changed(wake_at: Option<i64>) -> PassDone {
        PassDone { wake_at, full: false }
    }

    #[test]
    fn a_full_pass_sets_the_wake_and_clears_what_changed_passes_asked() {
        let mut d = Due::default();
        assert!(!d.full_due(0), "nothing asked yet");
        assert_eq!(d.after(full(Some(5_000)), 0), Some(5_000));
        assert!(!d.full_due(4_999) && d.full_due(5_000));
        assert_eq!(d.after(full(None), 5_000), None);
        assert!(!d.full_due(i64::MAX));
    }

    #[test]
    fn passes_over_changed_bots_keep_the_full_wake_and_bring_a_full_pass_soon() {
        let mut d = Due::default();
        d.after(full(Some(30_000)), 0);
        // The first changed-bot pass at 100 brings a full pass at 100 + FULL; later ones do not
        // push it back, however long changes keep coming.
        assert_eq!(d.after(changed(None), 100), Some(100 + FULL));
        assert_eq!(d.after(changed(None), 600), Some(100 + FULL));
        assert!(!d.full_due(100 + FULL - 1) && d.full_due(100 + FULL));
        // A changed bot's own earlier wake (a backoff ending) wins.
        assert_eq!(d.after(changed(Some(300)), 200), Some(300));
        // The full pass's wake, if earlier, stays in force.
        let mut d = Due::default();
        d.after(full(Some(500)), 0);
        assert_eq!(d.after(changed(None), 100), Some(500));
        assert!(d.full_due(500));
        // A full pass ends it.
        assert_eq!(d.after(full(Some(40_000)), 500), Some(40_000));
        assert!(!d.full_due(500 + FULL));
    }
}
