//! The desired objects of one reconcile, pure: the stored records in, the bot pods and schedule
//! CronJobs they should have (keyed by record id, with the planner's [`Want`]s) and the records
//! that get none, with the reason their status shows (D32).
//!
//! Why it exists: the controller loop only lists, plans and applies; which record becomes which
//! object (enabled realtime bot → pod, enabled scheduled bot → CronJob, disabled → nothing) is
//! decided here, with the same enabled rule as Docker mode ([`crate::model::is_enabled`]).

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Pod;

use super::labels;
use super::plan::Want;
use super::prepare::Skip;
use super::settings::KubeSettings;
use super::{bot_pod, schedule_cronjob};
use crate::model::{self, BotRecord};

/// What the records ask of the cluster.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub pods: BTreeMap<String, Pod>,
    pub cronjobs: BTreeMap<String, CronJob>,
    pub pod_wants: Vec<Want>,
    pub cronjob_wants: Vec<Want>,
    /// Records that get no object, and why.
    pub skipped: Vec<(String, Skip)>,
    /// What the builders said about the objects they built (record id, warning).
    pub warnings: Vec<(String, String)>,
}

fn hash_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> String {
    meta.annotations.as_ref().and_then(|a| a.get(key)).cloned().unwrap_or_default()
}

/// Builds the desired objects of `records`.
pub fn desired(records: &[BotRecord], s: &KubeSettings) -> Desired {
    let mut d = Desired::default();
    for rec in records.iter().filter(|r| model::is_enabled(r.enabled.as_ref(), &r.config)) {
        if model::is_scheduled(&rec.config) {
            match schedule_cronjob(rec, s) {
                Ok(built) => {
                    let hash = hash_of(&built.object.metadata, labels::SCHEDULE_HASH);
                    d.cronjob_wants.push(Want { id: rec.id.clone(), hash });
                    d.warnings.extend(built.warnings.into_iter().map(|w| (rec.id.clone(), w)));
                    d.cronjobs.insert(rec.id.clone(), built.object);
                }
                Err(e) => d.skipped.push((rec.id.clone(), e)),
            }
        } else {
            match bot_pod(rec, s) {
                Ok(built) => {
                    let hash = hash_of(&built.object.metadata, labels::CONFIG_HASH);
                    d.pod_wants.push(Want { id: rec.id.clone(), hash });
                    d.warnings.extend(built.warnings.into_iter().map(|w| (rec.id.clone(), w)));
                    d.pods.insert(rec.id.clone(), built.object);
                }
                Err(e) => d.skipped.push((rec.id.clone(), e)),
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn rec(id: &str, config: Value, enabled: Option<Value>) -> BotRecord {
        let custom = json!({"version": "1.0.0", "filePath": "u/b/1.0.0",
            "config": {"name": "b", "runtime": "nodejs20", "entrypoints": {"bot": "main.js"}}});
        BotRecord { id: id.into(), config, custom, enabled }
    }

    #[test]
    fn records_become_pods_cronjobs_or_skips() {
        let s = KubeSettings::default();
        let records = vec![
            rec("live", json!({"a": 1}), None),
            rec("cron", json!({"schedule": "0 * * * *"}), None),
            rec("off", json!({"a": 1}), Some(json!(false))),
            rec("cfg-off", json!({"enabled": false}), None),
            rec("Bad_Id", json!({"a": 1}), None),
            rec("badcron", json!({"schedule": "not a cron"}), None),
        ];
        let d = desired(&records, &s);
        assert_eq!(d.pods.keys().collect::<Vec<_>>(), ["live"]);
        assert_eq!(d.cronjobs.keys().collect::<Vec<_>>(), ["cron"]);
        assert_eq!(d.pod_wants.len(), 1);
        assert_eq!(d.pod_wants[0].hash.len(), 16, "the config-hash annotation is the want's hash");
        assert_eq!(d.cronjob_wants[0].id, "cron");
        let skipped: Vec<&str> = d.skipped.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(skipped, ["Bad_Id", "badcron"], "disabled bots are not skipped, just not desired");
    }
}
