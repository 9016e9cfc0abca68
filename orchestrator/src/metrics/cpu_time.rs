//! The CPU time a future spends being polled, on whichever threads poll it. Why it exists: a
//! reconcile pass's wall time includes its waits for Docker and, on a loaded host, for a CPU;
//! issue #17's goal is the orchestrator's own CPU per pass, which `the0_reconcile_cpu_seconds`
//! reports from this measure. Time spent in tasks the future spawns is not counted.

use std::future::Future;
use std::time::Duration;

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`); zero where the
/// clock cannot be read, so a measure built on it errs low rather than failing.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// Runs `fut` to completion; returns its output and the CPU time spent inside its polls (the
/// calling thread's CPU clock read around each poll, summed).
pub async fn cpu_timed<F: Future>(fut: F) -> (F::Output, Duration) {
    let mut fut = std::pin::pin!(fut);
    let mut spent = Duration::ZERO;
    let out = std::future::poll_fn(|cx| {
        let t0 = thread_cpu();
        let polled = fut.as_mut().poll(cx);
        spent += thread_cpu().saturating_sub(t0);
        polled
    })
    .await;
    (out, spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns at least `d` of this thread's CPU.
    fn spin(d: Duration) {
        let t0 = thread_cpu();
        while thread_cpu() - t0 < d {
            std::hint::black_box(0u64);
        }
    }

    #[tokio::test]
    async fn counts_the_cpu_used_inside_polls() {
        let ((), spent) = cpu_timed(async {
            spin(Duration::from_millis(20));
            tokio::task::yield_now().await;
            spin(Duration::from_millis(20));
        })
        .await;
        assert!(spent >= Duration::from_millis(40), "{spent:?}");
    }

    #[tokio::test]
    async fn does_not_count_time_spent_waiting() {
        let (out, spent) = cpu_timed(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            7
        })
        .await;
        assert_eq!(out, 7);
        // Waiting uses no CPU: a few microseconds of polling, far below the 300 ms waited.
        assert!(spent < Duration::from_millis(100), "{spent:?}");
    }

    #[tokio::test]
    async fn does_not_count_work_of_other_tasks_run_meanwhile() {
        let other = tokio::spawn(async { spin(Duration::from_millis(50)) });
        let ((), spent) = cpu_timed(async {
            other.await.ok();
        })
        .await;
        // On a current-thread runtime the spawned task runs between this future's polls.
        assert!(spent < Duration::from_millis(25), "{spent:?}");
    }
}
