//! Taking over from the original Go runtime (or an earlier instance of this one) without
//! restarting a bot: `orchestrator import-running` rebuilds the desired records from the bot
//! containers, pods and CronJobs that run, and `orchestrator import-mongo` reads the original's
//! MongoDB collections as `mongoexport` wrote them (issue #12; docs/kubernetes.md, "Switching
//! from the original runtime").
//!
//! Why it exists: the original kept its desired state in MongoDB, which this orchestrator does
//! not read, and its events are not replayed; without an import the first reconcile here would
//! see running bots that nothing desires and stop them. Records go into either desired-state
//! store through the one ingest [`Sink`] trait as a `created` event ([`Mode::Create`]), so the
//! one merge rule (`store::merge`) decides: a bot the store already holds is never overwritten,
//! and a second import changes nothing.
//!
//! # Layout
//!
//! - [`extjson`]: MongoDB Extended JSON as plain JSON, pure.
//! - [`mongo`]: a `mongoexport` file of `bots` or `bot_schedules` as records, pure.
//! - [`fromenv`]: the part of a record a bot container's environment carries, pure.
//! - [`container`]: a realtime bot container as its record, or what it lacks, pure.
//! - [`objects`]: a bot pod or schedule CronJob as its record, or what it lacks, pure.
//! - this file: found records into a store, and the report of what happened to each bot.
//! - [`run`]: the edges: Docker, the API server, the stores.

pub mod container;
pub mod extjson;
pub mod fromenv;
pub mod mongo;
pub mod objects;
pub mod run;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::ingest::Sink;
use crate::model::{BotRecord, Change};
use crate::store::Mode;

/// One bot found by an import: where it was found and its record, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The bot's id, or the object's name when even that is missing.
    pub id: String,
    /// Where it was found: `container NAME`, `pod NAME`, `cronjob NAME`, `FILE line N`.
    pub source: String,
    pub record: Result<BotRecord, String>,
}

/// What became of one found bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Imported,
    /// `--dry-run`: would be imported.
    WouldImport,
    /// The store holds the bot already (or an earlier line of this import gave it): kept as is.
    Present,
    /// No record could be rebuilt: the reason.
    Skipped(String),
    /// The store refused or failed the write: its message.
    Failed(String),
}

impl Outcome {
    fn word(&self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::WouldImport => "would-import",
            Outcome::Present => "present",
            Outcome::Skipped(_) => "skipped",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// Every found bot and its outcome, in the order found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub dry_run: bool,
    pub lines: Vec<(Found, Outcome)>,
}

/// Writes each found record into `sink` as a `created` event, unless `known` (the ids the store
/// holds) has it; with `dry_run` writes nothing.
pub async fn import<S: Sink>(sink: &S, known: &BTreeSet<String>, found: Vec<Found>, dry_run: bool) -> Report {
    let mut seen = known.clone();
    let mut report = Report { dry_run, lines: Vec::with_capacity(found.len()) };
    for f in found {
        let outcome = match &f.record {
            Err(why) => Outcome::Skipped(why.clone()),
            Ok(rec) if seen.contains(&rec.id) => Outcome::Present,
            Ok(_) if dry_run => Outcome::WouldImport,
            Ok(rec) => match sink.apply(&Change::Upsert(rec.clone()), Mode::Create, None).await {
                Ok(true) => Outcome::Imported,
                Ok(false) => Outcome::Present,
                Err(e) => Outcome::Failed(e.message),
            },
        };
        if let (Ok(rec), Outcome::Imported | Outcome::WouldImport | Outcome::Present) = (&f.record, &outcome) {
            seen.insert(rec.id.clone());
        }
        report.lines.push((f, outcome));
    }
    report
}

impl Report {
    fn count(&self, word: &str) -> usize {
        self.lines.iter().filter(|(_, o)| o.word() == word).count()
    }

    /// Whether a write failed (the command then exits 1).
    pub fn failed(&self) -> bool {
        self.count("failed") > 0
    }

    /// One line per bot, then the summary (and what to do about skipped bots).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (f, o) in &self.lines {
            let what = match o {
                Outcome::Imported => "imported".to_string(),
                Outcome::WouldImport => "would be imported (--dry-run)".to_string(),
                Outcome::Present => "already present, kept".to_string(),
                Outcome::Skipped(why) => format!("skipped: {why}"),
                Outcome::Failed(why) => format!("FAILED: {why}"),
            };
            out.push_str(&format!("{}: {what} ({})\n", f.id, f.source));
        }
        let imported = if self.dry_run { "would be imported" } else { "imported" };
        out.push_str(&format!(
            "{} found: {} {imported}, {} already present, {} skipped, {} failed\n",
            self.lines.len(),
            self.count("imported") + self.count("would-import"),
            self.count("present"),
            self.count("skipped"),
            self.count("failed"),
        ));
        if self.count("skipped") > 0 {
            out.push_str(
                "A skipped bot has no record here: import it with import-mongo (or let the0 send it again) before the \
                 orchestrator starts, or the next reconcile stops its container or deletes its pod or CronJob.\n",
            );
        }
        out
    }

    /// `-o json`: `{"dryRun", "bots": [{"id", "source", "outcome", "reason"?}], "summary"}`.
    pub fn json(&self) -> Value {
        let bots: Vec<Value> = self
            .lines
            .iter()
            .map(|(f, o)| {
                let mut v = json!({"id": f.id, "source": f.source, "outcome": o.word()});
                if let Outcome::Skipped(r) | Outcome::Failed(r) = o {
                    v["reason"] = json!(r);
                }
                v
            })
            .collect();
        let summary: serde_json::Map<String, Value> = ["imported", "would-import", "present", "skipped", "failed"]
            .into_iter()
            .map(|w| (w.to_string(), json!(self.count(w))))
            .collect();
        json!({"dryRun": self.dry_run, "bots": bots, "summary": summary})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::SinkError;
    use std::sync::{Arc, Mutex};

    /// A sink that records writes and applies `created` as the stores do (a known id: no change).
    #[derive(Clone, Default)]
    struct Memory {
        ids: Arc<Mutex<Vec<String>>>,
        refuse: Option<String>,
    }

    impl Sink for Memory {
        async fn apply(&self, change: &Change, mode: Mode, _: Option<(&'static str, u64)>) -> Result<bool, SinkError> {
            assert_eq!(mode, Mode::Create, "imports never overwrite");
            let Change::Upsert(rec) = change else { panic!("imports only upsert") };
            if self.refuse.as_deref() == Some(rec.id.as_str()) {
                return Err(SinkError { message: "refused".into(), permanent: true });
            }
            let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
            if ids.contains(&rec.id) {
                return Ok(false);
            }
            ids.push(rec.id.clone());
            Ok(true)
        }
    }

    fn found(id: &str, ok: bool) -> Found {
        let rec = BotRecord { id: id.into(), config: json!({}), custom: json!({}), enabled: None };
        Found {
            id: id.into(),
            source: format!("pod bot-{id}"),
            record: if ok { Ok(rec) } else { Err("no CODE_FILE".into()) },
        }
    }

    #[tokio::test]
    async fn each_bot_gets_one_outcome_and_a_second_run_imports_nothing() {
        let sink = Memory { refuse: Some("bad".into()), ..Memory::default() };
        let known = BTreeSet::from(["old".to_string()]);
        let all = vec![found("a", true), found("old", true), found("b", false), found("a", true), found("bad", true)];
        let dry = import(&sink, &known, all.clone(), true).await;
        let words = |r: &Report| r.lines.iter().map(|(_, o)| o.word()).collect::<Vec<_>>();
        assert_eq!(words(&dry), ["would-import", "present", "skipped", "present", "would-import"]);
        assert!(sink.ids.lock().map(|i| i.is_empty()).unwrap_or(false), "a dry run writes nothing");
        let first = import(&sink, &known, all.clone(), false).await;
        assert_eq!(words(&first), ["imported", "present", "skipped", "present", "failed"]);
        assert!(first.failed());
        let text = first.text();
        assert!(text.contains("a: imported (pod bot-a)"), "{text}");
        assert!(text.contains("b: skipped: no CODE_FILE (pod bot-b)"), "{text}");
        assert!(text.contains("5 found: 1 imported, 2 already present, 1 skipped, 1 failed"), "{text}");
        assert!(text.contains("import-mongo"), "{text}");
        let again = import(&sink, &known, all, false).await;
        assert_eq!(words(&again), ["present", "present", "skipped", "present", "failed"]);
        let j = again.json();
        assert_eq!(j["summary"]["present"], 3);
        assert_eq!(j["bots"][2]["reason"], "no CODE_FILE");
    }
}
