//! Label and annotation keys and values on the objects of Kubernetes mode (docs/contract.md §5.7):
//! the original controller's, kept so its objects are recognised and adopted.

pub const BOT_ID: &str = "the0.app/bot-id";
pub const SCHEDULE_ID: &str = "the0.app/schedule-id";
pub const CUSTOM_BOT_ID: &str = "the0.app/custom-bot-id";
pub const CUSTOM_BOT_VERSION: &str = "the0.app/custom-bot-version";
pub const RUNTIME: &str = "the0.app/runtime";
pub const MANAGED_BY: &str = "the0.app/managed-by";
pub const QUERY: &str = "the0.app/query";

pub const CONFIG_HASH: &str = "the0.app/config-hash";
pub const SCHEDULE_HASH: &str = "the0.app/schedule-hash";

/// `the0.app/managed-by` of bot pods, CronJobs and query Jobs.
pub const BOT_CONTROLLER: &str = "the0-bot-controller";
pub const SCHEDULE_CONTROLLER: &str = "the0-schedule-controller";
pub const QUERY_HANDLER: &str = "the0-query-handler";

/// `the0.app/desired` of the ConfigMaps that hold desired state (`--desired-state configmaps`):
/// what kind of record one holds.
pub const DESIRED: &str = "the0.app/desired";
/// `the0.app/desired` of a bot record's ConfigMap.
pub const DESIRED_BOT: &str = "bot";
/// `the0.app/managed-by` of the desired-state ConfigMaps: the controller's own name.
pub const RUNTIME_CONTROLLER: &str = "the0-runtime-controller";

/// Annotation on a desired-state ConfigMap: why its bot has no object (a skip reason, D32, or
/// why the record is unreadable), written by the leader only when it changes, absent otherwise.
pub const SKIP_REASON: &str = "the0.app/skip-reason";
