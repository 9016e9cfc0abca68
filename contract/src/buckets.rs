//! Default bucket names (CONTRACT §3); each is overridable by its `MINIO_*_BUCKET` variable.

pub const CODE: &str = "custom-bots";
pub const STATE: &str = "bot-state";
pub const LOGS: &str = "bot-logs";
pub const QUERY_RESULTS: &str = "query-results";
