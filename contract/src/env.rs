//! Environment variable names read or written by the runtime (docs/contract.md §2.2, §2.3, §5.4, §7).

// Identity and launch.
pub const BOT_ID: &str = "BOT_ID";
pub const RUNTIME: &str = "RUNTIME";
pub const ENTRYPOINT: &str = "ENTRYPOINT";
pub const CODE_FILE: &str = "CODE_FILE";
pub const BOT_CONFIG: &str = "BOT_CONFIG";
pub const BOT_TYPE: &str = "BOT_TYPE";
pub const IS_SCHEDULED: &str = "IS_SCHEDULED";

// Queries.
pub const QUERY_ENTRYPOINT: &str = "QUERY_ENTRYPOINT";
pub const QUERY_PATH: &str = "QUERY_PATH";
pub const QUERY_PARAMS: &str = "QUERY_PARAMS";
pub const QUERY_RESULT_KEY: &str = "QUERY_RESULT_KEY";
/// Prefix of the per-parameter variables of a one-shot query (`QUERY_PARAM_<key>`).
pub const QUERY_PARAM_PREFIX: &str = "QUERY_PARAM_";
/// Port the SDK query program listens on.
pub const THE0_QUERY_PORT: &str = "THE0_QUERY_PORT";

// Directories.
pub const CODE_PATH: &str = "CODE_PATH";
pub const STATE_PATH: &str = "STATE_PATH";
pub const LOGS_PATH: &str = "LOGS_PATH";
pub const STATE_DIR: &str = "STATE_DIR";
pub const CODE_MOUNT_DIR: &str = "CODE_MOUNT_DIR";
pub const SCRIPT_PATH: &str = "SCRIPT_PATH";
pub const ENTRYPOINT_TYPE: &str = "ENTRYPOINT_TYPE";
pub const PYTHONPATH: &str = "PYTHONPATH";
pub const PYTHONUNBUFFERED: &str = "PYTHONUNBUFFERED";

// Object storage.
pub const MINIO_ENDPOINT: &str = "MINIO_ENDPOINT";
pub const MINIO_ACCESS_KEY: &str = "MINIO_ACCESS_KEY";
pub const MINIO_SECRET_KEY: &str = "MINIO_SECRET_KEY";
pub const MINIO_USE_SSL: &str = "MINIO_USE_SSL";
pub const MINIO_REGION: &str = "MINIO_REGION";
pub const MINIO_CODE_BUCKET: &str = "MINIO_CODE_BUCKET";
pub const MINIO_STATE_BUCKET: &str = "MINIO_STATE_BUCKET";
pub const MINIO_LOGS_BUCKET: &str = "MINIO_LOGS_BUCKET";
pub const MINIO_QUERY_RESULTS_BUCKET: &str = "MINIO_QUERY_RESULTS_BUCKET";
/// Local-directory backend root: object `bucket/key` is the file `$THE0_STORAGE_DIR/bucket/key`.
pub const THE0_STORAGE_DIR: &str = "THE0_STORAGE_DIR";

// Limits.
pub const MAX_STATE_SIZE_MB: &str = "MAX_STATE_SIZE_MB";
pub const MAX_STATE_FILE_SIZE_MB: &str = "MAX_STATE_FILE_SIZE_MB";
pub const THE0_MAX_CODE_SIZE_MB: &str = "THE0_MAX_CODE_SIZE_MB";

// Broker and misc.
pub const NATS_URL: &str = "NATS_URL";
pub const MONGO_URI: &str = "MONGO_URI";
pub const LOG_LEVEL: &str = "LOG_LEVEL";

// Our own knobs (docs/contract.md §7 "new optional names", issue seams).
pub const THE0_STOP_GRACE_SEC: &str = "THE0_STOP_GRACE_SEC";
pub const THE0_SCRUB_CHILD_ENV: &str = "THE0_SCRUB_CHILD_ENV";
pub const THE0_DONE_FILE: &str = "THE0_DONE_FILE";
pub const THE0_QUERY_DIR: &str = "THE0_QUERY_DIR";
pub const THE0_QUERY_TIMEOUT_SEC: &str = "THE0_QUERY_TIMEOUT_SEC";
/// How long the query sidecar waits for the bot container's code and `state-restored` marker (60).
pub const THE0_QUERY_WAIT_SEC: &str = "THE0_QUERY_WAIT_SEC";
/// `1`: warm query mode (issue 15): restore the state, serve the query program on :9476, never
/// run the bot, never upload anything; exit 0 on a stop signal.
pub const THE0_QUERY_WARM: &str = "THE0_QUERY_WARM";
/// Processes and threads the bot's user may have (`RLIMIT_NPROC` on every child the executor starts);
/// unset or 0: no limit. The orchestrator sets it only under gVisor, whose kernel counts the
/// sandbox's own tasks (under runc the count is per uid across the host: docs/security/gvisor.md §4).
pub const THE0_BOT_NPROC: &str = "THE0_BOT_NPROC";
/// `1`: the update handover's waiting mode (issue #15): `execute` fetches the code, then waits
/// for `runtime release` before it restores state and starts the bot. Set by the orchestrator on
/// the successor container of a running realtime bot whose spec changed.
pub const THE0_WAIT_FOR_RELEASE: &str = "THE0_WAIT_FOR_RELEASE";
/// Test seam: where `python_bot.py` and `node_bot.js` live (default `/app/wrappers`).
pub const THE0_WRAPPERS_DIR: &str = "THE0_WRAPPERS_DIR";

/// Path of a JSON file with the S3 keys to use instead of `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`
/// (scoped credentials, re-read when it changes: docs/security/creds.md).
pub const THE0_CREDENTIALS_FILE: &str = "THE0_CREDENTIALS_FILE";
/// Where the orchestrator mounts a bot's credentials file (read-only) with `--scoped-credentials`.
pub const CONTAINER_CREDENTIALS_FILE: &str = "/run/the0/credentials.json";

/// Secrets that children never see unless `THE0_SCRUB_CHILD_ENV=false` (D12).
pub const CHILD_SECRETS: &[&str] = &[MINIO_ACCESS_KEY, MINIO_SECRET_KEY, NATS_URL, MONGO_URI];

// Host side (docs/contract.md §5.4, §5.6, §7) and the orchestrator's own knobs.
pub const RUNTIME_IMAGE: &str = "RUNTIME_IMAGE";
pub const MINIO_CONTAINER_ENDPOINT: &str = "MINIO_CONTAINER_ENDPOINT";
/// Alternative spelling of `MINIO_USE_SSL` read by Docker hosts.
pub const MINIO_SSL: &str = "MINIO_SSL";
pub const BOT_MEMORY_LIMIT_MB: &str = "BOT_MEMORY_LIMIT_MB";
pub const BOT_CPU_SHARES: &str = "BOT_CPU_SHARES";
pub const DOCKER_NETWORK: &str = "DOCKER_NETWORK";
pub const DEV_RUNTIME_PATH: &str = "DEV_RUNTIME_PATH";
pub const STOP_BOTS_ON_SHUTDOWN: &str = "STOP_BOTS_ON_SHUTDOWN";
pub const BOT_STOP_TIMEOUT_SEC: &str = "BOT_STOP_TIMEOUT_SEC";
/// Scheduler knobs (D28): runs at once (0 = unlimited) and the per-run deadline (0 = none).
pub const SCHEDULE_MAX_CONCURRENT: &str = "SCHEDULE_MAX_CONCURRENT";
pub const SCHEDULE_EXECUTION_TIMEOUT: &str = "SCHEDULE_EXECUTION_TIMEOUT";
/// Embedded store and local objects (`--data-dir`).
pub const THE0_DATA_DIR: &str = "THE0_DATA_DIR";
/// Admin API listen address (`--admin-addr`) and its optional bearer token.
pub const THE0_ADMIN_ADDR: &str = "THE0_ADMIN_ADDR";
pub const THE0_ADMIN_TOKEN: &str = "THE0_ADMIN_TOKEN";
/// Health server listen address (`--health-addr`, default `0.0.0.0:8080`).
pub const THE0_HEALTH_ADDR: &str = "THE0_HEALTH_ADDR";
/// Opt-in instance label: the orchestrator only sees containers labelled with it.
pub const THE0_INSTANCE: &str = "THE0_INSTANCE";
pub const THE0_MAX_PARALLEL: &str = "THE0_MAX_PARALLEL";
/// The host query API's port (`--port`, 9477; a value that is not a port means 9477).
pub const QUERY_SERVER_PORT: &str = "QUERY_SERVER_PORT";
/// The host query API's listen address (`--query-bind`, `0.0.0.0`).
pub const THE0_QUERY_BIND: &str = "THE0_QUERY_BIND";
/// One-shot query containers at once (`--max-query-containers`, 8).
pub const THE0_MAX_QUERY_CONTAINERS: &str = "THE0_MAX_QUERY_CONTAINERS";
/// How long a scheduled bot's warm query server outlives its last query (`--query-warm-for`,
/// 60 s; 0: no warm servers).
pub const THE0_QUERY_WARM_FOR: &str = "THE0_QUERY_WARM_FOR";
/// Warm query servers at once (`--max-warm-query-servers`, 16).
pub const THE0_MAX_WARM_QUERY_SERVERS: &str = "THE0_MAX_WARM_QUERY_SERVERS";
/// First crash-loop delay (Go duration, default `10s`).
pub const THE0_CRASH_BACKOFF: &str = "THE0_CRASH_BACKOFF";
/// `IfNotPresent` (pull a missing image, the default) or `Never`.
pub const RUNTIME_IMAGE_PULL_POLICY: &str = "RUNTIME_IMAGE_PULL_POLICY";

/// The boolean spellings accepted wherever the contract says "any bool spelling" (`MINIO_USE_SSL`,
/// `STOP_BOTS_ON_SHUTDOWN`, boolean flags given a value…): Go's `strconv.ParseBool` set plus
/// `yes`/`no`/`on`/`off`, any case, surrounding blanks ignored. `None` for anything else.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "y" | "on" => Some(true),
        "0" | "f" | "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn bool_spellings() {
        for (v, want) in [
            ("1", Some(true)),
            ("true", Some(true)),
            (" TRUE ", Some(true)),
            ("T", Some(true)),
            ("yes", Some(true)),
            ("y", Some(true)),
            ("On", Some(true)),
            ("0", Some(false)),
            ("false", Some(false)),
            ("F", Some(false)),
            ("no", Some(false)),
            ("n", Some(false)),
            ("off", Some(false)),
            ("", None),
            ("2", None),
            ("truthy", None),
        ] {
            assert_eq!(parse_bool(v), want, "{v:?}");
        }
    }
}
