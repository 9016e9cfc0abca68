//! The desired-state model: what a bot is (the event payload's `id`, `config`, `custom`, root
//! `enabled`), how payloads are parsed (direct, wrapped, deleted; docs/contract.md §5.1), the enabled rule
//! (§5.2, D30), the spec hash (D24) and the validation that turns a stored record into something a
//! container can be made from. All pure, so every rule is table-tested.

use serde_json::Value;
use the0_contract::runtimes;

use crate::images::RuntimeImages;

/// One stored bot, exactly as the payload gave it (values kept raw so a wrong type is reported, not lost).
#[derive(Debug, Clone, PartialEq)]
pub struct BotRecord {
    pub id: String,
    pub config: Value,
    pub custom: Value,
    /// Root `enabled`, if the payload had one.
    pub enabled: Option<Value>,
}

/// What an incoming payload asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(BotRecord),
    Delete(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    #[error("payload is not a JSON object")]
    NotObject,
    #[error("field `{0}` is missing or empty")]
    Missing(&'static str),
    #[error("field `{field}` must be {want}, got {got}")]
    WrongType { field: &'static str, want: &'static str, got: &'static str },
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn id_of(obj: &serde_json::Map<String, Value>, key: &str, field: &'static str) -> Result<String, PayloadError> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(PayloadError::Missing(field)),
        Some(Value::String(s)) if s.is_empty() => Err(PayloadError::Missing(field)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(PayloadError::WrongType { field, want: "a string", got: type_name(v) }),
    }
}

fn record_from(obj: &serde_json::Map<String, Value>, id: String) -> BotRecord {
    BotRecord {
        id,
        config: obj.get("config").cloned().unwrap_or(Value::Null),
        custom: obj.get("custom").cloned().unwrap_or(Value::Null),
        enabled: obj.get("enabled").cloned(),
    }
}

/// Parses a `the0.bot.created|updated|deleted` payload: direct `{"id","config","custom"}` first,
/// else the legacy wrapped `{"type","entity_id","data":{…}}` (docs/contract.md §5.1). Only the envelope
/// (a usable `id`) is checked here; the fields are validated by [`validate`] so that a bot with a
/// bad field is stored and shown as failed rather than silently dropped.
pub fn parse_payload(bytes: &[u8], deleted: bool) -> Result<Change, PayloadError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let Value::Object(obj) = v else { return Err(PayloadError::NotObject) };
    let direct = id_of(&obj, "id", "id");
    let (obj, id) = match direct {
        Ok(id) => (obj, id),
        Err(direct_err) => match obj.get("data") {
            Some(Value::Object(data)) => {
                let id = id_of(data, "id", "data.id").or_else(|e| match id_of(&obj, "entity_id", "entity_id") {
                    Ok(id) => Ok(id),
                    Err(_) => Err(e),
                })?;
                (data.clone(), id)
            }
            _ => return Err(direct_err),
        },
    };
    if deleted {
        return Ok(Change::Delete(id));
    }
    Ok(Change::Upsert(record_from(&obj, id)))
}

/// `config.enabled`-style values: bool as is; `"false"`, `"0"`, numeric 0 → false; anything else true.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => !(s == "false" || s == "0"),
        Value::Number(n) => n.as_f64() != Some(0.0),
        _ => true,
    }
}

/// The bot-runner rule, used everywhere (docs/contract.md §5.2, D30): the store filter (root `enabled` ≠
/// false and `config.enabled` ≠ false), then a boolean root `enabled` wins, else `config.enabled`.
pub fn is_enabled(root: Option<&Value>, config: &Value) -> bool {
    let cfg = config.get("enabled");
    if root == Some(&Value::Bool(false)) || cfg == Some(&Value::Bool(false)) {
        return false;
    }
    if let Some(Value::Bool(b)) = root {
        return *b;
    }
    cfg.is_none_or(truthy)
}

/// Docker's container-name rule, narrowed to what is also a safe single path segment.
pub fn is_safe_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A code key is safe if every `/`-separated segment is a plain name (no `.`/`..`, no empty segment).
pub fn is_safe_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'@' | b'+'))
        })
}

/// A bot whose `config.schedule` is a non-empty string is a scheduled bot: the0's API publishes
/// those on `the0.bot-schedule.*`, and an admin `PUT` with a schedule means the same. One id space
/// holds both kinds; this rule is the only place that tells them apart.
pub fn is_scheduled(config: &Value) -> bool {
    config.get("schedule").and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty())
}

/// Everything a container is made from, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub id: String,
    /// `custom.filePath`: the code object key.
    pub code_file: String,
    pub runtime: String,
    /// The bot image this runtime runs on ([`RuntimeImages`]).
    pub image: String,
    pub entrypoint: String,
    pub query_entrypoint: Option<String>,
    /// `config` as compact JSON (`null` if nil), for `CONFIG`.
    pub config_json: String,
    /// Spec hash for the `runtime.config-hash` label (D24).
    pub hash: String,
}

/// Why a stored record cannot be run. The message is the bot's failure reason in its status
/// (`failure_reason`, the admin and query answers), a sentence the user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("bot id {0:?} is not a safe name (1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit)")]
    UnsafeId(String),
    #[error("field `{field}` must be {want}, got {got}")]
    WrongType { field: &'static str, want: &'static str, got: &'static str },
    #[error("field `{field}` must be inside an object, got {got}")]
    NotInObject { field: &'static str, got: &'static str },
    #[error("field `custom` is missing: the bot has no code")]
    NoCustom,
    #[error("field `custom.filePath` is missing: the bot has no code object")]
    NoCodeFile,
    #[error("field `custom.filePath` {0:?} is not a safe object key")]
    UnsafeCodeFile(String),
    #[error("field `custom.config.runtime` is missing")]
    NoRuntime,
    #[error("unknown runtime {0:?} (known: {known})", known = runtimes::ALL.join(", "))]
    UnknownRuntime(String),
    #[error("missing entrypoint: field `custom.config.entrypoints.bot` is missing or empty")]
    NoEntrypoint,
    /// The config's JSON size, in KiB rounded up.
    #[error(
        "config is {0} KiB, over the 120 KiB limit (it is passed in the container's environment, where one variable may hold at most 128 KiB)"
    )]
    ConfigTooBig(usize),
}

fn str_at<'a>(v: &'a Value, path: &[&str], field: &'static str) -> Result<Option<&'a str>, SpecError> {
    let mut cur = v;
    for p in path {
        match cur {
            Value::Object(m) => match m.get(*p) {
                Some(next) => cur = next,
                None => return Ok(None),
            },
            Value::Null => return Ok(None),
            other => return Err(SpecError::NotInObject { field, got: type_name(other) }),
        }
    }
    match cur {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(SpecError::WrongType { field, want: "a string", got: type_name(other) }),
    }
}

/// Largest config JSON a container can be given: it travels twice in the environment (`CONFIG`
/// and `BOT_CONFIG`) and Linux refuses any one environment string over 128 KiB
/// (`MAX_ARG_STRLEN`) with `argument list too long`, which would crash-loop the bot.
pub const MAX_CONFIG_BYTES: usize = 120 * 1024;

/// Refuses a config whose JSON is over [`MAX_CONFIG_BYTES`], saying how big it is.
pub fn check_config_size(len: usize) -> Result<(), SpecError> {
    if len > MAX_CONFIG_BYTES {
        return Err(SpecError::ConfigTooBig(len.div_ceil(1024)));
    }
    Ok(())
}

/// Checks a stored record and derives its [`Launch`], on the image `images` gives its runtime; the
/// error is a sentence the user can act on.
pub fn validate(rec: &BotRecord, images: &RuntimeImages) -> Result<Launch, SpecError> {
    if !is_safe_id(&rec.id) {
        return Err(SpecError::UnsafeId(rec.id.clone()));
    }
    match &rec.config {
        Value::Object(_) | Value::Null => {}
        v => return Err(SpecError::WrongType { field: "config", want: "an object", got: type_name(v) }),
    }
    if let Some(v) = &rec.enabled {
        if !matches!(v, Value::Bool(_) | Value::Null) {
            return Err(SpecError::WrongType { field: "enabled", want: "a boolean", got: type_name(v) });
        }
    }
    match &rec.custom {
        Value::Object(_) => {}
        Value::Null => return Err(SpecError::NoCustom),
        v => return Err(SpecError::WrongType { field: "custom", want: "an object", got: type_name(v) }),
    }
    let code_file = str_at(&rec.custom, &["filePath"], "custom.filePath")?.ok_or(SpecError::NoCodeFile)?;
    if !is_safe_key(code_file) {
        return Err(SpecError::UnsafeCodeFile(code_file.into()));
    }
    let runtime = str_at(&rec.custom, &["config", "runtime"], "custom.config.runtime")?.ok_or(SpecError::NoRuntime)?;
    if !runtimes::is_known(runtime) {
        return Err(SpecError::UnknownRuntime(runtime.into()));
    }
    let entrypoint = str_at(&rec.custom, &["config", "entrypoints", "bot"], "custom.config.entrypoints.bot")?
        .ok_or(SpecError::NoEntrypoint)?;
    let query = str_at(&rec.custom, &["config", "entrypoints", "query"], "custom.config.entrypoints.query")?;
    let config_json = rec.config.to_string();
    check_config_size(config_json.len())?;
    let image = images.for_runtime(runtime);
    let hash = spec_hash(&rec.config, code_file, runtime, image, entrypoint, query);
    Ok(Launch {
        id: rec.id.clone(),
        code_file: code_file.into(),
        runtime: runtime.into(),
        image: image.into(),
        entrypoint: entrypoint.into(),
        query_entrypoint: query.map(str::to_string),
        config_json,
        hash,
    })
}

/// First 16 hex digits of SHA-256 over what the container is made of: the JSON `config` (sorted
/// keys; nil → `nil` as in the original), the code key, runtime, image and entrypoints. The
/// original hashes `config` only; including the code inputs makes a re-deploy of new code (same
/// config) replace the container too, and the image makes a newly configured image (say
/// `RUNTIME_IMAGE_PYTHON3_11`) replace the bots of that runtime once the orchestrator restarts.
pub fn spec_hash(
    config: &Value,
    code_file: &str,
    runtime: &str,
    image: &str,
    entry: &str,
    query: Option<&str>,
) -> String {
    let cfg = if config.is_null() { "nil".to_string() } else { config.to_string() };
    let input = format!("{cfg}\n{code_file}\n{runtime}\n{image}\n{entry}\n{}", query.unwrap_or(""));
    let d = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
