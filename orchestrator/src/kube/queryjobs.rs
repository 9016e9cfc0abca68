//! Kubernetes mode's half of the :9477 server ([`crate::query::backend::Backend`]): a realtime
//! bot is running when its pod `bot-<id>` has an address ([`super::podaddr`]); any other query
//! runs as a query Job ([`super::job::query_job`], `query-<id>-<unixNanos>`), at most
//! `--max-query-containers` at once (503 beyond, as Docker mode). The Job's status is polled every
//! [`POLL`] within the query's timeout: succeeded → the result object at
//! [`super::job::result_key`] is read (capped, [`crate::query::result`]) and parsed; failed → an
//! error envelope naming the Job and why, with the last lines its `bot` container logged (as
//! Docker mode quotes a failed query container's logs); still running at the timeout → the Job is deleted with
//! background propagation (D21) and the caller gets Docker mode's timeout envelope. The result
//! object is deleted in every outcome (D19).
//!
//! Why it exists: the query Job is the Kubernetes counterpart of Docker mode's query container;
//! everything around it (parsing, routing, envelopes, metrics) is the shared query server.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use ::kube::{Api, Client};
use futures_util::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use the0_contract::query::Envelope;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// Tokio's clock (the same as std's unless paused) so the timeout is measured on the clock the
// polls sleep on: paused-time tests (`kube_mock_query`) then drive it without waiting.
use tokio::time::Instant;

use super::job::{query_job, result_key, QueryJob};
use super::names;
use super::podparts::BOT_CONTAINER;
use super::settings::KubeSettings;
use crate::model::Launch;
use crate::query::backend::Backend;
use crate::query::index::IndexedBot;
use crate::query::realtime::Realtime;
use crate::query::reply::parse_answer;
use crate::query::request::QueryRequest;
use crate::query::result::Results;

/// How often a query Job's status is read (the original's interval).
pub const POLL: Duration = Duration::from_millis(500);
/// Log lines of a failed query Job's pod quoted in its error (as Docker mode's query containers).
const LOG_LINES: i64 = 100;
/// The most of those lines read: a bot's log is its own output, so hostile input too.
const LOG_BYTES: i64 = 64 * 1024;
/// The label the Job controller puts on a Job's pods.
const JOB_NAME_LABEL: &str = "job-name";

/// Where a query Job stands, from its status. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Running,
    Succeeded,
    /// Why, as the Job's `Failed` condition (or its failed pod count) says.
    Failed(String),
}

/// A Job's outcome: a `Complete` (or `SuccessCriteriaMet`) condition or a succeeded pod is
/// success; a `Failed` condition (reason and message) or a failed pod (`backoffLimit` is 0) is
/// failure; anything else is still running.
pub fn job_outcome(job: &Job) -> JobOutcome {
    let Some(status) = job.status.as_ref() else { return JobOutcome::Running };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let holds = |kind: &str| conditions.iter().find(|c| c.type_ == kind && c.status == "True");
    if let Some(c) = holds("Failed") {
        let reason = c.reason.as_deref().unwrap_or("Failed");
        return JobOutcome::Failed(match c.message.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => format!("{reason}: {m}"),
            None => reason.to_string(),
        });
    }
    if holds("Complete").is_some() || holds("SuccessCriteriaMet").is_some() || status.succeeded.unwrap_or(0) > 0 {
        return JobOutcome::Succeeded;
    }
    if status.failed.unwrap_or(0) > 0 {
        return JobOutcome::Failed("its pod failed".into());
    }
    JobOutcome::Running
}

/// Query Jobs in one namespace.
pub struct Jobs {
    api: Api<Job>,
    pods: Api<Pod>,
    settings: KubeSettings,
    results: Results,
    permits: Arc<Semaphore>,
    max: usize,
}

impl Jobs {
    pub fn new(client: Client, settings: KubeSettings, results: Results, max: usize) -> Jobs {
        let max = max.max(1);
        Jobs {
            api: Api::namespaced(client.clone(), &settings.namespace),
            pods: Api::namespaced(client, &settings.namespace),
            settings,
            results,
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    async fn run(self: Arc<Self>, _slot: OwnedSemaphorePermit, bot: Arc<IndexedBot>, req: QueryRequest) -> Envelope {
        let t0 = Instant::now();
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let q = QueryJob {
            path: req.path.clone(),
            params: req.params_json(),
            unix_nanos: nanos,
            timeout_secs: req.timeout.as_secs(),
        };
        let job = match query_job(&bot.record, &self.settings, &q) {
            Ok(built) => built.object,
            Err(skip) => return Envelope::error(format!("bot {:?} cannot be queried: {skip}", bot.record.id)),
        };
        let key = result_key(&bot.record.id, nanos);
        let env = self.execute(&job, &req, &key, t0).await;
        self.results.delete(&key).await;
        env
    }

    async fn execute(&self, job: &Job, req: &QueryRequest, key: &str, t0: Instant) -> Envelope {
        let name = job.metadata.name.clone().unwrap_or_default();
        if let Err(e) = self.api.create(&PostParams::default(), job).await {
            return Envelope::error(format!("failed to create query job {name}: {e}"));
        }
        let outcome = loop {
            // Nothing left is the timeout too: a zero sleep would not move a paused clock.
            let Some(left) = req.timeout.checked_sub(t0.elapsed()).filter(|l| !l.is_zero()) else { break None };
            match self.api.get_opt(&name).await {
                Ok(Some(j)) => match job_outcome(&j) {
                    JobOutcome::Running => {}
                    done => break Some(done),
                },
                Ok(None) => return Envelope::error(format!("query job {name} disappeared before it finished")),
                // A failed read is retried at the next poll, within the deadline.
                Err(e) => tracing::warn!(job = %name, error = %e, "cannot read a query job"),
            }
            tokio::time::sleep(POLL.min(left)).await;
        };
        match outcome {
            None => {
                self.delete(&name).await;
                Envelope::error(format!("query timed out after {}s", req.timeout.as_secs()))
            }
            Some(JobOutcome::Failed(why)) => match self.logs(&name).await {
                Some(logs) => Envelope::error(format!("query job {name} failed: {why}: {logs}")),
                None => Envelope::error(format!("query job {name} failed: {why}")),
            },
            Some(_) => match self.results.fetch(key).await {
                Ok(body) => parse_answer(&body, "query result"),
                Err(e) => Envelope::error(format!("failed to download query result: {e}")),
            },
        }
    }

    /// The last [`LOG_LINES`] (at most [`LOG_BYTES`]) the `bot` container of the Job's pod
    /// logged, if its pod and logs can be read and there are any.
    async fn logs(&self, job: &str) -> Option<String> {
        let lp = ListParams::default().labels(&format!("{JOB_NAME_LABEL}={job}"));
        let pods = match self.pods.list(&lp).await {
            Ok(l) => l.items,
            Err(e) => {
                tracing::warn!(job = %job, error = %e, "cannot list a failed query job's pods");
                return None;
            }
        };
        let pod = pods.iter().find_map(|p| p.metadata.name.clone())?;
        let params = LogParams {
            container: Some(BOT_CONTAINER.into()),
            tail_lines: Some(LOG_LINES),
            limit_bytes: Some(LOG_BYTES),
            ..LogParams::default()
        };
        match self.pods.logs(&pod, &params).await {
            Ok(text) => Some(text.trim_end().to_string()).filter(|t| !t.is_empty()),
            Err(e) => {
                tracing::warn!(pod = %pod, error = %e, "cannot read a failed query job's logs");
                None
            }
        }
    }

    /// D21: a Job past its caller's timeout goes, with its pod (background propagation).
    async fn delete(&self, name: &str) {
        match self.api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if super::client::not_found(&e) => {}
            Err(e) => {
                tracing::warn!(job = %name, error = %e, "cannot delete a timed-out query job (its deadline ends it)")
            }
        }
    }
}

impl Backend for Jobs {
    fn running<'a>(&'a self, id: &'a str, realtime: &'a Realtime) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async move {
            let pod = names::pod_name(id);
            match realtime.address(&pod).await {
                Ok(Some(_)) => Ok(Some(pod)),
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    fn max_oneshots(&self) -> usize {
        self.max
    }

    fn one_shot(
        self: Arc<Self>,
        slot: OwnedSemaphorePermit,
        _: Launch,
        bot: Arc<IndexedBot>,
        req: QueryRequest,
    ) -> BoxFuture<'static, Envelope> {
        Box::pin(self.run(slot, bot, req))
    }

    /// Nothing to remove: every query Job ends by its own deadline and goes after its TTL.
    fn start(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn results(&self) -> &Results {
        &self.results
    }

    /// Waits (bounded) for the queries under way; a Job still running after that ends by its
    /// deadline.
    fn drain(&self, limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let all = u32::try_from(self.max).unwrap_or(u32::MAX);
            let _ = tokio::time::timeout(limit, self.permits.acquire_many(all)).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(status: serde_json::Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "query-b1-1"}, "status": status})).expect("a job")
    }

    fn cond(kind: &str, status: &str, reason: &str, message: &str) -> serde_json::Value {
        json!({"type": kind, "status": status, "reason": reason, "message": message})
    }

    #[test]
    fn a_jobs_status_gives_its_outcome() {
        use JobOutcome::*;
        for (why, status, want) in [
            ("no status yet", json!(null), Running),
            ("active", json!({"active": 1}), Running),
            ("succeeded count", json!({"succeeded": 1}), Succeeded),
            ("Complete condition", json!({"conditions": [cond("Complete", "True", "", "")]}), Succeeded),
            (
                "SuccessCriteriaMet before Complete",
                json!({"conditions": [cond("SuccessCriteriaMet", "True", "", "")]}),
                Succeeded,
            ),
            (
                "a condition not yet true",
                json!({"active": 1, "conditions": [cond("Complete", "False", "", "")]}),
                Running,
            ),
            (
                "deadline",
                json!({"failed": 1, "conditions": [cond("Failed", "True", "DeadlineExceeded", "Job was active longer than specified deadline")]}),
                Failed("DeadlineExceeded: Job was active longer than specified deadline".into()),
            ),
            (
                "backoff limit",
                json!({"failed": 1, "conditions": [cond("Failed", "True", "BackoffLimitExceeded", "")]}),
                Failed("BackoffLimitExceeded".into()),
            ),
            ("a failed pod before the condition", json!({"failed": 1}), Failed("its pod failed".into())),
            (
                "FailureTarget then Failed: Failed wins over a stale succeeded count",
                json!({"succeeded": 1, "conditions": [cond("Failed", "True", "PodFailurePolicy", "x")]}),
                Failed("PodFailurePolicy: x".into()),
            ),
        ] {
            assert_eq!(job_outcome(&job(status)), want, "{why}");
        }
    }
}
