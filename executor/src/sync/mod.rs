//! The sync engine: state and log syncs run in that order under one lock, started by triggers
//! (file changes, a periodic tick) and by the final sync at stop (docs/contract.md §2.8, D7).

pub mod debounce;
pub mod engine;
pub mod triggers;

pub use engine::SyncEngine;
pub use triggers::Triggers;
