//! glibc's allocator tuned for a small, long-lived process. Why it exists: the executor ships as a
//! static musl binary, but where the musl target cannot be built it falls back to a static glibc
//! build (scripts/build-executor.sh), and glibc's defaults cost that build about 6× the memory on the
//! same bot (21.8 MiB RSS against 3.4 MiB, measured in docs/architecture.md § Executor memory):
//! one arena per thread, and a mmap threshold that grows after the first large free so later
//! buffers stay on the heap and are never returned. One arena and fixed thresholds bring it within
//! 1.5× of musl. A no-op on musl, whose allocator already behaves this way.

/// Applies the settings; call first in `main`, before any thread exists. Failures are ignored:
/// each setting only changes how much memory is kept, never behaviour.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TOP_PAD, 0);
    }
}
