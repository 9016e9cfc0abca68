//! The compatibility contract with the0, in one place.
//!
//! Every environment variable, path, bucket, object key, label, subject and wire envelope that both
//! the executor (inside bot containers) and the orchestrator (on the host) must agree on is defined
//! here once, so the two binaries cannot drift apart. Small pure formats that are part of the
//! contract (Go durations, RFC3339 timestamps, subject sanitising) live here too.
//!
//! # Layout
//!
//! `§` and `D<n>` references in this crate are to `docs/contract.md` (its sections and its numbered
//! improvements on the original).
//!
//! * [`env`](mod@env): environment variable names, and the one boolean parser for their values.
//! * [`paths`]: fixed paths inside a bot container and the run-dir marker files.
//! * [`buckets`]: bucket names, their defaults and `MINIO_*_BUCKET` overrides.
//! * [`keys`]: object keys and NATS subjects derived from a bot id.
//! * [`labels`]: Docker labels on managed containers.
//! * [`runtimes`]: the `RUNTIME` values.
//! * [`query`]: the query wire envelope and ports.
//! * [`querytarget`]: pure rules of a query's request target (JSON body to URL query, D20).
//! * [`botpolicy`]: the S3 session policy of one bot (scoped credentials).
//! * [`logline`]: the runtime's own JSON log lines.
//! * [`duration`]: Go `time.ParseDuration` syntax.
//! * [`timefmt`]: RFC 3339 formatting and parsing, the `YYYYMMDD` day, civil-date arithmetic.

pub mod botpolicy;
pub mod buckets;
pub mod duration;
pub mod env;
pub mod keys;
pub mod labels;
pub mod logline;
pub mod paths;
pub mod query;
pub mod querytarget;
pub mod runtimes;
pub mod timefmt;

/// The semantic version printed by `version` (`the0-runtime version <semver>`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The first line `version` prints, exactly as the original's.
pub fn version_line() -> String {
    format!("the0-runtime version {VERSION}")
}
