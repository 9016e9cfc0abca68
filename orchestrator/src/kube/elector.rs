//! `--leader-elect`: reads and writes the coordination.k8s.io/v1 Lease that says which replica
//! reconciles, and publishes this replica's [`Leadership`] on a watch channel the controller loop
//! follows. Every choice comes from the pure [`super::lease::decide`]; this file only calls the API.
//!
//! Why it exists: during a rolling update the old and the new controller pod run side by side, and
//! both would write pods and CronJobs from their own store. client-go's scheme, kept here: every
//! retry period the Lease is read and then created, taken over or renewed by a write at the
//! `resourceVersion` read (a 409 means another replica wrote first: follow); a leader that could
//! not renew within the renew deadline steps down (publishes `Following`) before its Lease can have
//! expired for the others; on shutdown the leader writes an empty holder (client-go's
//! `ReleaseOnCancel`) so a successor takes over at its next retry instead of after the lease
//! duration. Calls used: get, create, update on leases (deploy/kubernetes/rbac.yaml).

use std::future::Future;
use std::time::Duration;

use ::kube::api::PostParams;
use ::kube::{Api, Client};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;
use tokio::time::Instant;

use super::client::lost_write_race;
use super::lease::{decide, Decision, Observed, Record};
use crate::config::LeaseTimings;

/// This replica's part, as published on the watch channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// No attempt has had an answer yet.
    Undecided,
    /// This replica holds the Lease: it reconciles.
    Leading,
    /// Another replica holds it, or this one could not renew in time: it stands by.
    Following,
}

impl Leadership {
    pub fn is_leader(self) -> bool {
        self == Leadership::Leading
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ElectError {
    #[error("cannot read Lease {name}: {source}")]
    Get { name: String, source: ::kube::Error },
    #[error("cannot {verb} Lease {name}: {source}")]
    Write { verb: &'static str, name: String, source: ::kube::Error },
    #[error("Lease {name}: no answer within {after:?}")]
    Timeout { name: String, after: Duration },
}

/// What one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This replica holds the Lease (created, taken over or renewed).
    Leading,
    /// Another holds it (`None`: it won a race to write, seen as a 409).
    Following { holder: Option<String>, until: Option<Timestamp> },
}

/// The identity written as the Lease's holder: `POD_NAME`, else the host name, else a random name.
pub fn identity(pod_name: Option<&str>) -> String {
    identity_from(pod_name, hostname().as_deref(), random_suffix)
}

/// [`identity`] with the host name and the random source given.
pub fn identity_from(pod_name: Option<&str>, hostname: Option<&str>, random: impl FnOnce() -> String) -> String {
    let given = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    given(pod_name).or_else(|| given(hostname)).unwrap_or_else(|| format!("the0-runtime-controller-{}", random()))
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer it is given.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec()).ok()
}

fn random_suffix() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 6];
    // Without randomness the suffix is the process id: still distinct on one host.
    match ring::rand::SystemRandom::new().fill(&mut b) {
        Ok(()) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Err(_) => std::process::id().to_string(),
    }
}

pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: LeaseTimings,
    /// The resourceVersion last read and when it was first seen (expiry counts from then too).
    seen: Option<(String, Timestamp)>,
    /// The Lease as this replica last wrote it while leading (released from it on shutdown).
    held: Option<Lease>,
}

impl Elector {
    pub fn new(client: Client, namespace: &str, lease_name: &str, identity: String, timings: LeaseTimings) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            name: lease_name.to_string(),
            identity,
            timings,
            seen: None,
            held: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// One attempt: read the Lease, decide, and write when the decision says so.
    pub async fn step(&mut self) -> Result<Outcome, ElectError> {
        let now = Timestamp::now();
        let read = self.api.get_opt(&self.name).await;
        let lease = read.map_err(|source| ElectError::Get { name: self.name.clone(), source })?;
        let observed = lease.as_ref().map(|l| self.observe(l, now));
        match decide(observed.as_ref(), now, &self.identity, self.timings.lease_duration) {
            Decision::Follow { holder, until } => {
                self.held = None;
                Ok(Outcome::Following { holder: Some(holder), until: Some(until) })
            }
            Decision::Create(record) => self.write(None, record).await,
            Decision::TakeOver { record, .. } | Decision::Renew { record, .. } => self.write(lease, record).await,
        }
    }

    fn observe(&mut self, l: &Lease, now: Timestamp) -> Observed {
        let rv = l.metadata.resource_version.clone();
        let since = match (&self.seen, &rv) {
            (Some((old, t)), Some(rv)) if old == rv => *t,
            _ => now,
        };
        self.seen = rv.clone().map(|rv| (rv, since));
        let spec = l.spec.clone().unwrap_or_default();
        Observed {
            record: Record {
                holder: spec.holder_identity,
                acquire_time: spec.acquire_time.map(|t| t.0),
                renew_time: spec.renew_time.map(|t| t.0),
                duration_seconds: spec.lease_duration_seconds,
                transitions: spec.lease_transitions,
            },
            resource_version: rv,
            seen_since: Some(since),
        }
    }

    /// Creates the Lease (`base` None) or replaces `base` at its resourceVersion with `record`;
    /// a 409 (another replica wrote first) is following, not an error.
    async fn write(&mut self, base: Option<Lease>, record: Record) -> Result<Outcome, ElectError> {
        let creating = base.is_none();
        let mut lease = base.unwrap_or_else(|| Lease {
            metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
            spec: None,
        });
        lease.spec = Some(spec(record, lease.spec.take()));
        let pp = PostParams::default();
        let sent =
            if creating { self.api.create(&pp, &lease).await } else { self.api.replace(&self.name, &pp, &lease).await };
        match sent {
            Ok(written) => {
                self.held = Some(written);
                Ok(Outcome::Leading)
            }
            Err(e) if lost_write_race(&e) => {
                self.held = None;
                Ok(Outcome::Following { holder: None, until: None })
            }
            Err(source) => {
                let verb = if creating { "create" } else { "update" };
                Err(ElectError::Write { verb, name: self.name.clone(), source })
            }
        }
    }

    /// Gives the Lease up if this replica holds it: an empty holder, so the next replica to try
    /// takes it over at once. False when there was nothing to release: not held, or it names
    /// another replica now.
    ///
    /// A 409 may be this replica's own doing: a shutdown during an attempt drops the renewal's
    /// answer, but the renewal may have been written, so the Lease has a newer version than the
    /// one held. The Lease is then read again and released at its current version if it still
    /// names this replica (else the successor would wait for it to expire).
    pub async fn release(&mut self) -> Result<bool, ElectError> {
        let Some(lease) = self.held.take() else { return Ok(false) };
        match self.write_release(lease).await {
            Err(ElectError::Write { source, .. }) if lost_write_race(&source) => {}
            done => return done,
        }
        let read = self.api.get_opt(&self.name).await;
        let current = read.map_err(|source| ElectError::Get { name: self.name.clone(), source })?;
        let ours =
            |l: &Lease| l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(self.identity.as_str());
        match current {
            Some(l) if ours(&l) => match self.write_release(l).await {
                Err(ElectError::Write { source, .. }) if lost_write_race(&source) => Ok(false),
                done => done,
            },
            _ => Ok(false),
        }
    }

    /// Replaces `lease` at its version with an empty holder.
    async fn write_release(&self, mut lease: Lease) -> Result<bool, ElectError> {
        let now = MicroTime(Timestamp::now());
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        spec.holder_identity = Some(String::new());
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(source) => Err(ElectError::Write { verb: "update", name: self.name.clone(), source }),
        }
    }

    /// Tries to acquire or renew every retry period until `shutdown` resolves, publishing this
    /// replica's part on `leadership`; then releases the Lease if it holds it. Stop the work the
    /// leadership guards before `shutdown` resolves: the successor starts at its next retry.
    pub async fn run(mut self, leadership: watch::Sender<Leadership>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let t = self.timings;
        // While leading: when the last successful attempt started (the Lease's renew time).
        let mut renewed: Option<Instant> = None;
        loop {
            let started = Instant::now();
            let budget =
                renewed.map_or(t.renew_deadline, |r| (r + t.renew_deadline).saturating_duration_since(started));
            let attempt = tokio::select! {
                _ = &mut shutdown => break,
                a = tokio::time::timeout(budget, self.step()) => {
                    a.unwrap_or_else(|_| Err(ElectError::Timeout { name: self.name.clone(), after: budget }))
                }
            };
            match attempt {
                Ok(Outcome::Leading) => {
                    renewed = Some(started);
                    publish(&leadership, Leadership::Leading, &self.identity, None);
                }
                Ok(Outcome::Following { holder, until }) => {
                    renewed = None;
                    tracing::debug!(lease = %self.name, holder = ?holder, until = ?until, "lease held by another replica");
                    publish(&leadership, Leadership::Following, &self.identity, holder.as_deref());
                }
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "leader election attempt failed");
                }
            }
            // Wait a retry period, and while leading never past the renew deadline.
            let mut wake = Instant::now() + t.retry_period;
            if let Some(r) = renewed {
                wake = wake.min(r + t.renew_deadline);
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep_until(wake) => {}
            }
            if renewed.is_some_and(|r| Instant::now() >= r + t.renew_deadline) {
                renewed = None;
                self.held = None;
                tracing::warn!(lease = %self.name, deadline = ?t.renew_deadline, "lease not renewed in time: stepping down");
                publish(&leadership, Leadership::Following, &self.identity, None);
            }
        }
        let was_leader = leadership.borrow().is_leader();
        leadership.send_replace(Leadership::Following);
        if was_leader {
            match tokio::time::timeout(t.renew_deadline, self.release()).await {
                Ok(Ok(true)) => tracing::info!(lease = %self.name, identity = %self.identity, "lease released"),
                Ok(Ok(false)) => tracing::warn!(lease = %self.name, "lease changed since last renewed: not released"),
                Ok(Err(e)) => tracing::warn!(lease = %self.name, error = %e, "cannot release the lease"),
                Err(_) => tracing::warn!(lease = %self.name, "releasing the lease timed out"),
            }
        }
    }
}

/// The Lease spec for `record`, keeping whatever else `old` held.
fn spec(record: Record, old: Option<LeaseSpec>) -> LeaseSpec {
    LeaseSpec {
        holder_identity: record.holder,
        acquire_time: record.acquire_time.map(MicroTime),
        renew_time: record.renew_time.map(MicroTime),
        lease_duration_seconds: record.duration_seconds,
        lease_transitions: record.transitions,
        ..old.unwrap_or_default()
    }
}

fn publish(tx: &watch::Sender<Leadership>, now: Leadership, me: &str, holder: Option<&str>) {
    let before = *tx.borrow();
    if before == now {
        return;
    }
    tx.send_replace(now);
    match now {
        Leadership::Leading => tracing::info!(identity = %me, "leading: this replica reconciles"),
        _ if before.is_leader() => tracing::warn!(identity = %me, "no longer leading: standing by"),
        _ => tracing::info!(identity = %me, holder = ?holder, "following: another replica reconciles"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_pod_name_else_the_host_name_else_random() {
        let rnd = || "r4nd".to_string();
        assert_eq!(identity_from(Some("ctl-7d9f"), Some("host"), rnd), "ctl-7d9f");
        assert_eq!(identity_from(None, Some("host"), rnd), "host");
        assert_eq!(identity_from(Some(" "), Some("host"), rnd), "host", "a blank POD_NAME is none");
        assert_eq!(identity_from(None, None, rnd), "the0-runtime-controller-r4nd");
        assert_eq!(identity_from(None, Some(""), rnd), "the0-runtime-controller-r4nd");
        assert_ne!(random_suffix(), random_suffix());
        assert!(!identity(None).is_empty());
    }

    #[test]
    fn a_spec_keeps_fields_leader_election_does_not_own() {
        let old = LeaseSpec { preferred_holder: Some("p".into()), strategy: Some("s".into()), ..LeaseSpec::default() };
        let r =
            Record { holder: Some("me".into()), duration_seconds: Some(15), transitions: Some(2), ..Record::default() };
        let s = spec(r, Some(old));
        assert_eq!(s.holder_identity.as_deref(), Some("me"));
        assert_eq!((s.lease_duration_seconds, s.lease_transitions), (Some(15), Some(2)));
        assert_eq!((s.preferred_holder.as_deref(), s.strategy.as_deref()), (Some("p"), Some("s")));
    }
}
