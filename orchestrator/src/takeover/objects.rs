//! `import-running` in Kubernetes mode, pure: a bot Pod or a schedule CronJob (the original
//! controller's or ours) in, the record it was built from out, or what it lacks.
//!
//! Why it exists: both controllers put the record into the `bot` container's environment
//! (`BOT_ID`, `CODE_FILE`, `RUNTIME`, `ENTRYPOINT`, `BOT_CONFIG`, `QUERY_ENTRYPOINT`; ours adds
//! `CONFIG`, which keeps a null config null) and, on a pod, its `custom.version` (sanitised)
//! into the label `the0.app/custom-bot-version` (the original's
//! `runtime/internal/k8s/podgen/pod_builder.go` and `bot_controller.go` in the0; ours
//! `kube::pod`, `kube::cronjob`, `kube::env`). The hash
//! annotation (`the0.app/config-hash`, `the0.app/schedule-hash`, docs/contract.md §5.2) covers
//! `config`, `custom.version` and the root `enabled`, which the object shows only in part: the
//! record is rebuilt with each version it shows (the label, `config.version`, the last segment of
//! `CODE_FILE`), with no root `enabled` and with `true` (a pod exists only for an enabled bot),
//! and kept only if [`crate::kube::prepare`] (what the controller's desired objects use) gives
//! exactly the annotation, so the controller adopts the object as is. An object without
//! the annotation is adopted whatever its hash, so its record is kept with no root `enabled`.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;
use the0_contract::env;

use super::fromenv;
use crate::kube::{labels, prepare, KubeSettings};
use crate::model::{self, BotRecord};

/// The `bot` container's plain environment (values from a Secret are left out: only the
/// storage keys come that way).
fn vars(c: &Container) -> BTreeMap<String, String> {
    c.env.iter().flatten().filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v))).collect()
}

fn bot_container<'a>(cs: &'a [Container], what: &str) -> Result<&'a Container, String> {
    cs.iter().find(|c| c.name == "bot").ok_or_else(|| format!("its {what} has no `bot` container"))
}

fn label<'a>(m: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    m.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str).filter(|s| !s.is_empty())
}

/// The record of a bot pod (`the0.app/managed-by=the0-bot-controller`).
pub fn pod_record(p: &Pod) -> Result<BotRecord, String> {
    let id = label(&p.metadata, labels::BOT_ID).ok_or("no the0.app/bot-id label")?;
    let spec = p.spec.as_ref().ok_or("no pod spec")?;
    let c = bot_container(&spec.containers, "pod")?;
    rebuild(id, &p.metadata, &vars(c), labels::CONFIG_HASH, false)
}

/// The record of a schedule CronJob (`the0.app/managed-by=the0-schedule-controller`).
pub fn cronjob_record(cj: &CronJob) -> Result<BotRecord, String> {
    let id = label(&cj.metadata, labels::SCHEDULE_ID).ok_or("no the0.app/schedule-id label")?;
    let containers = cj
        .spec
        .job_template
        .spec
        .as_ref()
        .and_then(|j| j.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .ok_or("no job template")?;
    let c = bot_container(containers, "job template")?;
    rebuild(id, &cj.metadata, &vars(c), labels::SCHEDULE_HASH, true)
}

fn rebuild(
    id: &str,
    meta: &ObjectMeta,
    vars: &BTreeMap<String, String>,
    hash_key: &str,
    scheduled: bool,
) -> Result<BotRecord, String> {
    if let Some(v) = vars.get(env::BOT_ID).filter(|v| v.as_str() != id) {
        return Err(format!("its BOT_ID variable {v:?} is not its id label"));
    }
    let e = fromenv::read(vars).map_err(|why| format!("{why} in its bot container"))?;
    let config = e.config.clone();
    if scheduled && !model::is_scheduled(&config) {
        return Err("its config has no schedule".into());
    }
    if !scheduled && model::is_scheduled(&config) {
        return Err("its config has a schedule, but it is a pod (the controller would replace it by a CronJob)".into());
    }
    // `custom.version` is hashed but a CronJob has no label for it (and a pod's may be sanitised):
    // the candidates are the label, `config.version` (the0's payload carries the bot's version
    // there) and the last segment of `CODE_FILE` (`<user>/<bot>/<version>`); only one that gives
    // the annotation is taken.
    let mut versions: Vec<&str> = Vec::new();
    let path_version = e.code_file.rsplit('/').next().filter(|_| e.code_file.contains('/'));
    for v in [label(meta, labels::CUSTOM_BOT_VERSION), config.get("version").and_then(|v| v.as_str()), path_version]
        .into_iter()
        .flatten()
    {
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    let annotation = meta.annotations.as_ref().and_then(|a| a.get(hash_key));
    let Some(annotation) = annotation else {
        // Adopted whatever its hash: the version is the label's, if any, never a guess.
        let version = label(meta, labels::CUSTOM_BOT_VERSION);
        return Ok(BotRecord { id: id.to_string(), config, custom: e.custom(version), enabled: None });
    };
    let settings = KubeSettings::default();
    for version in &versions {
        for enabled in [None, Some(json!(true))] {
            let rec =
                BotRecord { id: id.to_string(), config: config.clone(), custom: e.custom(Some(version)), enabled };
            let p =
                prepare::prepare(&rec, &settings).map_err(|e| format!("the record it shows is not runnable: {e}"))?;
            if *annotation == p.hash {
                return Ok(rec);
            }
        }
    }
    Err(format!(
        "its {hash_key} {annotation} matches no record rebuilt from it (custom.version tried: {versions:?}, from \
         its label, config.version and CODE_FILE): not imported"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::{bot_pod, schedule_cronjob};
    use serde_json::Value;

    fn stored(config: Value, enabled: Option<Value>) -> BotRecord {
        BotRecord {
            id: "b1".into(),
            config,
            custom: json!({"version": "1.2.0", "filePath": "u/b/1.2.0", "createdAt": "2025-01-01T00:00:00Z",
                "config": {"name": "B", "runtime": "python3.11", "entrypoints": {"bot": "main.py", "query": "q.py"}}}),
            enabled,
        }
    }

    /// The rebuilt record's hash is the object's: the controller's planner keeps it.
    fn keeps(want: &BotRecord, got: &BotRecord) {
        let s = KubeSettings::default();
        let (a, b) = (prepare::prepare(want, &s).expect("want"), prepare::prepare(got, &s).expect("got"));
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.launch.code_file, b.launch.code_file);
        assert_eq!(a.launch.entrypoint, b.launch.entrypoint);
        assert_eq!(a.launch.query_entrypoint, b.launch.query_entrypoint);
        assert_eq!(got.config, want.config);
    }

    #[test]
    fn our_pods_and_cronjobs_give_back_their_records() {
        let s = KubeSettings::default();
        for enabled in [None, Some(json!(true))] {
            let rec = stored(json!({"symbol": "BTC", "x": 1.5}), enabled.clone());
            let pod = bot_pod(&rec, &s).expect("pod").object;
            let got = pod_record(&pod).expect("record");
            assert_eq!(got.enabled, enabled, "the root enabled is recovered from the hash");
            keeps(&rec, &got);
            let rec = stored(json!({"schedule": "*/5 * * * *"}), enabled.clone());
            let cj = schedule_cronjob(&rec, &s).expect("cronjob").object;
            let got = cronjob_record(&cj).expect("record");
            keeps(&rec, &got);
        }
        let null = stored(Value::Null, None);
        let got = pod_record(&bot_pod(&null, &s).expect("pod").object).expect("record");
        assert_eq!(got.config, Value::Null, "CONFIG keeps a null config (BOT_CONFIG says {{}})");
    }

    /// A pod as the original controller builds one (pod_builder.go: `WithBotConfig`, no `CONFIG`
    /// variable, storage keys as values).
    fn original_pod(hash: &str, version: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "bot-b1", "labels": {"the0.app/bot-id": "b1", "the0.app/custom-bot-id": "B",
                "the0.app/custom-bot-version": version, "the0.app/runtime": "python3.11",
                "the0.app/managed-by": "the0-bot-controller"},
                "annotations": {"the0.app/config-hash": hash}},
            "spec": {"containers": [{"name": "bot", "image": "the0/runtime:latest",
                "command": ["/app/runtime", "execute", "--skip-sync", "--skip-query-server"],
                "env": [{"name": "BOT_ID", "value": "b1"}, {"name": "CODE_FILE", "value": "u/b/1.2.0"},
                    {"name": "RUNTIME", "value": "python3.11"}, {"name": "ENTRYPOINT", "value": "main.py"},
                    {"name": "BOT_CONFIG", "value": "{\"symbol\":\"BTC\",\"x\":1.5}"},
                    {"name": "CODE_PATH", "value": "/bot"}, {"name": "BOT_TYPE", "value": "realtime"},
                    {"name": "QUERY_ENTRYPOINT", "value": "q.py"},
                    {"name": "MINIO_ACCESS_KEY", "value": "k"}]}]}
        }))
        .expect("pod")
    }

    #[test]
    fn the_originals_pod_gives_its_record_when_the_hash_agrees() {
        let rec = stored(json!({"symbol": "BTC", "x": 1.5}), None);
        let h = crate::kube::hash::config_hash(&rec.config, "1.2.0", None);
        let got = pod_record(&original_pod(&h, "1.2.0")).expect("record");
        keeps(&rec, &got);
        let got = pod_record(&original_pod(&h, "1-2-0-sanitised")).expect("the version from CODE_FILE");
        assert_eq!(got.custom["version"], "1.2.0");
        let other = crate::kube::hash::config_hash(&rec.config, "9.9.9", None);
        let e = pod_record(&original_pod(&other, "1.2.0")).expect_err("no candidate gives the hash");
        assert!(e.contains("matches no record") && e.contains("\"1.2.0\""), "{e}");
    }

    #[test]
    fn what_is_missing_is_named() {
        let h = crate::kube::hash::config_hash(&json!({"symbol": "BTC", "x": 1.5}), "1.2.0", None);
        let strip = |name: &str| {
            let mut p = original_pod(&h, "1.2.0");
            if let Some(s) = p.spec.as_mut() {
                for c in &mut s.containers {
                    if let Some(e) = c.env.as_mut() {
                        e.retain(|v| v.name != name);
                    }
                }
            }
            p
        };
        let mut no_label = original_pod(&h, "1.2.0");
        no_label.metadata.labels = None;
        let mut no_bot = original_pod(&h, "1.2.0");
        if let Some(s) = no_bot.spec.as_mut() {
            s.containers[0].name = "main".into();
        }
        for (case, p, want) in [
            ("no id", no_label, "no the0.app/bot-id label"),
            ("no bot container", no_bot, "no `bot` container"),
            ("no code", strip("CODE_FILE"), "no CODE_FILE variable"),
            ("no runtime", strip("RUNTIME"), "no RUNTIME variable"),
            ("no entrypoint", strip("ENTRYPOINT"), "no ENTRYPOINT variable"),
            ("no config", strip("BOT_CONFIG"), "no CONFIG or BOT_CONFIG"),
        ] {
            let e = pod_record(&p).expect_err(case);
            assert!(e.contains(want), "{case}: {e}");
        }
        let mut no_hash = original_pod(&h, "1.2.0");
        no_hash.metadata.annotations = None;
        assert_eq!(pod_record(&no_hash).map(|r| r.enabled), Ok(None), "no annotation: adopted as is");
    }
}
