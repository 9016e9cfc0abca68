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
