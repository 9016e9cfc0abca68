//! A bot container's requests and limits (docs/contract.md §5.7): the defaults, overridden by the
//! config keys `memory_limit`, `cpu_limit`, `memory_request`, `cpu_request` when they hold a valid
//! Kubernetes quantity. Also the memory figure [`crate::limits`] sizes the volumes and the
//! executor's state caps from, so both modes share one formula.
//!
//! Why it exists: the original passed any string through and fell back silently on a parse
//! error at pod creation; a value the API server refuses (`"lots"`, `-1Gi`, a request above its
//! limit) would fail every create. Invalid values are ignored here and named in a warning.

use serde_json::Value;

/// `(memory, cpu)` of the `bot` container's limits and requests (§5.7).
pub const LIMITS: (&str, &str) = ("768Mi", "500m");
pub const REQUESTS: (&str, &str) = ("256Mi", "100m");

/// The resources of one `bot` container.
#[derive(Debug, Clone, PartialEq)]
pub struct BotResources {
    pub memory_limit: String,
    pub cpu_limit: String,
    pub memory_request: String,
    pub cpu_request: String,
    /// The memory limit in whole MiB, for [`crate::limits::tmpfs_sizes`].
    pub memory_mb: i64,
    /// Config values not used, one sentence each.
    pub warnings: Vec<String>,
}

/// The value of a Kubernetes quantity (`resource.Quantity` syntax): `<number><suffix>`, the
/// suffix one of `Ki Mi Gi Ti Pi Ei`, `m "" k M G T P E`, or an `e<int>`/`E<int>` exponent.
/// `None` when the text is not a quantity.
pub fn quantity(s: &str) -> Option<f64> {
    let body = s.strip_prefix('+').unwrap_or(s);
    let (neg, body) = match body.strip_prefix('-') {
        Some(b) if !s.starts_with('+') => (true, b),
        _ => (false, body),
    };
    let end = body.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(body.len());
    let (number, suffix) = body.split_at(end);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let value: f64 = format!("{}.{}", if int.is_empty() { "0" } else { int }, if frac.is_empty() { "0" } else { frac })
        .parse()
        .ok()?;
    let scale = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        e => {
            let exp = e.strip_prefix('e').or_else(|| e.strip_prefix('E'))?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10f64.powi(exp.parse().ok()?)
        }
    };
    Some(if neg { -value * scale } else { value * scale })
}

/// The `bot` container's resources for `config`.
pub fn bot_resources(config: &Value) -> BotResources {
    let mut warnings = Vec::new();
    let mut pick = |key: &str, default: &str| -> (String, f64) {
        let fallback = (default.to_string(), quantity(default).unwrap_or(0.0));
        match config.get(key) {
            None | Some(Value::Null) => fallback,
            Some(Value::String(s)) if s.is_empty() => fallback,
            Some(Value::String(s)) => match quantity(s) {
                Some(v) if v > 0.0 => (s.clone(), v),
                _ => {
                    warnings
                        .push(format!("config `{key}` {s:?} is not a positive Kubernetes quantity; using {default}"));
                    fallback
                }
            },
            Some(other) => {
                warnings.push(format!(
                    "config `{key}` must be a string such as \"{default}\", got {other}; using {default}"
                ));
                fallback
            }
        }
    };
    let (memory_limit, mem_l) = pick("memory_limit", LIMITS.0);
    let (cpu_limit, cpu_l) = pick("cpu_limit", LIMITS.1);
    let (mut memory_request, mem_r) = pick("memory_request", REQUESTS.0);
    let (mut cpu_request, cpu_r) = pick("cpu_request", REQUESTS.1);
    // The API server refuses a request above its limit: the request is lowered to the limit.
    if mem_r > mem_l {
        warnings
            .push(format!("memory request {memory_request} is above the limit {memory_limit}; requesting the limit"));
        memory_request = memory_limit.clone();
    }
    if cpu_r > cpu_l {
        warnings.push(format!("cpu request {cpu_request} is above the limit {cpu_limit}; requesting the limit"));
        cpu_request = cpu_limit.clone();
    }
    let memory_mb = (mem_l / (1024.0 * 1024.0)).floor().min(i64::MAX as f64) as i64;
    BotResources { memory_limit, cpu_limit, memory_request, cpu_request, memory_mb, warnings }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse_as_the_api_server_reads_them() {
        for (s, want) in [
            ("768Mi", Some(768.0 * 1048576.0)),
            ("1Gi", Some(1073741824.0)),
            ("500m", Some(0.5)),
            ("2", Some(2.0)),
            ("1.5", Some(1.5)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1k", Some(1000.0)),
            ("1e3", Some(1000.0)),
            ("1E-3", Some(0.001)),
            ("+1M", Some(1e6)),
            ("-1Gi", Some(-1073741824.0)),
            ("", None),
            ("Mi", None),
            ("lots", None),
            ("1mi", None),
            ("1.2.3", None),
            ("1 Gi", None),
            ("1e", None),
            ("+-1", None),
        ] {
            assert_eq!(quantity(s), want, "{s:?}");
        }
    }

    #[test]
    fn valid_config_keys_override_the_defaults() {
        let r = |c: Value| {
            let b = bot_resources(&c);
            (b.memory_limit, b.cpu_limit, b.memory_request, b.cpu_request, b.memory_mb, b.warnings.len())
        };
        let s = |x: &str| x.to_string();
        for (config, want) in [
            (json!(null), (s("768Mi"), s("500m"), s("256Mi"), s("100m"), 768, 0)),
            (json!({}), (s("768Mi"), s("500m"), s("256Mi"), s("100m"), 768, 0)),
            (
                json!({"memory_limit": "2Gi", "cpu_limit": "2", "memory_request": "1Gi", "cpu_request": "250m"}),
                (s("2Gi"), s("2"), s("1Gi"), s("250m"), 2048, 0),
            ),
            (json!({"memory_limit": "lots", "cpu_limit": 2}), (s("768Mi"), s("500m"), s("256Mi"), s("100m"), 768, 2)),
            (
                json!({"memory_limit": "-1Gi", "cpu_request": "0"}),
                (s("768Mi"), s("500m"), s("256Mi"), s("100m"), 768, 2),
            ),
            (json!({"memory_limit": "128Mi"}), (s("128Mi"), s("500m"), s("128Mi"), s("100m"), 128, 1)),
            (json!({"cpu_request": "1"}), (s("768Mi"), s("500m"), s("256Mi"), s("500m"), 768, 1)),
            (json!({"memory_limit": ""}), (s("768Mi"), s("500m"), s("256Mi"), s("100m"), 768, 0)),
        ] {
            assert_eq!(r(config.clone()), want, "{config}");
        }
    }
}
