//! Bot logs: the `bot.log` tee and shipping new bytes as NDJSON to the daily object (helper C).
//!
//! `botlog` owns the file; `chunk` (cut rules), `ndjson` (record format) and `offset` (what was
//! shipped) are the pieces [`shipper::LogShipper`] puts together for the sync engine.

pub mod botlog;
pub mod chunk;
pub mod ndjson;
pub mod offset;
pub mod shipper;

pub use shipper::{LogShipper, LogSyncError, LogSyncOutcome};
