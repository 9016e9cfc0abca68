//! The compatibility contract with the0, in one place.
//!
//! Every environment variable, path, bucket, object key, label, subject and wire envelope that both
//! the executor (inside bot containers) and the orchestrator (on the host) must agree on is defined
//! here once, so the two binaries cannot drift apart. Small pure formats that are part of the
//! contract (Go durations, RFC3339 timestamps, subject sanitising) live here too.

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
