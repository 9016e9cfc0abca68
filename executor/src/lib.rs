//! The0's in-container runtime: the library behind the `runtime` binary (`/app/runtime`).
//!
//! The binary is PID 1 of every bot container. It fetches the bot's code and state, runs the bot
//! under a proper init (signal forwarding, reaping, ordered stop), keeps state and logs safe in
//! object storage, and answers the commands of docs/contract.md §2.1. Pure parts (parsing, planning,
//! formats) are separate from the I/O edges so they can be table-tested.

pub mod log;

pub mod childenv;
pub mod cli;
pub mod config;
pub mod launch;
pub mod storage;

pub mod code;
pub mod logs;
pub mod nats;
pub mod state;

pub mod daemon;
pub mod exit_reason;
pub mod health;
pub mod query;
pub mod run;
pub mod supervise;
pub mod sync;
