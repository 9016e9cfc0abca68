//! Crash-loop backoff (D23): `min(base·2^(n−1), 300 s)` plus up to 10 % jitter, so bots that crash
//! together do not restart in lockstep. The jitter is derived from the bot id and `n`, which keeps
//! the function pure (and the planner's output reproducible in tests).

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
