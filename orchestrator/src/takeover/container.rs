//! `import-running` in Docker mode, pure: one realtime bot container (its labels, environment and
//! image) in, the record it was started from out, or what it lacks.
//!
//! Why it exists: the original's bot-runner and this orchestrator both start a realtime bot with
//! everything its record says in the container's environment (docs/contract.md §5.4: `CONFIG`,
//! `CODE_FILE`, `RUNTIME`, `ENTRYPOINT`, `QUERY_ENTRYPOINT`; labels `runtime.managed`,
//! `runtime.id`, `runtime.type`), so the record can be read back. What the reconciler compares
//! is checked here too: a container with our `runtime.config-hash` label (D24) must hash the same
//! from the rebuilt record on its own image, or the record is not the one it was started from and
//! is not imported; the original's containers carry no such label and are adopted as they are.
//! `custom.version` and `custom.config.name` are not in a container; Docker mode does not use them.

use std::collections::BTreeMap;

use the0_contract::{env, labels};

use super::fromenv;

use crate::docker::ContainerFacts;
use crate::images::RuntimeImages;
use crate::model::{self, BotRecord};

/// The record `c` was started from, or why it cannot be known (a sentence naming what is missing).
pub fn record(c: &ContainerFacts) -> Result<BotRecord, String> {
    let id = c.labels.get(labels::ID).filter(|s| !s.is_empty()).ok_or("no runtime.id label")?.clone();
    let vars: BTreeMap<String, String> =
        c.env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for key in ["ID", env::BOT_ID] {
        if let Some(v) = vars.get(key).filter(|v| **v != id) {
            return Err(format!("its {key} variable {v:?} is not its runtime.id label"));
        }
    }
    if let Some(t) = vars.get(env::BOT_TYPE).filter(|t| t.as_str() != labels::TYPE_REALTIME) {
        return Err(format!("its BOT_TYPE is {t:?}, not a realtime bot"));
    }
    let e = fromenv::read(&vars)?;
    let (config, custom) = (e.config.clone(), e.custom(None));
    let rec = BotRecord { id, config, custom, enabled: None };
    let images = RuntimeImages { default: c.image.clone(), by_runtime: BTreeMap::new() };
    let launch = model::validate(&rec, &images).map_err(|e| format!("the record it shows is not runnable: {e}"))?;
    if let Some(h) = c.labels.get(labels::CONFIG_HASH).filter(|h| **h != launch.hash) {
        return Err(format!(
            "its runtime.config-hash {h} is not the hash of the record its environment shows ({}): not imported",
            launch.hash
        ));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A container as the original's bot-runner starts one (`runtime/internal/docker/runner.go`
    /// and `container_builder.go` in the0: no hash label).
    fn original() -> ContainerFacts {
        ContainerFacts {
            name: "/x".into(),
            labels: BTreeMap::from([
                ("runtime.managed".into(), "true".into()),
                ("runtime.id".into(), "b1".into()),
                ("runtime.type".into(), "realtime".into()),
                ("runtime.entrypoint".into(), "main.py".into()),
            ]),
            env: [
                "PYTHONDONTWRITEBYTECODE=1",
                "ID=b1",
                r#"CONFIG={"symbol":"BTC","n":1}"#,
                "BOT_ID=b1",
                "CODE_FILE=u/b/1.0.0",
                "RUNTIME=python3.11",
                "ENTRYPOINT=main.py",
                r#"BOT_CONFIG={"symbol":"BTC","n":1}"#,
                "IS_SCHEDULED=false",
                "QUERY_ENTRYPOINT=query.py",
                "BOT_TYPE=realtime",
            ]
            .map(String::from)
            .to_vec(),
            image: "the0/runtime:latest".into(),
        }
    }

    fn without(mut c: ContainerFacts, key: &str) -> ContainerFacts {
        c.env.retain(|kv| !kv.starts_with(&format!("{key}=")));
        c
    }

    fn with_env(mut c: ContainerFacts, kv: &str) -> ContainerFacts {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        c = without(c, &key);
        c.env.push(kv.into());
        c
    }

    fn with_label(mut c: ContainerFacts, k: &str, v: &str) -> ContainerFacts {
        c.labels.insert(k.into(), v.into());
        c
    }

    #[test]
    fn the_originals_container_gives_its_record() {
        let rec = record(&original()).expect("a record");
        assert_eq!(rec.id, "b1");
        assert_eq!(rec.config, json!({"symbol": "BTC", "n": 1}));
        assert_eq!(
            rec.custom,
            json!({"filePath": "u/b/1.0.0", "config": {"runtime": "python3.11",
                "entrypoints": {"bot": "main.py", "query": "query.py"}}})
        );
        assert_eq!(rec.enabled, None);
    }

    #[test]
    fn what_is_missing_is_named() {
        let bad_hash = with_label(original(), "runtime.config-hash", "0000000000000000");
        let no_label = {
            let mut c = original();
            c.labels.remove("runtime.id");
            c
        };
        for (case, c, want) in [
            ("no id label", no_label, "no runtime.id label"),
            ("no code", without(original(), "CODE_FILE"), "no CODE_FILE variable"),
            ("no runtime", without(original(), "RUNTIME"), "no RUNTIME variable"),
            ("no entrypoint", without(original(), "ENTRYPOINT"), "no ENTRYPOINT variable"),
            ("no config", without(without(original(), "CONFIG"), "BOT_CONFIG"), "no CONFIG or BOT_CONFIG"),
            ("bad config", with_env(original(), "CONFIG={oops"), "CONFIG variable is not JSON"),
            ("other id", with_env(original(), "BOT_ID=b2"), "BOT_ID variable \"b2\""),
            ("scheduled", with_env(original(), "BOT_TYPE=scheduled"), "not a realtime bot"),
            ("unknown runtime", with_env(original(), "RUNTIME=cobol"), "unknown runtime"),
            ("hash differs", bad_hash, "runtime.config-hash 0000000000000000 is not the hash"),
        ] {
            let e = record(&c).expect_err(case);
            assert!(e.contains(want), "{case}: {e}");
        }
    }

    #[test]
    fn bot_config_is_the_fallback_and_config_wins() {
        let c = without(original(), "CONFIG");
        assert_eq!(record(&c).map(|r| r.config), Ok(json!({"symbol": "BTC", "n": 1})));
        let c = with_env(original(), "CONFIG=null");
        assert_eq!(record(&c).map(|r| r.config), Ok(Value::Null), "CONFIG keeps a null config");
    }

    /// Our own container (`spec::build`) gives back a record whose launch hashes as its label, so
    /// the reconcile planner keeps it (no stop, no start); the original's (no label) is adopted.
    #[test]
    fn a_rebuilt_record_plans_keep_for_ours_and_the_originals() {
        use crate::observed::{BotStatus, Observed, State};
        use crate::reconcile::plan::{plan, Desired};
        let stored = BotRecord {
            id: "b1".into(),
            config: json!({"symbol": "ETH", "w": 0.5, "enabled": true}),
            custom: json!({"version": "2.0.0", "filePath": "u/b/2.0.0",
                "config": {"name": "B", "runtime": "nodejs20", "entrypoints": {"bot": "main.js", "query": "q.js"}}}),
            enabled: None,
        };
        let images = RuntimeImages { default: "the0/runtime:test".into(), by_runtime: BTreeMap::new() };
        let launch = model::validate(&stored, &images).expect("valid");
        let spec = crate::spec::build(&launch, &crate::spec::HostSettings::default());
        let ours = ContainerFacts {
            name: spec.name.clone(),
            labels: spec.labels.clone(),
            env: spec.env.clone(),
            image: spec.image,
        };
        for (case, c) in [("ours", ours), ("the original's", original())] {
            let rec = record(&c).expect(case);
            let desired = Desired {
                id: rec.id.clone(),
                enabled: model::is_enabled(rec.enabled.as_ref(), &rec.config),
                launch: model::validate(&rec, &RuntimeImages { default: c.image.clone(), by_runtime: BTreeMap::new() }),
                status: BotStatus::default(),
                handover: true,
            };
            let seen = Observed {
                container: "c1".into(),
                name: c.name.clone(),
                bot_id: rec.id.clone(),
                state: State::Running,
                hash: c.labels.get(labels::CONFIG_HASH).cloned(),
                created_ms: 1,
                started_ms: Some(1),
                finished_ms: None,
                exit_code: None,
                oom: false,
                successor: false,
            };
            let p = plan(&[desired], &[seen], &std::collections::HashSet::new(), 1_000_000, 10_000);
            assert!(p.actions.is_empty(), "{case}: kept as is, got {p:#?}");
        }
    }
}
