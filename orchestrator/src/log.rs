//! The orchestrator's own log lines (format in [`the0_contract::logline`]) at `LOG_LEVEL`
//! (docs/contract.md §5.6). Payloads and secrets are never passed here above DEBUG (D31).

use std::fmt::Display;

pub use the0_contract::logline::{emit, render, set_level, Level};

pub fn debug(msg: &str, f: &[(&str, &dyn Display)]) {
    emit(Level::Debug, msg, f)
}
pub fn info(msg: &str, f: &[(&str, &dyn Display)]) {
    emit(Level::Info, msg, f)
}
pub fn warn(msg: &str, f: &[(&str, &dyn Display)]) {
    emit(Level::Warn, msg, f)
}
pub fn error(msg: &str, f: &[(&str, &dyn Display)]) {
    emit(Level::Error, msg, f)
}
