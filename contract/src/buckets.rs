//! Bucket names (docs/contract.md §3): the defaults, each overridable by its `MINIO_*_BUCKET` variable,
//! and the set of four both binaries read the same way.

use crate::env;

pub const CODE: &str = "custom-bots";
pub const STATE: &str = "bot-state";
pub const LOGS: &str = "bot-logs";
pub const QUERY_RESULTS: &str = "query-results";

/// The four buckets in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub code: String,
    pub state: String,
    pub logs: String,
    pub query_results: String,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets { code: CODE.into(), state: STATE.into(), logs: LOGS.into(), query_results: QUERY_RESULTS.into() }
    }
}

impl Buckets {
    /// The names `MINIO_{CODE,STATE,LOGS,QUERY_RESULTS}_BUCKET` give through `get` (which returns
    /// `None` for an unset or empty variable); the default for each one not given.
    pub fn from_vars<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Buckets {
        let name = |var: &str, default: &str| get(var).unwrap_or(default).to_string();
        Buckets {
            code: name(env::MINIO_CODE_BUCKET, CODE),
            state: name(env::MINIO_STATE_BUCKET, STATE),
            logs: name(env::MINIO_LOGS_BUCKET, LOGS),
            query_results: name(env::MINIO_QUERY_RESULTS_BUCKET, QUERY_RESULTS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_override_each_default() {
        assert_eq!(Buckets::from_vars(|_| None), Buckets::default());
        let b = Buckets::from_vars(|v| (v == env::MINIO_LOGS_BUCKET).then_some("lg"));
        assert_eq!(b, Buckets { logs: "lg".into(), ..Buckets::default() });
    }
}
