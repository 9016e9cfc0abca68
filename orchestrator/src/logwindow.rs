//! Which lines `orchestrator logs ID --tail N --since D` prints of a bot's stored logs (the daily
//! NDJSON objects `logs/<id>/<yyyymmdd>.log`, docs/contract.md §2.8) when it has no container. A
//! container's own output is cut by Docker (`tail`, `since`); stored records are cut here, so the
//! two paths agree: a record is kept when its `timestamp` is at or after the start (a record
//! whose timestamp does not parse as RFC 3339 is kept when its day object is), and of those only
//! the last N. Pure: the client feeds it objects and lines.

use std::collections::VecDeque;

/// What part of the output to print: every line when both are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogWindow {
    /// Only the last N lines.
    pub tail: Option<u32>,
    /// Only lines at or after this time (milliseconds since the epoch).
    pub since_ms: Option<i64>,
}

impl LogWindow {
    /// Whether the daily object `key` may hold lines of the window: its day is not before the
    /// start's day (a key that is not `…/<yyyymmdd>.log` is read, never skipped silently).
    pub fn wants_object(&self, key: &str) -> bool {
        let (Some(since), Some(day)) = (self.since_ms, day_of(key)) else {
            return true;
        };
        day >= day_number(since)
    }

    /// Whether a stored record is in the window by time (`tail` is [`Tail`]'s job).
    pub fn wants_line(&self, line: &[u8]) -> bool {
        match (self.since_ms, record_time_ms(line)) {
            (Some(since), Some(t)) => t >= since,
            _ => true,
        }
    }

    /// Docker's `since` for the container path: whole seconds, rounded down (Docker keeps lines
    /// at or after it).
    pub fn since_seconds(&self) -> Option<i64> {
        self.since_ms.map(|ms| ms.div_euclid(1000))
    }
}

/// The last `n` lines fed to it (all of them without `n`): memory bounded by `n` lines.
#[derive(Debug)]
pub struct Tail {
    n: Option<usize>,
    lines: VecDeque<Vec<u8>>,
}

impl Tail {
    pub fn new(n: Option<u32>) -> Tail {
        Tail { n: n.map(|n| n as usize), lines: VecDeque::new() }
    }

    pub fn push(&mut self, line: &[u8]) {
        if self.n == Some(0) {
            return;
        }
        if self.n.is_some_and(|n| self.lines.len() == n) {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_vec());
    }

    /// The kept lines in order, each ending in a newline.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::new();
        for l in self.lines {
            out.extend_from_slice(&l);
            out.push(b'\n');
        }
        out
    }
}

/// The day number (`yyyymmdd` as an integer) of a daily log object's key.
fn day_of(key: &str) -> Option<u32> {
    let name = key.rsplit('/').next()?.strip_suffix(".log")?;
    (name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit())).then(|| name.parse().ok()).flatten()
}

/// `yyyymmdd` of a UTC time in milliseconds.
fn day_number(ms: i64) -> u32 {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    let s = the0_contract::timefmt::rfc3339_seconds(t);
    s.get(0..10).map(|d| d.replace('-', "")).and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// The `timestamp` of an NDJSON record, when it is an RFC 3339 string.
fn record_time_ms(line: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Stamp {
        timestamp: String,
    }
    let s: Stamp = serde_json::from_slice(line).ok()?;
    let t = the0_contract::timefmt::parse_rfc3339(&s.timestamp)?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06T10:00:00Z.
    const T: i64 = 1_796_551_200_000;

    #[test]
    fn objects_by_day() {
        let w = LogWindow { tail: None, since_ms: Some(T) };
        let table = [
            ("logs/a/20261206.log", true),
            ("logs/a/20261207.log", true),
            ("logs/a/20261205.log", false),
            ("logs/a/notes.txt", true),
            ("logs/a/2026120.log", true),
        ];
        for (key, want) in table {
            assert_eq!(w.wants_object(key), want, "{key}");
        }
        assert!(LogWindow::default().wants_object("logs/a/20001231.log"), "no since: every object");
    }

    #[test]
    fn lines_by_their_timestamp() {
        let w = LogWindow { tail: None, since_ms: Some(T) };
        let table: [(&str, bool); 6] = [
            (r#"{"timestamp":"2026-12-06T10:00:00Z","message":"at"}"#, true),
            (r#"{"timestamp":"2026-12-06T09:59:59.999Z","message":"before"}"#, false),
            (r#"{"timestamp":"2026-12-06T11:00:00+01:00","message":"same instant"}"#, true),
            (r#"{"timestamp":1796551100,"message":"not a string"}"#, true),
            (r#"{"message":"no timestamp"}"#, true),
            ("plain text", true),
        ];
        for (line, want) in table {
            assert_eq!(w.wants_line(line.as_bytes()), want, "{line}");
        }
        assert_eq!(w.since_seconds(), Some(T / 1000));
        assert_eq!(LogWindow { tail: None, since_ms: Some(1_999) }.since_seconds(), Some(1));
    }

    #[test]
    fn tail_keeps_the_last_n() {
        let table: [(Option<u32>, &str); 4] =
            [(None, "1\n2\n3\n"), (Some(2), "2\n3\n"), (Some(5), "1\n2\n3\n"), (Some(0), "")];
        for (n, want) in table {
            let mut t = Tail::new(n);
            for l in ["1", "2", "3"] {
                t.push(l.as_bytes());
            }
            assert_eq!(String::from_utf8(t.into_bytes()).unwrap(), want, "{n:?}");
        }
    }
}
