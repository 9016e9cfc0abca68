//! Names no other test (running now in another process, or left by an earlier run) uses: for
//! bot ids, instances, containers, networks and buckets.

use std::sync::atomic::{AtomicU32, Ordering};

/// `<prefix>-<pid>-<n>-<nanos>`: the process id and a per-process counter keep concurrent tests
/// apart, the clock's nanoseconds keep runs apart. Short enough for an orchestrator instance
/// (32 characters with a prefix of up to 14) and made of `[a-z0-9-]` after the prefix, so a
/// lowercase prefix gives a valid bucket name.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{}-{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::Relaxed), nanos % 100_000)
}
