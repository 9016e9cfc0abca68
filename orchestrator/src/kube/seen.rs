//! Listed objects as the planner sees them ([`Seen`]): name, labels, annotations, a pod's phase
//! and whether it is terminating. Pure, so the loop's only job is to call the API.

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::plan::Seen;

fn from_meta(m: &ObjectMeta, phase: Option<String>) -> Seen {
    Seen {
        name: m.name.clone().unwrap_or_default(),
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
        phase,
        terminating: m.deletion_timestamp.is_some(),
    }
}

pub fn pod(p: &Pod) -> Seen {
    from_meta(&p.metadata, p.status.as_ref().and_then(|s| s.phase.clone()))
}

pub fn cronjob(c: &CronJob) -> Seen {
    from_meta(&c.metadata, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listed_objects_keep_what_the_planner_reads() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "bot-a", "labels": {"the0.app/bot-id": "a"},
                "annotations": {"the0.app/config-hash": "h"}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": "Failed"}
        }))
        .unwrap_or_default();
        let s = pod(&p);
        assert_eq!(s.name, "bot-a");
        assert_eq!(s.labels.get("the0.app/bot-id").map(String::as_str), Some("a"));
        assert_eq!(s.annotations.get("the0.app/config-hash").map(String::as_str), Some("h"));
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        assert!(s.terminating);
        let c = cronjob(&CronJob {
            metadata: ObjectMeta { name: Some("schedule-a".into()), ..ObjectMeta::default() },
            ..CronJob::default()
        });
        assert_eq!((c.name.as_str(), c.phase, c.terminating), ("schedule-a", None, false));
    }
}
