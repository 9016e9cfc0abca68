//! Resource limits of a bot container that are not the memory limit itself: the size of every
//! tmpfs, the state caps handed to the executor, and the pids limit.
//!
//! Why it exists: every tmpfs page is charged to the container's memory cgroup, and killing a
//! process frees no tmpfs page. Without sizes, a bot that fills `/state` makes the OOM killer take
//! the executor (PID 1) with no final sync. So the tmpfs sizes together stay below the memory limit
//! minus a headroom kept for the executor and the bot's working memory, and the executor's state
//! cap never exceeds the `/state` tmpfs. The formula is in `docs/security/orch.md`.

/// Memory kept out of every tmpfs (MiB): the executor's own working set (sync buffers, archive
/// writer, NATS client) plus a minimum of working memory for the bot.
pub const MIN_HEADROOM_MB: i64 = 128;

/// Smallest memory limit these sizes are computed for; a smaller `BOT_MEMORY_LIMIT_MB` is refused.
pub const MIN_MEMORY_MB: i64 = 192;

/// Default pids limit per container (processes and threads both count). A JVM or .NET bot starts
/// a few dozen to a couple of hundred threads (GC, JIT, pools); Python with a thread pool or
/// Node's libuv pool needs tens. 512 leaves room for those with margin, and stops a fork bomb
/// long before it can exhaust the host's pid space (tens of thousands).
pub const DEFAULT_PIDS_LIMIT: i64 = 512;

/// The executor's default cap on one state file (MiB); clamped to the `/state` size too.
const EXECUTOR_STATE_FILE_MB: i64 = 10;

/// Sizes in MiB of each tmpfs of a bot container, and the caps given to the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TmpfsSizes {
    pub state: i64,
    pub bot: i64,
    pub tmp: i64,
    pub var_the0: i64,
    pub query: i64,
    /// `MAX_STATE_SIZE_MB` for the executor: never above `state`.
    pub state_cap: i64,
    /// `MAX_STATE_FILE_SIZE_MB` for the executor: never above `state_cap`.
    pub state_file_cap: i64,
}

impl TmpfsSizes {
    pub fn total(&self) -> i64 {
        self.state + self.bot + self.tmp + self.var_the0 + self.query
    }
}

/// Memory kept out of the tmpfs budget for a limit of `memory_mb`: a quarter of it, at least
/// [`MIN_HEADROOM_MB`].
pub fn headroom_mb(memory_mb: i64) -> i64 {
    (memory_mb / 4).max(MIN_HEADROOM_MB)
}

/// A memory limit below [`MIN_MEMORY_MB`] (the value given, in MiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("BOT_MEMORY_LIMIT_MB {0}: must be at least {MIN_MEMORY_MB} (the tmpfs mounts and the executor need room)")]
pub struct MemoryTooSmall(pub i64);

/// Refuses a memory limit too small for the tmpfs mounts and the executor (config parsing).
pub fn check_memory(memory_mb: i64) -> Result<(), MemoryTooSmall> {
    if memory_mb < MIN_MEMORY_MB {
        return Err(MemoryTooSmall(memory_mb));
    }
    Ok(())
}

/// The tmpfs sizes for a container memory limit of `memory_mb` MiB (taken as at least
/// [`MIN_MEMORY_MB`]: [`check_memory`] refuses less when the settings are parsed).
///
/// `budget = memory − max(memory/4, 128)`, split 40 % `/state`, 30 % `/bot` (the unpacked code),
/// 15 % `/tmp`, 10 % `/var/the0`, 5 % `/query`, each rounded down to a whole MiB (at least 1).
/// `state_cap` is the operator's `MAX_STATE_SIZE_MB` (if any) clamped to `/state`.
pub fn tmpfs_sizes(memory_mb: i64, state_cap_mb: Option<i64>) -> TmpfsSizes {
    let memory_mb = memory_mb.max(MIN_MEMORY_MB);
    let budget = memory_mb - headroom_mb(memory_mb);
    let part = |pct: i64| (budget * pct / 100).max(1);
    let state = part(40);
    let state_cap = state_cap_mb.map_or(state, |c| c.clamp(1, state));
    TmpfsSizes {
        state,
        bot: part(30),
        tmp: part(15),
        var_the0: part(10),
        query: part(5),
        state_cap,
        state_file_cap: EXECUTOR_STATE_FILE_MB.min(state_cap),
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
