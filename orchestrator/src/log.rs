//! The orchestrator's log lines through `tracing`: its own events (`tracing::info!` and the like)
//! and its libraries' (async-nats logs through `tracing`; bollard and rustls through `log`, bridged
//! by `tracing-log`) are written by [`JsonLines`] in the format both binaries share
//! ([`the0_contract::logline`]: one JSON object a line with `time`, `level`, `msg` and every field as
//! a string), so log pipelines read the same keys as before. Library events also carry `target`.
//!
//! The filter is `RUST_LOG` when it is set and not empty (the `tracing` directive syntax, e.g.
//! `info,async_nats=debug`), else `LOG_LEVEL` (contract §5.6) for every target. Payloads and
//! secrets are never logged above DEBUG (D31).

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

use the0_contract::logline::{self, Level};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::log::LevelFilter as LogLevel;
use tracing_log::NormalizeEvent;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    #[error("RUST_LOG={value:?} is not a valid filter: {source}")]
    BadRustLog { value: String, source: tracing_subscriber::filter::ParseError },
    #[error("a log subscriber is already installed")]
    AlreadySet,
}

/// The filter: `RUST_LOG` (when set and not blank) wins over `LOG_LEVEL`.
pub fn filter(log_level: &str, rust_log: Option<&str>) -> Result<EnvFilter, LogSetupError> {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(v) => {
            EnvFilter::builder().parse(v).map_err(|source| LogSetupError::BadRustLog { value: v.to_string(), source })
        }
        None => Ok(EnvFilter::default().add_directive(level_filter(Level::parse(log_level)).into())),
    }
}

fn level_filter(l: Level) -> LevelFilter {
    match l {
        Level::Debug => LevelFilter::DEBUG,
        Level::Info => LevelFilter::INFO,
        Level::Warn => LevelFilter::WARN,
        Level::Error => LevelFilter::ERROR,
    }
}

/// Installs the subscriber for the process (JSON lines on stdout) and the `log` bridge.
pub fn init(log_level: &str, rust_log: Option<&str>) -> Result<(), LogSetupError> {
    let filter = filter(log_level, rust_log)?;
    let max = filter.max_level_hint().and_then(LevelFilter::into_level);
    let subscriber = tracing_subscriber::registry().with(JsonLines::new(std::io::stdout())).with(filter);
    tracing::subscriber::set_global_default(subscriber).map_err(|_| LogSetupError::AlreadySet)?;
    // `log` records below the filter's most verbose level are not even built.
    let bridge_max = match max {
        Some(tracing::Level::TRACE) => LogLevel::Trace,
        Some(tracing::Level::DEBUG) => LogLevel::Debug,
        Some(tracing::Level::INFO) => LogLevel::Info,
        Some(tracing::Level::WARN) => LogLevel::Warn,
        Some(tracing::Level::ERROR) => LogLevel::Error,
        None => LogLevel::Off,
    };
    tracing_log::LogTracer::builder().with_max_level(bridge_max).init().map_err(|_| LogSetupError::AlreadySet)
}

/// The layer that writes each event as one JSON line, in one `write` so lines from threads never
/// interleave.
pub struct JsonLines<W> {
    out: Mutex<W>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out: Mutex::new(out) }
    }
}

impl<S: Subscriber, W: Write + Send + 'static> Layer<S> for JsonLines<W> {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = render_event(SystemTime::now(), event);
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// One event as its line (with the newline). Our own events (target `the0_orchestrator…`) have
/// exactly the fields they were given; a library's also names its `target`.
pub fn render_event(now: SystemTime, event: &Event<'_>) -> String {
    let normalized = event.normalized_metadata();
    let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
    let mut v = Fields::default();
    event.record(&mut v);
    let level = match *meta.level() {
        tracing::Level::ERROR => Level::Error,
        tracing::Level::WARN => Level::Warn,
        tracing::Level::INFO => Level::Info,
        tracing::Level::DEBUG | tracing::Level::TRACE => Level::Debug,
    };
    let target = meta.target();
    let ours = target == "the0_orchestrator" || target.starts_with("the0_orchestrator::");
    let mut fields: Vec<(&str, &dyn fmt::Display)> =
        v.fields.iter().map(|(k, s)| (*k, s as &dyn fmt::Display)).collect();
    if !ours {
        fields.push(("target", &target));
    }
    let mut line = logline::render(now, level, &v.message, &fields);
    line.push('\n');
    line
}

/// An event's message and fields, every value as its string (as the lines have always had them).
#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            // The `log` bridge's metadata; its target is already in the normalized metadata.
            n if n.starts_with("log.") => {}
            n => self.fields.push((n, value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
