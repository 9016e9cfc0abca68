//! Trailing debounce of change events (D7): a sync runs once things have been quiet for `quiet`
//! (200 ms), but never later than `max` (1 s) after the first unsynced change, so a bot that writes
//! continuously still has its changes shipped every second. Pure: time is passed in.

use std::time::{Duration, Instant};

/// Which halves a trigger asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dirty {
    pub state: bool,
    pub logs: bool,
}

impl Dirty {
    pub const BOTH: Dirty = Dirty { state: true, logs: true };

    pub fn any(self) -> bool {
        self.state || self.logs
    }

    pub fn union(self, other: Dirty) -> Dirty {
        Dirty { state: self.state || other.state, logs: self.logs || other.logs }
    }
}

#[derive(Debug, Clone)]
pub struct Debounce {
    quiet: Duration,
    max: Duration,
    first: Option<Instant>,
    last: Option<Instant>,
    dirty: Dirty,
}

impl Debounce {
    pub const QUIET: Duration = Duration::from_millis(200);
    pub const MAX: Duration = Duration::from_secs(1);

    pub fn new(quiet: Duration, max: Duration) -> Debounce {
        Debounce { quiet, max, first: None, last: None, dirty: Dirty::default() }
    }

    pub fn mark(&mut self, now: Instant, what: Dirty) {
        if !what.any() {
            return;
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.dirty = self.dirty.union(what);
    }

    /// When the pending sync is due, if one is pending.
    pub fn deadline(&self) -> Option<Instant> {
        Some((self.last? + self.quiet).min(self.first? + self.max))
    }

    /// Takes what is due at `now` (nothing if not yet due) and resets.
    pub fn take_due(&mut self, now: Instant) -> Dirty {
        match self.deadline() {
            Some(d) if d <= now => {
                let dirty = self.dirty;
                *self = Debounce::new(self.quiet, self.max);
                dirty
            }
            _ => Dirty::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Dirty = Dirty { state: true, logs: false };
    const L: Dirty = Dirty { state: false, logs: true };

    #[test]
    fn trailing_quiet_period() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Debounce::new(Debounce::QUIET, Debounce::MAX);
        assert_eq!(d.deadline(), None);
        d.mark(ms(0), S);
        assert_eq!(d.deadline(), Some(ms(200)));
        d.mark(ms(150), L);
        assert_eq!(d.deadline(), Some(ms(350)));
        assert_eq!(d.take_due(ms(300)), Dirty::default(), "not yet quiet");
        assert_eq!(d.take_due(ms(350)), Dirty::BOTH);
        assert_eq!(d.deadline(), None, "reset after taking");
    }

    #[test]
    fn continuous_writes_still_sync_every_max() {
        let t0 = Instant::now();
        let mut d = Debounce::new(Debounce::QUIET, Debounce::MAX);
        for i in 0..20 {
            d.mark(t0 + Duration::from_millis(i * 100), L);
        }
        assert_eq!(d.deadline(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn empty_marks_are_ignored() {
        let mut d = Debounce::new(Debounce::QUIET, Debounce::MAX);
        d.mark(Instant::now(), Dirty::default());
        assert_eq!(d.deadline(), None);
    }
}
