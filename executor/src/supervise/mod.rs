//! PID-1 supervision: spawning children in their own process groups with a clean signal state,
//! one reaper for every exit status, signal forwarding, and the ordered stop of D1.
//!
//! The syscalls sit behind the [`sys::Sys`] seam so the reaper's bookkeeping is unit-tested with a
//! scripted fake; real behaviour (signals, zombies, process groups) is covered by integration tests.

pub mod child;
pub mod reaper;
pub mod signals;
pub mod status;
pub mod stop;
pub mod sys;
pub mod tee;

pub use reaper::Reaper;
pub use status::ExitStatus;
