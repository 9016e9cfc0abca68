//! The orchestrator's `/metrics` (docs/metrics.md lists every name): one `prometheus-client`
//! registry holding the fleet gauges set by the reconciler after each pass, counters bumped where
//! things happen, latency histograms, the per-bot series ([`bots`]) and the process's own
//! figures read from `/proc/self` at each scrape ([`process`]). Rendered in the OpenMetrics text
//! format, which Prometheus reads by its content type.

pub mod bots;
pub mod cpu_time;
pub mod process;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use bots::{BotSample, BotSeries};

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Container start (create + start, image present): most take 0.2-2 s; a cold runtime or a slow
/// disk reaches 10 s and more.
pub const START_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// A reconcile pass (or one Docker call): milliseconds when nothing changes, seconds when Docker
/// is slow.
pub const PASS_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// The orchestrator's own CPU time in one reconcile pass: sub-millisecond over a few bots, tens
/// of milliseconds over a thousand; 0.2 s is issue #17's ceiling for a pass over 1,000 bots.
pub const PASS_CPU_BUCKETS: [f64; 11] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0];
/// A query: a realtime one is a millisecond-scale proxy hop; a one-shot one starts a container
/// (seconds) and is cut at its 30 s timeout.
pub const QUERY_BUCKETS: [f64; 14] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// From a stored change to a running container: a pass, a code download and a start.
pub const EVENT_BUCKETS: [f64; 11] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// A scheduled run: seconds to hours (the execution timeout bounds it when set).
pub const RUN_BUCKETS: [f64; 12] = [1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0];

/// How a query reached its answer (the `kind` label of `the0_query_duration_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// Proxied to the bot's running container.
    Realtime,
    /// Run in a query container of its own.
    OneShot,
    /// Proxied to a scheduled bot's warm query server (Docker mode, issue 15).
    Warm,
}

impl QueryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::Realtime => "realtime",
            QueryKind::OneShot => "oneshot",
            QueryKind::Warm => "warm",
        }
    }
}

type KindLabel = [(&'static str, &'static str); 1];

fn query_histogram() -> Histogram {
    Histogram::new(QUERY_BUCKETS)
}

/// What the controller's last successful pass found (set after each one).
#[derive(Clone, Default)]
pub struct ControllerGauges {
    pub skipped: Gauge,
    pub corrupt_desired: Gauge,
    pub kept_unknown: Gauge,
}

pub struct Metrics {
    registry: Registry,
    pub desired: Gauge,
    pub running: Gauge,
    pub backing_off: Gauge,
    pub failed: Gauge,
    pub restarts: Counter,
    pub starts: Counter,
    pub start_failures: Counter,
    pub stops: Counter,
    pub reconcile: Histogram,
    /// Each pass's own CPU time ([`cpu_time::cpu_timed`]), on a loaded host far below its wall time.
    pub reconcile_cpu: Histogram,
    /// Bots looked at by reconcile passes: all of them in a full pass, only the changed ones in
    /// a pass that answers stored changes.
    pub bots_planned: Counter,
    pub docker_calls: Histogram,
    pub docker_errors: Counter,
    pub container_start: Histogram,
    pub event_to_running: Histogram,
    pub ingest_applied: Counter,
    pub ingest_skipped: Counter,
    pub ingest_malformed: Counter,
    pub ingest_errors: Counter,
    pub runs_started: Counter,
    pub runs_succeeded: Counter,
    pub runs_failed: Counter,
    pub runs_timed_out: Counter,
    pub runs_skipped: Counter,
    pub runs_running: Gauge,
    pub run_duration: Histogram,
    pub queries_proxied: Counter,
    pub queries_oneshot: Counter,
    pub queries_refused: Counter,
    pub queries_failed: Counter,
    /// Docker mode only (issue 15): queries proxied to a warm query server, and those running.
    pub queries_warm: Counter,
    pub warm_servers: Gauge,
    query_duration: Family<KindLabel, Histogram, fn() -> Histogram>,
    pub bots: BotSeries,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Which process the registry is for: every family, or only those `controller` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Docker mode (`serve` and its roles): every family.
    Docker,
    /// `orchestrator controller`: ingest, queries and the process only. Docker mode's fleet,
    /// container, run and per-bot families are built but not exported, so its `/metrics` shows no
    /// series that nothing in Kubernetes mode ever sets (a `the0_bots_running 0` beside a
    /// fleet of running pods would mislead an alert).
    Controller,
}

fn counter(r: &mut Registry, name: &str, help: &str) -> Counter {
    let c = Counter::default();
    r.register(name, help, c.clone());
    c
}

fn gauge(r: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    r.register(name, help, g.clone());
    g
}

fn histogram(r: &mut Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let h = Histogram::new(buckets.iter().copied());
    r.register(name, help, h.clone());
    h
}

impl Metrics {
    /// Docker mode's metrics: every family.
    pub fn new() -> Metrics {
        Metrics::build(Scope::Docker)
    }

    /// `orchestrator controller`'s metrics: only the families Kubernetes mode sets (ingest,
    /// queries, the process; [`Metrics::register_leader`] and [`Metrics::register_controller`]
    /// add its own). The other fields still work; what is written to them is not exported.
    pub fn for_controller() -> Metrics {
        Metrics::build(Scope::Controller)
    }

    fn build(scope: Scope) -> Metrics {
        let mut r = Registry::default();
        // Docker mode's own families, registered where they are exported only in Docker mode.
        let mut unexported = Registry::default();
        let d = if scope == Scope::Docker { &mut r } else { &mut unexported };
        // Counters are registered without `_total`: the encoder adds it.
        let restarts = counter(d, "the0_bot_restarts", "Restarts after an exit or a failed start");
        let starts = counter(d, "the0_container_starts", "Containers started");
        let start_failures = counter(d, "the0_container_start_failures", "Failed starts");
        let stops = counter(d, "the0_container_stops", "Containers stopped and removed");
        let bots_planned = counter(d, "the0_reconcile_bots_planned", "Bots looked at by reconcile passes");
        let docker_errors = counter(d, "the0_docker_errors", "Docker calls that failed");
        let runs_started = counter(d, "the0_runs_started", "Scheduled runs started");
        let runs_succeeded = counter(d, "the0_runs_succeeded", "Scheduled runs that exited 0");
        let runs_failed = counter(d, "the0_runs_failed", "Scheduled runs that failed (timed-out ones included)");
        let runs_timed_out = counter(d, "the0_runs_timed_out", "Scheduled runs stopped at their deadline");
        let runs_skipped =
            counter(d, "the0_runs_skipped", "Due times skipped because the previous run was still going");
        let queries_warm = counter(d, "the0_queries_warm", "Queries sent to a scheduled bot's warm query server");
        let warm_servers = gauge(d, "the0_query_warm_servers", "Warm query servers of scheduled bots");
        let desired = gauge(d, "the0_bots_desired", "Enabled bots in the store");
        let running = gauge(d, "the0_bots_running", "Desired bots with a running container");
        let backing_off = gauge(d, "the0_bots_backing_off", "Bots waiting out a crash-loop backoff");
        let failed = gauge(d, "the0_bots_failed", "Bots whose spec cannot be run");
        let runs_running = gauge(d, "the0_runs_running", "Scheduled runs going now");
        let reconcile = histogram(d, "the0_reconcile_duration_seconds", "Reconcile pass duration", &PASS_BUCKETS);
        let reconcile_cpu = histogram(
            d,
            "the0_reconcile_cpu_seconds",
            "CPU time the orchestrator spent in each reconcile pass (waits for Docker excluded)",
            &PASS_CPU_BUCKETS,
        );
        let docker_calls = histogram(d, "the0_docker_call_duration_seconds", "Docker API call latency", &PASS_BUCKETS);
        let container_start = histogram(
            d,
            "the0_container_start_duration_seconds",
            "Time to start a bot's container (code check, create, start)",
            &START_BUCKETS,
        );
        let event_to_running = histogram(
            d,
            "the0_event_to_running_seconds",
            "From a change stored (JetStream event or admin PUT) to the bot's container running",
            &EVENT_BUCKETS,
        );
        let run_duration =
            histogram(d, "the0_run_duration_seconds", "Scheduled run duration, start to exit", &RUN_BUCKETS);
        let bots = BotSeries::new(d);
        // Both modes.
        let ingest_applied = counter(&mut r, "the0_ingest_applied", "Events applied to the store");
        let ingest_skipped = counter(&mut r, "the0_ingest_skipped", "Events already applied");
        let ingest_malformed = counter(&mut r, "the0_ingest_malformed", "Malformed events terminated");
        let ingest_errors = counter(&mut r, "the0_ingest_errors", "Events that failed to apply");
        let queries_proxied = counter(&mut r, "the0_queries_proxied", "Queries sent to a running bot");
        let queries_oneshot = counter(&mut r, "the0_queries_oneshot", "Queries run in a query container");
        let queries_refused = counter(&mut r, "the0_queries_refused", "Queries answered 4xx or 503 before running");
        let queries_failed = counter(&mut r, "the0_queries_failed", "Queries whose result is an error");
        let query_duration: Family<KindLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(query_histogram);
        r.register("the0_query_duration_seconds", "Duration of queries that ran, by kind", query_duration.clone());
        r.register_collector(Box::new(process::Process));
        Metrics {
            registry: r,
            desired,
            running,
            backing_off,
            failed,
            restarts,
            starts,
            start_failures,
            stops,
            reconcile,
            reconcile_cpu,
            bots_planned,
            docker_calls,
            docker_errors,
            container_start,
            event_to_running,
            ingest_applied,
            ingest_skipped,
            ingest_malformed,
            ingest_errors,
            runs_started,
            runs_succeeded,
            runs_failed,
            runs_timed_out,
            runs_skipped,
            runs_running,
            run_duration,
            queries_proxied,
            queries_oneshot,
            queries_refused,
            queries_failed,
            queries_warm,
            warm_servers,
            query_duration,
            bots,
        }
    }

    /// Registers `the0_controller_leader` (Kubernetes mode only, so Docker mode's `/metrics` has
    /// no gauge that is always 0): 1 while this replica leads, else 0.
    pub fn register_leader(&mut self) -> Gauge {
        let g = Gauge::default();
        self.registry.register(
            "the0_controller_leader",
            "1 while this controller replica holds the leader Lease (always 1 without --leader-elect)",
            g.clone(),
        );
        g
    }

    /// Registers the controller's pass gauges (Kubernetes mode only, as `the0_controller_leader`).
    pub fn register_controller(&mut self) -> ControllerGauges {
        let g = ControllerGauges::default();
        let families = [
            (
                "the0_controller_skipped_bots",
                "Desired bots that got no pod or CronJob (their reason: status or ConfigMap annotation)",
                &g.skipped,
            ),
            (
                "the0_controller_corrupt_desired",
                "Desired-state ConfigMaps holding no readable record (their bots' objects are left as they are)",
                &g.corrupt_desired,
            ),
            (
                "the0_controller_kept_unknown",
                "Pods and CronJobs left as they are because their bot's desired state is unreadable",
                &g.kept_unknown,
            ),
        ];
        for (name, help, gauge) in families {
            self.registry.register(name, help, gauge.clone());
        }
        g
    }

    /// Records a query that ran, by how it ran.
    pub fn observe_query(&self, kind: QueryKind, d: std::time::Duration) {
        self.query_duration.get_or_create(&[("kind", kind.as_str())]).observe(d.as_secs_f64());
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail; a collector's error would only cut the text short.
        let _ = encode(&mut s, &self.registry);
        s
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
