//! Go's `encoding/json` output for a JSON value, byte for byte, so the `the0.app/config-hash`
//! annotation we compute equals the one the original controller wrote (docs/contract.md §5.2).
//!
//! Why it exists: drift detection in Kubernetes mode compares that annotation, and a pod the
//! original made must be adopted as it is (D24) rather than restarted at takeover; that needs the
//! same bytes under SHA-256. Differences from `serde_json`: object keys sorted byte-wise, `<`, `>`,
//! `&`, U+2028 and U+2029 escaped, `\b`/`\f` short escapes (Go ≥ 1.22; the original is built with
//! Go 1.25), floats in Go's shortest form with an exponent outside [1e-6, 1e21) (`1e+21`, `1e-7`).

use serde_json::Value;

/// Appends Go's encoding of `v` to `out`.
pub fn encode(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) => out.push_str(&float(f)),
            // Unreachable without serde_json's arbitrary_precision; the text is the best guess.
            (None, None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => string(s, out),
        Value::Array(a) => joined(out, '[', ']', a, encode),
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            joined(out, '{', '}', entries, |(k, item), out| {
                string(k, out);
                out.push(':');
                encode(item, out);
            });
        }
    }
}

/// `open`, the items written by `each` with `,` between them, `close`.
fn joined<T>(
    out: &mut String,
    open: char,
    close: char,
    items: impl IntoIterator<Item = T>,
    each: impl Fn(T, &mut String),
) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(item, out);
    }
    out.push(close);
}

/// `strconv.AppendFloat(f, 'f' or 'e', -1, 64)` as `encoding/json` uses it.
fn float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust's `{:e}` is the shortest round-trip mantissa too; Go writes the exponent signed,
        // at least two digits, then json strips a leading 0 from a negative one (`e-07` → `e-7`).
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if exp < 0 {
            format!("{mantissa}e-{}", -exp)
        } else {
            format!("{mantissa}e+{exp:02}")
        }
    } else {
        // Rust's Display is the shortest round-trip form without an exponent, as Go's 'f'.
        format!("{f}")
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn go(v: &Value) -> String {
        let mut s = String::new();
        encode(v, &mut s);
        s
    }

    /// Expected outputs are what Go 1.25's `json.Marshal` prints for the same values.
    #[test]
    fn values_encode_as_go_does() {
        for (v, want) in [
            (json!(null), "null"),
            (json!(true), "true"),
            (json!(-3), "-3"),
            (json!(18446744073709551615u64), "18446744073709551615"),
            (json!(1.0), "1"),
            (json!(0.5), "0.5"),
            (json!(100.25), "100.25"),
            (json!(1e20), "100000000000000000000"),
            (json!(1e21), "1e+21"),
            (json!(1.5e300), "1.5e+300"),
            (json!(0.000001), "0.000001"),
            (json!(1e-7), "1e-7"),
            (json!(-2.5e-10), "-2.5e-10"),
            (json!(0.0), "0"),
            (json!("a<b>&c"), r#""a\u003cb\u003e\u0026c""#),
            (json!("q\"\\/"), r#""q\"\\/""#),
            (json!("\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}"), "\"\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}\""),
            (json!("line\u{2028}para\u{2029}"), r#""line\u2028para\u2029""#),
            (json!("café ✓"), "\"café ✓\""),
            (
                json!({"b": 1, "a": [1, "x", null], "B": {"z": {}, "y": []}}),
                r#"{"B":{"y":[],"z":{}},"a":[1,"x",null],"b":1}"#,
            ),
        ] {
            assert_eq!(go(&v), want, "{v}");
        }
    }
}
