//! The CronJob `schedule-<id>` of a scheduled bot (docs/contract.md §5.7, D28, D32): one `bot`
//! container per run doing its own sync (`execute --skip-query-server`), `concurrencyPolicy:
//! Forbid`, history limits, the schedule converted by [`super::cronexpr`], and
//! `--execution-timeout` as the Job's `activeDeadlineSeconds`. Pure; warnings are returned.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::cronexpr;
use super::env::bot_env;
use super::labels;
use super::names;
use super::podparts::{bot_container, pod_spec};
use super::prepare::{prepare, Built, Skip};
use super::settings::KubeSettings;
use crate::model::BotRecord;
use crate::spec::Role;

/// The CronJob of the scheduled bot `rec`, or why it gets none.
pub fn schedule_cronjob(rec: &BotRecord, s: &KubeSettings) -> Result<Built<CronJob>, Skip> {
    let p = prepare(rec, s)?;
    let expr = rec.config.get("schedule").and_then(|v| v.as_str()).unwrap_or("");
    let timing = cronexpr::to_kube(expr)?;
    let l = &p.launch;
    let r = &p.resources;

    // The run syncs its own state and logs, so it publishes logs: it gets NATS_URL (D32).
    let env = bot_env(l, s, r.memory_mb, &Role::Scheduled { due_ms: 0 }, true);
    let bot = bot_container(&l.image, &["execute", "--skip-query-server"], env, r, s);

    let object_labels = BTreeMap::from([
        (labels::SCHEDULE_ID.to_string(), l.id.clone()),
        (labels::CUSTOM_BOT_ID.into(), p.custom_bot_label.clone()),
        (labels::RUNTIME.into(), p.runtime_label.clone()),
        (labels::MANAGED_BY.into(), labels::SCHEDULE_CONTROLLER.into()),
    ]);
    let pod_labels = BTreeMap::from([
        (labels::SCHEDULE_ID.to_string(), l.id.clone()),
        (labels::CUSTOM_BOT_ID.into(), p.custom_bot_label.clone()),
        (labels::MANAGED_BY.into(), labels::SCHEDULE_CONTROLLER.into()),
        (labels::BOT_ID.into(), l.id.clone()),
    ]);
    let deadline = s.execution_timeout.filter(|d| !d.is_zero()).map(|d| d.as_secs().clamp(1, i64::MAX as u64) as i64);
    let cronjob = CronJob {
        metadata: ObjectMeta {
            name: Some(names::cronjob_name(&l.id)),
            namespace: Some(s.namespace.clone()),
            labels: Some(object_labels),
            annotations: Some(BTreeMap::from([(labels::SCHEDULE_HASH.into(), p.hash.clone())])),
            ..ObjectMeta::default()
        },
        spec: CronJobSpec {
            schedule: timing.schedule,
            time_zone: timing.time_zone,
            concurrency_policy: Some("Forbid".into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(1),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(2),
                    active_deadline_seconds: deadline,
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta { labels: Some(pod_labels), ..ObjectMeta::default() }),
                        spec: Some(pod_spec(vec![bot], "Never", r.memory_mb, s)),
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        },
        status: None,
    };
    let mut warnings = timing.warnings;
    warnings.extend(p.resources.warnings);
    Ok(Built { object: cronjob, warnings })
}
