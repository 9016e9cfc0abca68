//! Golden files of every object Kubernetes mode builds (`tests/golden/kubernetes/*.json`), one per
//! object kind and notable variant: a realtime bot with and without a query entrypoint, with a
//! `runtimeClassName` and storage keys by `secretKeyRef`, a scheduled bot with a six-field cron,
//! one with a `TZ=` prefix, and a query Job. The test builds each object and compares it with its
//! file; `UPDATE_GOLDEN=1` rewrites the files instead. `scripts/check-kubernetes.sh` validates the
//! same files against the Kubernetes schemas at 1.29 and the newest version (`make lint`), so what
//! the builders produce is proven acceptable to an API server's schema, offline.

mod kube_record;

use std::path::PathBuf;
use std::time::Duration;

use kube_record::record_with_query as record;
use serde_json::{json, Value};
use the0_orchestrator::kube::{self, KubeSettings, QueryJob};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kubernetes")
}

fn settings() -> KubeSettings {
    KubeSettings {
        namespace: "the0".into(),
        minio_endpoint: "minio:9000".into(),
        minio_access_key: "golden-access".into(),
        minio_secret_key: "golden-secret".into(),
        ..KubeSettings::default()
    }
}

/// The settings of a hardened install: keys from a Secret, gVisor, NATS, a run deadline.
fn hardened() -> KubeSettings {
    KubeSettings {
        minio_secret_name: Some("the0-secrets".into()),
        runtime_class: Some("gvisor".into()),
        nats_url: Some("nats://nats:4222".into()),
        execution_timeout: Some(Duration::from_secs(600)),
        ..settings()
    }
}

const ID: &str = "0b6e8f2a-4c1d-4e5f-9a7b-3c2d1e0f9a8b";

/// (file, object, warnings) of every golden.
fn cases() -> Vec<(&'static str, Value, Vec<String>)> {
    let mut out = Vec::new();
    let realtime = record(ID, json!({"symbol": "BTC-USD", "threshold": 0.5}), false);
    let b = kube::bot_pod(&realtime, &settings()).expect("realtime pod");
    out.push(("pod-realtime.json", json(&b.object), b.warnings));

    let with_query = record(
        ID,
        json!({"symbol": "ETH-USD", "memory_limit": "1Gi", "cpu_limit": "1", "memory_request": "512Mi", "cpu_request": "lots"}),
        true,
    );
    let b = kube::bot_pod(&with_query, &hardened()).expect("pod with query");
    out.push(("pod-query-secretref-runtimeclass.json", json(&b.object), b.warnings));

    let scheduled = record(ID, json!({"schedule": "0 */15 * * * *", "symbol": "BTC-USD"}), true);
    let b = kube::schedule_cronjob(&scheduled, &hardened()).expect("cronjob");
    out.push(("cronjob.json", json(&b.object), b.warnings));

    let zoned = record(ID, json!({"schedule": "TZ=Europe/London 30 9 * * 1-5"}), false);
    let b = kube::schedule_cronjob(&zoned, &settings()).expect("cronjob with a zone");
    out.push(("cronjob-timezone.json", json(&b.object), b.warnings));

    let q = QueryJob {
        path: "/portfolio".into(),
        params: r#"{"limit":10}"#.into(),
        unix_nanos: 1_733_443_200_123_456_789,
        timeout_secs: 30,
    };
    let b = kube::query_job(&with_query, &settings(), &q).expect("query job");
    out.push(("job-query.json", json(&b.object), b.warnings));
    out
}

fn json<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).expect("k8s-openapi objects serialise")
}

#[test]
fn objects_match_their_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (file, object, warnings) in cases() {
        let doc = json!({"object": object, "warnings": warnings});
        // The file holds only the object (it is validated as a manifest); warnings are checked here.
        let text = format!("{}\n", serde_json::to_string_pretty(&doc["object"]).expect("json"));
        let path = dir().join(file);
        let warnings_path = dir().join(file.replace(".json", ".warnings.txt"));
        let warning_text: String = doc["warnings"]
            .as_array()
            .map(|w| w.iter().filter_map(Value::as_str).map(|s| format!("{s}\n")).collect())
            .unwrap_or_default();
        if update {
            std::fs::write(&path, &text).expect("write golden");
            if warning_text.is_empty() {
                let _ = std::fs::remove_file(&warnings_path);
            } else {
                std::fs::write(&warnings_path, &warning_text).expect("write warnings");
            }
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != text {
            stale.push(format!("{file} differs (UPDATE_GOLDEN=1 rewrites it; review the diff)"));
        }
        let want_warnings = std::fs::read_to_string(&warnings_path).unwrap_or_default();
        if want_warnings != warning_text {
            stale.push(format!("{} differs:\n{warning_text}", warnings_path.display()));
        }
    }
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

/// What the goldens must show, checked on the objects themselves so a golden rewritten with a
/// regression does not pass unnoticed.
#[test]
fn goldens_carry_the_contract() {
    let cases = cases();
    let get = |name: &str| cases.iter().find(|c| c.0 == name).map(|c| c.1.clone()).expect("case");

    let pod = get("pod-realtime.json");
    assert_eq!(pod["metadata"]["name"], format!("bot-{ID}"));
    let spec = &pod["spec"];
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(spec["initContainers"][0]["restartPolicy"], "Always");
    assert_eq!(spec["containers"].as_array().map(Vec::len), Some(1), "no query-server without a query entrypoint");
    assert!(spec.get("runtimeClassName").is_none());
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["the0.app/custom-bot-id"], "price-alerts");
    let env_names = |c: &Value| -> Vec<String> {
        c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str().map(str::to_string)).collect()
    };
    assert!(!env_names(&spec["initContainers"][0]).contains(&"NATS_URL".to_string()), "no NATS configured");

    let pod = get("pod-query-secretref-runtimeclass.json");
    let spec = &pod["spec"];
    assert_eq!(spec["runtimeClassName"], "gvisor");
    assert_eq!(spec["containers"][1]["name"], "query-server");
    assert_eq!(spec["containers"][1]["ports"][0]["containerPort"], 9476);
    assert!(env_names(&spec["initContainers"][0]).contains(&"NATS_URL".to_string()), "the sidecar ships logs");
    assert!(!env_names(&spec["containers"][0]).contains(&"NATS_URL".to_string()), "the bot container does not");
    let text = pod.to_string();
    assert!(!text.contains("golden-secret") && !text.contains("golden-access"), "keys only by secretKeyRef");
    assert!(text.contains(r#""secretKeyRef":{"key":"minio-secret-key","name":"the0-secrets"}"#), "{text}");
    assert_eq!(spec["containers"][0]["resources"]["limits"]["memory"], "1Gi");

    let cj = get("cronjob.json");
    assert_eq!(cj["spec"]["schedule"], "*/15 * * * *");
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(cj["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"], 600);
    assert!(cj["metadata"]["name"].as_str().is_some_and(|n| n.len() <= 52));

    let cj = get("cronjob-timezone.json");
    assert_eq!(cj["spec"]["schedule"], "30 9 * * 1-5");
    assert_eq!(cj["spec"]["timeZone"], "Europe/London");

    let job = get("job-query.json");
    let name = job["metadata"]["name"].as_str().unwrap_or("");
    assert!(name.starts_with("query-") && name.len() <= 63, "{name}");
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 60);
    assert_eq!(job["spec"]["ttlSecondsAfterFinished"], 300);
}
