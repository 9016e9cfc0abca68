//! `deploy <dir>` without the0's API: read the0's `bot-config.yaml` manifest and the `config.json`
//! instance file, zip the directory the way the0's CLI does (dotfiles and dot-directories skipped;
//! `.the0ignore` gitignore patterns with `!` negation; `vendor/` and `node_modules/` never
//! excluded; Unix modes kept) and build the event-shaped payload the admin API takes.

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeployError + '_ {
    move |err| DeployError::Io { path: path.display().to_string(), err }
}

/// The parts of `bot-config.yaml` the runtime needs (everything else is kept verbatim).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub runtime: String,
    pub entrypoint: String,
    /// `realtime` (the default) or `scheduled`.
    pub kind: String,
    /// The whole manifest as JSON (becomes `custom.config`).
    pub raw: Value,
}

pub fn parse_manifest(text: &str) -> Result<Manifest, DeployError> {
    let raw: Value = serde_norway::from_str(text)
        .map_err(|e| DeployError::Invalid(format!("bot-config.yaml is not valid YAML: {e}")))?;
    let field = |k: &str| -> Result<String, DeployError> {
        match raw.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(DeployError::Invalid(format!("bot-config.yaml: `{k}` is missing or not a string"))),
        }
    };
    let entrypoint = match raw.get("entrypoints").and_then(|e| e.get("bot")) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(DeployError::Invalid("bot-config.yaml: `entrypoints.bot` is missing".into())),
    };
    let kind = raw.get("type").and_then(Value::as_str).unwrap_or("realtime").to_string();
    if kind != "realtime" && kind != "scheduled" {
        return Err(DeployError::Invalid(format!(
            "bot-config.yaml: type {kind:?} is not supported by deploy (realtime or scheduled)"
        )));
    }
    Ok(Manifest { name: field("name")?, version: field("version")?, runtime: field("runtime")?, entrypoint, kind, raw })
}

/// Files and directories to zip, relative to `root`, in a stable order.
pub fn collect(root: &Path) -> Result<Vec<(String, PathBuf, bool)>, DeployError> {
    let ignore_file = root.join(".the0ignore");
    let matcher: Option<Gitignore> = if ignore_file.is_file() {
        let mut b = GitignoreBuilder::new(root);
        if let Some(e) = b.add(&ignore_file) {
            return Err(DeployError::Invalid(format!(".the0ignore: {e}")));
        }
        Some(b.build().map_err(|e| DeployError::Invalid(format!(".the0ignore: {e}")))?)
    } else {
        None
    };
    let mut out = Vec::new();
    walk(root, root, matcher.as_ref(), &mut out)?;
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    m: Option<&Gitignore>,
    out: &mut Vec<(String, PathBuf, bool)>,
) -> Result<(), DeployError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(io(dir))?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        let ft = e.file_type().map_err(io(&path))?;
        if ft.is_symlink() || !(ft.is_dir() || ft.is_file()) {
            continue;
        }
        let protected = rel.split('/').any(|c| c == "vendor" || c == "node_modules");
        if !protected {
            if name.starts_with('.') {
                continue;
            }
            if m.is_some_and(|m| m.matched_path_or_any_parents(&rel, ft.is_dir()).is_ignore()) {
                continue;
            }
        }
        out.push((rel, path.clone(), ft.is_dir()));
        if ft.is_dir() {
            walk(root, &path, m, out)?;
        }
    }
    Ok(())
}

/// Zips `root` into `dest` (a seekable file); returns the SHA-256 of the zip (hex).
pub fn zip_dir(root: &Path, dest: &mut std::fs::File) -> Result<String, DeployError> {
    let entries = collect(root)?;
    let mut z = zip::ZipWriter::new(&mut *dest);
    for (rel, path, is_dir) in entries {
        let mode = std::fs::metadata(&path).map_err(io(&path))?.permissions().mode() & 0o7777;
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        let zerr = |e: zip::result::ZipError| DeployError::Invalid(format!("zip {rel}: {e}"));
        if is_dir {
            z.add_directory(format!("{rel}/"), opts).map_err(zerr)?;
        } else {
            z.start_file(rel.clone(), opts).map_err(zerr)?;
            let mut f = std::fs::File::open(&path).map_err(io(&path))?;
            std::io::copy(&mut f, &mut z).map_err(io(&path))?;
        }
    }
    z.finish().map_err(|e| DeployError::Invalid(format!("zip: {e}")))?;
    dest.flush().map_err(io(root))?;
    dest.rewind().map_err(io(root))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(dest, &mut buf).map_err(io(root))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// A safe bot id from a name: lowercase, `[^a-z0-9_.-]` → `-`, trimmed to a letter or digit.
pub fn id_from(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' })
        .collect();
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(64).collect()
}

/// The event-shaped payload (`id`, `config`, `custom`) for the admin API.
pub fn payload(id: &str, m: &Manifest, config: Value, file_path: &str, now: &str) -> Value {
    json!({
        "id": id,
        "config": config,
        "custom": {
            "config": m.raw,
            "createdAt": now,
            "updatedAt": now,
            "filePath": file_path,
            "version": m.version,
        }
    })
}

/// The code key: `standalone/<id>/<version>-<first 12 hex of the zip's SHA-256>` (new code, new key).
pub fn code_key(id: &str, version: &str, sha: &str) -> String {
    let v = id_from(version);
    format!("standalone/{id}/{}-{}", if v.is_empty() { "0" } else { &v }, &sha[..12.min(sha.len())])
}

/// Reads `config.json` (an object; absent → `{}`), filling `name`, `type` and `version` like the0's CLI.
pub fn read_config(dir: &Path, m: &Manifest) -> Result<Value, DeployError> {
    let path = dir.join("config.json");
    let mut cfg = if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        serde_json::from_str::<Value>(&text).map_err(|e| DeployError::Invalid(format!("config.json: {e}")))?
    } else {
        json!({})
    };
    let Value::Object(map) = &mut cfg else {
        return Err(DeployError::Invalid("config.json must be a JSON object".into()));
    };
    let defaults: BTreeMap<&str, Value> =
        [("name", json!(m.name)), ("type", json!(format!("{}/{}", m.kind, m.name))), ("version", json!(m.version))]
            .into();
    for (k, v) in defaults {
        map.entry(k).or_insert(v);
    }
    // The kind of the manifest and the instance must agree: a schedule makes a scheduled bot.
    match (m.kind.as_str(), crate::model::is_scheduled(&cfg)) {
        ("scheduled", false) => Err(DeployError::Invalid(
            "bot-config.yaml says type scheduled: config.json needs a non-empty \"schedule\" (e.g. \"*/5 * * * *\")"
                .into(),
        )),
        ("realtime", true) => Err(DeployError::Invalid(
            "config.json has a \"schedule\" but bot-config.yaml says type realtime: set `type: scheduled`".into(),
        )),
        _ => Ok(cfg),
    }
}

#[cfg(test)]
#[path = "deploy_tests.rs"]
mod tests;
