//! Waits between retries that double up to a cap, and the random cut that spreads many
//! executors' retries apart. Why it exists: the query program's restarts and the NATS
//! publisher's reconnects both back off this way; one implementation serves both. Pure; the
//! randomness comes from [`jitter`], passed in so tests can fix it.

use std::time::Duration;

/// Retry delays: `base`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max, next: base }
    }

    /// The delay before the next attempt; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.base;
    }
}

/// `delay` with up to a quarter cut off: `jitter` (any value, taken modulo 1,000) says how much,
/// in thousandths of that quarter. Executors that lost the same server then retry apart.
pub fn jittered(delay: Duration, jitter: u64) -> Duration {
    delay - delay / 4 * (jitter % 1000) as u32 / 1000
}

/// A random number for [`jittered`], from std's randomly keyed hasher.
pub fn jitter() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let got: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn jitter_cuts_at_most_a_quarter() {
        let table = [
            // (delay ms, jitter, result ms)
            (1000, 0, 1000),
            (1000, 500, 875),
            (1000, 999, 750),
            (1000, 1000, 1000),
            (8000, 999, 6002),
            // u64::MAX % 1000 = 615: 8 s less 615/1000 of 2 s.
            (8000, u64::MAX, 6770),
            (0, 999, 0),
        ];
        for (ms, j, want) in table {
            assert_eq!(jittered(Duration::from_millis(ms), j).as_millis(), want, "{ms} ms, jitter {j}");
        }
    }

    #[test]
    fn jitter_varies() {
        let draws: std::collections::HashSet<u64> = (0..8).map(|_| jitter() % 1000).collect();
        assert!(draws.len() > 1, "{draws:?}");
    }
}
