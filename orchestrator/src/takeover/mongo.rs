//! `import-mongo`'s reader, pure: a `mongoexport` file of the original runtime's `bots`
//! (database `bot_runner`) or `bot_schedules` (database `bot_scheduler`) collection in, the
//! records it holds out (docs/contract.md §5.1).
//!
//! Why it exists: the original kept every bot, schedule and disabled bot in MongoDB, and a
//! running container or pod shows only the enabled ones that run; this is how the rest comes
//! over. Both of `mongoexport`'s layouts are read (one document per line, and `--jsonArray`), in
//! relaxed or canonical Extended JSON ([`super::extjson`]). A document is the original's
//! `model.Bot` / `model.BotSchedule`: `_id`, `id`, `segment_id`, `config`, `custom` (`version`,
//! `filePath`, `createdAt`, `updatedAt`, `config`), an optional root `enabled`, and for schedules
//! `next_execution_time`. The record keeps `id`, `config`, `custom` and the root `enabled` as
//! they are (so `config.enabled: false` stays a disabled bot); `_id`, `segment_id` and
//! `next_execution_time` have no place here (the scheduler computes the next run itself).
//! Any document that is not such a record fails the whole file, naming the file, its line or
//! array index and the field: nothing of a file is imported half.

use serde_json::Value;

use super::extjson;
use crate::model::{type_name, BotRecord};

/// Which collection a file was exported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `bot_runner.bots`: realtime bots.
    Bots,
    /// `bot_scheduler.bot_schedules`: each must have a `config.schedule`.
    Schedules,
}

/// Why a file cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    #[error("{file}: cannot read it: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: {at}: not JSON: {source}")]
    Syntax { file: String, at: String, source: serde_json::Error },
    #[error("{file}: {at}: {why}")]
    Document { file: String, at: String, why: String },
}

/// Every record in `text`, the contents of `file` (named in errors), each with where it is
/// (`line N`, `array index N`).
pub fn records(file: &str, text: &str, collection: Collection) -> Result<Vec<(String, BotRecord)>, MongoError> {
    let syntax = |at: String, source| MongoError::Syntax { file: file.into(), at, source };
    let docs: Vec<(String, Value)> = if text.trim_start().starts_with('[') {
        let v: Vec<Value> = serde_json::from_str(text).map_err(|e| syntax("the array".into(), e))?;
        v.into_iter().enumerate().map(|(i, d)| (format!("array index {i}"), d)).collect()
    } else {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("line {}", n + 1);
            let d = serde_json::from_str(line).map_err(|e| syntax(at.clone(), e))?;
            out.push((at, d));
        }
        out
    };
    docs.into_iter()
        .map(|(at, d)| match record(d, collection) {
            Ok(r) => Ok((at, r)),
            Err(why) => Err(MongoError::Document { file: file.into(), at, why }),
        })
        .collect()
}

/// One document as a record, or why it is not one.
fn record(doc: Value, collection: Collection) -> Result<BotRecord, String> {
    let Value::Object(mut m) = doc else {
        return Err(format!("a document must be an object, got {}", type_name(&doc)));
    };
    let mut take = |key: &str| -> Result<Value, String> {
        extjson::plain(m.remove(key).unwrap_or(Value::Null), key).map_err(|e| e.to_string())
    };
    let id = match take("id")? {
        Value::String(s) if !s.is_empty() => s,
        Value::Null => return Err("field `id` is missing (the bot's id; `_id` is MongoDB's own)".into()),
        v => return Err(format!("field `id` must be a non-empty string, got {}", type_name(&v))),
    };
    let config = take("config")?;
    if !matches!(config, Value::Object(_) | Value::Null) {
        return Err(format!("bot {id}: field `config` must be an object, got {}", type_name(&config)));
    }
    let custom = take("custom")?;
    if !matches!(custom, Value::Object(_)) {
        return Err(format!("bot {id}: field `custom` must be an object (the bot's code), got {}", type_name(&custom)));
    }
    let enabled = match take("enabled")? {
        Value::Null => None,
        v @ Value::Bool(_) => Some(v),
        v => return Err(format!("bot {id}: field `enabled` must be a boolean, got {}", type_name(&v))),
    };
    if collection == Collection::Schedules && !crate::model::is_scheduled(&config) {
        return Err(format!("bot {id}: field `config.schedule` is missing or empty (a schedule needs its cron)"));
    }
    Ok(BotRecord { id, config, custom, enabled })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CUSTOM: &str = r#"{"version":"1.0.0","filePath":"u/b/1.0.0","config":{"runtime":"python3.11","entrypoints":{"bot":"main.py"}}}"#;

    #[test]
    fn both_layouts_give_the_same_records() {
        let lines = format!(
            "{{\"_id\":{{\"$oid\":\"65a1\"}},\"id\":\"a\",\"segment_id\":{{\"$numberInt\":\"0\"}},\"config\":{{\"n\":{{\"$numberLong\":\"7\"}}}},\"custom\":{CUSTOM}}}\n\n{{\"id\":\"b\",\"config\":{{\"enabled\":false}},\"custom\":{CUSTOM},\"enabled\":true}}\n"
        );
        let array = format!(
            "[\n{{\"id\":\"a\",\"segment_id\":0,\"config\":{{\"n\":7}},\"custom\":{CUSTOM}}},\n{{\"id\":\"b\",\"config\":{{\"enabled\":false}},\"custom\":{CUSTOM},\"enabled\":true}}]"
        );
        let a = records("f", &lines, Collection::Bots).expect("lines");
        let b = records("f", &array, Collection::Bots).expect("array");
        assert_eq!((a[0].0.as_str(), a[1].0.as_str()), ("line 1", "line 3"));
        assert_eq!(b[1].0, "array index 1");
        let (a, b): (Vec<_>, Vec<_>) = (a.into_iter().map(|x| x.1).collect(), b.into_iter().map(|x| x.1).collect());
        assert_eq!(a, b);
        assert_eq!(a[0].config, json!({"n": 7}));
        assert_eq!(a[1].config, json!({"enabled": false}), "a disabled bot stays disabled");
        assert_eq!(a[1].enabled, Some(json!(true)));
    }

    #[test]
    fn errors_name_the_file_the_place_and_the_field() {
        for (text, collection, want) in [
            ("{\"id\":\"a\",\"custom\":{}}\n{oops", Collection::Bots, "f.json: line 2: not JSON"),
            (
                "[{\"id\":\"a\",\"custom\":{}}, {\"custom\":{}}]",
                Collection::Bots,
                "f.json: array index 1: field `id` is missing",
            ),
            (
                "{\"id\":\"a\",\"config\":[],\"custom\":{}}",
                Collection::Bots,
                "line 1: bot a: field `config` must be an object",
            ),
            ("{\"id\":\"a\"}", Collection::Bots, "bot a: field `custom` must be an object"),
            ("{\"id\":\"a\",\"custom\":{},\"enabled\":\"no\"}", Collection::Bots, "field `enabled` must be a boolean"),
            ("{\"id\":\"a\",\"custom\":{},\"config\":{}}", Collection::Schedules, "field `config.schedule` is missing"),
            (
                "{\"id\":\"a\",\"custom\":{},\"config\":{\"x\":{\"$numberDouble\":\"NaN\"}}}",
                Collection::Bots,
                "line 1: field `config.x`",
            ),
            ("[1]", Collection::Bots, "array index 0: a document must be an object"),
        ] {
            let e = records("f.json", text, collection).expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("f.json: "), "{e}");
        }
    }
}
