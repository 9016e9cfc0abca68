//! The original's cron dialect (robfig/cron v3 as the0's scheduler uses it, docs/contract.md §5.5), parsed
//! here and evaluated by croner, which is correct across daylight-saving changes (the `cron` crate
//! skips and doubles runs there).
//!
//! Dialect: exactly 6 fields `sec min hour dom month dow`, else the standard 5; lists, ranges,
//! steps (`N/step` = `N-max/step`), month and weekday names, `?` = `*`, weekdays 0–6 with Sunday
//! 0; day-of-month and day-of-week both restricted (neither starting with an unstepped `*`/`?`) →
//! either may match, else both must; descriptors `@yearly @annually @monthly @weekly @daily
//! @midnight @hourly` and `@every <Go duration>` (whole seconds, at least 1 s, counted from the
//! previous fire); an optional `TZ=<zone> ` or `CRON_TZ=<zone> ` prefix, else the host's zone.
//! Each field is expanded to its set of values by this module, so croner only ever sees plain
//! numeric lists and none of its own extensions (`L`, `W`, `#`) can slip in.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use croner::parser::{CronParser, Seconds, Year};

/// How far ahead a schedule is searched: one that does not fire within ~5 years never fires.
pub const HORIZON_MS: i64 = 5 * 366 * 86_400_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule {expr:?}: {reason}")]
pub struct CronError {
    pub expr: String,
    pub reason: CronReason,
}

/// What is wrong with a schedule; shown after `invalid schedule "<expr>": ` in the bot's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronReason {
    #[error("nothing follows the time zone prefix")]
    NothingAfterZone,
    #[error("unknown time zone {0:?}")]
    UnknownZone(String),
    #[error("empty")]
    Empty,
    /// `@every` with a duration that does not parse.
    #[error(transparent)]
    Every(#[from] the0_contract::duration::DurationError),
    #[error("unknown descriptor @{0}")]
    UnknownDescriptor(String),
    #[error("expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), got {0}")]
    FieldCount(usize),
    #[error("{name} field {text:?}: {error}")]
    Field { name: &'static str, text: String, error: FieldError },
    /// croner refused the canonical numeric form this module made (its error type is neither
    /// `Clone` nor `PartialEq`, so its message is kept).
    #[error("{0}")]
    Croner(String),
}

/// What is wrong with one field of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("step {0:?} is not a number")]
    StepNotANumber(String),
    #[error("a step must be a positive number")]
    ZeroStep,
    #[error("range {0}-{1} is backwards")]
    Backwards(u32, u32),
    /// `names`: the field also takes names (months, weekdays).
    #[error("{text:?} is not a number{or}", or = if *.names { " or a name" } else { "" })]
    NotANumber { text: String, names: bool },
    #[error("{value} is outside {min}-{max}")]
    Outside { value: u32, min: u32, max: u32 },
}

#[derive(Debug, Clone)]
enum Zone {
    /// The host's zone (`TZ`, `/etc/localtime`; UTC in the images).
    Local,
    Named(chrono_tz::Tz),
}

#[derive(Debug, Clone)]
enum Kind {
    /// `@every`: a fixed delay in whole seconds (milliseconds here).
    Every(i64),
    Cron(Box<croner::Cron>),
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: Zone,
    kind: Kind,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names, the first one worth `min`.
    names: &'static [&'static str],
}

const FIELDS: [Field; 6] = [
    Field { name: "second", min: 0, max: 59, names: &[] },
    Field { name: "minute", min: 0, max: 59, names: &[] },
    Field { name: "hour", min: 0, max: 23, names: &[] },
    Field { name: "day-of-month", min: 1, max: 31, names: &[] },
    Field { name: "month", min: 1, max: 12, names: &MONTHS },
    Field { name: "day-of-week", min: 0, max: 6, names: &DAYS },
];

/// Parses a schedule in the original's dialect.
pub fn parse(expr: &str) -> Result<Schedule, CronError> {
    let err = |reason: CronReason| CronError { expr: expr.to_string(), reason };
    let mut spec = expr.trim();
    let mut zone = Zone::Local;
    if let Some(rest) = spec.strip_prefix("TZ=").or_else(|| spec.strip_prefix("CRON_TZ=")) {
        let (name, after) = rest.split_once(char::is_whitespace).ok_or_else(|| err(CronReason::NothingAfterZone))?;
        zone = match name {
            "Local" => Zone::Local,
            n => Zone::Named(chrono_tz::Tz::from_str(n).map_err(|_| err(CronReason::UnknownZone(n.into())))?),
        };
        spec = after.trim();
    }
    if spec.is_empty() {
        return Err(err(CronReason::Empty));
    }
    let six = if let Some(d) = spec.strip_prefix('@') {
        match d {
            "yearly" | "annually" => "0 0 0 1 1 *".to_string(),
            "monthly" => "0 0 0 1 * *".to_string(),
            "weekly" => "0 0 0 * * 0".to_string(),
            "daily" | "midnight" => "0 0 0 * * *".to_string(),
            "hourly" => "0 0 * * * *".to_string(),
            _ => match d.strip_prefix("every").filter(|r| r.starts_with(char::is_whitespace)) {
                Some(dur) => {
                    let d = the0_contract::duration::parse(dur.trim()).map_err(|e| err(e.into()))?;
                    // As the original: below a second counts as a second; fractions are dropped.
                    let secs = d.as_secs().max(1);
                    return Ok(Schedule { zone, kind: Kind::Every(secs as i64 * 1000) });
                }
                None => return Err(err(CronReason::UnknownDescriptor(d.into()))),
            },
        }
    } else {
        spec.to_string()
    };
    let mut fields: Vec<&str> = six.split_whitespace().collect();
    match fields.len() {
        6 => {}
        5 => fields.insert(0, "0"),
        n => return Err(err(CronReason::FieldCount(n))),
    }
    let mut canonical = Vec::with_capacity(6);
    for (text, f) in fields.iter().zip(&FIELDS) {
        let (values, star) =
            expand(text, f).map_err(|error| err(CronReason::Field { name: f.name, text: text.to_string(), error }))?;
        canonical.push(if star {
            "*".to_string()
        } else {
            values.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        });
    }
    let parser = CronParser::builder().seconds(Seconds::Required).year(Year::Disallowed).build();
    let cron = parser.parse(&canonical.join(" ")).map_err(|e| err(CronReason::Croner(e.to_string())))?;
    Ok(Schedule { zone, kind: Kind::Cron(Box::new(cron)) })
}

/// A field's set of values, and whether it counts as `*` for the day-of-month/day-of-week rule
/// (some part is `*` or `?` without a step above 1, as in the original).
fn expand(text: &str, f: &Field) -> Result<(Vec<u32>, bool), FieldError> {
    let mut set = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let s: u32 = s.parse().map_err(|_| FieldError::StepNotANumber(s.into()))?;
                if s == 0 {
                    return Err(FieldError::ZeroStep);
                }
                (r, Some(s))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            star |= step.is_none_or(|s| s == 1);
            (f.min, f.max)
        } else {
            match range.split_once('-') {
                Some((a, b)) => (value(a, f)?, value(b, f)?),
                // `N/step` runs from N to the end of the range.
                None => {
                    let v = value(range, f)?;
                    (v, if step.is_some() { f.max } else { v })
                }
            }
        };
        if lo > hi {
            return Err(FieldError::Backwards(lo, hi));
        }
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v += step;
        }
    }
    Ok(((f.min..=f.max).filter(|v| set & (1 << v) != 0).collect(), star))
}

fn value(s: &str, f: &Field) -> Result<u32, FieldError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(f.min + i as u32);
    }
    let v: u32 = s.parse().map_err(|_| FieldError::NotANumber { text: s.into(), names: !f.names.is_empty() })?;
    if v < f.min || v > f.max {
        return Err(FieldError::Outside { value: v, min: f.min, max: f.max });
    }
    Ok(v)
}

fn next_in<Z: TimeZone>(cron: &croner::Cron, zone: &Z, after_ms: i64) -> Option<i64> {
    let after: DateTime<Z> = zone.timestamp_millis_opt(after_ms).single()?;
    let next = cron.find_next_occurrence(&after, false).ok()?;
    Some(next.timestamp_millis())
}

impl Schedule {
    /// The first fire strictly after `after_ms` (Unix ms, to the second), or `None` if there is
    /// none within [`HORIZON_MS`].
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let next = match &self.kind {
            Kind::Every(d) => after_ms.div_euclid(1000) * 1000 + d,
            Kind::Cron(c) => match &self.zone {
                Zone::Local => next_in(c, &chrono::Local, after_ms)?,
                Zone::Named(tz) => next_in(c, tz, after_ms)?,
            },
        };
        (next - after_ms <= HORIZON_MS).then_some(next)
    }

    /// The next due time after a run due at `due_ms` was dispatched at `now_ms`: the first fire
    /// after `now_ms` in the sequence that `due_ms` belongs to (an `@every` keeps its phase), so
    /// a late or overlong run never makes a burst of catch-up runs.
    pub fn first_after(&self, due_ms: i64, now_ms: i64) -> Option<i64> {
        match &self.kind {
            Kind::Every(d) if due_ms <= now_ms => Some(due_ms + ((now_ms - due_ms) / d + 1) * d),
            _ => self.next_after(due_ms.max(now_ms)),
        }
    }
}

/// Parses `expr` and returns its first fire strictly after `after` (`Ok(None)`: never fires).
pub fn next_after(expr: &str, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, CronError> {
    let s = parse(expr)?;
    Ok(s.next_after(after.timestamp_millis()).and_then(DateTime::from_timestamp_millis))
}

#[cfg(test)]
#[path = "cron_tests.rs"]
mod tests;
