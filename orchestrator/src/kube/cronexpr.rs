//! A stored schedule (the original's robfig/cron dialect, docs/contract.md §5.5) as a CronJob's
//! `schedule` and `timeZone` (§5.7, D32).
//!
//! Why it exists: Kubernetes takes 5 fields and the standard descriptors only, and refuses a
//! `TZ=`/`CRON_TZ=` prefix inside `schedule`. The original cut the first of any six fields, so
//! `TZ=Europe/London 0 9 * * *` lost its zone as if it were seconds and `@every` reached the API
//! server as is. Here: the expression is first checked with the scheduler's own parser (so an
//! invalid one is refused with the same reason Docker mode gives), a prefix becomes `timeZone`,
//! a six-field expression loses its seconds field only, and `@every` becomes the cron that fires
//! at the same rate when one exists. What changes meaning comes back as warnings; this module logs
//! nothing itself.

use std::time::Duration;

use crate::schedule::cron;

/// A CronJob's timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSchedule {
    /// Five fields or a standard descriptor.
    pub schedule: String,
    /// IANA zone from a `TZ=`/`CRON_TZ=` prefix (`TZ=Local` means none).
    pub time_zone: Option<String>,
    /// What differs from the original's meaning, one sentence each.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(transparent)]
    Invalid(#[from] cron::CronError),
    #[error("schedule {0:?}: Kubernetes CronJobs cannot express this @every interval (only whole minutes dividing an hour, or whole hours dividing a day)")]
    Every(String),
}

/// Converts a stored schedule.
pub fn to_kube(expr: &str) -> Result<KubeSchedule, ScheduleError> {
    cron::parse(expr)?;
    let mut spec = expr.trim();
    let mut time_zone = None;
    if let Some(rest) = spec.strip_prefix("TZ=").or_else(|| spec.strip_prefix("CRON_TZ=")) {
        // `cron::parse` accepted it, so a zone name and an expression follow.
        let (zone, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if zone != "Local" {
            time_zone = Some(zone.to_string());
        }
        spec = after.trim();
    }
    let mut warnings = Vec::new();
    if let Some(dur) = spec.strip_prefix("@every").filter(|r| r.starts_with(char::is_whitespace)) {
        let d = the0_contract::duration::parse(dur.trim())
            .map_err(|e| cron::CronError { expr: expr.to_string(), reason: cron::CronReason::Every(e) })?;
        let schedule = every(d).ok_or_else(|| ScheduleError::Every(expr.to_string()))?;
        warnings.push(format!(
            "schedule {expr:?}: @every runs on the clock in Kubernetes ({schedule:?}), not counted from the previous run"
        ));
        return Ok(KubeSchedule { schedule, time_zone, warnings });
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    let schedule = if fields.len() == 6 {
        let seconds = fields[0];
        if seconds.parse::<u32>() != Ok(0) {
            warnings.push(format!(
                "schedule {expr:?}: Kubernetes has no seconds field; the seconds {seconds:?} are dropped and runs start at second 0"
            ));
        }
        fields[1..].join(" ")
    } else {
        fields.join(" ")
    };
    Ok(KubeSchedule { schedule, time_zone, warnings })
}

/// The cron that fires every `d` on the clock, when one does exactly.
fn every(d: Duration) -> Option<String> {
    let secs = d.as_secs().max(1);
    if d.subsec_nanos() != 0 || !secs.is_multiple_of(60) {
        return None;
    }
    let minutes = secs / 60;
    match minutes {
        1 => Some("* * * * *".into()),
        m if m < 60 && 60 % m == 0 => Some(format!("*/{m} * * * *")),
        60 => Some("0 * * * *".into()),
        m if m % 60 == 0 && m < 1440 && 1440 % m == 0 => Some(format!("0 */{} * * *", m / 60)),
        1440 => Some("0 0 * * *".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_convert_to_cronjob_timing() {
        let ok = |s: &str, tz: Option<&str>, warns: usize| Ok((s.to_string(), tz.map(str::to_string), warns));
        for (expr, want) in [
            ("*/5 * * * *", ok("*/5 * * * *", None, 0)),
            ("  0  9 * * 1-5 ", ok("0 9 * * 1-5", None, 0)),
            ("0 */5 * * * *", ok("*/5 * * * *", None, 0)),
            ("30 */5 * * * *", ok("*/5 * * * *", None, 1)),
            ("*/10 * * * * *", ok("* * * * *", None, 1)),
            ("TZ=Europe/London 0 9 * * *", ok("0 9 * * *", Some("Europe/London"), 0)),
            ("CRON_TZ=America/New_York 0 0 9 * * MON", ok("0 9 * * MON", Some("America/New_York"), 0)),
            ("TZ=Local 0 9 * * *", ok("0 9 * * *", None, 0)),
            ("TZ=Asia/Tokyo @daily", ok("@daily", Some("Asia/Tokyo"), 0)),
            ("@hourly", ok("@hourly", None, 0)),
            ("@every 1m", ok("* * * * *", None, 1)),
            ("@every 15m", ok("*/15 * * * *", None, 1)),
            ("@every 1h", ok("0 * * * *", None, 1)),
            ("@every 6h", ok("0 */6 * * *", None, 1)),
            ("@every 24h", ok("0 0 * * *", None, 1)),
            ("@every 90s", Err("cannot express")),
            ("@every 7m", Err("cannot express")),
            ("@every 5h", Err("cannot express")),
            ("@every 48h", Err("cannot express")),
            ("@every 10s", Err("cannot express")),
            ("TZ=Mars/Olympus 0 9 * * *", Err("unknown time zone")),
            ("61 * * * *", Err("outside")),
            ("* * * *", Err("expected 5 fields")),
            ("@fortnightly", Err("unknown descriptor")),
        ] {
            let got = to_kube(expr).map(|k| (k.schedule, k.time_zone, k.warnings.len()));
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{expr}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{expr}: {e}"),
                (g, w) => panic!("{expr}: got {g:?}, want {w:?}"),
            }
        }
    }
}
