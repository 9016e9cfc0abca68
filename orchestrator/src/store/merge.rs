//! What an ingested change does to a stored bot, pure: the stored row before, the payload's
//! record and the event's [`Mode`] in; the row to store, or `None` when nothing changes.
//!
//! Why it exists: Kubernetes mode can keep desired state in ConfigMaps instead of SQLite
//! (`--desired-state configmaps`, `crate::kube::cmstore`), and both stores must treat
//! `created`/`updated`/admin `PUT` exactly alike (docs/contract.md §5.1). This is the one place
//! that decides it; the SQLite store and the ConfigMap store only read and write.

use serde_json::Value;

use super::Mode;
use crate::model::BotRecord;

/// A bot as a store keeps it: the payload's parts and the local `enable`/`disable` layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredBot {
    pub config: Value,
    pub custom: Value,
    /// The root `enabled` the0 gave, if any.
    pub enabled: Option<Value>,
    /// `enable`/`disable` from this host, over `enabled` until the next `updated` clears it.
    #[serde(default, rename = "localEnabled")]
    pub local_enabled: Option<Value>,
}

impl StoredBot {
    /// The record the planners see: the local layer wins over the0's root `enabled`.
    pub fn record(&self, id: &str) -> BotRecord {
        BotRecord {
            id: id.to_string(),
            config: self.config.clone(),
            custom: self.custom.clone(),
            enabled: self.local_enabled.clone().or_else(|| self.enabled.clone()),
        }
    }
}

/// The row to store after `rec` arrives with `mode` over `existing`, or `None` when desired state
/// does not change: `Create` of a known id, or a record equal to the stored one without a local
/// layer. `Update` keeps the root `enabled` the0 gave before; `Update` and `Put` drop the local
/// layer. (serde_json's maps are ordered, so equal values are equal JSON texts, as SQLite compared.)
pub fn merge(existing: Option<&StoredBot>, rec: &BotRecord, mode: Mode) -> Option<StoredBot> {
    let mut enabled = rec.enabled.clone();
    if let Some(old) = existing {
        if mode == Mode::Create {
            return None;
        }
        if mode == Mode::Update {
            enabled = old.enabled.clone();
        }
        if old.config == rec.config && old.custom == rec.custom && old.enabled == enabled && old.local_enabled.is_none()
        {
            return None;
        }
    }
    Some(StoredBot { config: rec.config.clone(), custom: rec.custom.clone(), enabled, local_enabled: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(config: Value, enabled: Option<Value>) -> BotRecord {
        BotRecord { id: "b".into(), config, custom: json!({"filePath": "k"}), enabled }
    }

    fn stored(config: Value, enabled: Option<Value>, local: Option<Value>) -> StoredBot {
        StoredBot { config, custom: json!({"filePath": "k"}), enabled, local_enabled: local }
    }

    #[test]
    fn table() {
        let (a, b) = (json!({"a": 1}), json!({"a": 2}));
        let (t, f) = (Some(json!(true)), Some(json!(false)));
        // (existing, incoming, mode, expected)
        let cases: Vec<(Option<StoredBot>, BotRecord, Mode, Option<StoredBot>)> = vec![
            (None, rec(a.clone(), None), Mode::Create, Some(stored(a.clone(), None, None))),
            (None, rec(a.clone(), f.clone()), Mode::Update, Some(stored(a.clone(), f.clone(), None))),
            (Some(stored(a.clone(), None, None)), rec(b.clone(), None), Mode::Create, None),
            (Some(stored(a.clone(), None, None)), rec(a.clone(), None), Mode::Update, None),
            (
                Some(stored(a.clone(), None, None)),
                rec(b.clone(), None),
                Mode::Update,
                Some(stored(b.clone(), None, None)),
            ),
            // Update keeps the0's root enabled from before, whatever the payload says.
            (
                Some(stored(a.clone(), f.clone(), None)),
                rec(b.clone(), t.clone()),
                Mode::Update,
                Some(stored(b.clone(), f.clone(), None)),
            ),
            (Some(stored(a.clone(), f.clone(), None)), rec(a.clone(), t.clone()), Mode::Update, None),
            // Put takes the payload's.
            (
                Some(stored(a.clone(), f.clone(), None)),
                rec(a.clone(), t.clone()),
                Mode::Put,
                Some(stored(a.clone(), t.clone(), None)),
            ),
            // A local layer is dropped by an otherwise equal Update or Put.
            (
                Some(stored(a.clone(), None, t.clone())),
                rec(a.clone(), None),
                Mode::Update,
                Some(stored(a.clone(), None, None)),
            ),
            (
                Some(stored(a.clone(), None, f.clone())),
                rec(a.clone(), None),
                Mode::Put,
                Some(stored(a.clone(), None, None)),
            ),
        ];
        for (i, (existing, incoming, mode, want)) in cases.into_iter().enumerate() {
            assert_eq!(merge(existing.as_ref(), &incoming, mode), want, "case {i}");
        }
    }

    #[test]
    fn the_local_layer_wins_in_the_record() {
        let s = stored(json!({}), Some(json!(true)), Some(json!(false)));
        assert_eq!(s.record("x").enabled, Some(json!(false)));
        assert_eq!(stored(json!({}), Some(json!(true)), None).record("x").enabled, Some(json!(true)));
    }
}
