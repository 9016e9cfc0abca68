//! The0's host orchestrator: turns desired bots (from the0's JetStream events or the admin API)
//! into running containers, and nothing else. Pure core (model, planner, spec, backoff, config)
//! with thin edges (SQLite store, Docker driver, HTTP servers, NATS ingest); the binary in
//! `src/bin/orchestrator.rs` only parses the command line and calls in here.

pub mod admin;
pub mod auth;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod creds;
pub mod deploy;
pub mod docker;
pub mod exit_reason;
pub mod health;
pub mod http;
pub mod images;
pub mod ingest;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod model;
pub mod plan;
pub mod query;
pub mod reconcile;
pub mod schedule;
pub mod server;
pub mod snapshot;
pub mod spec;
pub mod storage;
pub mod store;
