//! Turns raw `bot.log` bytes into the NDJSON records stored in the daily log object (docs/contract.md
//! §2.8 "NDJSON", D11).
//!
//! It exists as a pure function so every line shape the SDKs produce is table-tested. JSON objects
//! are only *validated* with serde_json; the output splices the original text, so member order,
//! escapes and numbers beyond 2^53 survive byte for byte (the original re-encoded them). A number
//! beyond the range of a double (`1e400`) makes the line plain text, as in the original, whose Go
//! decoder refused it: every record stays readable by the0's API and common JSON readers.

use std::collections::HashMap;

use serde::de::IgnoredAny;

/// How one trimmed, non-empty line is rendered.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// A JSON object that already has a top-level `timestamp`: kept verbatim.
    Stamped,
    /// A JSON object without `timestamp`; `empty` when it has no members at all.
    Unstamped { empty: bool },
    /// Anything else: wrapped as `{"timestamp":…,"message":…}`.
    Other,
}

fn shape(line: &[u8]) -> Shape {
    // Skipped values are not UTF-8-checked by serde_json, so the whole line is checked first.
    let Ok(line) = std::str::from_utf8(line) else {
        return Shape::Other;
    };
    // Keys are unescaped by serde (so `"time\u0073tamp"` counts, as in the original); values are
    // skipped without being converted, so huge numbers never fail. Duplicate keys are accepted.
    match serde_json::from_str::<HashMap<String, IgnoredAny>>(line) {
        Ok(_) if !numbers_fit_a_double(line) => Shape::Other,
        Ok(members) if members.contains_key("timestamp") => Shape::Stamped,
        Ok(members) => Shape::Unstamped { empty: members.is_empty() },
        Err(_) => Shape::Other,
    }
}

/// Whether every number of `json` (valid JSON text) is finite as a double. Iterative, so nesting
/// of any depth costs no stack; string contents are skipped, escapes included.
fn numbers_fit_a_double(json: &str) -> bool {
    let b = json.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                if !json[start..i].parse::<f64>().is_ok_and(f64::is_finite) {
                    return false;
                }
            }
            _ => i += 1,
        }
    }
    true
}

/// A JSON string literal (with quotes) for `s`.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The first character of `b` if it is valid UTF-8 there, with its encoded length.
fn first_char(b: &[u8]) -> Option<(char, usize)> {
    // Only the first 4 bytes: validating the whole line per trimmed character would be quadratic.
    let valid = b[..b.len().min(4)].utf8_chunks().next()?.valid();
    valid.chars().next().map(|c| (c, c.len_utf8()))
}

/// The last character of `b` if it is valid UTF-8 there, with its encoded length.
fn last_char(b: &[u8]) -> Option<(char, usize)> {
    (1..=b.len().min(4)).find_map(|n| {
        let s = std::str::from_utf8(&b[b.len() - n..]).ok()?;
        let mut chars = s.chars();
        let c = chars.next()?;
        chars.next().is_none().then_some((c, n))
    })
}

/// Trims Unicode white space at both ends, like Go's `strings.TrimSpace` (which the original used);
/// invalid UTF-8 is never white space.
pub fn trim_space(mut b: &[u8]) -> &[u8] {
    while let Some((_, n)) = first_char(b).filter(|(c, _)| c.is_whitespace()) {
        b = &b[n..];
    }
    while let Some((_, n)) = last_char(b).filter(|(c, _)| c.is_whitespace()) {
        b = &b[..b.len() - n];
    }
    b
}

/// Converts one chunk of `bot.log` into NDJSON records, each ending with `\n`, stamping lines that
/// lack a timestamp with `now` (RFC3339 UTC seconds). Blank lines vanish; an all-blank chunk gives
/// an empty vector.
pub fn to_ndjson(chunk: &[u8], now: &str) -> Vec<u8> {
    let now_json = json_string(now);
    let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 4 + 64);
    for line in chunk.split(|&b| b == b'\n').map(trim_space).filter(|l| !l.is_empty()) {
        match shape(line) {
            Shape::Stamped => out.extend_from_slice(line),
            Shape::Unstamped { empty } => {
                // A valid object, trimmed, ends with `}`: splice the member before it.
                out.extend_from_slice(&line[..line.len() - 1]);
                if !empty {
                    out.push(b',');
                }
                out.extend_from_slice(b"\"timestamp\":");
                out.extend_from_slice(now_json.as_bytes());
                out.push(b'}');
            }
            Shape::Other => {
                out.extend_from_slice(b"{\"timestamp\":");
                out.extend_from_slice(now_json.as_bytes());
                out.extend_from_slice(b",\"message\":");
                out.extend_from_slice(json_string(&String::from_utf8_lossy(line)).as_bytes());
                out.push(b'}');
            }
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2025-01-31T12:00:00Z";

    fn conv(input: &[u8]) -> String {
        String::from_utf8(to_ndjson(input, NOW)).expect("output is UTF-8")
    }

    #[test]
    fn table() {
        let cases: &[(&[u8], &str)] = &[
            // SDK metric line: already stamped, kept verbatim.
            (
                br#"{"_metric":"trade","symbol":"BTC","price":101.5,"timestamp":"2025-01-31T11:59:59.123Z"}"#,
                "{\"_metric\":\"trade\",\"symbol\":\"BTC\",\"price\":101.5,\"timestamp\":\"2025-01-31T11:59:59.123Z\"}\n",
            ),
            // Compiled SDKs stamp with epoch milliseconds.
            (br#"{"_metric":"pnl","v":-3,"timestamp":1738324800000}"#, "{\"_metric\":\"pnl\",\"v\":-3,\"timestamp\":1738324800000}\n"),
            // SDK log line without timestamp: member text kept, timestamp appended.
            (br#"{"level":"info","message":"x"}"#, "{\"level\":\"info\",\"message\":\"x\",\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            (b"{}", "{\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            (b"{ }", "{ \"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            (br#"{"a":1 }"#, "{\"a\":1 ,\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            // Plain text lines.
            (b"RESULT_ERROR: boom", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"RESULT_ERROR: boom\"}\n"),
            (b"say \"hi\"\t\\ <&>", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"say \\\"hi\\\"\\t\\\\ <&>\"}\n"),
            // JSON that is not an object.
            (b"[1,2]", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"[1,2]\"}\n"),
            (b"\"s\"", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"\\\"s\\\"\"}\n"),
            (b"42", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"42\"}\n"),
            (b"null", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"null\"}\n"),
            (b"{\"a\":1", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"{\\\"a\\\":1\"}\n"),
            (b"{\"a\":1} x", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"{\\\"a\\\":1} x\"}\n"),
            // Nested objects: only a top-level timestamp counts.
            (br#"{"a":{"timestamp":1}}"#, "{\"a\":{\"timestamp\":1},\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            (br#"{"a":{"b":[{"c":null}]},"timestamp":"t"}"#, "{\"a\":{\"b\":[{\"c\":null}]},\"timestamp\":\"t\"}\n"),
            // An escaped key still names `timestamp`.
            (br#"{"time\u0073tamp":"t"}"#, "{\"time\\u0073tamp\":\"t\"}\n"),
            // Duplicate keys are valid JSON objects; text kept.
            (br#"{"a":1,"a":2}"#, "{\"a\":1,\"a\":2,\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            // Integers beyond 2^53 and beyond u64, exponents: never re-encoded (D11).
            (
                br#"{"id":9007199254740993,"big":123456789012345678901234567890,"e":1e300}"#,
                "{\"id\":9007199254740993,\"big\":123456789012345678901234567890,\"e\":1e300,\"timestamp\":\"2025-01-31T12:00:00Z\"}\n",
            ),
            // Beyond a double's range: the original's decoder refused the line, so it is text
            // (found by fuzzing); inside strings such text is just text.
            (br#"{"e":1e400}"#, "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"{\\\"e\\\":1e400}\"}\n"),
            (
                br#"{"v":[-2E+999],"timestamp":"t"}"#,
                "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"{\\\"v\\\":[-2E+999],\\\"timestamp\\\":\\\"t\\\"}\"}\n",
            ),
            (br#"{"s":"1e400 \" 9e999"}"#, "{\"s\":\"1e400 \\\" 9e999\",\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            // Escapes and non-ASCII inside members are kept as written.
            (r#"{"m":"caf\u00e9 \/ \u2028","n":"café"}"#.as_bytes(), "{\"m\":\"caf\\u00e9 \\/ \\u2028\",\"n\":\"café\",\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            // CRLF and surrounding white space are trimmed; blank lines dropped.
            (b"a\r\n\r\n  \t\n{\"x\":1}\r\n", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"a\"}\n{\"x\":1,\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"),
            (b"  \n\t\r\n \n", ""),
            (b"", ""),
            // Unicode white space is trimmed too (Go's TrimSpace), inner white space kept.
            ("\u{a0}a b\u{3000}".as_bytes(), "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"a b\"}\n"),
            // Invalid UTF-8 → message, lossily converted.
            (b"bad \xff\xfe end", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"bad \u{fffd}\u{fffd} end\"}\n"),
            (b"{\"a\":\"\xff\"}", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"{\\\"a\\\":\\\"\u{fffd}\\\"}\"}\n"),
            // Control characters are escaped in messages.
            (b"bell\x07", "{\"timestamp\":\"2025-01-31T12:00:00Z\",\"message\":\"bell\\u0007\"}\n"),
        ];
        for (input, want) in cases {
            assert_eq!(conv(input), *want, "input {:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn every_record_is_valid_json_with_a_timestamp() {
        let input = b"{\"level\":\"warn\",\"message\":\"m\",\"qty\":3}\nplain\n[]\n{}\n{\"timestamp\":5}\n\xff\n";
        let out = conv(input);
        assert_eq!(out.lines().count(), 6);
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect(line);
            assert!(v.get("timestamp").is_some(), "{line}");
        }
    }

    #[test]
    fn deep_nesting_is_kept_without_recursing() {
        // Far deeper than any recursion limit; skipped values must not overflow the stack.
        for depth in [300, 400_000] {
            let line = format!("{{\"d\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
            let out = conv(line.as_bytes());
            assert!(out.starts_with("{\"d\":[[[") && out.ends_with("]],\"timestamp\":\"2025-01-31T12:00:00Z\"}\n"));
            let unclosed = format!("{{\"d\":{}1", "[".repeat(depth));
            assert!(conv(unclosed.as_bytes()).starts_with("{\"timestamp\""));
        }
    }

    #[test]
    fn mixed_sdk_chunk_keeps_order() {
        let chunk = b"starting\n{\"level\":\"info\",\"message\":\"tick\",\"n\":1}\n{\"_metric\":\"trade\",\"px\":1,\"timestamp\":\"2025-01-31T11:00:00Z\"}\nIMPORT_ERROR: no module\n";
        let out = conv(chunk);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("\"message\":\"starting\""));
        assert!(lines[1].starts_with("{\"level\":\"info\",\"message\":\"tick\",\"n\":1,\"timestamp\":"));
        assert_eq!(lines[2], "{\"_metric\":\"trade\",\"px\":1,\"timestamp\":\"2025-01-31T11:00:00Z\"}");
        assert!(lines[3].contains("IMPORT_ERROR: no module"));
    }

    #[test]
    fn trim_space_handles_edges() {
        assert_eq!(trim_space(b""), b"");
        assert_eq!(trim_space(b" \t\r\n\x0b\x0c"), b"");
        assert_eq!(trim_space(b"\xff "), b"\xff");
        assert_eq!(trim_space(" \u{85}x\u{2029}".as_bytes()), b"x");
        assert_eq!(trim_space(b"\xc2"), b"\xc2", "a lone lead byte is not white space");
    }
}
