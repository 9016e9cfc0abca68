//! The orchestrator's own log lines: JSON objects (`time`, `level`, `msg`, fields) on stdout at
//! `LOG_LEVEL` (CONTRACT §5.6), one `write` per line so tasks never interleave. Payloads and
//! secrets are never passed here above DEBUG (D31).

use std::fmt::Display;
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
        ["DEBUG", "INFO", "WARN", "ERROR"][self as usize]
    }
    /// `LOG_LEVEL`; anything unknown means INFO.
    pub fn parse(s: &str) -> Level {
        match s.trim().to_ascii_uppercase().as_str() {
            "DEBUG" => Level::Debug,
            "WARN" | "WARNING" => Level::Warn,
            "ERROR" => Level::Error,
            _ => Level::Info,
        }
    }
}

static MIN: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn set_level(l: Level) {
    MIN.store(l as u8, Ordering::Relaxed);
}

pub fn render(time: SystemTime, level: Level, msg: &str, fields: &[(&str, &dyn Display)]) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("time".into(), the0_contract::timefmt::rfc3339_nanos(time).into());
    obj.insert("level".into(), level.as_str().into());
    obj.insert("msg".into(), msg.into());
    for (k, v) in fields {
        obj.insert((*k).to_string(), v.to_string().into());
    }
    serde_json::Value::Object(obj).to_string()
}

pub fn emit(level: Level, msg: &str, fields: &[(&str, &dyn Display)]) {
    if (level as u8) < MIN.load(Ordering::Relaxed) {
        return;
    }
    let mut line = render(SystemTime::now(), level, msg, fields);
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_fields() {
        let l = render(SystemTime::UNIX_EPOCH, Level::Warn, "m", &[("bot_id", &"b1"), ("n", &3)]);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!((v["level"].as_str(), v["msg"].as_str(), v["n"].as_str()), (Some("WARN"), Some("m"), Some("3")));
        assert_eq!(Level::parse("warning"), Level::Warn);
        assert_eq!(Level::parse("x"), Level::Info);
    }
}
