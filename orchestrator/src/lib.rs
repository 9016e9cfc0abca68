//! The0's host orchestrator: turns desired bots (from the0's JetStream events or the admin API)
//! into running containers, and nothing else. Pure core (model, planners, spec, crash policy,
//! command line) with thin edges (SQLite store, Docker driver, HTTP servers, NATS ingest); the
//! binary in `src/bin/orchestrator.rs` only parses the command line and calls in here.
//!
//! # Layout
//!
//! The flow reads one way: the command line becomes settings, settings open the [`host`]
//! context, and the roles ([`reconcile`], [`schedule`], [`query`], [`admin`], [`health`],
//! [`ingest`]) work on it. No module imports one that imports it back (`tests/module_cycles.rs`).
//!
//! - [`cmdline`]: the command line and environment, parsed by one pure function into [`config`].
//! - [`cmdargs`]: the command line's clap tree (commands, flags, help) and its one-line errors.
//! - [`config`]: the resolved settings of one invocation (`Cli`) and its `Command`.
//! - [`server`]: `serve`/`bot-runner`/`bot-scheduler` (every role in one process) and `query-server`.
//! - [`client`]: the commands that talk to a running orchestrator or to Docker (`deploy`, `list`,
//!   `remove`, `logs`, `stop-all`).
//! - [`render`]: what those commands print: `list`'s filter, tables for people, `-o json` for scripts.
//! - [`host`]: the host context every role shares (store, engine, objects, settings, metrics, clock).
//! - [`shutdown`]: the shutdown flag every long-running task waits on.
//! - [`observed`]: the observed world: containers as Docker shows them and each bot's status.
//! - [`model`]: the desired world: bot records, payload parsing, the enabled rule, validation.
//! - [`reconcile`]: live bots: the planner, the crash policy and backoff, the runner and its snapshot.
//! - [`schedule`]: scheduled bots: cron, the due-run planner and the runner of runs.
//! - [`query`]: the :9477 query API (realtime and one-shot queries), one server for both modes.
//! - [`admin`]: the admin API (`PUT`/`DELETE`/`GET /bots…`, `restart`, `GET /events`) and what it
//!   shows per bot.
//! - [`ui`]: the status page (`/ui` on the admin address): the view model, its HTML rendering
//!   (escaped in one place, inline-SVG sparklines, no script) and a bot's last log lines.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics`.
//! - [`ingest`]: the0's JetStream events into the store.
//! - [`gc`]: `orchestrator gc`, object-storage garbage (old uploads, temps, query results, the
//!   state and logs of bots the store no longer knows): a pure planner and its runner.
//! - [`store`]: the SQLite store, each table's schema beside its queries (`bots`, `runs`, `events`).
//! - [`botstate`]: a bot's stored state as `state` and the admin API see it: the SDK's keys in
//!   its archive, listed, read and removed (a pure archive editor and a conditional write).
//! - [`objects`]: the bots' object storage as the host uses it (code checks, local directories).
//! - [`engine`]: the container engine seam, the calls the roles make on containers as a trait
//!   the host holds as `Arc<dyn Engine>`: the Docker driver implements it, paused-time tests put an
//!   in-memory engine behind it (and a Kubernetes driver can, issue #12).
//! - [`docker`]: the Docker driver (containers, networks, one-shot runs).
//! - [`clock`]: the wall clock backoffs and due times are decided by (tokio's in paused-time tests).
//! - [`kube`]: Kubernetes mode: its objects (pod, CronJob, query Job) and planner, pure, and the
//!   `controller` command (API client, reconcile loop, leader election with a Lease, the desired
//!   state optionally in ConfigMaps shared by replicas: `kube::cmstore`; the :9477 query API with
//!   pods and query Jobs as the query server's backend: `kube::queryserve`).
//! - [`takeover`]: `import-running` and `import-mongo`: desired records rebuilt from the original
//!   runtime's running containers, pods and CronJobs, or read from its `mongoexport` files, into
//!   either store through the ingest `Sink` (pure readers, thin edges).
//! - [`spec`]: the container spec of a bot in each role, pure.
//! - [`creds`]: per-container scoped credentials (STS) and their renewal.
//! - [`deploy`]: zipping a bot directory the way the0's CLI does.
//! - [`images`], [`limits`]: which image a runtime runs on; a container's resource limits.
//! - [`http`], [`auth`]: the small HTTP server loop and bearer-token checks.
//! - [`logwindow`], [`logfollow`]: what `logs` prints: `--tail`/`--since` of stored logs, and
//!   following bots across container replacements (`-f`, `--all`).
//! - [`log`]: the process's log lines: the `tracing` subscriber (JSON lines, `LOG_LEVEL`/`RUST_LOG`).
//! - [`malloc`]: glibc's allocator settings, applied first in `main` (freed Docker listings go back).
//! - [`metrics`]: `/metrics` with `prometheus-client` ([`metrics::bots`]: the per-bot series;
//!   [`metrics::process`]: RSS, CPU and fds from `/proc/self`).

pub mod admin;
pub mod auth;
pub mod botstate;
pub mod client;
pub mod clock;
pub mod cmdargs;
pub mod cmdline;
pub mod config;
pub mod creds;
pub mod deploy;
pub mod docker;
pub mod engine;
pub mod gc;
pub mod health;
pub mod host;
pub mod http;
pub mod images;
pub mod ingest;
pub mod kube;
pub mod limits;
pub mod log;
pub mod logfollow;
pub mod logwindow;
pub mod malloc;
pub mod metrics;
pub mod model;
pub mod objects;
pub mod observed;
pub mod query;
pub mod reconcile;
pub mod render;
pub mod schedule;
pub mod server;
pub mod shutdown;
pub mod spec;
pub mod store;
pub mod takeover;
pub mod ui;
