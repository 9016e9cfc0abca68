//! glibc's allocator settings for the orchestrator, applied first in `main`. Why it exists: the
//! orchestrator is a dynamically linked glibc program that, at a thousand bots, reads multi-MiB
//! Docker listings every reconcile interval. With glibc's defaults the first large free raises
//! the mmap threshold (up to 32 MiB), so every later listing buffer lands in a per-thread arena
//! and stays resident after it is freed: at 500 bots the two worker arenas held 4.8 and 4.7 MiB
//! of freed listings (issue #17's RSS goal is 32 MiB). A fixed 128 KiB threshold sends those
//! buffers to mmap, which returns them on free; two arenas (one per runtime worker) and a 128 KiB
//! trim threshold keep what small allocations leave behind small. The executor has its own
//! settings (`executor/src/malloc.rs`) for its single-arena, static build.

/// Applies the settings; call first in `main`, before any thread exists. Failures are ignored:
/// each setting only changes how much memory is kept, never behaviour.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 * 1024);
    }
}
