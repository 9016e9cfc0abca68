//! The reconcile planner of Kubernetes mode, pure: desired records and observed objects (bot pods
//! or schedule CronJobs) in, actions out (docs/contract.md §5.7, D24, D32, D33).
//!
//! Why it exists: every decision the controller makes about its objects is here, table-tested,
//! and the client loop of the next slice only carries the actions out. Rules: a missing object
//! is created; one whose `config-hash`/`schedule-hash` annotation differs is replaced (a pod is
//! deleted and recreated, a CronJob updated in place); a pod in phase Succeeded, Failed or Unknown
//! is replaced; an object without the annotation is adopted as it is (D24), and so is one the
//! original made whose hash matches, whatever its name's origin; an object of a bot no longer
//! desired is deleted, except that an empty desired set deletes nothing (a store that is empty or
//! unreadable must not wipe the cluster, D33); while an old object is terminating, its bot waits
//! (creating now would only meet AlreadyExists, D32); the objects of a bot whose desired state is
//! unknown (its ConfigMap is unreadable) are left exactly as they are, neither replaced nor deleted.

use std::collections::{BTreeMap, BTreeSet};

use super::labels;

/// What is planned for: bot pods or schedule CronJobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod,
    CronJob,
}

impl Kind {
    /// The label holding the record id.
    pub fn key_label(self) -> &'static str {
        match self {
            Kind::Pod => labels::BOT_ID,
            Kind::CronJob => labels::SCHEDULE_ID,
        }
    }

    /// The annotation holding the hash.
    pub fn hash_annotation(self) -> &'static str {
        match self {
            Kind::Pod => labels::CONFIG_HASH,
            Kind::CronJob => labels::SCHEDULE_HASH,
        }
    }
}

/// One desired record that could be built (skipped records are not desired objects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub id: String,
    pub hash: String,
}

/// One object as listed (by the managed-by label) from the API server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// A pod's `status.phase` (`None` for CronJobs).
    pub phase: Option<String>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
}

/// Why an object is replaced or deleted (shown in logs and status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    HashChanged { had: String, want: String },
    Phase(String),
    NotDesired,
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create {
        id: String,
    },
    /// Pods: delete now, created again once gone. CronJobs: update in place.
    Replace {
        id: String,
        name: String,
        why: Why,
    },
    Delete {
        name: String,
        why: Why,
    },
    /// The bot's old object is terminating: nothing to do until it is gone.
    Wait {
        id: String,
        name: String,
    },
}

/// The plan: actions, and whether deletions of undesired objects were held back (D33).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Objects kept only because the desired set was empty.
    pub held_back: usize,
    /// Objects left as they are because their bot's desired state is unknown.
    pub kept_unknown: usize,
}

/// What keeps the planner from touching objects, decided by the caller from the whole desired state.
#[derive(Debug, Clone, Copy)]
pub struct Guard<'a> {
    /// The whole desired state (every record, of either kind, enabled or not) is empty: no
    /// undesired object is deleted (D33), while the last realtime bot's pod is still deleted
    /// when schedules remain.
    pub hold_deletes: bool,
    /// Bots whose desired state cannot be read: their objects get no action at all.
    pub unknown: &'a BTreeSet<String>,
}

/// Plans one reconcile of `kind` objects; deletions are held back when `desired` is empty.
pub fn plan(kind: Kind, desired: &[Want], seen: &[Seen]) -> Plan {
    plan_guarded(kind, desired, seen, Guard { hold_deletes: desired.is_empty(), unknown: &BTreeSet::new() })
}

/// [`plan`] with the [`Guard`] decided by the caller.
pub fn plan_guarded(kind: Kind, desired: &[Want], seen: &[Seen], guard: Guard<'_>) -> Plan {
    let Guard { hold_deletes, unknown } = guard;
    let mut by_id: BTreeMap<&str, Vec<&Seen>> = BTreeMap::new();
    for s in seen {
        // Objects without the key label are not ours to manage.
        if let Some(id) = s.labels.get(kind.key_label()).filter(|id| !id.is_empty()) {
            by_id.entry(id.as_str()).or_default().push(s);
        }
    }
    for objs in by_id.values_mut() {
        objs.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mut out = Plan::default();
    let wanted: BTreeSet<&str> = desired.iter().map(|w| w.id.as_str()).collect();
    for w in desired.iter().filter(|w| !unknown.contains(&w.id)) {
        let objs = by_id.get(w.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let mut live = objs.iter().filter(|s| !s.terminating);
        let Some(keep) = live.next() else {
            match objs.first() {
                Some(old) => out.actions.push(Action::Wait { id: w.id.clone(), name: old.name.clone() }),
                None => out.actions.push(Action::Create { id: w.id.clone() }),
            }
            continue;
        };
        for extra in live {
            out.actions.push(Action::Delete { name: extra.name.clone(), why: Why::Duplicate });
        }
        let phase = keep.phase.as_deref().filter(|p| matches!(*p, "Succeeded" | "Failed" | "Unknown"));
        let had = keep.annotations.get(kind.hash_annotation());
        let why = match (kind, phase, had) {
            (Kind::Pod, Some(p), _) => Some(Why::Phase(p.to_string())),
            (_, _, Some(h)) if *h != w.hash => Some(Why::HashChanged { had: h.clone(), want: w.hash.clone() }),
            // Same hash, or no annotation at all (adopted as it is, D24).
            _ => None,
        };
        if let Some(why) = why {
            out.actions.push(Action::Replace { id: w.id.clone(), name: keep.name.clone(), why });
        }
    }
    for (id, objs) in &by_id {
        if wanted.contains(id) {
            continue;
        }
        if unknown.contains(*id) {
            out.kept_unknown += objs.iter().filter(|s| !s.terminating).count();
            continue;
        }
        for s in objs.iter().filter(|s| !s.terminating) {
            if hold_deletes {
                out.held_back += 1;
            } else {
                out.actions.push(Action::Delete { name: s.name.clone(), why: Why::NotDesired });
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
