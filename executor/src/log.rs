//! The executor's own log lines (format in [`the0_contract::logline`]): never in `bot.log`.
//! This module adds the `log!`/`info!`/`warn!`/... macros the executor code uses.

pub use the0_contract::logline::{emit, enabled, render, set_level, Level};

/// `log!(Level::Info, "message", key = value, ...)`
#[macro_export]
macro_rules! log {
    ($level:expr, $msg:expr $(, $k:ident = $v:expr)* $(,)?) => {
        $crate::log::emit($level, &$msg, &[$((stringify!($k), &$v as &dyn ::std::fmt::Display)),*])
    };
}
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log!($crate::log::Level::Debug, $($t)*) }; }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log!($crate::log::Level::Info, $($t)*) }; }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log!($crate::log::Level::Warn, $($t)*) }; }
#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log!($crate::log::Level::Error, $($t)*) }; }
