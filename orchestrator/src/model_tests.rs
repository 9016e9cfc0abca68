//! Table tests of payload parsing, the enabled rule and validation.

use super::*;
use crate::images::RuntimeImages;
use serde_json::json;

pub fn payload(id: &str, runtime: &str, entry: &str) -> Value {
    json!({"id": id, "config": {"name": "n", "type": "realtime/n", "version": "1.0.0", "x": 1},
           "custom": {"filePath": format!("u/{id}/1"), "version": "1.0.0",
                      "config": {"runtime": runtime, "entrypoints": {"bot": entry}}}})
}

#[test]
fn payload_shapes() {
    let direct = payload("b1", "gcc13", "bot.sh");
    let Change::Upsert(r) = parse_payload(direct.to_string().as_bytes(), false).unwrap() else { panic!() };
    assert_eq!(r.id, "b1");
    assert_eq!(r.config["x"], 1);
    let wrapped = json!({"type": "bot.created", "entity_id": "b2", "data": direct, "timestamp": "t"});
    let mut w = wrapped.clone();
    w["data"]["id"] = json!("b2");
    let Change::Upsert(r) = parse_payload(w.to_string().as_bytes(), false).unwrap() else { panic!() };
    assert_eq!((r.id.as_str(), r.custom["filePath"].as_str()), ("b2", Some("u/b1/1")));
    let mut w = wrapped;
    w["data"].as_object_mut().unwrap().remove("id");
    assert_eq!(parse_payload(w.to_string().as_bytes(), true).unwrap(), Change::Delete("b2".into()));
    assert_eq!(parse_payload(br#"{"id":"b3","config":{}}"#, true).unwrap(), Change::Delete("b3".into()));
    for (input, err) in [
        (&b"nope"[..], "not JSON"),
        (b"[1]", "not a JSON object"),
        (b"{}", "`id` is missing"),
        (br#"{"id":""}"#, "`id` is missing"),
        (br#"{"id":7}"#, "`id` must be a string, got a number"),
        (br#"{"data":{"id":[]}}"#, "`data.id` must be a string, got an array"),
    ] {
        let e = parse_payload(input, false).unwrap_err().to_string();
        assert!(e.contains(err), "{:?}: {e}", String::from_utf8_lossy(input));
    }
}

#[test]
fn enabled_rule() {
    let t = Some(json!(true));
    let f = Some(json!(false));
    for (root, cfg, want) in [
        (None, json!({}), true),
        (None, Value::Null, true),
        (None, json!({"enabled": true}), true),
        (None, json!({"enabled": false}), false),
        (None, json!({"enabled": "false"}), false),
        (None, json!({"enabled": "0"}), false),
        (None, json!({"enabled": 0}), false),
        (None, json!({"enabled": 0.0}), false),
        (None, json!({"enabled": "no"}), true),
        (None, json!({"enabled": 1}), true),
        (None, json!({"enabled": null}), true),
        (t.clone(), json!({"enabled": "false"}), true),
        (t.clone(), json!({"enabled": false}), false),
        (f.clone(), json!({"enabled": true}), false),
        (Some(json!("false")), json!({}), true),
        (Some(json!("x")), json!({"enabled": 0}), false),
    ] {
        assert_eq!(is_enabled(root.as_ref(), &cfg), want, "root {root:?} config {cfg}");
    }
}

#[test]
fn ids_and_keys() {
    for (id, ok) in [("b1", true), ("0a-b_c.d", true), ("", false), ("-x", false), ("a/b", false), ("a b", false)] {
        assert_eq!(is_safe_id(id), ok, "{id}");
    }
    assert!(!is_safe_id(&"a".repeat(129)));
    for (k, ok) in [("u/b/1.0.0", true), ("u/../x", false), ("/u", false), ("u//x", false), ("u/b c", false)] {
        assert_eq!(is_safe_key(k), ok, "{k}");
    }
}

fn rec(v: Value) -> BotRecord {
    match parse_payload(v.to_string().as_bytes(), false).unwrap() {
        Change::Upsert(r) => r,
        Change::Delete(_) => unreachable!(),
    }
}

#[test]
fn validation_errors_name_the_field() {
    let ok = validate(&rec(payload("b1", "gcc13", "bot.sh")), &RuntimeImages::default()).unwrap();
    assert_eq!((ok.code_file.as_str(), ok.runtime.as_str(), ok.entrypoint.as_str()), ("u/b1/1", "gcc13", "bot.sh"));
    assert_eq!(ok.hash.len(), 16);
    let cases: Vec<(Value, &str)> = vec![
        (payload("b1", "cobol", "bot.sh"), "unknown runtime \"cobol\""),
        (payload("b1", "gcc13", ""), "missing entrypoint"),
        (payload("bad id", "gcc13", "bot.sh"), "not a safe name"),
        (json!({"id": "b1", "config": "x", "custom": {}}), "`config` must be an object, got a string"),
        (json!({"id": "b1", "config": {}, "custom": 3}), "`custom` must be an object, got a number"),
        (json!({"id": "b1", "config": {}}), "`custom` is missing"),
        (json!({"id": "b1", "custom": {"filePath": 1}}), "`custom.filePath` must be a string, got a number"),
        (json!({"id": "b1", "custom": {"filePath": "a/../b"}}), "not a safe object key"),
        (
            json!({"id": "b1", "custom": {"filePath": "a", "config": {"runtime": true}}}),
            "`custom.config.runtime` must be a string, got a boolean",
        ),
        (
            json!({"id": "b1", "custom": {"filePath": "a", "config": []}}),
            "`custom.config.runtime` must be inside an object, got an array",
        ),
        (
            json!({"id": "b1", "custom": {"filePath": "a", "config": {"runtime": "gcc13", "entrypoints": {"bot": 5}}}}),
            "`custom.config.entrypoints.bot` must be a string",
        ),
        (json!({"id": "b1", "enabled": "yes", "custom": {}}), "`enabled` must be a boolean"),
    ];
    for (v, want) in cases {
        let e = validate(&rec(v.clone()), &RuntimeImages::default()).unwrap_err().to_string();
        assert!(e.contains(want), "{v}: {e}");
    }
}

#[test]
fn hash_changes_with_config_and_code_only() {
    let a = validate(&rec(payload("b1", "gcc13", "bot.sh")), &RuntimeImages::default()).unwrap().hash;
    let mut p = payload("b1", "gcc13", "bot.sh");
    p["custom"]["config"]["description"] = json!("other");
    assert_eq!(
        validate(&rec(p.clone()), &RuntimeImages::default()).unwrap().hash,
        a,
        "unrelated custom fields do not restart"
    );
    p["config"]["x"] = json!(2);
    assert_ne!(validate(&rec(p), &RuntimeImages::default()).unwrap().hash, a);
    let mut p = payload("b1", "gcc13", "bot.sh");
    p["custom"]["filePath"] = json!("u/b1/2");
    assert_ne!(validate(&rec(p), &RuntimeImages::default()).unwrap().hash, a);
    assert_eq!(spec_hash(&Value::Null, "k", "r", "i", "e", None), spec_hash(&Value::Null, "k", "r", "i", "e", None));
}

#[test]
fn the_runtime_image_is_part_of_the_launch_and_its_hash() {
    let p = payload("b1", "python3.11", "main.py");
    let general = RuntimeImages { default: "the0/runtime:latest".into(), ..Default::default() };
    let mut slim = general.clone();
    slim.by_runtime.insert("python3.11".into(), "the0/runtime:python".into());
    let mut other = general.clone();
    other.by_runtime.insert("nodejs20".into(), "the0/runtime:node".into());
    let (a, b, c) = (
        validate(&rec(p.clone()), &general).unwrap(),
        validate(&rec(p.clone()), &slim).unwrap(),
        validate(&rec(p), &other).unwrap(),
    );
    assert_eq!((a.image.as_str(), b.image.as_str()), ("the0/runtime:latest", "the0/runtime:python"));
    assert_ne!(a.hash, b.hash, "a new image for the bot's runtime replaces its container");
    assert_eq!(a.hash, c.hash, "another runtime's image leaves it alone");
}

#[test]
fn a_non_empty_schedule_string_makes_a_scheduled_bot() {
    for (config, want) in [
        (json!({"schedule": "*/5 * * * *"}), true),
        (json!({"schedule": "  "}), false),
        (json!({"schedule": ""}), false),
        (json!({"schedule": 5}), false),
        (json!({}), false),
        (Value::Null, false),
    ] {
        assert_eq!(is_scheduled(&config), want, "{config}");
    }
}

#[test]
fn config_size_limit_table() {
    for (len, ok) in [(0, true), (MAX_CONFIG_BYTES, true), (MAX_CONFIG_BYTES + 1, false), (1024 * 1024, false)] {
        assert_eq!(check_config_size(len).is_ok(), ok, "{len} bytes");
    }
    let e = check_config_size(1024 * 1024).unwrap_err().to_string();
    assert!(e.starts_with("config is 1024 KiB, over the 120 KiB limit ("), "{e}");
}

#[test]
fn a_one_megabyte_config_is_refused_with_its_size() {
    let mut p = payload("big", "gcc13", "bot.sh");
    p["config"]["blob"] = json!("x".repeat(1024 * 1024));
    let Change::Upsert(r) = parse_payload(p.to_string().as_bytes(), false).unwrap() else { panic!() };
    let e = validate(&r, &RuntimeImages::default()).unwrap_err().to_string();
    assert!(e.starts_with("config is 1025 KiB, over the 120 KiB limit"), "{e}");
}

/// The reasons are shown as a bot's `failure_reason` (status, admin and query answers): the
/// whole sentence is pinned, not a fragment.
#[test]
fn spec_errors_read_as_the_status_shows_them() {
    let known = the0_contract::runtimes::ALL.join(", ");
    let cases: Vec<(Value, String)> = vec![
        (
            payload("bad id", "gcc13", "bot.sh"),
            "bot id \"bad id\" is not a safe name (1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit)"
                .into(),
        ),
        (json!({"id": "b1", "config": 1, "custom": {}}), "field `config` must be an object, got a number".into()),
        (json!({"id": "b1", "enabled": "y", "custom": {}}), "field `enabled` must be a boolean, got a string".into()),
        (json!({"id": "b1"}), "field `custom` is missing: the bot has no code".into()),
        (json!({"id": "b1", "custom": {}}), "field `custom.filePath` is missing: the bot has no code object".into()),
        (
            json!({"id": "b1", "custom": {"filePath": "../x"}}),
            "field `custom.filePath` \"../x\" is not a safe object key".into(),
        ),
        (json!({"id": "b1", "custom": {"filePath": "a"}}), "field `custom.config.runtime` is missing".into()),
        (
            json!({"id": "b1", "custom": {"filePath": "a", "config": 2}}),
            "field `custom.config.runtime` must be inside an object, got a number".into(),
        ),
        (payload("b1", "cobol", "bot.sh"), format!("unknown runtime \"cobol\" (known: {known})")),
        (
            payload("b1", "gcc13", ""),
            "missing entrypoint: field `custom.config.entrypoints.bot` is missing or empty".into(),
        ),
    ];
    for (v, want) in cases {
        assert_eq!(validate(&rec(v.clone()), &RuntimeImages::default()).unwrap_err().to_string(), want, "{v}");
    }
    assert_eq!(
        check_config_size(MAX_CONFIG_BYTES + 1).unwrap_err().to_string(),
        "config is 121 KiB, over the 120 KiB limit (it is passed in the container's environment, where one variable \
         may hold at most 128 KiB)"
    );
}
