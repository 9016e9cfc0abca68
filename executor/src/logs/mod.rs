//! Bot logs: the `bot.log` tee and shipping new bytes as NDJSON to the daily object (helper C).

pub mod botlog;
pub mod ndjson;
pub mod chunk;
pub mod offset;
