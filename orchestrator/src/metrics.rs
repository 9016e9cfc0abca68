//! Process metrics in Prometheus text format, with plain atomics (no registry crate): gauges set
//! by the reconciler after each pass, counters bumped where things happen, and duration summaries
//! (count and sum) for reconcile passes and Docker calls.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Default)]
pub struct Summary {
    count: AtomicU64,
    micros: AtomicU64,
}

impl Summary {
    pub fn observe(&self, d: Duration) {
        self.count.fetch_add(1, Relaxed);
        self.micros.fetch_add(d.as_micros() as u64, Relaxed);
    }
}

#[derive(Default)]
pub struct Metrics {
    pub desired: AtomicU64,
    pub running: AtomicU64,
    pub backing_off: AtomicU64,
    pub failed: AtomicU64,
    pub restarts: AtomicU64,
    pub starts: AtomicU64,
    pub start_failures: AtomicU64,
    pub stops: AtomicU64,
    pub reconcile: Summary,
    pub docker_calls: Summary,
    pub docker_errors: AtomicU64,
    pub ingest_applied: AtomicU64,
    pub ingest_skipped: AtomicU64,
    pub ingest_malformed: AtomicU64,
    pub ingest_errors: AtomicU64,
    pub runs_started: AtomicU64,
    pub runs_succeeded: AtomicU64,
    pub runs_failed: AtomicU64,
    pub runs_timed_out: AtomicU64,
    pub runs_skipped: AtomicU64,
    pub runs_running: AtomicU64,
    pub queries_proxied: AtomicU64,
    pub queries_oneshot: AtomicU64,
    pub queries_refused: AtomicU64,
    pub queries_failed: AtomicU64,
    pub query_duration: Summary,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        one("the0_bots_desired", "gauge", "Enabled bots in the store.", self.desired.load(Relaxed));
        one("the0_bots_running", "gauge", "Desired bots with a running container.", self.running.load(Relaxed));
        one("the0_bots_backing_off", "gauge", "Bots waiting out a crash-loop backoff.", self.backing_off.load(Relaxed));
        one("the0_bots_failed", "gauge", "Bots whose spec cannot be run.", self.failed.load(Relaxed));
        one(
            "the0_bot_restarts_total",
            "counter",
            "Restarts after an exit or a failed start.",
            self.restarts.load(Relaxed),
        );
        one("the0_container_starts_total", "counter", "Containers started.", self.starts.load(Relaxed));
        one("the0_container_start_failures_total", "counter", "Failed starts.", self.start_failures.load(Relaxed));
        one("the0_container_stops_total", "counter", "Containers stopped and removed.", self.stops.load(Relaxed));
        one("the0_docker_errors_total", "counter", "Docker calls that failed.", self.docker_errors.load(Relaxed));
        one("the0_ingest_applied_total", "counter", "Events applied to the store.", self.ingest_applied.load(Relaxed));
        one("the0_ingest_skipped_total", "counter", "Events already applied.", self.ingest_skipped.load(Relaxed));
        one(
            "the0_ingest_malformed_total",
            "counter",
            "Malformed events terminated.",
            self.ingest_malformed.load(Relaxed),
        );
        one("the0_ingest_errors_total", "counter", "Events that failed to apply.", self.ingest_errors.load(Relaxed));
        one("the0_runs_started_total", "counter", "Scheduled runs started.", self.runs_started.load(Relaxed));
        one("the0_runs_succeeded_total", "counter", "Scheduled runs that exited 0.", self.runs_succeeded.load(Relaxed));
        one(
            "the0_runs_failed_total",
            "counter",
            "Scheduled runs that failed (timed-out ones included).",
            self.runs_failed.load(Relaxed),
        );
        one(
            "the0_runs_timed_out_total",
            "counter",
            "Scheduled runs stopped at their deadline.",
            self.runs_timed_out.load(Relaxed),
        );
        one(
            "the0_runs_skipped_total",
            "counter",
            "Due times skipped because the previous run was still going.",
            self.runs_skipped.load(Relaxed),
        );
        one("the0_runs_running", "gauge", "Scheduled runs going now.", self.runs_running.load(Relaxed));
        one(
            "the0_queries_proxied_total",
            "counter",
            "Queries sent to a running bot.",
            self.queries_proxied.load(Relaxed),
        );
        one(
            "the0_queries_oneshot_total",
            "counter",
            "Queries run in a query container.",
            self.queries_oneshot.load(Relaxed),
        );
        one(
            "the0_queries_refused_total",
            "counter",
            "Queries answered 4xx or 503 before running.",
            self.queries_refused.load(Relaxed),
        );
        one(
            "the0_queries_failed_total",
            "counter",
            "Queries whose result is an error.",
            self.queries_failed.load(Relaxed),
        );
        for (name, help, sm) in [
            ("the0_reconcile_duration_seconds", "Reconcile pass duration.", &self.reconcile),
            ("the0_docker_call_duration_seconds", "Docker API call latency.", &self.docker_calls),
            ("the0_query_duration_seconds", "Duration of queries that ran.", &self.query_duration),
        ] {
            let secs = sm.micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} summary\n{name}_sum {secs}\n{name}_count {}",
                sm.count.load(Relaxed)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::inc(&m.restarts);
        m.running.store(3, Relaxed);
        m.docker_calls.observe(Duration::from_millis(1500));
        let t = m.render();
        assert!(t.contains("# TYPE the0_bots_running gauge\nthe0_bots_running 3\n"), "{t}");
        assert!(t.contains("the0_bot_restarts_total 1\n"));
        assert!(t.contains("the0_docker_call_duration_seconds_sum 1.5\nthe0_docker_call_duration_seconds_count 1\n"));
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.split(' ');
            assert!(parts.next().is_some_and(|n| n.starts_with("the0_")) && parts.next().is_some(), "{line}");
        }
    }
}
