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
    #[error(transparent)]
    Invalid(#[from] crate::model::SpecError),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(id: &str, custom: Value) -> BotRecord {
        BotRecord { id: id.into(), config: json!({"a": 1}), custom, enabled: None }
    }

    fn custom(name: &str) -> Value {
        json!({"version": "1.0.0", "filePath": "u/b/1.0.0", "config": {"name": name, "runtime": "nodejs20", "entrypoints": {"bot": "main.js"}}})
    }

    #[test]
    fn records_are_prepared_or_skipped_with_a_reason() {
        let s = KubeSettings::default();
        for (case, r, want) in [
            ("plain", rec("abc123", custom("My Bot")), Ok("my-bot")),
            ("no name: the id's first 8 characters", rec("abcdefghij", custom("")), Ok("abcdefgh")),
            ("id prefix ending in a dash is trimmed", rec("abcdefg-hij", custom("")), Ok("abcdefg")),
            ("name with nothing usable: the id", rec("xyz", custom("***")), Ok("xyz")),
            ("uppercase id", rec("Bot1", custom("b")), Err("cannot name a Kubernetes object")),
            ("underscore id", rec("bot_1", custom("b")), Err("cannot name a Kubernetes object")),
            ("no code", rec("b1", Value::Null), Err("the bot has no code")),
            (
                "unknown runtime",
                rec("b1", json!({"filePath": "u/b", "config": {"runtime": "cobol", "entrypoints": {"bot": "x"}}})),
                Err("unknown runtime"),
            ),
        ] {
            let got = prepare(&r, &s).map(|p| p.custom_bot_label).map_err(|e| e.to_string());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{case}"),
                (Err(e), Err(part)) => assert!(e.contains(part), "{case}: {e}"),
                (g, w) => panic!("{case}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn the_hash_follows_config_version_and_root_enabled_only() {
        let s = KubeSettings::default();
        let base = rec("b1", custom("n"));
        let h = |r: &BotRecord| prepare(r, &s).map(|p| p.hash).unwrap_or_default();
        let mut other_name = base.clone();
        other_name.custom["config"]["name"] = json!("other");
        assert_eq!(h(&base), h(&other_name), "custom.config is not hashed");
        let mut other_version = base.clone();
        other_version.custom["version"] = json!("2.0.0");
        assert_ne!(h(&base), h(&other_version));
        let mut enabled_root = base.clone();
        enabled_root.enabled = Some(json!(true));
        assert_ne!(h(&base), h(&enabled_root));
    }
}
