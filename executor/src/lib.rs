//! The0's in-container runtime: the library behind the `runtime` binary (`/app/runtime`).
//!
//! The binary is PID 1 of every bot container. It fetches the bot's code and state, runs the bot
//! under a proper init (signal forwarding, reaping, ordered stop), keeps state and logs safe in
//! object storage, and answers the commands of docs/contract.md §2.1. Pure parts (parsing, planning,
//! formats) are separate from the I/O edges so they can be table-tested.
//!
//! # Layout
//!
//! `§` and `D<n>` references in this crate are to `docs/contract.md`.
//!
//! * [`cli`]: the command line of `/app/runtime` (§2.1).
//! * [`config`]: the environment, parsed once into a typed `Config` (§2.2).
//! * [`childenv`]: the environment of every child the executor starts.
//! * [`launch`]: which program runs a bot or a query for each `RUNTIME` (§2.5).
//! * [`storage`]: opens the object store a `StorageConfig` describes.
//! * [`log`](mod@log): the executor's own log lines and macros.
//! * [`run`]: the normal run, from code fetch to the ordered stop and final sync.
//! * [`release`]: an update's successor waiting for its release (`runtime release`).
//! * [`daemon`]: the sidecar commands (`daemon sync`, `daemon init`).
//! * [`health`]: the sidecar's health port.
//! * [`exit_reason`]: why the executor ends, reported as its last log line.
//! * [`malloc`]: glibc allocator settings for the static-glibc fallback build.
//! * [`supervise`]: PID-1 supervision (spawn, reap, forward signals, ordered stop).
//! * [`code`]: download and safe extraction of the bot's code zip.
//! * [`state`]: fingerprint, archive, restore and upload of the bot's state.
//! * [`logs`]: the `bot.log` tee and shipping it as NDJSON.
//! * [`sync`]: the sync engine and its triggers.
//! * [`nats`]: a minimal core-NATS publisher for log chunks.
//! * [`backoff`]: doubling retry delays with a random cut (query program restarts, NATS reconnects).
//! * [`query`]: the :9476 query front, the query program, one-shot queries, the sidecar.

pub mod log;

pub mod childenv;
pub mod cli;
pub mod config;
pub mod launch;
pub mod storage;

pub mod backoff;
pub mod code;
pub mod logs;
pub mod nats;
pub mod state;

pub mod daemon;
pub mod exit_reason;
pub mod health;
pub mod malloc;
pub mod query;
pub mod release;
pub mod run;
pub mod supervise;
pub mod sync;
