//! The executor's environment, parsed once into a typed [`Config`] (docs/contract.md §2.2).
//!
//! Parsing is a pure function of an environment map so every rule is table-tested; each error
//! names the variable that was wrong. Storage settings are resolved separately
//! ([`Config::storage`]) so that a bot with a missing `BOT_ID` fails before any storage is contacted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use the0_contract::{env, paths};

use crate::log::Level;

const MIB: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required but empty or unset")]
    Missing(&'static str),
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Size caps for state and code (MiB in the environment, bytes here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `MAX_STATE_SIZE_MB` (8192): sum of all state files.
    pub state_total: u64,
    /// `MAX_STATE_FILE_SIZE_MB` (10): any one state file.
    pub state_file: u64,
    /// `THE0_MAX_CODE_SIZE_MB` (1024): uncompressed size of the code zip.
    pub code_total: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { state_total: 8192 * MIB, state_file: 10 * MIB, code_total: 1024 * MIB }
    }
}

pub use the0_contract::buckets::Buckets;

/// Where objects live: `MINIO_*` (an S3-compatible server; with `THE0_CREDENTIALS_FILE`, scoped
/// credentials, the keys come from that file and the shared keys are empty) or `THE0_STORAGE_DIR`.
pub type StorageConfig = the0_objstore::StoreSettings;

/// Everything the executor reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bot_id: String,
    pub runtime: String,
    pub entrypoint: String,
    pub code_file: Option<String>,
    /// `BOT_CONFIG` verbatim; `{}` when empty (D15).
    pub bot_config: String,
    pub bot_type: Option<String>,
    pub is_scheduled: bool,
    pub query_entrypoint: Option<String>,
    pub query_path: Option<String>,
    pub query_params: Option<String>,
    pub query_result_key: Option<String>,
    pub code_path: PathBuf,
    pub state_path: PathBuf,
    pub logs_path: PathBuf,
    /// `STATE_DIR` if inherited, else `$STATE_PATH/.the0-state`.
    pub state_dir: PathBuf,
    pub buckets: Buckets,
    pub limits: Limits,
    pub nats_url: Option<String>,
    pub log_level: Level,
    pub stop_grace: Duration,
    pub scrub_child_env: bool,
    pub done_file: PathBuf,
    pub query_dir: PathBuf,
    pub query_timeout: Duration,
    /// `THE0_QUERY_PORT`: where the :9476 front listens (0: any free port).
    pub query_port: u16,
    /// `THE0_QUERY_WAIT_SEC` (60): the sidecar's wait for code and for `state-restored` (D16).
    pub query_wait: Duration,
    /// `THE0_QUERY_WARM=1`: warm query mode (issue 15, `query::warm`).
    pub query_warm: bool,
    /// `THE0_BOT_NPROC`: `RLIMIT_NPROC` of the bot and query program (gVisor only; `None`: none).
    pub bot_nproc: Option<u64>,
    /// `THE0_WAIT_FOR_RELEASE`: an update's successor, which waits for `runtime release` once its
    /// code is in place (`crate::release`).
    pub wait_for_release: bool,
    storage: Result<StorageConfig, ConfigError>,
}

/// Reads a variable, treating set-but-empty as unset.
fn get<'a>(vars: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn dir(vars: &HashMap<String, String>, name: &str, default: &str) -> PathBuf {
    PathBuf::from(get(vars, name).unwrap_or(default))
}

/// A cap in MiB; invalid or non-positive values are ignored, as in the original.
fn mib(vars: &HashMap<String, String>, name: &str, default: u64) -> u64 {
    get(vars, name)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| *v > 0)
        .map_or(default, |v| v.saturating_mul(MIB))
}

fn secs(vars: &HashMap<String, String>, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
    match get(vars, name) {
        None => Ok(Duration::from_secs(default)),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| ConfigError::Invalid { var: name, reason: format!("{v:?} is not a whole number of seconds") }),
    }
}

/// Boolean spellings accepted where the contract says "any bool spelling".
pub use the0_contract::env::parse_bool;

fn storage_from(vars: &HashMap<String, String>) -> Result<StorageConfig, ConfigError> {
    if let Some(root) = get(vars, env::THE0_STORAGE_DIR) {
        return Ok(StorageConfig::Local { root: PathBuf::from(root) });
    }
    let endpoint = get(vars, env::MINIO_ENDPOINT).ok_or(ConfigError::Missing(env::MINIO_ENDPOINT))?;
    if endpoint.contains("://") {
        return Err(ConfigError::Invalid {
            var: env::MINIO_ENDPOINT,
            reason: format!("{endpoint:?} must be host:port without a scheme (use MINIO_USE_SSL)"),
        });
    }
    let credentials_file = get(vars, env::THE0_CREDENTIALS_FILE).map(PathBuf::from);
    let key = |name: &'static str| -> Result<String, ConfigError> {
        match (get(vars, name), &credentials_file) {
            // Scoped credentials: the file's keys win; shared keys are neither needed nor used.
            (_, Some(_)) => Ok(String::new()),
            (Some(v), None) => Ok(v.into()),
            (None, None) => Err(ConfigError::Missing(name)),
        }
    };
    let s3 = the0_objstore::S3Settings {
        endpoint: endpoint.to_string(),
        access_key: key(env::MINIO_ACCESS_KEY)?,
        secret_key: key(env::MINIO_SECRET_KEY)?,
        use_ssl: get(vars, env::MINIO_USE_SSL) == Some("true"),
        region: get(vars, env::MINIO_REGION).unwrap_or("us-east-1").into(),
    };
    Ok(StorageConfig::S3 { s3, credentials_file })
}

impl Config {
    /// Parses the settings every mode needs. `require_identity` demands `BOT_ID`, `RUNTIME` and
    /// `ENTRYPOINT` (the `execute` modes); `daemon` commands take the bot id from a flag instead.
    pub fn from_vars(vars: &HashMap<String, String>, require_identity: bool) -> Result<Config, ConfigError> {
        let required = |name: &'static str| -> Result<String, ConfigError> {
            match get(vars, name) {
                Some(v) => Ok(v.to_string()),
                None if require_identity => Err(ConfigError::Missing(name)),
                None => Ok(String::new()),
            }
        };
        let bot_id = required(env::BOT_ID)?;
        let runtime = required(env::RUNTIME)?;
        let entrypoint = required(env::ENTRYPOINT)?;
        let state_path = dir(vars, env::STATE_PATH, paths::DEFAULT_STATE_PATH);
        let state_dir =
            get(vars, env::STATE_DIR).map(PathBuf::from).unwrap_or_else(|| state_path.join(paths::STATE_KEYS_DIR));
        let opt = |name: &str| get(vars, name).map(str::to_string);
        let defaults = Limits::default();
        Ok(Config {
            bot_id,
            runtime,
            entrypoint,
            code_file: opt(env::CODE_FILE),
            bot_config: get(vars, env::BOT_CONFIG).unwrap_or("{}").to_string(),
            bot_type: opt(env::BOT_TYPE),
            is_scheduled: get(vars, env::IS_SCHEDULED) == Some("true"),
            query_entrypoint: opt(env::QUERY_ENTRYPOINT),
            query_path: opt(env::QUERY_PATH),
            query_params: opt(env::QUERY_PARAMS),
            query_result_key: opt(env::QUERY_RESULT_KEY),
            code_path: dir(vars, env::CODE_PATH, paths::DEFAULT_CODE_PATH),
            logs_path: dir(vars, env::LOGS_PATH, paths::DEFAULT_LOGS_PATH),
            state_path,
            state_dir,
            buckets: Buckets::from_vars(|name| get(vars, name)),
            limits: Limits {
                state_total: mib(vars, env::MAX_STATE_SIZE_MB, defaults.state_total),
                state_file: mib(vars, env::MAX_STATE_FILE_SIZE_MB, defaults.state_file),
                code_total: mib(vars, env::THE0_MAX_CODE_SIZE_MB, defaults.code_total),
            },
            nats_url: opt(env::NATS_URL),
            log_level: Level::parse(get(vars, env::LOG_LEVEL).unwrap_or("INFO")),
            stop_grace: secs(vars, env::THE0_STOP_GRACE_SEC, 10)?,
            scrub_child_env: match get(vars, env::THE0_SCRUB_CHILD_ENV) {
                None => true,
                Some(v) => parse_bool(v).ok_or_else(|| ConfigError::Invalid {
                    var: env::THE0_SCRUB_CHILD_ENV,
                    reason: format!("{v:?} is not a boolean"),
                })?,
            },
            done_file: dir(vars, env::THE0_DONE_FILE, paths::DONE_FILE),
            query_dir: dir(vars, env::THE0_QUERY_DIR, paths::QUERY_DIR),
            query_timeout: match secs(vars, env::THE0_QUERY_TIMEOUT_SEC, 30)? {
                t if t.is_zero() => {
                    return Err(ConfigError::Invalid {
                        var: env::THE0_QUERY_TIMEOUT_SEC,
                        reason: "must be at least 1 second".into(),
                    })
                }
                t => t,
            },
            query_port: match get(vars, env::THE0_QUERY_PORT) {
                None => the0_contract::query::CONTAINER_PORT,
                Some(v) => v.trim().parse::<u16>().map_err(|_| ConfigError::Invalid {
                    var: env::THE0_QUERY_PORT,
                    reason: format!("{v:?} is not a port number"),
                })?,
            },
            query_wait: secs(vars, env::THE0_QUERY_WAIT_SEC, 60)?,
            query_warm: get(vars, env::THE0_QUERY_WARM) == Some("1"),
            bot_nproc: match get(vars, env::THE0_BOT_NPROC) {
                None => None,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(0) => None,
                    Ok(n) => Some(n),
                    Err(_) => {
                        return Err(ConfigError::Invalid {
                            var: env::THE0_BOT_NPROC,
                            reason: format!("{v:?} is not a whole number"),
                        })
                    }
                },
            },
            wait_for_release: match get(vars, env::THE0_WAIT_FOR_RELEASE) {
                None => false,
                Some(v) => parse_bool(v).ok_or_else(|| ConfigError::Invalid {
                    var: env::THE0_WAIT_FOR_RELEASE,
                    reason: format!("{v:?} is not a boolean"),
                })?,
            },
            storage: storage_from(vars),
        })
    }

    /// Reads the process environment (non-UTF-8 variables are skipped).
    pub fn from_process_env(require_identity: bool) -> Result<Config, ConfigError> {
        Config::from_vars(
            &std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect(),
            require_identity,
        )
    }

    /// The object storage settings, or the error naming the missing variable.
    pub fn storage(&self) -> Result<&StorageConfig, ConfigError> {
        self.storage.as_ref().map_err(Clone::clone)
    }

    /// The run dir: the parent of `LOGS_PATH` (`/var/the0`), home of the marker files.
    pub fn run_dir(&self) -> PathBuf {
        self.logs_path.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
    }

    /// `CODE_MOUNT_DIR`: `CODE_PATH` without its leading `/`.
    pub fn code_mount_dir(&self) -> String {
        self.code_path.to_string_lossy().trim_start_matches('/').to_string()
    }

    pub fn bot_log_path(&self) -> PathBuf {
        self.logs_path.join(paths::BOT_LOG_FILE)
    }

    /// Ephemeral query mode: a non-empty `QUERY_PATH` (the `--query` flag overrides it).
    pub fn is_query_mode(&self) -> bool {
        self.query_path.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const BASE: &[(&str, &str)] = &[("BOT_ID", "b1"), ("RUNTIME", "python3.11"), ("ENTRYPOINT", "main.py")];

    #[test]
    fn missing_identity_names_the_variable() {
        for missing in ["BOT_ID", "RUNTIME", "ENTRYPOINT"] {
            let mut v = vars(BASE);
            v.insert(missing.into(), String::new());
            let err = Config::from_vars(&v, true).unwrap_err();
            assert_eq!(
                err,
                ConfigError::Missing(match missing {
                    "BOT_ID" => env::BOT_ID,
                    "RUNTIME" => env::RUNTIME,
                    _ => env::ENTRYPOINT,
                })
            );
            assert!(err.to_string().contains(missing));
        }
        assert!(Config::from_vars(&vars(&[]), false).is_ok());
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::from_vars(&vars(BASE), true).unwrap();
        assert_eq!(c.code_path, PathBuf::from("/bot"));
        assert_eq!(c.state_path, PathBuf::from("/state"));
        assert_eq!(c.logs_path, PathBuf::from("/var/the0/logs"));
        assert_eq!(c.state_dir, PathBuf::from("/state/.the0-state"));
        assert_eq!(c.run_dir(), PathBuf::from("/var/the0"));
        assert_eq!(c.code_mount_dir(), "bot");
        assert_eq!(c.bot_config, "{}");
        assert_eq!(c.buckets, Buckets::default());
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.stop_grace, Duration::from_secs(10));
        assert!(c.scrub_child_env);
        assert!(!c.is_scheduled);
        assert_eq!(c.done_file, PathBuf::from("/var/the0/done"));
        assert_eq!(c.query_dir, PathBuf::from("/query"));
        assert_eq!(c.query_port, 9476);
        assert_eq!(c.query_timeout, Duration::from_secs(30));
        assert_eq!(c.query_wait, Duration::from_secs(60));
        assert!(!c.query_warm);
        assert_eq!(c.storage(), Err(ConfigError::Missing(env::MINIO_ENDPOINT)));
    }

    #[test]
    fn warm_query_mode_is_only_the_value_1() {
        for (value, want) in [("1", true), ("0", false), ("true", false), ("", false)] {
            let mut v = vars(BASE);
            v.insert(env::THE0_QUERY_WARM.into(), value.into());
            assert_eq!(Config::from_vars(&v, true).unwrap().query_warm, want, "{value:?}");
        }
    }

    #[test]
    fn empty_paths_mean_unset_and_state_dir_follows_state_path() {
        let mut v = vars(BASE);
        v.extend(vars(&[("CODE_PATH", ""), ("STATE_PATH", "/data/s"), ("LOGS_PATH", "/r/logs")]));
        let c = Config::from_vars(&v, true).unwrap();
        assert_eq!(c.code_path, PathBuf::from("/bot"));
        assert_eq!(c.state_dir, PathBuf::from("/data/s/.the0-state"));
        assert_eq!(c.run_dir(), PathBuf::from("/r"));
        v.insert("STATE_DIR".into(), "/custom".into());
        assert_eq!(Config::from_vars(&v, true).unwrap().state_dir, PathBuf::from("/custom"));
    }

    #[test]
    fn caps_in_mib_and_invalid_ignored() {
        let mut v = vars(BASE);
        v.extend(vars(&[("MAX_STATE_SIZE_MB", "5"), ("MAX_STATE_FILE_SIZE_MB", "nope")]));
        let c = Config::from_vars(&v, true).unwrap();
        assert_eq!(c.limits.state_total, 5 * MIB);
        assert_eq!(c.limits.state_file, 10 * MIB);
        v.insert("MAX_STATE_FILE_SIZE_MB".into(), "-3".into());
        assert_eq!(Config::from_vars(&v, true).unwrap().limits.state_file, 10 * MIB);
    }

    #[test]
    fn credentials_file_replaces_shared_keys() {
        let mut v = vars(BASE);
        v.extend(vars(&[("MINIO_ENDPOINT", "ceph:8000"), ("THE0_CREDENTIALS_FILE", "/run/the0/credentials.json")]));
        let c = Config::from_vars(&v, true).unwrap();
        match c.storage() {
            Ok(StorageConfig::S3 { s3, credentials_file }) => {
                assert_eq!((s3.access_key.as_str(), s3.secret_key.as_str()), ("", ""));
                assert_eq!(credentials_file.as_deref(), Some(Path::new("/run/the0/credentials.json")));
            }
            other => panic!("{other:?}"),
        }
        // Shared keys in the environment are ignored in this mode.
        v.extend(vars(&[("MINIO_ACCESS_KEY", "a"), ("MINIO_SECRET_KEY", "s")]));
        let c = Config::from_vars(&v, true).unwrap();
        assert!(matches!(c.storage(), Ok(StorageConfig::S3 { s3, .. }) if s3.access_key.is_empty()));
    }

    #[test]
    fn storage_selection() {
        let mut v = vars(BASE);
        v.extend(vars(&[("MINIO_ENDPOINT", "minio:9000"), ("MINIO_ACCESS_KEY", "a")]));
        assert_eq!(Config::from_vars(&v, true).unwrap().storage(), Err(ConfigError::Missing(env::MINIO_SECRET_KEY)));
        v.extend(vars(&[("MINIO_SECRET_KEY", "s"), ("MINIO_USE_SSL", "TRUE")]));
        let c = Config::from_vars(&v, true).unwrap();
        assert_eq!(
            c.storage(),
            Ok(&StorageConfig::S3 {
                s3: the0_objstore::S3Settings {
                    endpoint: "minio:9000".into(),
                    access_key: "a".into(),
                    secret_key: "s".into(),
                    use_ssl: false, // only the exact string `true` enables TLS
                    region: "us-east-1".into(),
                },
                credentials_file: None,
            })
        );
        v.insert("MINIO_ENDPOINT".into(), "http://minio:9000".into());
        let err = Config::from_vars(&v, true).unwrap().storage().unwrap_err();
        assert!(err.to_string().contains("MINIO_ENDPOINT"));
        v.insert("THE0_STORAGE_DIR".into(), "/objects".into());
        assert_eq!(
            Config::from_vars(&v, true).unwrap().storage(),
            Ok(&StorageConfig::Local { root: "/objects".into() })
        );
    }

    #[test]
    fn the_bots_process_limit_is_a_whole_number_and_zero_means_none() {
        for (value, want) in
            [(None, Ok(None)), (Some("0"), Ok(None)), (Some(" 64 "), Ok(Some(64))), (Some("many"), Err(()))]
        {
            let mut v = vars(BASE);
            if let Some(x) = value {
                v.insert("THE0_BOT_NPROC".into(), x.into());
            }
            let got = Config::from_vars(&v, true).map(|c| c.bot_nproc).map_err(|e| {
                assert!(e.to_string().contains("THE0_BOT_NPROC"), "{e}");
            });
            assert_eq!(got, want, "{value:?}");
        }
    }

    #[test]
    fn knobs_are_validated() {
        let mut v = vars(BASE);
        v.insert("THE0_STOP_GRACE_SEC".into(), "soon".into());
        let err = Config::from_vars(&v, true).unwrap_err();
        assert!(err.to_string().contains("THE0_STOP_GRACE_SEC"), "{err}");
        v.insert("THE0_STOP_GRACE_SEC".into(), "3".into());
        v.insert("THE0_SCRUB_CHILD_ENV".into(), "false".into());
        let c = Config::from_vars(&v, true).unwrap();
        assert_eq!(c.stop_grace, Duration::from_secs(3));
        assert!(!c.scrub_child_env);
        v.insert("THE0_QUERY_PORT".into(), "70000".into());
        let err = Config::from_vars(&v, true).unwrap_err();
        assert!(err.to_string().contains("THE0_QUERY_PORT"), "{err}");
        v.insert("THE0_QUERY_PORT".into(), "0".into());
        v.insert("THE0_QUERY_TIMEOUT_SEC".into(), "0".into());
        let err = Config::from_vars(&v, true).unwrap_err();
        assert!(err.to_string().contains("THE0_QUERY_TIMEOUT_SEC"), "{err}");
        v.insert("THE0_QUERY_TIMEOUT_SEC".into(), "7".into());
        assert_eq!(Config::from_vars(&v, true).unwrap().query_timeout, Duration::from_secs(7));
        v.insert("THE0_QUERY_PORT".into(), "0".into());
        assert_eq!(Config::from_vars(&v, true).unwrap().query_port, 0);
    }
}
