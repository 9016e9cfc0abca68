//! `--desired-state configmaps`: a skipped bot's reason (D32), or why its ConfigMap holds no
//! readable record, shown on that bot's ConfigMap as the annotation [`labels::SKIP_REASON`].
//!
//! Why it exists: in SQLite mode the reason goes to the bot's status; in configmaps mode the bot
//! has no status row on the leader, and a log line is lost with the pod. The ConfigMap is the
//! bot's one object every replica shares and an operator already looks at
//! (`kubectl get cm -l the0.app/desired=bot -o yaml`), and annotating it needs no more RBAC than
//! ingest already has (configmaps update). The leader writes it only when it differs from what was
//! listed, by a replace at the listed `resourceVersion` (a 409 means ingest wrote first: the next
//! pass compares again), and ingest's writes keep it ([`super::cmstore`]): neither clobbers the other.

use std::collections::BTreeMap;

use ::kube::api::PostParams;
use k8s_openapi::api::core::v1::ConfigMap;

use super::client::{lost_write_race, not_found};
use super::cmstore::{CmError, ConfigMapStore, Listing};
use super::labels;
use super::names;

/// The annotation a corrupt ConfigMap gets.
pub fn corrupt_reason(why: &str) -> String {
    format!("desired state unreadable, its bot's objects are left as they are: {why}")
}

/// One annotation to write: on ConfigMap `name`, set to `reason` (`None`: removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub name: String,
    pub reason: Option<String>,
}

fn annotation(cm: &ConfigMap) -> Option<&str> {
    cm.metadata.annotations.as_ref().and_then(|a| a.get(labels::SKIP_REASON)).map(String::as_str)
}

/// The annotations that differ from what was listed: each listed ConfigMap should carry its
/// corrupt reason, else its bot's skip reason (`skipped`: bot id → reason), else none.
pub fn notes(listing: &Listing, skipped: &BTreeMap<String, String>) -> Vec<Note> {
    let corrupt: BTreeMap<&str, String> =
        listing.corrupt.iter().map(|c| (c.name.as_str(), corrupt_reason(&c.why))).collect();
    let by_name: BTreeMap<String, &String> = skipped.iter().map(|(id, why)| (names::desired_name(id), why)).collect();
    listing
        .listed
        .iter()
        .filter_map(|(name, cm)| {
            let want = corrupt.get(name.as_str()).cloned().or_else(|| by_name.get(name).map(|w| (*w).clone()));
            (annotation(cm) != want.as_deref()).then(|| Note { name: name.clone(), reason: want })
        })
        .collect()
}

impl ConfigMapStore {
    /// Writes `note` over `listed` (the ConfigMap as listed, data untouched) at its
    /// `resourceVersion`. Returns whether it was written: a 409 or 404 (ingest wrote or the
    /// tombstone sweep deleted it first) is not, and the next pass decides again.
    pub async fn annotate(&self, listed: &ConfigMap, note: &Note) -> Result<bool, CmError> {
        let mut cm = listed.clone();
        let a = cm.metadata.annotations.get_or_insert_with(BTreeMap::new);
        match &note.reason {
            Some(r) => a.insert(labels::SKIP_REASON.to_string(), r.clone()),
            None => a.remove(labels::SKIP_REASON),
        };
        match self.api().replace(&note.name, &PostParams::default(), &cm).await {
            Ok(_) => Ok(true),
            Err(e) if lost_write_race(&e) || not_found(&e) => Ok(false),
            Err(source) => Err(CmError::Api { what: "annotate", name: note.name.clone(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::cmstore::Corrupt;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn cm(name: &str, note: Option<&str>) -> (String, ConfigMap) {
        let annotations = note.map(|n| BTreeMap::from([(labels::SKIP_REASON.to_string(), n.to_string())]));
        let meta = ObjectMeta { name: Some(name.into()), annotations, ..ObjectMeta::default() };
        (name.to_string(), ConfigMap { metadata: meta, ..ConfigMap::default() })
    }

    #[test]
    fn only_differences_are_written() {
        let listing = Listing {
            listed: BTreeMap::from([
                cm("desired-ok", None),
                cm("desired-same", Some("bad cron")),
                cm("desired-new", None),
                cm("desired-fixed", Some("old reason")),
                cm("desired-changed", Some("old reason")),
                cm("desired-broken", None),
                cm("desired-broken-noted", Some(&corrupt_reason("no bot.json key"))),
            ]),
            corrupt: vec![
                Corrupt { name: "desired-broken".into(), ids: vec!["broken".into()], why: "cut short".into() },
                Corrupt { name: "desired-broken-noted".into(), ids: vec![], why: "no bot.json key".into() },
            ],
            ..Listing::default()
        };
        let skipped = BTreeMap::from([
            ("same".to_string(), "bad cron".to_string()),
            ("new".to_string(), "bad spec".to_string()),
            ("changed".to_string(), "new reason".to_string()),
            // Skipped but its ConfigMap was not listed (a tombstone, gone): nothing to write.
            ("unlisted".to_string(), "x".to_string()),
        ]);
        let note = |n: &str, r: Option<String>| Note { name: n.into(), reason: r };
        assert_eq!(
            notes(&listing, &skipped),
            [
                note("desired-broken", Some(corrupt_reason("cut short"))),
                note("desired-changed", Some("new reason".into())),
                note("desired-fixed", None),
                note("desired-new", Some("bad spec".into())),
            ]
        );
        assert!(notes(&Listing::default(), &skipped).is_empty());
    }
}
