//! Helpers of the end-to-end tests that run real bots on the built bot images (`make images`,
//! `make examples`): whether those are present (outside CI a missing image skips the test with a
//! message; in CI it fails it), the examples' directories, stored logs, output and queries of a
//! running container, and a code zip made from files given in the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

pub const UNIVERSAL: &str = "the0/runtime:latest";

/// `CI` set to anything but empty or `false`, as CI services (and `.ci/run`) set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// True when every image and file is there. Otherwise says what is missing and how to build it,
/// and returns false outside CI (the test is skipped); in CI it panics: there they must run.
pub fn have(images: &[&str], files: &[PathBuf]) -> bool {
    let mut missing: Vec<String> = images
        .iter()
        .filter(|i| !Command::new("docker").args(["image", "inspect", i]).output().is_ok_and(|o| o.status.success()))
        .map(|i| format!("image {i}"))
        .collect();
    missing.extend(files.iter().filter(|f| !f.exists()).map(|f| format!("file {}", f.display())));
    if missing.is_empty() {
        return true;
    }
    let msg = format!("missing {}: build them with `make images examples`", missing.join(", "));
    assert!(!in_ci(), "{msg} (CI=true: the image end-to-end tests must run)");
    eprintln!("SKIPPED: {msg}");
    false
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Every stored log line of a bot (`bot-logs/logs/<id>/*.log` under the local objects).
pub fn stored_log(objects: &Path, bot: &str) -> String {
    let dir = objects.join("bot-logs").join("logs").join(bot);
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map_or(Vec::new(), |d| d.flatten().map(|e| e.path()).collect());
    files.sort();
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
}

/// (stdout, stderr) of a container as Docker kept them.
pub fn output(container: &str) -> (String, String) {
    let o = Command::new("docker").args(["logs", container]).output().expect("docker logs");
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// The image a container was created from, as given at create.
pub fn image_of(container: &str) -> String {
    super::docker(&["inspect", "-f", "{{.Config.Image}}", container])
}

/// One GET to the executor's :9476 query front from inside the container (the images have
/// Python; the test needs no network): (HTTP status, JSON body).
pub fn query_in(container: &str, path: &str) -> (u16, Value) {
    let script = format!(
        "import urllib.request, urllib.error\n\
         try:\n    r = urllib.request.urlopen('http://127.0.0.1:9476{path}', timeout=20); print(r.status); print(r.read().decode())\n\
         except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())\n"
    );
    let out = super::docker(&["exec", container, "python3", "-c", &script]);
    let (status, body) = out.split_once('\n').unwrap_or((&out, ""));
    (status.trim().parse().unwrap_or(0), serde_json::from_str(body.trim()).unwrap_or(Value::Null))
}

/// A code zip of `files` (name, content, Unix mode).
pub fn zip_files(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content, mode) in files {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        z.start_file(*name, opts).unwrap();
        z.write_all(content).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// An event-shaped payload of a bot of any runtime whose code is `key`.
pub fn payload(id: &str, key: &str, runtime: &str, bot: &str, query: Option<&str>) -> Value {
    let mut entry = serde_json::json!({ "bot": bot });
    if let Some(q) = query {
        entry["query"] = q.into();
    }
    serde_json::json!({
        "id": id,
        "config": {"name": id},
        "custom": {"filePath": key, "version": "1.0.0",
                   "config": {"name": id, "runtime": runtime, "entrypoints": entry}}
    })
}

/// The largest `"tick": N` / `"value": N` of `_metric` lines in `text`.
pub fn last_tick(text: &str, field: &str) -> u64 {
    text.lines()
        .filter(|l| l.contains("\"_metric\""))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v[field].as_u64())
        .max()
        .unwrap_or(0)
}

/// The tick the python-ticker's new container resumed at (its "resuming" log line on stderr).
pub fn resumed_at(container: &str) -> u64 {
    super::eventually(Duration::from_secs(60), || {
        let (_, err) = output(container);
        err.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["message"] == "resuming")
            .and_then(|v| v["tick"].as_u64())
    })
    .unwrap_or_else(|| panic!("{container}: no \"resuming\" line: {:?}", output(container)))
}

/// Where examples/python-ticker keeps its state, inside the state directory.
pub const TICKER_STATE_FILE: &str = ".the0-state/ticker.json";

/// `state.tar.gz` of a state directory whose python-ticker state has `ticks` ticks.
pub fn ticker_state_archive(ticks: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".the0-state")).expect("mkdir");
    let ticker = serde_json::json!({"ticks": ticks, "price": 100.0, "prices": [100.0]});
    std::fs::write(dir.path().join(TICKER_STATE_FILE), ticker.to_string()).expect("write");
    let out = dir.path().join("state.tar.gz");
    let st = Command::new("tar").arg("-czf").arg(&out).arg("-C").arg(dir.path()).arg(".the0-state").status();
    assert!(st.is_ok_and(|s| s.success()), "tar");
    std::fs::read(out).expect("archive")
}
