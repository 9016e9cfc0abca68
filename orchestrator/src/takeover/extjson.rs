//! MongoDB Extended JSON (what `mongoexport` writes, relaxed or canonical) as plain JSON, pure.
//!
//! Why it exists: the original runtime kept its records in MongoDB, and `mongoexport` wraps
//! every BSON value JSON has no word for: `{"$oid": …}`, `{"$date": …}`, `{"$numberLong": "…"}`,
//! `{"$numberInt"…}`, `{"$numberDouble"…}`, `{"$numberDecimal"…}`. A record imported from such a
//! file must hold the values the0's API gave (numbers as numbers, dates as the ISO-8601 text the
//! API sent), so its config hashes as the original's did. A wrapper with no plain equivalent
//! (`$binary`, `$regularExpression`, `NaN`…) is an error naming where it is, never a guess.

use serde_json::{Map, Number, Value};

/// A value that has no plain JSON equivalent, at `path` (`config.threshold`, `custom.createdAt`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{path}`: {why}")]
pub struct ExtJsonError {
    pub path: String,
    pub why: String,
}

fn err(path: &str, why: impl Into<String>) -> ExtJsonError {
    ExtJsonError { path: if path.is_empty() { "(document)".into() } else { path.into() }, why: why.into() }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `v` with every Extended JSON wrapper replaced by its plain value; `path` names `v` in errors.
pub fn plain(v: Value, path: &str) -> Result<Value, ExtJsonError> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| plain(item, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(m) => {
            if let Some(out) = wrapper(&m, path)? {
                return Ok(out);
            }
            let mut out = Map::new();
            for (k, item) in m {
                let p = join(path, &k);
                out.insert(k, plain(item, &p)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other),
    }
}

/// The plain value of a one-key wrapper object, or `None` for an ordinary object.
fn wrapper(m: &Map<String, Value>, path: &str) -> Result<Option<Value>, ExtJsonError> {
    if m.len() != 1 {
        return Ok(None);
    }
    let Some((key, inner)) = m.iter().next() else { return Ok(None) };
    if !key.starts_with('$') {
        return Ok(None);
    }
    let text = || inner.as_str().ok_or_else(|| err(path, format!("`{key}` must hold a string, got {inner}")));
    let v = match key.as_str() {
        "$oid" | "$symbol" => Value::String(text()?.to_string()),
        "$numberInt" | "$numberLong" => {
            let t = text()?;
            let n: i64 = t.parse().map_err(|_| err(path, format!("`{key}` {t:?} is not a whole number")))?;
            Value::Number(n.into())
        }
        "$numberDouble" | "$numberDecimal" => {
            let t = text()?;
            let f: f64 = t.parse().map_err(|_| err(path, format!("`{key}` {t:?} is not a number")))?;
            // JSON has no NaN or infinity; a whole double stays a float, as Go decoded it.
            Value::Number(Number::from_f64(f).ok_or_else(|| err(path, format!("`{key}` {t:?} has no JSON value")))?)
        }
        "$date" => Value::String(date(inner, path)?),
        _ => return Err(err(path, format!("`{key}` (a BSON type with no JSON value) cannot be imported"))),
    };
    Ok(Some(v))
}

/// A `$date`: relaxed (ISO-8601 text, kept as written) or canonical (`{"$numberLong": ms}`, as
/// RFC 3339 in UTC with milliseconds, the form the0's API writes).
fn date(inner: &Value, path: &str) -> Result<String, ExtJsonError> {
    let ms = match inner {
        Value::String(s) => return Ok(s.clone()),
        Value::Number(n) => n.as_i64(),
        Value::Object(_) => match plain(inner.clone(), path)? {
            Value::Number(n) => n.as_i64(),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| err(path, format!("`$date` must be ISO-8601 text or milliseconds, got {inner}")))?;
    let t = chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| err(path, format!("`$date` {ms} is out of range")))?;
    Ok(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrappers_become_plain_values() {
        let cases = [
            (json!({"$oid": "65a1b2c3d4e5f60718293a4b"}), json!("65a1b2c3d4e5f60718293a4b")),
            (json!({"$numberLong": "1735689600"}), json!(1_735_689_600_i64)),
            (json!({"$numberInt": "-3"}), json!(-3)),
            (json!({"$numberDouble": "0.25"}), json!(0.25)),
            (json!({"$numberDouble": "5.0"}), json!(5.0)),
            (json!({"$numberDecimal": "12.5"}), json!(12.5)),
            (json!({"$date": "2025-01-02T03:04:05.678Z"}), json!("2025-01-02T03:04:05.678Z")),
            (json!({"$date": {"$numberLong": "1735787045678"}}), json!("2025-01-02T03:04:05.678Z")),
            (json!({"$date": 0}), json!("1970-01-01T00:00:00.000Z")),
            // Ordinary objects, including ones with a `$` key among others, are walked.
            (json!({"a": {"b": [{"$numberInt": "1"}]}}), json!({"a": {"b": [1]}})),
            (json!({"$x": 1, "y": 2}), json!({"$x": 1, "y": 2})),
            (json!("text"), json!("text")),
        ];
        for (input, want) in cases {
            assert_eq!(plain(input.clone(), ""), Ok(want), "{input}");
        }
    }

    #[test]
    fn values_without_a_json_equivalent_name_their_field() {
        for (input, path, why) in [
            (json!({"c": {"$numberDouble": "NaN"}}), "config.c", "has no JSON value"),
            (json!({"c": {"$numberDouble": "Infinity"}}), "config.c", "has no JSON value"),
            (json!({"c": {"$numberLong": "12x"}}), "config.c", "not a whole number"),
            (json!({"c": {"$binary": {"base64": "", "subType": "00"}}}), "config.c", "cannot be imported"),
            (json!({"c": [1, {"$date": true}]}), "config.c[1]", "ISO-8601"),
            (json!({"c": {"$oid": 5}}), "config.c", "must hold a string"),
        ] {
            let e = plain(input.clone(), "config").expect_err("refused");
            assert_eq!(e.path, path, "{input}");
            assert!(e.why.contains(why), "{input}: {e}");
        }
    }
}
