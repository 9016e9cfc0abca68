//! Manifest parsing and the zip rules of the0's CLI.

use super::*;
use std::io::Read;

const MANIFEST: &str =
    "name: hello\nversion: 1.0.0\ntype: realtime\nruntime: gcc13\nentrypoints:\n  bot: bot.sh\nschema:\n  bot: {}\n";

#[test]
fn manifest_fields_and_errors() {
    let m = parse_manifest(MANIFEST).unwrap();
    assert_eq!(
        (m.name.as_str(), m.version.as_str(), m.runtime.as_str(), m.entrypoint.as_str()),
        ("hello", "1.0.0", "gcc13", "bot.sh")
    );
    assert_eq!(m.raw["schema"]["bot"], json!({}));
    for (text, err) in [
        ("name: [", "not valid YAML"),
        ("version: 1\nruntime: gcc13\nentrypoints: {bot: b}", "`name`"),
        ("name: a\nversion: 1\nruntime: gcc13", "entrypoints.bot"),
        ("name: a\nversion: 1\nruntime: gcc13\ntype: event\nentrypoints: {bot: b}", "realtime or scheduled"),
    ] {
        let e = parse_manifest(text).unwrap_err().to_string();
        assert!(e.contains(err), "{text}: {e}");
    }
}

fn write(root: &Path, rel: &str, mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, rel).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn zip_follows_the_cli_rules() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(r, "bot.sh", 0o755);
    write(r, "lib/a.txt", 0o644);
    write(r, ".env", 0o600);
    write(r, ".git/config", 0o644);
    write(r, "sub/.hidden", 0o644);
    write(r, "build/out.o", 0o644);
    write(r, "logs/x.log", 0o644);
    write(r, "logs/keep.log", 0o644);
    write(r, "node_modules/m/index.js", 0o644);
    write(r, "vendor/v.py", 0o644);
    std::fs::write(r.join(".the0ignore"), "build/\n*.log\n!keep.log\nnode_modules/\nvendor\n").unwrap();
    let got: Vec<String> = collect(r).unwrap().into_iter().map(|(rel, _, _)| rel).collect();
    assert_eq!(
        got,
        vec![
            "bot.sh",
            "lib",
            "lib/a.txt",
            "logs",
            "logs/keep.log",
            "node_modules",
            "node_modules/m",
            "node_modules/m/index.js",
            "sub",
            "vendor",
            "vendor/v.py"
        ]
    );
    let zpath = d.path().join("..").join(format!("z-{}.zip", std::process::id()));
    let mut f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&zpath).unwrap();
    let sha = zip_dir(r, &mut f).unwrap();
    assert_eq!(sha.len(), 64);
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zpath).unwrap()).unwrap();
    let mut e = z.by_name("bot.sh").unwrap();
    assert_eq!(e.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut s = String::new();
    e.read_to_string(&mut s).unwrap();
    assert_eq!(s, "bot.sh");
    drop(e);
    assert!(z.by_name("lib/").unwrap().is_dir());
    let _ = std::fs::remove_file(zpath);
}

#[test]
fn ids_keys_config_and_payload() {
    assert_eq!(id_from("My Bot!"), "my-bot");
    assert_eq!(id_from("--x--"), "x");
    assert_eq!(code_key("b", "1.0.0", "abcdef0123456789"), "standalone/b/1.0.0-abcdef012345");
    let m = parse_manifest(MANIFEST).unwrap();
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        read_config(d.path(), &m).unwrap(),
        json!({"name": "hello", "type": "realtime/hello", "version": "1.0.0"})
    );
    std::fs::write(d.path().join("config.json"), r#"{"name":"mine","symbol":"BTC"}"#).unwrap();
    let c = read_config(d.path(), &m).unwrap();
    assert_eq!((c["name"].as_str(), c["symbol"].as_str()), (Some("mine"), Some("BTC")));
    std::fs::write(d.path().join("config.json"), "[]").unwrap();
    assert!(read_config(d.path(), &m).is_err());
    let p = payload("b", &m, c, "k", "2026-01-01T00:00:00Z");
    let rec = match crate::model::parse_payload(p.to_string().as_bytes(), false).unwrap() {
        crate::model::Change::Upsert(r) => r,
        _ => unreachable!(),
    };
    let l = crate::model::validate(&rec, &crate::images::RuntimeImages::default()).unwrap();
    assert_eq!((l.runtime.as_str(), l.entrypoint.as_str(), l.code_file.as_str()), ("gcc13", "bot.sh", "k"));
}

#[test]
fn scheduled_manifests_need_a_schedule_in_config_json() {
    let m = parse_manifest(&MANIFEST.replace("type: realtime", "type: scheduled")).unwrap();
    assert_eq!(m.kind, "scheduled");
    let d = tempfile::tempdir().unwrap();
    let e = read_config(d.path(), &m).unwrap_err().to_string();
    assert!(e.contains("needs a non-empty \"schedule\""), "{e}");
    std::fs::write(d.path().join("config.json"), r#"{"schedule": "*/5 * * * *"}"#).unwrap();
    let cfg = read_config(d.path(), &m).unwrap();
    assert_eq!((cfg["type"].as_str(), cfg["schedule"].as_str()), (Some("scheduled/hello"), Some("*/5 * * * *")));
    let realtime = parse_manifest(MANIFEST).unwrap();
    let e = read_config(d.path(), &realtime).unwrap_err().to_string();
    assert!(e.contains("set `type: scheduled`"), "{e}");
}
