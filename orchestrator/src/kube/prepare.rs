//! From a stored record to what every object of it is made of, or the reason it gets none.
//!
//! Why it exists: the pod, the CronJob and the query Job share the checks (the record's
//! validation as in Docker mode, a DNS-1123 id), the labels, the hash and the resources, and a
//! bot that fails any of them is skipped with one reason its status can show (D32) instead of
//! failing the API call every reconcile.

use serde_json::Value;

use super::names::{self, NameError};
use super::resources::{self, BotResources};
use super::settings::KubeSettings;
use super::{cronexpr, hash};
use crate::model::{self, BotRecord, Launch};

/// Why a record gets no object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Schedule(#[from] cronexpr::ScheduleError),
}

/// A built object and what the caller should log about it (the builders log nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Built<T> {
    pub object: T,
    pub warnings: Vec<String>,
}

/// Everything the builders take from one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub launch: Launch,
    /// `the0.app/custom-bot-id`: the sanitised `custom.config.name`, else the id's first 8 characters.
    pub custom_bot_label: String,
    /// `the0.app/custom-bot-version`: the sanitised `custom.version`.
    pub version_label: String,
    /// `the0.app/runtime` (a known runtime name, sanitised all the same).
    pub runtime_label: String,
    /// `the0.app/config-hash` / `the0.app/schedule-hash`.
    pub hash: String,
    pub resources: BotResources,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(v, |cur, p| cur.get(p)).and_then(Value::as_str).unwrap_or("")
}

/// Checks `rec` and derives its [`Prepared`].
pub fn prepare(rec: &BotRecord, s: &KubeSettings) -> Result<Prepared, Skip> {
    names::check_id(&rec.id)?;
    let launch = model::validate(rec, &s.images).map_err(Skip::Invalid)?;
    let version = text(&rec.custom, &["version"]);
    let name = names::label_value(text(&rec.custom, &["config", "name"]));
    let custom_bot_label = if name.is_empty() { rec.id.chars().take(8).collect() } else { name };
    Ok(Prepared {
        custom_bot_label: names::label_value(&custom_bot_label),
        version_label: names::label_value(version),
        runtime_label: names::label_value(&launch.runtime),
        hash: hash::config_hash(&rec.config, version, rec.enabled.as_ref()),
        resources: resources::bot_resources(&rec.config),
        launch,
    })
}
