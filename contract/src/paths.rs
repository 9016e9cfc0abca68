//! Fixed paths inside a bot container (docs/contract.md §2.4) and the run-dir marker files (§7).

pub const RUNTIME_BIN: &str = "/app/runtime";
pub const WRAPPERS_DIR: &str = "/app/wrappers";
pub const PYTHON_WRAPPER_FILE: &str = "python_bot.py";
pub const NODE_WRAPPER_FILE: &str = "node_bot.js";

pub const DEFAULT_CODE_PATH: &str = "/bot";
pub const DEFAULT_STATE_PATH: &str = "/state";
pub const DEFAULT_LOGS_PATH: &str = "/var/the0/logs";
pub const DONE_FILE: &str = "/var/the0/done";
pub const QUERY_DIR: &str = "/query";

/// SDK key directory below the state path.
pub const STATE_KEYS_DIR: &str = ".the0-state";
pub const BOT_LOG_FILE: &str = "bot.log";
pub const RESULT_FILE: &str = "result.json";

// Markers in the run dir (the parent of LOGS_PATH).
pub const STATE_RESTORED: &str = "state-restored";
pub const STATE_RESTORE_FAILED: &str = "state-restore-failed";
pub const BOT_LOG_OFFSET: &str = ".bot-log-offset";
pub const CODE_KEY: &str = "code-key";
