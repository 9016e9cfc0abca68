//! The record's part a bot container's environment carries, pure: `config` from `CONFIG` (else
//! `BOT_CONFIG`), the code key `CODE_FILE`, `RUNTIME`, `ENTRYPOINT` and `QUERY_ENTRYPOINT`
//! (docs/contract.md §5.4, §5.7).
//!
//! Why it exists: the original and this orchestrator give a Docker container and a pod's `bot`
//! container the same variables, so [`super::container`] and [`super::objects`] read them in this
//! one place. `CONFIG` is the config as is (`null` for none); `BOT_CONFIG` turns a missing config
//! into `{}`, so it is the fallback only (the original's pods have no `CONFIG`).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use the0_contract::env;

/// What the environment says.
#[derive(Debug, Clone, PartialEq)]
pub struct FromEnv {
    pub config: Value,
    pub code_file: String,
    pub runtime: String,
    /// `{"bot": …, "query"?: …}`.
    pub entrypoints: Value,
}

impl FromEnv {
    /// The record's `custom`: what the environment shows of it, with `version` when known.
    pub fn custom(&self, version: Option<&str>) -> Value {
        let mut c =
            json!({"filePath": self.code_file, "config": {"runtime": self.runtime, "entrypoints": self.entrypoints}});
        if let Some(v) = version {
            c["version"] = json!(v);
        }
        c
    }
}

/// Reads `vars`, or names the variable that is missing or not JSON.
pub fn read(vars: &BTreeMap<String, String>) -> Result<FromEnv, String> {
    let need = |key: &str| vars.get(key).filter(|v| !v.is_empty()).cloned().ok_or(format!("no {key} variable"));
    let (code_file, runtime, entry) = (need(env::CODE_FILE)?, need(env::RUNTIME)?, need(env::ENTRYPOINT)?);
    let (key, text) = ["CONFIG", env::BOT_CONFIG]
        .iter()
        .find_map(|k| vars.get(*k).map(|v| (*k, v)))
        .ok_or("no CONFIG or BOT_CONFIG variable")?;
    let config: Value = serde_json::from_str(text).map_err(|e| format!("its {key} variable is not JSON: {e}"))?;
    let mut entrypoints = json!({"bot": entry});
    if let Some(q) = vars.get(env::QUERY_ENTRYPOINT).filter(|q| !q.is_empty()) {
        entrypoints["query"] = json!(q);
    }
    Ok(FromEnv { config, code_file, runtime, entrypoints })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn config_wins_over_bot_config_and_what_is_missing_is_named() {
        let base = [("CODE_FILE", "u/b/1"), ("RUNTIME", "gcc13"), ("ENTRYPOINT", "bot.sh")];
        let with = |extra: &[(&str, &str)]| read(&vars(&[&base[..], extra].concat()));
        assert_eq!(with(&[("CONFIG", "null"), ("BOT_CONFIG", "{}")]).map(|r| r.config), Ok(Value::Null));
        assert_eq!(with(&[("BOT_CONFIG", "{\"a\":1}")]).map(|r| r.config), Ok(json!({"a": 1})));
        let r = with(&[("BOT_CONFIG", "{}"), ("QUERY_ENTRYPOINT", "q.sh")]).expect("read");
        assert_eq!(
            r.custom(Some("1")),
            json!({"version": "1", "filePath": "u/b/1", "config": {"runtime": "gcc13",
                "entrypoints": {"bot": "bot.sh", "query": "q.sh"}}})
        );
        assert_eq!(r.custom(None).get("version"), None);
        assert_eq!(with(&[]).map(|r| r.config), Err("no CONFIG or BOT_CONFIG variable".into()));
        assert!(with(&[("CONFIG", "{")]).is_err_and(|e| e.contains("CONFIG variable is not JSON")));
        let no_code = read(&vars(&[("RUNTIME", "gcc13"), ("ENTRYPOINT", "x"), ("CONFIG", "{}")]));
        assert_eq!(no_code, Err("no CODE_FILE variable".into()));
    }
}
