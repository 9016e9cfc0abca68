//! Which bot image a runtime runs on. One image for every runtime by default (`RUNTIME_IMAGE`,
//! the universal image); an operator with the slim images (`make images`) maps runtimes to them:
//! `RUNTIME_IMAGE_<RUNTIME>` (the runtime upper-cased, every character outside `[A-Z0-9]` turned
//! into `_`: `RUNTIME_IMAGE_PYTHON3_11`, `RUNTIME_IMAGE_CPP_GCC13`, …) or the repeatable flag
//! `--runtime-image-for <runtime>=<image>`. Pure: the mapping is settled once, from the parsed
//! flags and the environment, and the chosen image is part of a bot's launch (and of its spec hash).

use std::collections::BTreeMap;

use the0_contract::{env, runtimes};

/// The contract's default image (§5.4).
pub const DEFAULT_IMAGE: &str = "ghcr.io/alexanderwanyoike/the0/runtime:latest";

/// The variable naming the image of one runtime: `RUNTIME_IMAGE_` + the runtime upper-cased,
/// with `.`, `-` (anything outside `[A-Z0-9]`) as `_`.
pub fn env_var(runtime: &str) -> String {
    let suffix: String =
        runtime.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("{}_{suffix}", env::RUNTIME_IMAGE)
}

/// A wrong `--runtime-image` / `--runtime-image-for` (the flag's text as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("--runtime-image-for {0:?}: expected RUNTIME=IMAGE, e.g. python3.11=the0/runtime:python")]
    NotAPair(String),
    #[error("--runtime-image-for {flag:?}: unknown runtime {runtime:?} (known: {known})", known = runtimes::ALL.join(", "))]
    UnknownRuntime { flag: String, runtime: String },
    #[error("--runtime-image-for {0:?}: empty image name")]
    EmptyFor(String),
    #[error("--runtime-image-for: runtime {0:?} given twice")]
    Twice(String),
    #[error("--runtime-image: empty image name")]
    EmptyDefault,
}

/// The image of each runtime: a per-runtime choice, else the general image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeImages {
    /// `--runtime-image` / `RUNTIME_IMAGE`, else [`DEFAULT_IMAGE`].
    pub default: String,
    /// Runtime → image, for the runtimes given their own image.
    pub by_runtime: BTreeMap<String, String>,
}

impl Default for RuntimeImages {
    fn default() -> Self {
        RuntimeImages { default: DEFAULT_IMAGE.into(), by_runtime: BTreeMap::new() }
    }
}

impl RuntimeImages {
    /// The image a bot of `runtime` runs on.
    pub fn for_runtime(&self, runtime: &str) -> &str {
        self.by_runtime.get(runtime).map_or(self.default.as_str(), String::as_str)
    }

    /// Settles the mapping. Per runtime: a `--runtime-image-for RUNTIME=IMAGE` flag, else
    /// `RUNTIME_IMAGE_<RUNTIME>`; the more specific choice beats the general image whichever way
    /// that one was given. General: `--runtime-image`, else `RUNTIME_IMAGE`, else the default.
    /// `get` returns a variable's value, `None` when unset or empty.
    pub fn resolve<'a>(
        general_flag: Option<&str>,
        for_flags: &[String],
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<RuntimeImages, ImageError> {
        let default = general_flag.or(get(env::RUNTIME_IMAGE)).unwrap_or(DEFAULT_IMAGE).trim().to_string();
        let mut by_runtime = BTreeMap::new();
        for &rt in runtimes::ALL {
            if let Some(img) = get(&env_var(rt)).map(str::trim).filter(|i| !i.is_empty()) {
                by_runtime.insert(rt.to_string(), img.to_string());
            }
        }
        let mut flagged: Vec<&str> = Vec::new();
        for f in for_flags {
            let (rt, img) = parse_for_flag(f)?;
            if flagged.contains(&rt) {
                return Err(ImageError::Twice(rt.into()));
            }
            flagged.push(rt);
            by_runtime.insert(rt.to_string(), img.to_string());
        }
        if default.is_empty() {
            return Err(ImageError::EmptyDefault);
        }
        Ok(RuntimeImages { default, by_runtime })
    }
}

/// `RUNTIME=IMAGE`, with a known runtime and a non-empty image.
fn parse_for_flag(f: &str) -> Result<(&str, &str), ImageError> {
    let (rt, img) = f.split_once('=').ok_or_else(|| ImageError::NotAPair(f.into()))?;
    let (rt, img) = (rt.trim(), img.trim());
    if !runtimes::is_known(rt) {
        return Err(ImageError::UnknownRuntime { flag: f.into(), runtime: rt.into() });
    }
    if img.is_empty() {
        return Err(ImageError::EmptyFor(f.into()));
    }
    Ok((rt, img))
}

#[cfg(test)]
#[path = "images_tests.rs"]
mod tests;
