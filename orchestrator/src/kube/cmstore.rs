//! `--desired-state configmaps`: the desired bots kept in the cluster, one ConfigMap per bot in
//! the controller's namespace, so that every controller replica reads and writes the same desired
//! state (with `sqlite`, each replica has its own store in its `--data-dir`).
//!
//! Why it exists: two replicas behind `--leader-elect` can only hand over if the new leader knows
//! what the old one was told. Every replica ingests (the JetStream consumer hands each message to
//! one of them) and writes here; the leader lists these ConfigMaps and reconciles.
//!
//! A ConfigMap is named [`names::desired_name`] (`desired-<id>`), labelled
//! `the0.app/managed-by=the0-runtime-controller`, `the0.app/desired=bot` and
//! `the0.app/bot-id=<id>`, and holds one key, [`DATA_KEY`], with the record as JSON
//! ([`Doc`]): the stored bot ([`StoredBot`]), the stream sequence of the last event applied to it
//! (so an older or redelivered event is skipped, as the SQLite store's ingest cursor does) and
//! when it was written. What an event does to a record is decided by the same pure
//! [`merge`] the SQLite store uses. Writes read the ConfigMap, merge,
//! then create it or replace it at the `resourceVersion` read; a 409 (another replica wrote
//! first) starts over, at most [`MAX_TRIES`] times. A deletion event does not delete the ConfigMap
//! but turns it into a tombstone (`"deleted": true`, with the event's sequence; created when the
//! delete arrives first), so a `created` for the bot handled later by another replica is seen to be
//! older and skipped. The loop leaves tombstones out of the desired set and deletes those older than
//! [`TOMBSTONE_TTL_MS`] ([`ConfigMapStore::sweep`]), far longer than JetStream redelivers a message.
//!
//! A ConfigMap that holds no readable record (edited by hand, cut short) is *corrupt*: the list
//! reports it by name with the reason ([`Corrupt`]) beside the good records, so one bad ConfigMap
//! does not stop the fleet; its bot's desired state is unknown, and the controller leaves that
//! bot's objects as they are. An event for that bot repairs it: the merge treats the corrupt
//! record as absent, and the write replaces it at the `resourceVersion` read (a delete writes a
//! tombstone over it). Writes keep the ConfigMap's annotations (the leader's skip reason,
//! [`super::cmskip`]), and the leader's annotation writes keep the data: both are conditional.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ::kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use ::kube::{Api, Client};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::client::{lost_write_race, not_found};
use super::labels;
use super::names::{self, NameError};
use crate::ingest::{Sink, SinkError};
use crate::model::{BotRecord, Change};
use crate::store::merge::{merge, StoredBot};
use crate::store::{now_ms, Mode};

/// The ConfigMap key that holds the record.
pub const DATA_KEY: &str = "bot.json";
/// The most a ConfigMap's data may hold (the API server's limit: 1 MiB).
pub const MAX_BYTES: usize = 1024 * 1024;
/// Attempts of one write when other replicas keep writing the same ConfigMap first (409).
pub const MAX_TRIES: usize = 5;
/// How long a tombstone is kept: one hour, against JetStream's redelivery of a message within
/// minutes (`ingest::MAX_DELIVER` deliveries, backoff up to 30 s, ack wait 30 s).
pub const TOMBSTONE_TTL_MS: i64 = 3600 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum CmError {
    #[error("bot {id}: {source}")]
    Name { id: String, source: NameError },
    #[error("bot {id}: its record is {bytes} bytes as JSON, more than a ConfigMap holds ({max} bytes): not written")]
    TooLarge { id: String, bytes: usize, max: usize },
    #[error("bot {id}: cannot encode the record: {source}")]
    Encode { id: String, source: serde_json::Error },
    #[error("ConfigMap {name}: {why}")]
    Corrupt { name: String, why: String },
    #[error("cannot {what} ConfigMap {name}: {source}")]
    Api { what: &'static str, name: String, source: ::kube::Error },
    #[error("cannot list the desired-state ConfigMaps: {0}")]
    List(::kube::Error),
    #[error("bot {id}: ConfigMap {name} changed under every one of {tries} writes (other replicas writing it)")]
    Conflicts { id: String, name: String, tries: usize },
}

/// A listed ConfigMap without a readable record: its bot's desired state is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt {
    pub name: String,
    /// The bot ids it may stand for: its `the0.app/bot-id` label and the id its name carries
    /// (both, when they differ: whichever bot it is, its objects are left alone).
    pub ids: Vec<String>,
    pub why: String,
}

impl CmError {
    /// Redelivering the event cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, CmError::Name { .. } | CmError::TooLarge { .. } | CmError::Encode { .. })
    }
}

/// What [`DATA_KEY`] holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Doc {
    pub id: String,
    /// Stream sequence of the last event applied (none for a change without one).
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(rename = "updatedMs")]
    pub updated_ms: i64,
    /// A tombstone: the bot was deleted by the event of `seq`.
    #[serde(default)]
    pub deleted: bool,
    #[serde(flatten)]
    pub bot: StoredBot,
}

/// The desired bots as ConfigMaps in one namespace.
#[derive(Clone)]
pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    /// The skip reason last logged per bot, so each is logged once (D32; the reason cannot go to a
    /// status in the SQLite store, where the bot is not).
    logged: Arc<Mutex<BTreeMap<String, String>>>,
    /// The reason last logged per corrupt ConfigMap, so each is logged once per change.
    corrupt_logged: Arc<Mutex<BTreeMap<String, String>>>,
}

/// What one list of the ConfigMaps holds.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// The desired bots (tombstones left out), by id.
    pub records: Vec<BotRecord>,
    /// Tombstones past their time: (name, resourceVersion listed).
    pub expired: Vec<(String, Option<String>)>,
    /// ConfigMaps that hold no readable record.
    pub corrupt: Vec<Corrupt>,
    /// Every ConfigMap listed that is not a tombstone (live records and corrupt ones), by name, as
    /// listed: what the leader's skip annotations are compared with and written over.
    pub listed: BTreeMap<String, ConfigMap>,
}

/// The label selector of the desired-state ConfigMaps.
pub fn selector() -> String {
    format!("{}={},{}={}", labels::MANAGED_BY, labels::RUNTIME_CONTROLLER, labels::DESIRED, labels::DESIRED_BOT)
}

/// The ConfigMap holding `doc`, refused when its data is larger than [`MAX_BYTES`].
pub fn configmap(doc: &Doc) -> Result<ConfigMap, CmError> {
    let id = doc.id.clone();
    let json = serde_json::to_string(doc).map_err(|source| CmError::Encode { id: id.clone(), source })?;
    let bytes = json.len() + DATA_KEY.len();
    if bytes > MAX_BYTES {
        return Err(CmError::TooLarge { id, bytes, max: MAX_BYTES });
    }
    let labels = BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::RUNTIME_CONTROLLER.to_string()),
        (labels::DESIRED.to_string(), labels::DESIRED_BOT.to_string()),
        (labels::BOT_ID.to_string(), id.clone()),
    ]);
    Ok(ConfigMap {
        metadata: ObjectMeta { name: Some(names::desired_name(&id)), labels: Some(labels), ..ObjectMeta::default() },
        data: Some(BTreeMap::from([(DATA_KEY.to_string(), json)])),
        ..ConfigMap::default()
    })
}

/// The record a ConfigMap holds.
pub fn doc_of(cm: &ConfigMap) -> Result<Doc, CmError> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    let corrupt = |why: String| CmError::Corrupt { name: name.clone(), why };
    let text = cm.data.as_ref().and_then(|d| d.get(DATA_KEY)).ok_or_else(|| corrupt(format!("no {DATA_KEY} key")))?;
    let doc: Doc = serde_json::from_str(text).map_err(|e| corrupt(format!("{DATA_KEY} is not a record: {e}")))?;
    if names::desired_name(&doc.id) != name {
        return Err(corrupt(format!("holds bot {:?}, not the bot its name says", doc.id)));
    }
    Ok(doc)
}

/// What a corrupt ConfigMap may stand for: its bot-id label and the id its name carries.
fn corrupt_ids(cm: &ConfigMap) -> Vec<String> {
    let label = cm.metadata.labels.as_ref().and_then(|l| l.get(labels::BOT_ID)).cloned();
    let from_name = cm.metadata.name.as_deref().and_then(|n| n.strip_prefix(names::desired_name("").as_str()));
    let mut ids: Vec<String> =
        label.into_iter().chain(from_name.map(str::to_string)).filter(|id| !id.is_empty()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Whether an event with `seq` is older than (or the same as) what `doc` last applied.
fn stale(doc: &Doc, seq: Option<u64>) -> bool {
    matches!((doc.seq, seq), (Some(had), Some(new)) if had >= new)
}

impl ConfigMapStore {
    pub fn new(client: Client, namespace: &str) -> ConfigMapStore {
        ConfigMapStore {
            api: Api::namespaced(client, namespace),
            logged: Arc::default(),
            corrupt_logged: Arc::default(),
        }
    }

    pub(super) fn api(&self) -> &Api<ConfigMap> {
        &self.api
    }

    /// Every desired bot whose ConfigMap is readable, by id (corrupt ones left out). A failed
    /// list fails the read: the controller then changes nothing this pass.
    pub async fn list(&self) -> Result<Vec<BotRecord>, CmError> {
        Ok(self.read(i64::MIN).await?.records)
    }

    /// [`ConfigMapStore::list`], with the tombstones written before `expired_before_ms` and the
    /// corrupt ConfigMaps (each logged once per change of its reason).
    pub async fn read(&self, expired_before_ms: i64) -> Result<Listing, CmError> {
        let list = self.api.list(&ListParams::default().labels(&selector())).await.map_err(CmError::List)?;
        let mut out = Listing::default();
        for cm in list.items {
            let name = cm.metadata.name.clone().unwrap_or_default();
            match doc_of(&cm) {
                Ok(doc) if doc.deleted => {
                    if doc.updated_ms < expired_before_ms {
                        out.expired.push((name, cm.metadata.resource_version.clone()));
                    }
                    continue;
                }
                Ok(doc) => out.records.push(doc.bot.record(&doc.id)),
                Err(e) => {
                    let why = match e {
                        CmError::Corrupt { why, .. } => why,
                        other => other.to_string(),
                    };
                    out.corrupt.push(Corrupt { name: name.clone(), ids: corrupt_ids(&cm), why });
                }
            }
            out.listed.insert(name, cm);
        }
        out.records.sort_by(|a, b| a.id.cmp(&b.id));
        self.log_corrupt(&out.corrupt);
        Ok(out)
    }

    /// Warns of each corrupt ConfigMap once per reason, and says when one is readable again (or gone).
    fn log_corrupt(&self, now: &[Corrupt]) {
        let mut logged = self.corrupt_logged.lock().unwrap_or_else(|p| p.into_inner());
        for c in now {
            if logged.get(&c.name) != Some(&c.why) {
                tracing::warn!(configmap = %c.name, bot_ids = ?c.ids, reason = %c.why,
                    "desired-state ConfigMap unreadable: its bot's objects are left as they are until an event repairs it");
                logged.insert(c.name.clone(), c.why.clone());
            }
        }
        logged.retain(|name, _| {
            let still = now.iter().any(|c| c.name == *name);
            if !still {
                tracing::info!(configmap = %name, "desired-state ConfigMap readable again (or gone)");
            }
            still
        });
    }

    /// Deletes expired tombstones, each at the `resourceVersion` listed (one rewritten since stays).
    /// Returns how many went; a failure is logged and left for the next pass.
    pub async fn sweep(&self, expired: &[(String, Option<String>)]) -> usize {
        let mut gone = 0;
        for (name, rv) in expired {
            let dp = DeleteParams {
                preconditions: Some(Preconditions { resource_version: rv.clone(), uid: None }),
                ..DeleteParams::default()
            };
            match self.api.delete(name, &dp).await {
                Ok(_) => gone += 1,
                Err(e) if lost_write_race(&e) || not_found(&e) => {}
                Err(e) => tracing::warn!(name = %name, error = %e, "cannot delete an expired tombstone"),
            }
        }
        gone
    }

    /// Applies `change` as `mode` (with the event's stream sequence, if any). Returns whether
    /// desired state changed. Nothing is written on an error.
    pub async fn apply(&self, change: &Change, mode: Mode, seq: Option<u64>) -> Result<bool, CmError> {
        let id = match change {
            Change::Upsert(r) => &r.id,
            Change::Delete(id) => id,
        };
        names::check_id(id).map_err(|source| CmError::Name { id: id.clone(), source })?;
        let name = names::desired_name(id);
        for _ in 0..MAX_TRIES {
            let current = self.api.get_opt(&name).await.map_err(|source| CmError::Api {
                what: "read",
                name: name.clone(),
                source,
            })?;
            let rv = current.as_ref().and_then(|cm| cm.metadata.resource_version.clone());
            // A corrupt record counts as absent: this event replaces it (at the resourceVersion read).
            let (doc, corrupt) = match current.as_ref().map(doc_of) {
                Some(Ok(d)) => (Some(d), false),
                Some(Err(e)) => {
                    tracing::warn!(bot_id = %id, error = %e, "repairing a corrupt desired-state ConfigMap with this event");
                    (None, true)
                }
                None => (None, false),
            };
            if doc.as_ref().is_some_and(|d| stale(d, seq)) {
                return Ok(false);
            }
            let live = doc.as_ref().filter(|d| !d.deleted);
            let (cm, changed) = match change {
                Change::Delete(_) => {
                    // A tombstone already, or nothing there and no sequence to remember.
                    if live.is_none() && !corrupt && (doc.is_some() || seq.is_none()) {
                        return Ok(false);
                    }
                    let bot = doc.as_ref().map_or_else(
                        || StoredBot {
                            config: serde_json::Value::Null,
                            custom: serde_json::Value::Null,
                            enabled: None,
                            local_enabled: None,
                        },
                        |d| d.bot.clone(),
                    );
                    let tomb = Doc { id: id.clone(), seq, updated_ms: now_ms(), deleted: true, bot };
                    (configmap(&tomb)?, live.is_some() || corrupt)
                }
                Change::Upsert(rec) => {
                    let Some(bot) = merge(live.map(|d| &d.bot), rec, mode) else {
                        return Ok(false);
                    };
                    (configmap(&Doc { id: id.clone(), seq, updated_ms: now_ms(), deleted: false, bot })?, true)
                }
            };
            let written = match rv {
                None => self.api.create(&PostParams::default(), &cm).await.map_err(|e| ("create", e)),
                Some(rv) => {
                    let mut cm = cm;
                    cm.metadata.resource_version = Some(rv);
                    // The leader's annotations stay (a corrupt record's skip reason is stale now).
                    cm.metadata.annotations = current.as_ref().and_then(|c| c.metadata.annotations.clone());
                    if corrupt {
                        if let Some(a) = cm.metadata.annotations.as_mut() {
                            a.remove(labels::SKIP_REASON);
                        }
                    }
                    self.api.replace(&name, &PostParams::default(), &cm).await.map_err(|e| ("replace", e))
                }
            };
            match written {
                Ok(_) => return Ok(changed),
                // Another replica wrote (or created, or deleted) it first: read again.
                Err((_, e)) if lost_write_race(&e) || not_found(&e) => {
                    tracing::debug!(bot_id = %id, error = %e, "desired-state ConfigMap changed meanwhile, retrying");
                }
                Err((what, source)) => return Err(CmError::Api { what, name, source }),
            }
        }
        Err(CmError::Conflicts { id: id.clone(), name, tries: MAX_TRIES })
    }

    /// Logs a skipped bot's reason once per reason (D32).
    pub fn log_skip(&self, id: &str, reason: &str) {
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.get(id).map(String::as_str) != Some(reason) {
            tracing::warn!(bot_id = %id, reason = %reason, "bot skipped");
            logged.insert(id.to_string(), reason.to_string());
        }
    }
}

impl Sink for ConfigMapStore {
    async fn apply(&self, change: &Change, mode: Mode, cursor: Option<(&'static str, u64)>) -> Result<bool, SinkError> {
        ConfigMapStore::apply(self, change, mode, cursor.map(|(_, seq)| seq))
            .await
            .map_err(|e| SinkError { permanent: e.is_permanent(), message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(id: &str, config: serde_json::Value) -> Doc {
        Doc {
            id: id.into(),
            seq: Some(3),
            updated_ms: 1,
            deleted: false,
            bot: StoredBot { config, custom: json!({"filePath": "k"}), enabled: None, local_enabled: None },
        }
    }

    #[test]
    fn a_record_round_trips_through_its_configmap() {
        let d = doc("b1", json!({"a": 1}));
        let cm = configmap(&d).expect("fits");
        assert_eq!(cm.metadata.name.as_deref(), Some("desired-b1"));
        let l = cm.metadata.labels.clone().unwrap_or_default();
        assert_eq!(l.get(labels::DESIRED).map(String::as_str), Some("bot"));
        assert_eq!(l.get(labels::MANAGED_BY).map(String::as_str), Some("the0-runtime-controller"));
        assert_eq!(l.get(labels::BOT_ID).map(String::as_str), Some("b1"));
        assert_eq!(doc_of(&cm).expect("reads"), d);
    }

    #[test]
    fn too_large_is_refused_naming_bot_and_size() {
        let d = doc("big", json!({"blob": "x".repeat(MAX_BYTES)}));
        let e = configmap(&d).expect_err("too large");
        assert!(e.is_permanent());
        let m = e.to_string();
        assert!(m.contains("bot big") && m.contains(&MAX_BYTES.to_string()), "{m}");
    }

    #[test]
    fn unreadable_or_misnamed_configmaps_are_corrupt() {
        let mut cm = configmap(&doc("b1", json!({}))).expect("fits");
        cm.metadata.name = Some("desired-b2".into());
        assert!(matches!(doc_of(&cm), Err(CmError::Corrupt { .. })));
        cm.metadata.name = Some("desired-b1".into());
        cm.data = Some(BTreeMap::from([(DATA_KEY.to_string(), "{oops".to_string())]));
        assert!(matches!(doc_of(&cm), Err(CmError::Corrupt { .. })));
        cm.data = None;
        assert!(matches!(doc_of(&cm), Err(CmError::Corrupt { .. })));
    }

    #[test]
    fn older_events_are_stale() {
        let d = doc("b", json!({}));
        assert!(stale(&d, Some(3)) && stale(&d, Some(2)));
        assert!(!stale(&d, Some(4)) && !stale(&d, None));
        assert!(!stale(&Doc { seq: None, ..d }, Some(1)));
    }
}
