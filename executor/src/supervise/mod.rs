//! PID-1 supervision: spawning children in their own process groups with a clean signal state,
//! one reaper for every exit status, signal forwarding, and the ordered stop of D1.
//!
//! The syscalls sit behind the [`sys::Sys`] seam so the reaper's bookkeeping is unit-tested with a
//! scripted fake; real behaviour (signals, zombies, process groups) is covered by integration tests.

pub mod child;
pub mod harden;
pub mod reaper;
pub mod signals;
pub mod status;
pub mod stop;
pub mod sys;
pub mod tee;

pub use reaper::Reaper;
pub use status::ExitStatus;

/// Starts the one reaper and, unless this process is PID 1, makes it the subreaper of its
/// descendants (D3). `None` (logged) when the reaper cannot be installed: nothing may be spawned.
pub fn start_init() -> Option<Reaper> {
    let reaper = match Reaper::start() {
        Ok(r) => r,
        Err(e) => {
            crate::error!("cannot install the reaper", error = e);
            return None;
        }
    };
    if !sys::is_pid1() {
        if let Err(e) = sys::become_subreaper() {
            crate::warn!("cannot become a subreaper; orphans will not be reaped", error = e);
        }
    }
    Some(reaper)
}
