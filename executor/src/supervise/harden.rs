//! Keeping the executor's secrets and its life out of the bot's hands. The bot runs as the
//! executor's uid, so without this it reads `/proc/1/environ` (the storage keys and the NATS URL
//! that `childenv` scrubbed from its own environment) and `/proc/1/mem`; and under memory pressure
//! the kernel may pick PID 1 instead of the bot that caused it. See `docs/security/exec.md`.

use std::io;

/// The `oom_score_adj` given to every process of bot code (the bot and query programs): the
/// highest, so the OOM killer of the container's cgroup takes bot code before the executor (0).
pub const BOT_OOM_SCORE_ADJ: i32 = 1000;

/// Makes this process non-dumpable: its `/proc/<pid>/{environ,mem,maps,fd,...}` become owned by
/// root and unreadable to the bot (same uid, no `CAP_SYS_PTRACE`), `ptrace` attach is refused and
/// no core is dumped. It is a property of the address space, so it covers every thread; it is
/// reset by `execve` (the bot itself is dumpable again). Call before any thread or child exists.
pub fn make_non_dumpable() -> io::Result<()> {
    super::sys::prctl_set(libc::PR_SET_DUMPABLE, 0)
}

extern "C" {
    /// The C library's environment array (glibc and musl both export it).
    static mut environ: *mut *mut libc::c_char;
}

/// Moves every environment string of this process to the heap and zeroes the originals, so that
/// `/proc/<pid>/environ` (which reads the block the kernel put on the stack at `execve`, not the
/// live variables) shows no value, storage keys included. Needed under gVisor, whose `/proc`
/// serves `environ` to the same uid even when the process is non-dumpable (measured with Debian's
/// runsc 20221219: docs/security/gvisor.md §3); a second wall under Linux. The variables keep
/// their values for this process (`std::env` reads the moved copies). Returns how many were
/// moved. Call before any thread exists: nothing may read the environment meanwhile.
pub fn hide_environ_block() -> usize {
    let mut moved = 0;
    // SAFETY: single-threaded (called first thing in `main`), so nothing reads `environ`
    // concurrently. Each entry is a NUL-terminated string: `strdup` copies it, the entry is
    // pointed at the copy (never freed: the environment lives as long as the process), then the
    // original bytes (writable stack memory of `execve`'s block) are zeroed up to their NUL.
    unsafe {
        let mut entry = environ;
        if entry.is_null() {
            return 0;
        }
        while !(*entry).is_null() {
            let original = *entry;
            let len = libc::strlen(original);
            let copy = libc::strdup(original);
            if copy.is_null() {
                break;
            }
            *entry = copy;
            std::ptr::write_bytes(original, 0, len);
            moved += 1;
            entry = entry.add(1);
        }
    }
    moved
}

/// Whether this process is dumpable (`PR_GET_DUMPABLE`).
pub fn is_dumpable() -> bool {
    // SAFETY: prctl with PR_GET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) > 0 }
}

/// Sets the `oom_score_adj` of `pid`, a child that has already exec'd. It must be done from the
/// parent after `execve`: before it, the child is a copy of the non-dumpable executor and its
/// `/proc` files are root's (an unprivileged child cannot write its own score then), and making
/// it dumpable there would expose a copy of the executor's memory.
pub fn set_oom_score_adj(pid: i32, value: i32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/oom_score_adj"), value.to_string())
}
