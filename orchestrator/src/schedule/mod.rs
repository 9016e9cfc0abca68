//! Scheduled bots (docs/contract.md §5.5, D27–D29): the cron dialect, the pure planner of due runs, the
//! runner that starts, awaits, records and adopts run containers, and the views of runs.

pub mod cron;
pub mod error;
pub mod payload;
pub mod plan;
pub mod runner;
pub mod view;
