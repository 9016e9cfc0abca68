//! The process's own figures under the names every Prometheus client uses
//! (`process_resident_memory_bytes`, `process_cpu_seconds_total`, `process_open_fds`), read from
//! `/proc/self` at each scrape. The parsers are pure; a figure that cannot be read (not Linux, a
//! format surprise) is left out of the scrape rather than reported as 0.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Why a `/proc` file could not be read as expected.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProcError {
    #[error("/proc/self/stat has no `)` closing the command name")]
    NoCommEnd,
    #[error("/proc/self/stat has no field {0}")]
    MissingField(usize),
    #[error("/proc/self/stat field {field} is not a number: {value:?}")]
    NotANumber { field: usize, value: String },
    #[error("/proc/self/status has no VmRSS line")]
    NoRss,
    #[error("/proc/self/status VmRSS is not `<n> kB`: {0:?}")]
    BadRss(String),
}

/// User plus system CPU time in clock ticks, from `/proc/self/stat` (fields 14 and 15; the
/// command name in field 2 may hold spaces and parentheses, so fields are counted after its last `)`).
pub fn cpu_ticks(stat: &str) -> Result<u64, ProcError> {
    let end = stat.rfind(')').ok_or(ProcError::NoCommEnd)?;
    // After `)` come field 3 (state) onwards.
    let rest: Vec<&str> = stat[end + 1..].split_ascii_whitespace().collect();
    let field = |n: usize| -> Result<u64, ProcError> {
        let v = rest.get(n - 3).ok_or(ProcError::MissingField(n))?;
        v.parse().map_err(|_| ProcError::NotANumber { field: n, value: (*v).to_string() })
    };
    Ok(field(14)? + field(15)?)
}

/// Resident set size in bytes, from the `VmRSS:` line of `/proc/self/status`.
pub fn rss_bytes(status: &str) -> Result<u64, ProcError> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).ok_or(ProcError::NoRss)?;
    let mut parts = line.split_ascii_whitespace();
    match (parts.next().map(str::parse::<u64>), parts.next(), parts.next()) {
        (Some(Ok(kb)), Some("kB"), None) => Ok(kb * 1024),
        _ => Err(ProcError::BadRss(line.trim().to_string())),
    }
}

fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (t > 0).then_some(t as f64)
}

fn open_fds() -> Option<i64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as i64)
}

/// The collector registered with the metrics registry.
#[derive(Debug)]
pub struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Ok(rss) =
            std::fs::read_to_string("/proc/self/status").map_err(|_| ProcError::NoRss).and_then(|s| rss_bytes(&s))
        {
            let g = ConstGauge::new(rss as i64);
            g.encode(encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                None,
                g.metric_type(),
            )?)?;
        }
        let cpu = std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| cpu_ticks(&s).ok());
        if let (Some(ticks), Some(hz)) = (cpu, clock_ticks_per_second()) {
            let c = ConstCounter::new(ticks as f64 / hz);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent in seconds",
                None,
                c.metric_type(),
            )?)?;
        }
        if let Some(n) = open_fds() {
            let g = ConstGauge::new(n);
            g.encode(encoder.encode_descriptor("process_open_fds", "Open file descriptors", None, g.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (orchestrator) S 1 4242 4242 0 -1 4194560 2071 0 0 0 150 37 0 0 20 0 4 0 10861 \
                        2215936 3047 18446744073709551615 1 1 0 0 0 0 0 4096 17096 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn cpu_ticks_from_stat() {
        let odd = STAT.replace("(orchestrator)", "(a b) (c))");
        let cases: &[(&str, Result<u64, ProcError>)] = &[
            (STAT, Ok(187)),
            (&odd, Ok(187)),
            ("4242 orchestrator S 1", Err(ProcError::NoCommEnd)),
            ("4242 (x) S 1 2 3", Err(ProcError::MissingField(14))),
        ];
        for (input, want) in cases {
            assert_eq!(&cpu_ticks(input), want, "{input}");
        }
        let bad = STAT.replace(" 150 37 ", " 15x 37 ");
        assert_eq!(cpu_ticks(&bad), Err(ProcError::NotANumber { field: 14, value: "15x".into() }));
    }

    #[test]
    fn rss_from_status() {
        let cases: &[(&str, Result<u64, ProcError>)] = &[
            ("Name:\tx\nVmRSS:\t   12345 kB\nThreads: 4\n", Ok(12345 * 1024)),
            ("VmRSS: 0 kB", Ok(0)),
            ("Name:\tx\n", Err(ProcError::NoRss)),
            ("VmRSS:\t12 MB\n", Err(ProcError::BadRss("12 MB".into()))),
            ("VmRSS:\tlots kB\n", Err(ProcError::BadRss("lots kB".into()))),
        ];
        for (input, want) in cases {
            assert_eq!(&rss_bytes(input), want, "{input:?}");
        }
    }

    /// The real files of this test process parse.
    #[test]
    fn reads_this_process() {
        let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
        assert!(rss_bytes(&status).expect("VmRSS") > 1024 * 1024);
        let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
        cpu_ticks(&stat).expect("cpu ticks");
        assert!(open_fds().is_some_and(|n| n >= 3));
    }
}
