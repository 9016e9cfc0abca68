//! One-shot queries (docs/contract.md §4.3 "Docker", D19, D21): a query container per query with a fresh
//! `QUERY_RESULT_KEY`, at most `--max-query-containers` at once (503 beyond). Non-zero exit →
//! `query container exited with code N: <logs>`; zero → the result object, parsed. The result
//! object is deleted in every outcome, and a container that outlives its deadline is killed and
//! removed. Each query runs in its own task, so a client that hangs up leaks nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ring::rand::SecureRandom;
use the0_contract::query::Envelope;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::reply::parse_answer;
use super::request::QueryRequest;
use super::result::Results;
use crate::docker::{DockerError, WaitOutcome};
use crate::engine::Engine;
use crate::model::Launch;
use crate::objects::{create_dir, give_to_bot_user, ObjectsError};
use crate::spec::{build_for, local_paths, query_result_key, ContainerSpec, HostSettings, QueryRun, Role, Storage};

/// Log lines quoted when a query container fails.
const LOG_LINES: u32 = 100;

pub struct OneShots {
    pub docker: Arc<dyn Engine>,
    pub results: Results,
    pub host: Arc<HostSettings>,
    permits: Arc<Semaphore>,
    pub max: usize,
}

/// A fresh result key: `<botId>/<unixNano>-<16 random hex>/result.json`.
pub(crate) fn fresh_key(bot_id: &str) -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut b = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        // The system RNG failing is not worth a failed query: the clock and a counter are unique too.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        b = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes();
    }
    query_result_key(bot_id, nanos, u64::from_be_bytes(b))
}

/// Whether a listed one-shot container is a query container (scheduled runs have a due time).
pub fn is_query_container(o: &crate::docker::OneShot) -> bool {
    o.due_ms.is_none() && !o.warm && o.name.starts_with("the0-query-")
}

/// Removes `ids` eight at a time (the engine deadlocks on mass removal), logging failures as
/// `what`'s.
pub async fn remove_in_eights(docker: &dyn Engine, ids: &[String], what: &str) {
    for chunk in ids.chunks(8) {
        let removals = chunk.iter().map(|id| docker.remove(id));
        for r in futures_util::future::join_all(removals).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot remove a {what}");
            }
        }
    }
}

impl OneShots {
    pub fn new(
        docker: Arc<dyn Engine>,
        objects: Arc<the0_objstore::Store>,
        host: Arc<HostSettings>,
        max: usize,
    ) -> OneShots {
        let local_root = match &host.storage {
            Storage::Local { root } => Some(root.clone()),
            Storage::S3 { .. } => None,
        };
        let results = Results { objects, bucket: host.buckets.query_results.clone(), local_root };
        OneShots { docker, results, host, permits: Arc::new(Semaphore::new(max)), max }
    }

    /// A slot for one query container, or `None` when all are taken.
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Local storage: the code object must exist (Docker would bind a missing file as a new
    /// directory); the state and result directories must exist and be writable by uid 1000.
    fn prepare_local(&self, l: &Launch) -> Result<(), ObjectsError> {
        let Storage::Local { root } = &self.host.storage else { return Ok(()) };
        let (code, state, _) = local_paths(root, &self.host.buckets, l);
        if !code.is_file() {
            return Err(ObjectsError::CodeNotFound(code));
        }
        let results = local_results_dir(root, &self.host, &l.id);
        for dir in [&state, &results] {
            if !dir.is_dir() {
                create_dir(dir)?;
                give_to_bot_user(dir)?;
            }
        }
        Ok(())
    }

    /// Runs one query in a container; `_slot` is held until it is over.
    pub async fn run(self: Arc<Self>, _slot: OwnedSemaphorePermit, launch: Launch, req: QueryRequest) -> Envelope {
        let t0 = Instant::now();
        let key = fresh_key(&launch.id);
        let env = self.execute(&launch, &req, &key, t0).await;
        self.results.delete(&key).await;
        env
    }

    async fn execute(&self, launch: &Launch, req: &QueryRequest, key: &str, t0: Instant) -> Envelope {
        if let Err(e) = self.prepare_local(launch) {
            return Envelope::error(format!("failed to execute query container: {e}"));
        }
        let run = QueryRun { path: req.path.clone(), params: req.params_json(), result_key: key.to_string() };
        let spec = build_for(launch, &self.host, &Role::Query(run));
        if let Err(e) = crate::creds::issue(&self.host, &launch.id, &launch.code_file, &spec.name, Some(key)).await {
            return Envelope::error(format!("failed to execute query container: {e}"));
        }
        // The container is removed when `execute_in` returns; its keys go with it.
        let env = self.execute_in(req, &spec, key, t0).await;
        crate::creds::forget(&self.host, &launch.id, &spec.name);
        env
    }

    async fn execute_in(&self, req: &QueryRequest, spec: &ContainerSpec, key: &str, t0: Instant) -> Envelope {
        let id = match self.docker.start_oneshot(spec).await {
            Ok(id) => id,
            Err(e) => return Envelope::error(format!("failed to execute query container: {e}")),
        };
        let timed_out = || Envelope::error(format!("query timed out after {}s", req.timeout.as_secs()));
        let Some(left) = req.timeout.checked_sub(t0.elapsed()) else {
            let _ = self.docker.stop_and_remove(&id, Duration::ZERO).await;
            return timed_out();
        };
        let outcome = self.docker.wait_exit(&id, Some(left), Duration::ZERO).await;
        let env = match outcome {
            Ok(WaitOutcome::TimedOut) => return timed_out(),
            Ok(WaitOutcome::Gone) => return Envelope::error("query container disappeared before it finished"),
            Ok(WaitOutcome::Exited { code: 0, .. }) => None,
            Ok(WaitOutcome::Exited { code, oom }) => {
                let logs = self.docker.tail(&id, LOG_LINES).await.unwrap_or_default().join("\n");
                let oom = if oom { " (out of memory)" } else { "" };
                Some(Envelope::error(format!("query container exited with code {code}{oom}: {logs}")))
            }
            Err(e) => Some(Envelope::error(format!("failed to wait for the query container: {e}"))),
        };
        if let Err(e) = self.docker.remove(&id).await {
            tracing::warn!(container = %id, error = %e, "cannot remove a query container");
        }
        match env {
            Some(e) => e,
            None => match self.results.fetch(key).await {
                Ok(body) => parse_answer(&body, "query result"),
                Err(e) => Envelope::error(format!("failed to download query result: {e}")),
            },
        }
    }

    /// Removes every query container of this instance (left by a crash, or still running at
    /// shutdown), eight at a time. Returns how many.
    pub async fn remove_leftovers(&self) -> Result<usize, DockerError> {
        let list = self.docker.list_oneshots().await?;
        let ids: Vec<String> = list.into_iter().filter(is_query_container).map(|o| o.container).collect();
        remove_in_eights(&*self.docker, &ids, "query container").await;
        Ok(ids.len())
    }

    /// Waits (bounded) for the queries under way, then removes what is left.
    pub async fn drain(&self, limit: Duration) {
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(limit, self.permits.acquire_many(all)).await;
        if let Err(e) = self.remove_leftovers().await {
            tracing::warn!(error = %e, "cannot list query containers at shutdown");
        }
    }
}

/// Where the local backend keeps a bot's query results (bind-mounted into its query containers).
pub fn local_results_dir(root: &Path, host: &HostSettings, bot_id: &str) -> PathBuf {
    root.join(&host.buckets.query_results).join(bot_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_keys_follow_the_contract_and_differ() {
        let a = fresh_key("b1");
        let b = fresh_key("b1");
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('/').collect();
        assert_eq!((parts.len(), parts[0], parts[2]), (3, "b1", "result.json"), "{a}");
        let (nanos, hex) = parts[1].split_once('-').unwrap();
        assert!(nanos.len() >= 19 && nanos.bytes().all(|c| c.is_ascii_digit()), "{a}");
        assert!(hex.len() == 16 && hex.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
