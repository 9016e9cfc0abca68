use super::*;

fn err(body: &str) -> String {
    parse(body.as_bytes()).expect_err(body).to_string()
}

#[test]
fn a_full_request_parses() {
    let r = parse(br#"{"bot_id":"b1","query_path":"portfolio","params":{"symbol":"BTC","n":5},"timeout_sec":7,"x":1}"#)
        .unwrap();
    assert_eq!(r.bot_id, "b1");
    assert_eq!(r.path, "/portfolio");
    assert_eq!(r.timeout, Duration::from_secs(7));
    assert_eq!(r.params_json(), r#"{"n":5,"symbol":"BTC"}"#);
}

#[test]
fn defaults_apply() {
    for body in
        [r#"{"bot_id":"b","query_path":"/p"}"#, r#"{"bot_id":"b","query_path":"/p","params":null,"timeout_sec":null}"#]
    {
        let r = parse(body.as_bytes()).unwrap();
        assert_eq!(
            (r.path.as_str(), r.timeout, r.params_json()),
            ("/p", Duration::from_secs(30), "{}".into()),
            "{body}"
        );
    }
}

#[test]
fn timeouts_are_checked_and_capped() {
    let t = |v: &str| parse(format!(r#"{{"bot_id":"b","query_path":"/p","timeout_sec":{v}}}"#).as_bytes());
    for (v, want) in [
        ("1", 1),
        ("300", 300),
        ("301", 300),
        ("86400", 300),
        ("30.0", 30),
        ("1e3", 300),
        ("18446744073709551615", 300),
    ] {
        assert_eq!(t(v).unwrap().timeout, Duration::from_secs(want), "{v}");
    }
    for (v, want) in [
        ("0", "field `timeout_sec` must be at least 1 second, got 0"),
        ("-5", "field `timeout_sec` must be at least 1 second, got -5"),
        ("-1.0", "field `timeout_sec` must be at least 1 second, got -1.0"),
        ("1.5", "field `timeout_sec` must be a whole number of seconds, got a fraction"),
        (r#""30""#, "field `timeout_sec` must be a whole number of seconds, got a string"),
        ("true", "field `timeout_sec` must be a whole number of seconds, got a boolean"),
        ("[1]", "field `timeout_sec` must be a whole number of seconds, got an array"),
    ] {
        assert_eq!(t(v).unwrap_err().to_string(), want, "{v}");
    }
}

#[test]
fn bad_bodies_are_named() {
    for (body, want) in [
        ("", "request body is not valid JSON"),
        ("{", "request body is not valid JSON"),
        ("not json", "request body is not valid JSON"),
        ("[]", "request body must be a JSON object, got an array"),
        ("null", "request body must be a JSON object, got null"),
        (r#"{"query_path":"/p"}"#, "field `bot_id` is required"),
        (r#"{"bot_id":"","query_path":"/p"}"#, "field `bot_id` is required"),
        (r#"{"bot_id":null,"query_path":"/p"}"#, "field `bot_id` is required"),
        (r#"{"bot_id":"b"}"#, "field `query_path` is required"),
        (r#"{"bot_id":"b","query_path":""}"#, "field `query_path` is required"),
        (r#"{"bot_id":7,"query_path":"/p"}"#, "field `bot_id` must be a string, got a number"),
        (r#"{"bot_id":"b","query_path":["/p"]}"#, "field `query_path` must be a string, got an array"),
        (r#"{"bot_id":"b","query_path":"/p","params":"x=1"}"#, "field `params` must be an object, got a string"),
        (r#"{"bot_id":"b","query_path":"/p","params":[1]}"#, "field `params` must be an object, got an array"),
    ] {
        let got = err(body);
        assert!(got.starts_with(want), "{body}: {got}");
    }
}

#[test]
fn query_paths_are_checked() {
    for (raw, want) in [
        ("/portfolio", Ok("/portfolio")),
        ("portfolio", Ok("/portfolio")),
        ("/a/b?x=1", Ok("/a/b?x=1")),
        ("/a%20b", Ok("/a%20b")),
        ("/a\nb", Err("field `query_path` contains a control character")),
        ("/a\u{0}b", Err("field `query_path` contains a control character")),
        ("/a%0d%0aHost: x", Err("field `query_path` contains a control character")),
        ("/a\u{7f}", Err("field `query_path` contains a control character")),
        ("/../etc", Err("field `query_path` contains a '..' segment")),
        ("/a%zz", Err("field `query_path` contains an invalid percent-encoding")),
        ("/a b", Err("field `query_path` \"/a b\" is not a valid URL path (percent-encode it)")),
        ("/é", Err("field `query_path` \"/é\" is not a valid URL path (percent-encode it)")),
    ] {
        assert_eq!(
            normalize_path(raw).map_err(|e| e.to_string()),
            want.map(str::to_string).map_err(str::to_string),
            "{raw:?}"
        );
    }
    assert_eq!(
        normalize_path(&format!("/{}", "a".repeat(3000))).unwrap_err().to_string(),
        "field `query_path` is longer than 2048 bytes"
    );
}
