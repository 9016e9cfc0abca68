//! `orchestrator import-mongo` on fixture files (`tests/fixtures/takeover/`, shaped as
//! `mongoexport` writes the original runtime's `bots` and `bot_schedules`; no MongoDB server runs
//! here): the reader over each fixture (both layouts, relaxed and canonical Extended JSON give the
//! same records; every bad file is refused naming the file, the line or index, and the field),
//! then the built binary end to end into a temporary SQLite store: `--dry-run` writes nothing,
//! the import stores every bot and schedule with disabled ones disabled, a second run imports
//! nothing, a bot the store already holds is kept as it is, and a bad file writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use the0_orchestrator::model::{self, BotRecord, Change};
use the0_orchestrator::store::{Mode, Store};
use the0_orchestrator::takeover::mongo::{records, Collection};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/takeover").join(name)
}

fn read(name: &str, c: Collection) -> Result<Vec<BotRecord>, String> {
    let p = fixture(name);
    let text = std::fs::read_to_string(&p).expect("fixture");
    records(&p.display().to_string(), &text, c)
        .map(|v| v.into_iter().map(|(_, r)| r).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn every_fixture_reads_as_its_records_or_its_error() {
    let lines = read("bots.jsonl", Collection::Bots).expect("one document per line, relaxed");
    let array = read("bots-canonical.json", Collection::Bots).expect("--jsonArray, canonical");
    assert_eq!(lines, array, "both layouts and both Extended JSON forms give the same records");
    let ids: Vec<&str> = lines.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["mg-live", "mg-off", "mg-root-off"]);
    assert_eq!(lines[0].config["threshold"], json!(0.05));
    assert_eq!(lines[0].custom["createdAt"], json!("2025-01-02T03:04:05.678Z"));
    assert_eq!(lines[1].custom["createdAt"], json!("2025-01-02T03:04:05.678Z"), "$date as ISO text");
    assert!(lines[0].config.get("_id").is_none() && lines[0].config.get("segment_id").is_none());
    let enabled: Vec<bool> = lines.iter().map(|r| model::is_enabled(r.enabled.as_ref(), &r.config)).collect();
    assert_eq!(enabled, [true, false, false], "config.enabled false and a root enabled false stay disabled");
    let s = read("bot_schedules.jsonl", Collection::Schedules).expect("schedules");
    assert_eq!(s.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["mg-cron", "mg-cron-off"]);
    assert!(s.iter().all(|r| model::is_scheduled(&r.config)));
    assert!(s[1].config.get("next_execution_time").is_none());

    for (name, c, want) in [
        ("bad-value.jsonl", Collection::Bots, "bad-value.jsonl: line 2: field `config.limit`"),
        ("bad-syntax.jsonl", Collection::Bots, "bad-syntax.jsonl: line 2: not JSON"),
        ("bad-no-id.json", Collection::Bots, "bad-no-id.json: array index 1: field `id` is missing"),
        (
            "bad-schedule.jsonl",
            Collection::Schedules,
            "bad-schedule.jsonl: line 1: bot nocron: field `config.schedule`",
        ),
    ] {
        let e = read(name, c).expect_err(name);
        assert!(e.contains(want), "{name}: {e}");
    }
}

fn run(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orchestrator"))
        .arg("import-mongo")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DESIRED_STATE")
        .env_remove("THE0_DATA_DIR")
        .output()
        .expect("run the orchestrator")
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("-o json")
}

fn outcomes(v: &Value) -> Vec<(String, String)> {
    v["bots"]
        .as_array()
        .expect("bots")
        .iter()
        .map(|b| {
            (b["id"].as_str().unwrap_or_default().to_string(), b["outcome"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn the_binary_imports_into_sqlite_once_and_keeps_what_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // A bot the store already holds, under an id the export also has: it must stay as it is.
    let mine = BotRecord { id: "mg-live".into(), config: json!({"mine": true}), custom: json!({}), enabled: None };
    Store::open(&data).expect("store").apply(&Change::Upsert(mine.clone()), Mode::Put, None).expect("put");
    let bots = fixture("bots.jsonl");
    let schedules = fixture("bot_schedules.jsonl");
    let (b, s) = (bots.to_str().expect("utf-8"), schedules.to_str().expect("utf-8"));

    let dry = json_of(&run(&data, &["--bots", b, "--schedules", s, "--dry-run", "-o", "json"]));
    assert_eq!(dry["dryRun"], true);
    assert_eq!(
        outcomes(&dry),
        pairs(&[
            ("mg-live", "present"),
            ("mg-off", "would-import"),
            ("mg-root-off", "would-import"),
            ("mg-cron", "would-import"),
            ("mg-cron-off", "would-import")
        ])
    );
    assert_eq!(Store::open(&data).expect("store").list().expect("list").len(), 1, "a dry run writes nothing");

    let out = run(&data, &["--bots", b, "--schedules", s]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("mg-live: already present, kept"), "{text}");
    assert!(text.contains(&format!("mg-off: imported ({b} line 2)")), "{text}");
    assert!(text.contains("mg-cron-off: imported"), "{text}");
    assert!(text.contains("5 found: 4 imported, 1 already present, 0 skipped, 0 failed"), "{text}");

    let store = Store::open(&data).expect("store");
    let got: Vec<BotRecord> = store.list().expect("list").into_iter().map(|(r, _)| r).collect();
    let by_id = |id: &str| got.iter().find(|r| r.id == id).cloned().unwrap_or_else(|| panic!("{id} stored"));
    assert_eq!(by_id("mg-live"), mine, "kept as it was");
    let off = by_id("mg-off");
    assert!(!model::is_enabled(off.enabled.as_ref(), &off.config), "disabled bots are imported disabled");
    assert_eq!(off.custom["filePath"], "user-1/price-alerts/1.2.0");
    assert_eq!(by_id("mg-root-off").enabled, Some(json!(false)));
    let cron = by_id("mg-cron");
    assert!(model::is_scheduled(&cron.config) && model::is_enabled(cron.enabled.as_ref(), &cron.config));
    let cron_off = by_id("mg-cron-off");
    assert!(!model::is_enabled(cron_off.enabled.as_ref(), &cron_off.config), "disabled schedules stay disabled");
    drop(store);

    let again = json_of(&run(&data, &["--bots", b, "--schedules", s, "-o", "json"]));
    assert_eq!(again["summary"]["imported"], 0, "a second run imports nothing: {again}");
    assert_eq!(again["summary"]["present"], 5);

    let bad = fixture("bad-value.jsonl");
    let other = dir.path().join("other");
    let out = run(&other, &["--bots", bad.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad-value.jsonl: line 2: field `config.limit`"), "{err}");
    assert!(!other.exists() || Store::open(&other).expect("store").list().expect("list").is_empty(), "nothing written");
}
