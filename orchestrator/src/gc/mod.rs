//! `orchestrator gc` (§5.8, D19, D33): deletes what the runtime leaves behind in object storage:
//! unfinished uploads (S3 multipart uploads, local temp files) and temporary log objects and
//! query results older than an hour, and the state and logs of bots the store no longer knows.
//! The decision is the pure [`plan::plan`]; this runner only gathers its inputs (bucket listings,
//! the store's ids read through a read-only connection, the managed containers as Docker shows
//! them), prints each deletion with its reason, and carries them out unless `--dry-run`.
//!
//! Safety: an error reading the store, Docker or a listing deletes nothing; an empty store deletes
//! nothing (D33); the ids and the containers are read both before and after the listing, and a
//! bot protected by either reading is kept, so a bot created while the pass lists is not
//! collected.

pub mod plan;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use the0_contract::buckets::Buckets;
use the0_objstore::Store;

use crate::config::Cli;
use crate::docker::{Docker, DockerError};
use crate::metrics::Metrics;
use crate::store::{known_ids, StoreError};
pub use plan::{Deletion, Listing, Plan, Protected, Reason, MAX_AGE};

/// Why a pass deleted nothing at all (or, `Partial`, not all it planned). Each message carries
/// its cause, so the variants hold them as plain fields rather than as error sources.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("gc: cannot read the desired bots, deleting nothing: {0}")]
    Desired(StoreError),
    #[error("gc: cannot list the managed containers, deleting nothing: {0}")]
    Containers(DockerError),
    #[error("gc: cannot list bucket {bucket:?}, deleting nothing: {err}")]
    List { bucket: String, err: Box<the0_objstore::Error> },
    #[error("gc: cannot open object storage: {0}")]
    Objects(crate::objects::ObjectsError),
    #[error("gc: cannot connect to Docker: {0}")]
    Docker(DockerError),
    #[error("gc: cannot write the report: {0}")]
    Output(std::io::Error),
    #[error("gc: {failed} of {total} deletions failed (each is logged)")]
    Partial { failed: usize, total: usize },
}

/// How `gc` runs: once or every `interval`, deleting or only listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// List what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Repeat every this long until shutdown; `None`: one pass.
    pub interval: Option<Duration>,
    /// Print each deletion as a JSON object on its own line instead of a sentence.
    pub json: bool,
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub plan: Plan,
    /// Deletions that failed (already logged); empty on a dry run.
    pub failed: Vec<Deletion>,
}

/// The garbage collector of one deployment: its objects, buckets, store and Docker engine.
pub struct Gc {
    objects: Store,
    buckets: Buckets,
    data_dir: PathBuf,
    docker: Docker,
}

impl Gc {
    pub fn new(objects: Store, buckets: Buckets, data_dir: PathBuf, docker: Docker) -> Gc {
        Gc { objects, buckets, data_dir, docker }
    }

    /// The collector of the deployment `cli` describes. Docker is asked without `--instance`:
    /// every managed container protects its bot's objects, whichever orchestrator runs it.
    pub fn open(cli: &Cli) -> Result<Gc, GcError> {
        let objects = crate::objects::open(&cli.host, &cli.region).map_err(GcError::Objects)?;
        let docker = Docker::connect(&cli.docker_host, None, std::sync::Arc::new(Metrics::default()))
            .map_err(GcError::Docker)?;
        Ok(Gc::new(objects, cli.host.buckets.clone(), cli.data_dir.clone(), docker))
    }

    async fn protected(&self) -> Result<Protected, GcError> {
        let known = known_ids(&self.data_dir).map_err(GcError::Desired)?;
        let with_container = self.docker.bots_with_containers().await.map_err(GcError::Containers)?;
        Ok(Protected { known, with_container })
    }

    async fn listing(&self) -> Result<Listing, GcError> {
        let b = &self.buckets;
        let list = |bucket: String| async move {
            self.objects.list(&bucket, "").await.map_err(|e| GcError::List { bucket, err: Box::new(e) })
        };
        let mut listing = Listing {
            state: list(b.state.clone()).await?,
            logs: list(b.logs.clone()).await?,
            query_results: list(b.query_results.clone()).await?,
            uploads: Vec::new(),
        };
        let mut seen: Vec<&String> = Vec::new();
        for bucket in [&b.state, &b.logs, &b.query_results] {
            if seen.contains(&bucket) {
                continue;
            }
            seen.push(bucket);
            let ups = self.objects.uploads(bucket, "").await;
            let ups = ups.map_err(|e| GcError::List { bucket: bucket.clone(), err: Box::new(e) })?;
            listing.uploads.extend(ups.into_iter().map(|u| (bucket.clone(), u)));
        }
        Ok(listing)
    }

    /// Decides one pass at `now` without deleting anything.
    pub async fn decide(&self, now: SystemTime) -> Result<Plan, GcError> {
        let before = self.protected().await?;
        let listing = self.listing().await?;
        let after = self.protected().await?;
        // Either reading empty is D33's case: keep it empty so the plan deletes nothing.
        let known = if before.known.is_empty() || after.known.is_empty() {
            Default::default()
        } else {
            before.known.union(&after.known).cloned().collect()
        };
        let with_container = before.with_container.union(&after.with_container).cloned().collect();
        let protected = Protected { known, with_container };
        Ok(plan::plan(&listing, &self.buckets, &protected, now))
    }

    /// Carries out `plan`; a failed deletion is logged and counted, the others still run.
    pub async fn apply(&self, plan: &Plan) -> Vec<Deletion> {
        let mut failed = Vec::new();
        for d in plan.deletions() {
            let r = match &d.upload {
                Some(u) => self.objects.abort_upload(&d.bucket, u).await,
                None => self.objects.delete(&d.bucket, &d.key).await,
            };
            if let Err(e) = r {
                tracing::warn!(bucket = %d.bucket, key = %d.key, error = %e, "gc: cannot delete");
                failed.push(d.clone());
            }
        }
        failed
    }

    /// One pass at `now`: decide, print one line per deletion to `out` (`would …` on a dry
    /// run), delete.
    pub async fn pass(&self, now: SystemTime, dry_run: bool, out: &mut (dyn Write + Send)) -> Result<Outcome, GcError> {
        self.pass_as(now, dry_run, false, out).await
    }

    /// [`Gc::pass`], printing JSON lines (with `"dry_run"`) when `json`.
    pub async fn pass_as(
        &self,
        now: SystemTime,
        dry_run: bool,
        json: bool,
        out: &mut (dyn Write + Send),
    ) -> Result<Outcome, GcError> {
        let plan = self.decide(now).await?;
        let prefix = if dry_run { "would " } else { "" };
        for d in plan.deletions() {
            if json {
                let mut v = d.to_json();
                v["dry_run"] = dry_run.into();
                writeln!(out, "{v}")
            } else {
                writeln!(out, "{prefix}{d}")
            }
            .map_err(GcError::Output)?;
        }
        if plan == Plan::NoKnownBots {
            tracing::warn!(data_dir = %(self.data_dir.display()), "gc: the store knows no bot, deleting nothing (D33)");
        }
        let failed = if dry_run { Vec::new() } else { self.apply(&plan).await };
        let total = plan.deletions().len();
        tracing::info!(planned = %total, failed = %(failed.len()), dry_run = %dry_run, "gc pass");
        Ok(Outcome { plan, failed })
    }

    /// Runs once, or every `opts.interval` until `shutdown` (a failed pass is logged and the next
    /// one runs on time). A single pass's error, or any failed deletion, is the result.
    pub async fn run(
        &self,
        opts: GcOptions,
        out: &mut (dyn Write + Send),
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), GcError> {
        let Some(every) = opts.interval else {
            let o = self.pass_as(SystemTime::now(), opts.dry_run, opts.json, out).await?;
            return match o.failed.len() {
                0 => Ok(()),
                failed => Err(GcError::Partial { failed, total: o.plan.deletions().len() }),
            };
        };
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.pass_as(SystemTime::now(), opts.dry_run, opts.json, out).await {
                tracing::error!(error = %e, "gc pass failed");
            }
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
