//! The bot record the Kubernetes-mode tests build their objects from: the0's price-alerts bot in
//! Python, with or without a query entrypoint. Shared so that the controller, ConfigMap and
//! golden tests all describe the same bot (the goldens are its objects).
#![allow(dead_code)]

use serde_json::{json, Value};
use the0_orchestrator::model::BotRecord;

/// The bot `id` with `config` and no query entrypoint.
pub fn record(id: &str, config: Value) -> BotRecord {
    record_with_query(id, config, false)
}

/// The bot `id` with `config`, with a query entrypoint (`query.py`) when `query`.
pub fn record_with_query(id: &str, config: Value, query: bool) -> BotRecord {
    let mut entrypoints = json!({"bot": "main.py"});
    if query {
        entrypoints["query"] = json!("query.py");
    }
    BotRecord {
        id: id.into(),
        config,
        custom: json!({
            "version": "1.2.0",
            "filePath": "user-1/price-alerts/1.2.0",
            "config": {"name": "Price Alerts", "runtime": "python3.11", "entrypoints": entrypoints},
        }),
        enabled: None,
    }
}

/// The value of `name` in the environment of a built Job's (or CronJob template's) first
/// container, as the query tests read what a query Job was told.
pub fn env_of(job: &Value, name: &str) -> Option<String> {
    job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}
