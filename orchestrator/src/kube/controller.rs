//! `orchestrator controller`'s loop: every `--reconcile-interval` (and once at start) it reads the
//! desired records (the SQLite store, or with `--desired-state configmaps` the ConfigMaps of
//! [`super::cmstore`]), lists the managed pods and CronJobs by their `managed-by` label, runs the pure
//! planner ([`super::plan`]) and carries its actions out (docs/contract.md §5.7, D32, D33).
//!
//! Why it exists: the only code of Kubernetes mode that talks to the API server while
//! reconciling. Level-triggered: every pass starts from what is listed, so a failed call is simply
//! retried by the next pass. Guards: an unreadable store (or ConfigMap list) ends the pass before anything is listed or
//! deleted, and an empty desired set deletes nothing (the planner's `held_back`); a bot whose
//! ConfigMap is unreadable has unknown desired state, so its objects are left as they are while
//! every other bot is reconciled; AlreadyExists while the old pod terminates is pending, not an error.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use ::kube::api::{DeleteParams, ListParams, PostParams};
use ::kube::{Api, Client};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Pod;

use super::client::{api_error, not_found};
use super::cmskip;
use super::cmstore::{ConfigMapStore, Listing, TOMBSTONE_TTL_MS};
use super::desired::{desired, Desired};
use super::elector::Leadership;
use super::labels;
use super::plan::{plan_guarded, Action, Guard, Kind};
use super::seen;
use super::settings::KubeSettings;
use crate::metrics::ControllerGauges;
use crate::observed::BotStatus;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The desired state could not be read: nothing is listed, created or deleted this pass.
    #[error("desired state unreadable, nothing changed: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The desired-state ConfigMaps could not be read: nothing changes this pass either.
    #[error("desired state unreadable, nothing changed: {0}")]
    ConfigMaps(#[from] super::cmstore::CmError),
    #[error("cannot list {what}: {source}")]
    List { what: &'static str, source: ::kube::Error },
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub created: usize,
    pub replaced: usize,
    pub deleted: usize,
    /// Bots waiting for their old pod to go (Wait, or AlreadyExists on create).
    pub pending: usize,
    /// Undesired objects kept because the desired set was empty (D33).
    pub held_back: usize,
    /// Records that got no object (D32).
    pub skipped: usize,
    /// Desired-state ConfigMaps that hold no readable record.
    pub corrupt: usize,
    /// Objects left as they are because their bot's ConfigMap is unreadable.
    pub kept_unknown: usize,
    /// Calls that failed; the next pass retries them.
    pub failed: usize,
}

pub struct Controller {
    pub client: Client,
    pub settings: KubeSettings,
    pub store: Store,
    /// `--desired-state configmaps`: the desired bots come from these ConfigMaps, not `store`.
    pub configmaps: Option<ConfigMapStore>,
}

fn selector(managed_by: &str) -> ListParams {
    ListParams::default().labels(&format!("{}={managed_by}", labels::MANAGED_BY))
}

impl Controller {
    /// One reconcile pass over pods and CronJobs.
    pub async fn reconcile_once(&self) -> Result<Report, ControllerError> {
        let listing = match &self.configmaps {
            Some(cm) => cm.read(crate::store::now_ms() - TOMBSTONE_TTL_MS).await?,
            None => Listing { records: self.store.list()?.into_iter().map(|(r, _)| r).collect(), ..Listing::default() },
        };
        let d = desired(&listing.records, &self.settings);
        // D33: only a store without any record holds deletions back.
        let hold = listing.records.is_empty();
        let unknown: BTreeSet<String> = listing.corrupt.iter().flat_map(|c| c.ids.iter().cloned()).collect();
        let mut report = Report { skipped: d.skipped.len(), corrupt: listing.corrupt.len(), ..Report::default() };
        self.record_skips(&d, &listing).await;
        for (id, w) in &d.warnings {
            tracing::debug!(bot_id = %id, warning = %w, "object warning");
        }
        let guard = Guard { hold_deletes: hold, unknown: &unknown };
        self.pods(&d, guard, &mut report).await?;
        self.cronjobs(&d, guard, &mut report).await?;
        if let Some(cm) = &self.configmaps {
            let gone = cm.sweep(&listing.expired).await;
            if gone > 0 {
                tracing::info!(tombstones = %gone, "expired desired-state tombstones deleted");
            }
        }
        Ok(report)
    }

    /// A skipped bot's reason goes to its status (D32), written only when it changes; with
    /// ConfigMaps, to its ConfigMap's annotation ([`cmskip`]), also only when it changes, and
    /// cleared once the bot is no longer skipped.
    async fn record_skips(&self, d: &Desired, listing: &Listing) {
        if let Some(cm) = &self.configmaps {
            let skipped: BTreeMap<String, String> =
                d.skipped.iter().map(|(id, why)| (id.clone(), why.to_string())).collect();
            for (id, reason) in &skipped {
                cm.log_skip(id, reason);
            }
            for note in cmskip::notes(listing, &skipped) {
                let Some(listed) = listing.listed.get(&note.name) else { continue };
                if let Err(e) = cm.annotate(listed, &note).await {
                    tracing::warn!(configmap = %note.name, error = %e, "cannot record why a bot is skipped");
                }
            }
            return;
        }
        for (id, why) in &d.skipped {
            let reason = why.to_string();
            let Ok(Some((_, old))) = self.store.get(id) else { continue };
            if old.failure_reason.as_deref() == Some(reason.as_str()) {
                continue;
            }
            tracing::warn!(bot_id = %id, reason = %reason, "bot skipped");
            let status = BotStatus { failure_reason: Some(reason), ..old };
            if let Err(e) = self.store.set_status(id, &status) {
                tracing::warn!(bot_id = %id, error = %e, "cannot record why a bot is skipped");
            }
        }
    }

    async fn pods(&self, d: &Desired, guard: Guard<'_>, report: &mut Report) -> Result<(), ControllerError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.settings.namespace);
        let list = api
            .list(&selector(labels::BOT_CONTROLLER))
            .await
            .map_err(|source| ControllerError::List { what: "pods", source })?;
        let seen: Vec<_> = list.items.iter().map(seen::pod).collect();
        let p = plan_guarded(Kind::Pod, &d.pod_wants, &seen, guard);
        report.held_back += p.held_back;
        report.kept_unknown += p.kept_unknown;
        for action in p.actions {
            match action {
                Action::Create { id } => {
                    let Some(pod) = d.pods.get(&id) else { continue };
                    match api.create(&PostParams::default(), pod).await {
                        Ok(_) => {
                            tracing::info!(bot_id = %id, "pod created");
                            report.created += 1;
                        }
                        Err(e) if api_error(&e).is_some_and(|s| s.is_already_exists()) => report.pending += 1,
                        Err(e) => self.failed(report, "create pod", &id, &e),
                    }
                }
                // A pod is never updated: deleted now, created by the next pass once gone.
                Action::Replace { id, name, why } => match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {
                        tracing::info!(bot_id = %id, why = %(format!("{why:?}")), "pod replaced");
                        report.replaced += 1;
                    }
                    Err(e) => self.failed(report, "delete pod", &name, &e),
                },
                Action::Delete { name, why } => self.delete(&api, &name, &why, DeleteParams::default(), report).await,
                Action::Wait { .. } => report.pending += 1,
            }
        }
        Ok(())
    }

    async fn cronjobs(&self, d: &Desired, guard: Guard<'_>, report: &mut Report) -> Result<(), ControllerError> {
        let api: Api<CronJob> = Api::namespaced(self.client.clone(), &self.settings.namespace);
        let list = api
            .list(&selector(labels::SCHEDULE_CONTROLLER))
            .await
            .map_err(|source| ControllerError::List { what: "cronjobs", source })?;
        let versions: BTreeMap<String, Option<String>> = list
            .items
            .iter()
            .map(|c| (c.metadata.name.clone().unwrap_or_default(), c.metadata.resource_version.clone()))
            .collect();
        let seen: Vec<_> = list.items.iter().map(seen::cronjob).collect();
        let p = plan_guarded(Kind::CronJob, &d.cronjob_wants, &seen, guard);
        report.held_back += p.held_back;
        report.kept_unknown += p.kept_unknown;
        for action in p.actions {
            match action {
                Action::Create { id } => {
                    let Some(cj) = d.cronjobs.get(&id) else { continue };
                    match api.create(&PostParams::default(), cj).await {
                        Ok(_) => {
                            tracing::info!(bot_id = %id, "cronjob created");
                            report.created += 1;
                        }
                        Err(e) if api_error(&e).is_some_and(|s| s.is_already_exists()) => report.pending += 1,
                        Err(e) => self.failed(report, "create cronjob", &id, &e),
                    }
                }
                // A CronJob is updated in place, at the resourceVersion listed (a 409 retries next pass).
                Action::Replace { id, name, why } => {
                    let Some(want) = d.cronjobs.get(&id) else { continue };
                    let mut cj = want.clone();
                    cj.metadata.name = Some(name.clone());
                    cj.metadata.resource_version = versions.get(&name).cloned().flatten();
                    match api.replace(&name, &PostParams::default(), &cj).await {
                        Ok(_) => {
                            tracing::info!(bot_id = %id, why = %(format!("{why:?}")), "cronjob updated");
                            report.replaced += 1;
                        }
                        Err(e) => self.failed(report, "update cronjob", &name, &e),
                    }
                }
                Action::Delete { name, why } => {
                    self.delete(&api, &name, &why, DeleteParams::foreground(), report).await
                }
                Action::Wait { .. } => report.pending += 1,
            }
        }
        Ok(())
    }

    async fn delete<K>(&self, api: &Api<K>, name: &str, why: &super::plan::Why, dp: DeleteParams, report: &mut Report)
    where
        K: ::kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match api.delete(name, &dp).await {
            Ok(_) => {
                tracing::info!(name = %name, why = %(format!("{why:?}")), "deleted");
                report.deleted += 1;
            }
            Err(e) if not_found(&e) => {}
            Err(e) => self.failed(report, "delete", name, &e),
        }
    }

    fn failed(&self, report: &mut Report, what: &str, name: &str, e: &::kube::Error) {
        tracing::warn!(call = %what, name = %name, error = %e, "kubernetes call failed");
        report.failed += 1;
    }

    /// Reconciles at once, then every `interval`, until `shutdown` resolves, but only while
    /// `leadership` says [`Leadership::Leading`] (without `--leader-elect` it always does): a
    /// replica that becomes leader reconciles at once, and a pass under way when leadership is lost
    /// is abandoned. `ready` is set after the first pass that succeeded, or once this replica is a
    /// follower (a standby is ready: a rolling update waits for the new pod to be ready while the
    /// old one still leads). After each pass `gauges` show its skipped bots and corrupt ConfigMaps.
    pub async fn run(
        &self,
        interval: Duration,
        ready: &tokio::sync::watch::Sender<bool>,
        mut leadership: tokio::sync::watch::Receiver<Leadership>,
        gauges: &ControllerGauges,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
                Ok(()) = leadership.changed() => {}
            }
            match *leadership.borrow_and_update() {
                Leadership::Leading => {}
                Leadership::Following => {
                    ready.send_replace(true);
                    continue;
                }
                Leadership::Undecided => continue,
            }
            let lost = leadership.wait_for(|l| !l.is_leader());
            let r = tokio::select! {
                r = self.reconcile_once() => r,
                Ok(_) = lost => {
                    tracing::warn!("leadership lost during a pass: the rest of it is abandoned");
                    continue;
                }
            };
            match r {
                Ok(r) => {
                    ready.send_replace(true);
                    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
                    gauges.skipped.set(n(r.skipped));
                    gauges.corrupt_desired.set(n(r.corrupt));
                    gauges.kept_unknown.set(n(r.kept_unknown));
                    // Skipped bots and corrupt ConfigMaps are logged once, when their reason changes.
                    if (Report { skipped: 0, corrupt: 0, kept_unknown: 0, ..r.clone() }) != Report::default() {
                        tracing::info!(created = %r.created, replaced = %r.replaced, deleted = %r.deleted, pending = %r.pending, held_back = %r.held_back, kept_unknown = %r.kept_unknown, skipped = %r.skipped, corrupt = %r.corrupt, failed = %r.failed, "reconciled");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reconcile pass failed"),
            }
        }
    }
}
