//! The wall clock the reconciler and the scheduler decide by (backoff expiry, due times), as a
//! value the host carries. Production reads the system clock; a paused-time test reads a clock
//! that starts at a chosen instant and moves only with tokio's (paused) time, so advancing tokio
//! time also moves backoffs and cron due times.

/// Where "now" comes from.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The system's wall clock.
    #[default]
    System,
    /// `base_ms` (Unix milliseconds) at the tokio instant `at`, advancing with tokio's clock.
    Tokio { base_ms: i64, at: tokio::time::Instant },
}

impl Clock {
    /// A clock reading `base_ms` now and advancing with tokio's clock (paused in tests).
    pub fn following_tokio(base_ms: i64) -> Clock {
        Clock::Tokio { base_ms, at: tokio::time::Instant::now() }
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => crate::store::now_ms(),
            Clock::Tokio { base_ms, at } => base_ms + at.elapsed().as_millis() as i64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_only_with_tokio_time() {
        let c = Clock::following_tokio(1_000);
        assert_eq!(c.now_ms(), 1_000);
        tokio::time::advance(Duration::from_millis(2_500)).await;
        assert_eq!(c.now_ms(), 3_500);
    }

    #[test]
    fn the_system_clock_is_the_stores() {
        let (before, now, after) = (crate::store::now_ms(), Clock::System.now_ms(), crate::store::now_ms());
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }
}
