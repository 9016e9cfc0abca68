//! The one-shot query Job `query-<id>-<unixNanos>` (docs/contract.md §4.3, §5.7, D21): one `bot`
//! container running the query entrypoint with the query environment Docker mode gives a query
//! container, no sidecars, `backoffLimit: 0`, `ttlSecondsAfterFinished: 300` and
//! `activeDeadlineSeconds` of the query's timeout plus 30 s, so a Job whose caller gave up is
//! ended by Kubernetes even if the controller that made it is gone. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::env::bot_env;
use super::labels;
use super::names;
use super::podparts::{bot_container, pod_spec};
use super::prepare::{prepare, Built, Skip};
use super::settings::KubeSettings;
use crate::model::BotRecord;
use crate::spec::{QueryRun, Role};

/// How long a finished query Job stays for its result and logs to be read.
pub const TTL_AFTER_FINISHED: i32 = 300;
/// Added to the query's own timeout for the Job's deadline (D21): pod start and code fetch.
pub const DEADLINE_MARGIN_SECS: i64 = 30;

/// One query against a bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryJob {
    /// Leading `/` included.
    pub path: String,
    /// `QUERY_PARAMS` (`{}` when none).
    pub params: String,
    /// The request time: names the Job and its result key.
    pub unix_nanos: u128,
    pub timeout_secs: u64,
}

/// `<botId>/<unixNano>/result.json`: the Kubernetes form of the result key (docs/contract.md §3).
pub fn result_key(bot_id: &str, unix_nanos: u128) -> String {
    format!("{bot_id}/{unix_nanos}/result.json")
}

/// The Job of one query against `rec`, or why it gets none.
pub fn query_job(rec: &BotRecord, s: &KubeSettings, q: &QueryJob) -> Result<Built<Job>, Skip> {
    let p = prepare(rec, s)?;
    let l = &p.launch;
    let r = &p.resources;
    let run = QueryRun { path: q.path.clone(), params: q.params.clone(), result_key: result_key(&l.id, q.unix_nanos) };

    let env = bot_env(l, s, r.memory_mb, &Role::Query(run), false);
    let bot = bot_container(&l.image, &["execute", "--skip-sync", "--skip-query-server"], env, r, s);

    let job_labels = BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::QUERY_HANDLER.to_string()),
        (labels::BOT_ID.into(), l.id.clone()),
        (labels::QUERY.into(), "true".into()),
    ]);
    let deadline = i64::try_from(q.timeout_secs).unwrap_or(i64::MAX).saturating_add(DEADLINE_MARGIN_SECS);
    let job = Job {
        metadata: ObjectMeta {
            name: Some(names::job_name(&l.id, q.unix_nanos)),
            namespace: Some(s.namespace.clone()),
            labels: Some(job_labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(TTL_AFTER_FINISHED),
            active_deadline_seconds: Some(deadline),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(job_labels), ..ObjectMeta::default() }),
                spec: Some(pod_spec(vec![bot], "Never", r.memory_mb, s)),
            },
            ..JobSpec::default()
        }),
        status: None,
    };
    Ok(Built { object: job, warnings: p.resources.warnings })
}
