//! The runtime's own log lines, as both binaries write them (docs/contract.md §2.2, §5.6): one JSON object
//! per line (`time`, `level`, `msg`, extra fields as strings) on stdout, filtered by `LOG_LEVEL`,
//! each line one `write` so concurrent tasks never interleave.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// `LOG_LEVEL` values as the original reads them; anything else means INFO.
    pub fn parse(s: &str) -> Level {
        match s.trim().to_ascii_uppercase().as_str() {
            "DEBUG" => Level::Debug,
            "WARN" | "WARNING" => Level::Warn,
            "ERROR" => Level::Error,
            _ => Level::Info,
        }
    }
}

static MIN_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(level: Level) {
    MIN_LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= MIN_LEVEL.load(Ordering::Relaxed)
}

/// Renders one log line (without the trailing newline). Pure, so it is testable.
pub fn render(time: SystemTime, level: Level, msg: &str, fields: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("time".into(), crate::timefmt::rfc3339_nanos(time).into());
    obj.insert("level".into(), level.as_str().into());
    obj.insert("msg".into(), msg.into());
    for (k, v) in fields {
        obj.insert((*k).to_string(), v.to_string().into());
    }
    serde_json::Value::Object(obj).to_string()
}

/// Writes one line to stdout in a single `write` so lines from threads never interleave.
pub fn emit(level: Level, msg: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
    if !enabled(level) {
        return;
    }
    let mut line = render(SystemTime::now(), level, msg, fields);
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn renders_json_with_fields() {
        let t = UNIX_EPOCH + Duration::from_secs(1_738_324_800);
        let line = render(t, Level::Warn, "state upload refused", &[("file", &"a \"b\""), ("size", &7)]);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["time"], "2025-01-31T12:00:00Z");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["msg"], "state upload refused");
        assert_eq!(v["file"], "a \"b\"");
        assert_eq!(v["size"], "7");
    }

    #[test]
    fn parses_levels() {
        assert_eq!(Level::parse("debug"), Level::Debug);
        assert_eq!(Level::parse("WARN"), Level::Warn);
        assert_eq!(Level::parse("ERROR"), Level::Error);
        assert_eq!(Level::parse("bogus"), Level::Info);
    }
}
