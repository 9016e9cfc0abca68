//! The crash policy of a live bot (docs/contract.md §5.3, D23), in one pure function: what an
//! unrequested exit, a failed start, an unrunnable spec, a steady run or a successful start means
//! for the bot's status, and whether it restarts now, backs off (until when) or is marked failed.
//! Both the planner (exits, unrunnable specs, steady runs) and the runner (starts) ask [`decide`],
//! so the rule lives in one place, as kube-rs keeps its error policy apart from its reconciler.
//!
//! The delay is `min(base·2^(n−1), 300 s)` plus up to 10 % jitter, so bots that crash together do
//! not restart in lockstep. The jitter is derived from the bot id and `n`, which keeps the function
//! pure (and the planner's output reproducible in tests).

use crate::observed::BotStatus;

/// Uptime after which a bot's crash history is forgotten (D23).
pub const RESET_AFTER_MS: i64 = 10 * 60 * 1000;

/// What happened to a bot. Times are Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Its container exited without being asked to: a crash (D23), whatever the code.
    Exited { code: Option<i64>, oom: bool, started_ms: Option<i64>, finished_ms: i64 },
    /// Starting its container failed (missing code, Docker refused, credentials…).
    StartFailed { reason: &'a str, at_ms: i64 },
    /// Its stored spec cannot be run until it changes.
    Unrunnable { reason: &'a str },
    /// It has been up for [`RESET_AFTER_MS`].
    Steady,
    /// Its container started.
    Started,
}

/// What the bot does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing holds it back.
    RetryNow,
    /// Restart no earlier than `until_ms`, `delay_ms` after the failure.
    BackOff { until_ms: i64, delay_ms: i64 },
    /// Not started again until its spec changes.
    Failed,
}

/// The bot's status after `event`, and what it does next. `base_ms` is the first delay
/// (`--backoff-base`, 10 s); `bot_id` seeds the jitter.
pub fn decide(status: &BotStatus, event: Event<'_>, bot_id: &str, base_ms: i64) -> (BotStatus, Verdict) {
    let mut s = status.clone();
    let verdict = match event {
        Event::Exited { code, oom, started_ms, finished_ms } => {
            let ran = started_ms.map_or(0, |at| finished_ms - at);
            s.consecutive = if ran >= RESET_AFTER_MS { 1 } else { s.consecutive.saturating_add(1) };
            s.restarts = s.restarts.saturating_add(1);
            s.last_exit_code = code;
            s.last_exit_at = Some(finished_ms);
            s.failure_reason = Some(match code {
                _ if oom => "container was killed for exceeding its memory limit (OOM)".to_string(),
                Some(c) => format!("bot exited with code {c}"),
                None => "bot exited".to_string(),
            });
            back_off(&mut s, finished_ms, bot_id, base_ms)
        }
        Event::StartFailed { reason, at_ms } => {
            s.consecutive = s.consecutive.saturating_add(1);
            s.failure_reason = Some(reason.to_string());
            back_off(&mut s, at_ms, bot_id, base_ms)
        }
        Event::Unrunnable { reason } => {
            s.failure_reason = Some(reason.to_string());
            s.backoff_until = None;
            Verdict::Failed
        }
        Event::Steady => {
            s.consecutive = 0;
            s.backoff_until = None;
            Verdict::RetryNow
        }
        Event::Started => {
            s.failure_reason = None;
            s.backoff_until = None;
            Verdict::RetryNow
        }
    };
    (s, verdict)
}

fn back_off(s: &mut BotStatus, from_ms: i64, bot_id: &str, base_ms: i64) -> Verdict {
    let delay_ms = delay_ms(s.consecutive, base_ms, bot_id);
    let until_ms = from_ms + delay_ms;
    s.backoff_until = Some(until_ms);
    Verdict::BackOff { until_ms, delay_ms }
}

/// The ceiling of one delay.
pub const MAX_MS: i64 = 300_000;

/// Delay before the `n`-th consecutive restart (n ≥ 1), in milliseconds.
pub fn delay_ms(n: u32, base_ms: i64, seed: &str) -> i64 {
    let exp = n.saturating_sub(1).min(30);
    let base = base_ms.max(1).saturating_mul(1i64 << exp).min(MAX_MS.max(base_ms));
    base + jitter(base / 10, seed, n)
}

fn jitter(span: i64, seed: &str, n: u32) -> i64 {
    if span <= 0 {
        return 0;
    }
    // FNV-1a: a stable, dependency-free spread.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes().chain(n.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % (span as u64 + 1)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: i64 = 10_000;

    /// Before, event, then after: consecutive, restarts, failure reason, backing off, verdict.
    type Case<'a> = (BotStatus, Event<'a>, u32, u32, Option<&'a str>, bool, &'a str);

    fn status(consecutive: u32, restarts: u32) -> BotStatus {
        BotStatus { consecutive, restarts, ..Default::default() }
    }

    #[test]
    fn what_each_event_means_for_the_bot() {
        let t = 1_000_000_000;
        let failed = BotStatus {
            consecutive: 2,
            restarts: 5,
            backoff_until: Some(t + 1),
            failure_reason: Some("x".into()),
            ..Default::default()
        };
        let exit = |code, oom, ran| Event::Exited { code, oom, started_ms: Some(t - ran), finished_ms: t };
        let cases: Vec<Case<'_>> = vec![
            (status(0, 0), exit(Some(3), false, 1_000), 1, 1, Some("bot exited with code 3"), true, "backoff"),
            (status(0, 0), exit(Some(0), false, 1_000), 1, 1, Some("bot exited with code 0"), true, "backoff"),
            (status(2, 4), exit(None, false, 1_000), 3, 5, Some("bot exited"), true, "backoff"),
            (
                status(2, 4),
                exit(Some(137), true, 1_000),
                3,
                5,
                Some("container was killed for exceeding its memory limit (OOM)"),
                true,
                "backoff",
            ),
            // Up for ten minutes before the crash: the history starts again at one.
            (
                status(6, 9),
                exit(Some(1), false, RESET_AFTER_MS),
                1,
                10,
                Some("bot exited with code 1"),
                true,
                "backoff",
            ),
            // A failed start counts as a failure but not as a restart.
            (
                status(1, 3),
                Event::StartFailed { reason: "no image", at_ms: t },
                2,
                3,
                Some("no image"),
                true,
                "backoff",
            ),
            (failed.clone(), Event::Unrunnable { reason: "bad spec" }, 2, 5, Some("bad spec"), false, "failed"),
            (failed.clone(), Event::Steady, 0, 5, Some("x"), false, "now"),
            (failed.clone(), Event::Started, 2, 5, None, false, "now"),
        ];
        for (before, event, consecutive, restarts, reason, backoff, verdict) in cases {
            let (after, v) = decide(&before, event, "bot", BASE);
            assert_eq!(after.consecutive, consecutive, "{event:?}");
            assert_eq!(after.restarts, restarts, "{event:?}");
            assert_eq!(after.failure_reason.as_deref(), reason, "{event:?}");
            assert_eq!(after.backoff_until.is_some(), backoff, "{event:?}");
            match (v, verdict) {
                (Verdict::BackOff { until_ms, delay_ms }, "backoff") => {
                    assert_eq!(after.backoff_until, Some(until_ms));
                    assert_eq!(until_ms, t + delay_ms, "{event:?}");
                    assert_eq!(delay_ms, super::delay_ms(consecutive, BASE, "bot"));
                }
                (Verdict::Failed, "failed") | (Verdict::RetryNow, "now") => {}
                other => panic!("{event:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_exit_records_its_code_and_time() {
        let e = Event::Exited { code: Some(2), oom: false, started_ms: None, finished_ms: 500 };
        let (s, _) = decide(&BotStatus::default(), e, "b", BASE);
        assert_eq!((s.last_exit_code, s.last_exit_at), (Some(2), Some(500)));
    }

    #[test]
    fn doubles_from_ten_seconds_to_five_minutes_with_bounded_jitter() {
        for (n, base) in [(1, 10_000), (2, 20_000), (3, 40_000), (4, 80_000), (5, 160_000), (6, 300_000), (40, 300_000)]
        {
            let d = delay_ms(n, 10_000, "bot");
            assert!((base..=base + base / 10).contains(&d), "n={n}: {d}");
        }
        assert_eq!(delay_ms(3, 10_000, "a"), delay_ms(3, 10_000, "a"));
        let spread: std::collections::HashSet<i64> = (0..20).map(|i| delay_ms(1, 10_000, &format!("b{i}"))).collect();
        assert!(spread.len() > 10, "jitter spreads bots apart");
        assert!(delay_ms(1, 1000, "x") < 1101);
        assert_eq!(delay_ms(0, 10_000, "x") / 1000, 10, "n=0 behaves as the first");
    }
}
