//! The `the0.app/config-hash` (pods) and `the0.app/schedule-hash` (CronJobs) annotation value
//! (docs/contract.md §5.2): the first 16 hex digits of SHA-256 over Go's `encoding/json` of
//! `{"Config":<config>,"CustomBotVersion":"<custom.version>","Enabled":<root enabled or null>}`.
//!
//! Why it exists, beside the Docker driver's `runtime.config-hash` ([`crate::model::spec_hash`]):
//! that one is our own recipe (it also covers the code key and the image), while this one must be
//! the original controller's, so the pods and CronJobs it left are adopted as they are until
//! their config changes (D24 in Kubernetes mode). The original's encoder could fail (an
//! unencodable value) and then wrote `err-<first 8 chars of id>`; a JSON value always encodes
//! here, so that form is only ever read, never written.

use serde_json::Value;

use super::gojson;

/// The annotation value for one bot or schedule record.
pub fn config_hash(config: &Value, custom_version: &str, enabled: Option<&Value>) -> String {
    let mut doc = String::from("{\"Config\":");
    // Go's `map[string]interface{}` field: a missing config is `null`.
    gojson::encode(config, &mut doc);
    doc.push_str(",\"CustomBotVersion\":");
    gojson::encode(&Value::String(custom_version.to_string()), &mut doc);
    doc.push_str(",\"Enabled\":");
    // `*bool`: only a boolean root `enabled` is kept (validation refuses other types).
    match enabled {
        Some(Value::Bool(b)) => doc.push_str(if *b { "true" } else { "false" }),
        _ => doc.push_str("null"),
    }
    doc.push('}');
    let d = ring::digest::digest(&ring::digest::SHA256, doc.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Expected values: `sha256sum` of the Go-encoded document, first 16 hex digits (the documents
    /// are in the comments, so a reader can recompute them).
    #[test]
    fn hashes_match_the_go_recipe() {
        for (config, version, enabled, want) in [
            // {"Config":null,"CustomBotVersion":"","Enabled":null}
            (json!(null), "", None, "34500216e9cfc8d3"),
            // {"Config":{"a":1,"b":"x<y"},"CustomBotVersion":"1.0.0","Enabled":true}
            (json!({"b": "x<y", "a": 1.0}), "1.0.0", Some(json!(true)), "e594052169d1f4ae"),
            // {"Config":{"schedule":"0 * * * * *"},"CustomBotVersion":"2","Enabled":null}
            (json!({"schedule": "0 * * * * *"}), "2", Some(json!(null)), "37a97ba4093f732e"),
        ] {
            assert_eq!(config_hash(&config, version, enabled.as_ref()), want, "{config} {version} {enabled:?}");
        }
    }

    #[test]
    fn every_input_changes_the_hash() {
        let base = config_hash(&json!({"a": 1}), "1", None);
        assert_ne!(base, config_hash(&json!({"a": 2}), "1", None));
        assert_ne!(base, config_hash(&json!({"a": 1}), "2", None));
        assert_ne!(base, config_hash(&json!({"a": 1}), "1", Some(&json!(false))));
        assert_eq!(base.len(), 16);
    }
}
