//! The environment of every child the executor starts: the bot, the query child and one-shot
//! queries (docs/contract.md §2.3, D12, D15). Pure: parent environment + config in, child environment out.

use std::collections::BTreeMap;
use std::ffi::OsString;

use the0_contract::{env, runtimes};

use crate::config::Config;

/// A one-shot query's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryInputs<'a> {
    pub path: &'a str,
    /// `QUERY_PARAMS` verbatim, if set.
    pub params: Option<&'a str>,
}

/// What differs between children.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildKind<'a> {
    /// Set for one-shot queries (QUERY_PATH, QUERY_PARAMS, QUERY_PARAM_*).
    pub query: Option<QueryInputs<'a>>,
    /// Set for a query program behind the executor's front (`THE0_QUERY_PORT`).
    pub query_port: Option<u16>,
}

/// `QUERY_PARAM_<key>` for each top-level member of a JSON object: strings raw, other values as
/// compact JSON. Keys that cannot be environment names (`=`, NUL) and NUL-carrying values are skipped.
pub fn query_param_vars(params: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(params) else {
        return Vec::new();
    };
    map.into_iter()
        .filter(|(k, _)| !k.is_empty() && !k.contains('=') && !k.contains('\0'))
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (format!("{}{k}", env::QUERY_PARAM_PREFIX), value)
        })
        .filter(|(_, v)| !v.contains('\0'))
        .collect()
}

/// Builds the child environment from the executor's own.
pub fn build(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    cfg: &Config,
    kind: ChildKind<'_>,
) -> BTreeMap<OsString, OsString> {
    let mut vars: BTreeMap<OsString, OsString> = parent.into_iter().collect();
    if cfg.scrub_child_env {
        for secret in env::CHILD_SECRETS {
            vars.remove(&OsString::from(secret));
        }
    }
    let mut set = |k: &str, v: &str| {
        vars.insert(k.into(), v.into());
    };
    set(env::BOT_ID, &cfg.bot_id);
    set(env::BOT_CONFIG, &cfg.bot_config);
    set(env::STATE_DIR, &cfg.state_dir.to_string_lossy());
    set(env::CODE_MOUNT_DIR, &cfg.code_mount_dir());
    set(env::SCRIPT_PATH, &cfg.entrypoint);
    set(env::ENTRYPOINT_TYPE, "bot");
    if let Some(t) = &cfg.bot_type {
        set(env::BOT_TYPE, t);
    }
    if let Some(q) = kind.query {
        set(env::QUERY_PATH, q.path);
        if let Some(p) = q.params {
            set(env::QUERY_PARAMS, p);
            for (k, v) in query_param_vars(p) {
                set(&k, &v);
            }
        }
    }
    if let Some(port) = kind.query_port {
        set(env::THE0_QUERY_PORT, &port.to_string());
    }
    if cfg.runtime == runtimes::PYTHON {
        let code = cfg.code_path.to_string_lossy();
        let mut path = format!("{code}/vendor:{code}");
        if let Some(inherited) = vars.get(&OsString::from(env::PYTHONPATH)).filter(|p| !p.is_empty()) {
            path.push(':');
            path.push_str(&inherited.to_string_lossy());
        }
        vars.insert(env::PYTHONPATH.into(), path.into());
    }
    vars.entry(env::PYTHONUNBUFFERED.into()).or_insert_with(|| "1".into());
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(extra: &[(&str, &str)]) -> Config {
        let mut v: HashMap<String, String> =
            [("BOT_ID", "b1"), ("RUNTIME", "python3.11"), ("ENTRYPOINT", "main.py"), ("BOT_TYPE", "realtime")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_vars(&v, true).expect("config")
    }

    fn parent(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    fn get<'a>(m: &'a BTreeMap<OsString, OsString>, k: &str) -> Option<&'a str> {
        m.get(&OsString::from(k)).and_then(|v| v.to_str())
    }

    #[test]
    fn overrides_and_inherits() {
        let p = parent(&[("PATH", "/usr/bin"), ("BOT_ID", "stale"), ("PYTHONPATH", "/extra"), ("CODE_PATH", "/bot")]);
        let m = build(p, &cfg(&[]), ChildKind::default());
        assert_eq!(get(&m, "PATH"), Some("/usr/bin"));
        assert_eq!(get(&m, "BOT_ID"), Some("b1"));
        assert_eq!(get(&m, "BOT_CONFIG"), Some("{}"));
        assert_eq!(get(&m, "STATE_DIR"), Some("/state/.the0-state"));
        assert_eq!(get(&m, "CODE_MOUNT_DIR"), Some("bot"));
        assert_eq!(get(&m, "SCRIPT_PATH"), Some("main.py"));
        assert_eq!(get(&m, "ENTRYPOINT_TYPE"), Some("bot"));
        assert_eq!(get(&m, "BOT_TYPE"), Some("realtime"));
        assert_eq!(get(&m, "PYTHONPATH"), Some("/bot/vendor:/bot:/extra"));
        assert_eq!(get(&m, "PYTHONUNBUFFERED"), Some("1"));
        assert_eq!(get(&m, "QUERY_PATH"), None);
        assert_eq!(get(&m, "THE0_QUERY_PORT"), None);
    }

    #[test]
    fn secrets_are_scrubbed_unless_disabled() {
        let p = parent(&[
            ("MINIO_ACCESS_KEY", "a"),
            ("MINIO_SECRET_KEY", "s"),
            ("NATS_URL", "n"),
            ("MONGO_URI", "m"),
            ("MINIO_ENDPOINT", "e"),
        ]);
        let m = build(p.clone(), &cfg(&[]), ChildKind::default());
        for k in ["MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "NATS_URL", "MONGO_URI"] {
            assert_eq!(get(&m, k), None, "{k} must be scrubbed");
        }
        assert_eq!(get(&m, "MINIO_ENDPOINT"), Some("e"));
        let kept = build(p, &cfg(&[("THE0_SCRUB_CHILD_ENV", "false")]), ChildKind::default());
        assert_eq!(get(&kept, "MINIO_SECRET_KEY"), Some("s"));
    }

    #[test]
    fn non_python_gets_no_pythonpath_and_unbuffered_is_kept_if_set() {
        let m = build(parent(&[("PYTHONUNBUFFERED", "0")]), &cfg(&[("RUNTIME", "nodejs20")]), ChildKind::default());
        assert_eq!(get(&m, "PYTHONPATH"), None);
        assert_eq!(get(&m, "PYTHONUNBUFFERED"), Some("0"));
    }

    #[test]
    fn query_inputs() {
        let params = r#"{"symbol":"BTC","limit":5,"deep":{"a":[1,2]},"flag":true,"bad=key":"x","n":null}"#;
        let kind =
            ChildKind { query: Some(QueryInputs { path: "/price", params: Some(params) }), query_port: Some(40001) };
        let m = build(parent(&[]), &cfg(&[]), kind);
        assert_eq!(get(&m, "QUERY_PATH"), Some("/price"));
        assert_eq!(get(&m, "QUERY_PARAMS"), Some(params));
        assert_eq!(get(&m, "QUERY_PARAM_symbol"), Some("BTC"));
        assert_eq!(get(&m, "QUERY_PARAM_limit"), Some("5"));
        assert_eq!(get(&m, "QUERY_PARAM_deep"), Some(r#"{"a":[1,2]}"#));
        assert_eq!(get(&m, "QUERY_PARAM_flag"), Some("true"));
        assert_eq!(get(&m, "QUERY_PARAM_n"), Some("null"));
        assert_eq!(get(&m, "QUERY_PARAM_bad=key"), None);
        assert_eq!(get(&m, "THE0_QUERY_PORT"), Some("40001"));
        assert!(query_param_vars("not json").is_empty());
        assert!(query_param_vars("[1]").is_empty());
    }
}
