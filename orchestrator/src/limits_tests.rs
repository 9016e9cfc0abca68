//! The tmpfs formula, row by row.

use super::*;

#[test]
fn sizes_per_memory_limit() {
    // (memory, operator state cap) → (state, bot, tmp, var, query, state cap, file cap)
    let rows: &[(i64, Option<i64>, [i64; 7])] = &[
        (192, None, [25, 19, 9, 6, 3, 25, 10]),
        (256, None, [51, 38, 19, 12, 6, 51, 10]),
        (512, None, [153, 115, 57, 38, 19, 153, 10]),
        (512, Some(8192), [153, 115, 57, 38, 19, 153, 10]),
        (512, Some(20), [153, 115, 57, 38, 19, 20, 10]),
        (512, Some(4), [153, 115, 57, 38, 19, 4, 4]),
        (1024, None, [307, 230, 115, 76, 38, 307, 10]),
        (4096, None, [1228, 921, 460, 307, 153, 1228, 10]),
    ];
    for (mem, cap, want) in rows {
        let s = tmpfs_sizes(*mem, *cap);
        let got = [s.state, s.bot, s.tmp, s.var_the0, s.query, s.state_cap, s.state_file_cap];
        assert_eq!(&got, want, "memory {mem} cap {cap:?}");
        assert!(s.total() <= mem - headroom_mb(*mem), "memory {mem}: tmpfs total {} over budget", s.total());
        assert!(s.state_cap <= s.state && s.state_file_cap <= s.state_cap);
    }
}

#[test]
fn headroom_is_a_quarter_but_at_least_128() {
    for (mem, want) in [(192, 128), (512, 128), (1024, 256), (4096, 1024)] {
        assert_eq!(headroom_mb(mem), want, "memory {mem}");
    }
}

#[test]
fn too_small_a_memory_limit_is_refused_with_the_reason() {
    for mem in [0, -1, 64, 191] {
        let e = check_memory(mem).unwrap_err().to_string();
        assert!(e.contains("BOT_MEMORY_LIMIT_MB") && e.contains(&mem.to_string()), "{e}");
    }
}

#[test]
fn the_minimum_memory_is_accepted_and_sizes_never_exceed_the_budget_below_it() {
    assert_eq!(check_memory(MIN_MEMORY_MB), Ok(()));
    let s = tmpfs_sizes(64, None);
    assert_eq!(s, tmpfs_sizes(MIN_MEMORY_MB, None));
}
