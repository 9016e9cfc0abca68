//! The S3 session policy of one bot (issue #10, scoped credentials): exactly the objects the
//! executor of that bot touches, derived from the contract's keys, so temporary credentials
//! obtained with it cannot read or write another bot's code, state, logs or query results.
//!
//! | bucket        | objects                          | actions                                       |
//! |---------------|----------------------------------|-----------------------------------------------|
//! | code          | `CODE_FILE` (exact key)          | get (GET, HEAD)                               |
//! | state         | `<bot>/*` (`<bot>/state.tar.gz`) | get, put, delete, multipart (incl. part copy) |
//! | logs          | `logs/<bot>/*`                   | get, put, delete, multipart (append = copy)   |
//! | query results | the container's result key only  | put, multipart                                |
//!
//! plus `s3:ListBucket` on the state, logs and query-results buckets, because `ensure_bucket`
//! sends HeadBucket, which S3 authorises as ListBucket. That lets a bot list key *names* in those
//! buckets (other bot ids, log dates), never their content; see docs/security/creds.md.
//!
//! Bot ids and keys go into ARNs, where `*`, `?` and `${…}` are wildcards or policy variables, so
//! such names are refused rather than escaped.

use crate::buckets::Buckets;
use crate::keys;

/// What one bot's credentials must reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotObjects<'a> {
    pub bot_id: &'a str,
    pub buckets: &'a Buckets,
    /// `CODE_FILE`: the code object's key in the code bucket.
    pub code_key: &'a str,
    /// `QUERY_RESULT_KEY` of a one-shot query container.
    pub query_result_key: Option<&'a str>,
}

/// A name that cannot go into a policy ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot scope credentials: {what} {value:?} {why}")]
pub struct PolicyError {
    pub what: &'static str,
    pub value: String,
    pub why: &'static str,
}

fn check(what: &'static str, value: &str, slash_ok: bool) -> Result<(), PolicyError> {
    let why = if value.is_empty() {
        Some("is empty")
    } else if value.contains(['*', '?']) {
        Some("contains a wildcard (* or ?)")
    } else if value.contains('$') {
        Some("contains $ (a policy variable)")
    } else if value.chars().any(|c| c.is_control()) {
        Some("contains a control character")
    } else if !slash_ok && value.contains('/') {
        Some("contains /")
    } else if value.split('/').any(|seg| seg == ".." || seg == ".") {
        Some("contains a . or .. segment")
    } else {
        None
    };
    match why {
        Some(why) => Err(PolicyError { what, value: value.to_owned(), why }),
        None => Ok(()),
    }
}

const READ: &[&str] = &["s3:GetObject"];
const WRITE: &[&str] = &["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"];
const DELETE: &[&str] = &["s3:DeleteObject"];

fn statement(actions: &[&[&str]], resources: &[String]) -> serde_json::Value {
    let actions: Vec<&str> = actions.iter().flat_map(|a| a.iter().copied()).collect();
    serde_json::json!({ "Effect": "Allow", "Action": actions, "Resource": resources })
}

fn arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// The session policy (compact JSON, no spaces) for one bot's temporary credentials.
pub fn bot_session_policy(o: &BotObjects<'_>) -> Result<String, PolicyError> {
    check("bot id", o.bot_id, false)?;
    check("code key", o.code_key, true)?;
    for (what, b) in [
        ("code bucket", &o.buckets.code),
        ("state bucket", &o.buckets.state),
        ("logs bucket", &o.buckets.logs),
        ("query-results bucket", &o.buckets.query_results),
    ] {
        check(what, b, false)?;
    }
    let b = o.buckets;
    let mut statements = vec![
        statement(&[READ], &[arn(&b.code, o.code_key)]),
        statement(&[READ, WRITE, DELETE], &[arn(&b.state, &format!("{}/*", o.bot_id))]),
        statement(&[READ, WRITE, DELETE], &[arn(&b.logs, &format!("{}*", keys::log_prefix(o.bot_id)))]),
    ];
    if let Some(k) = o.query_result_key {
        check("query result key", k, true)?;
        statements.push(statement(&[WRITE], &[arn(&b.query_results, k)]));
    }
    let buckets: Vec<String> =
        [&b.state, &b.logs, &b.query_results].iter().map(|name| format!("arn:aws:s3:::{name}")).collect();
    statements.push(statement(&[&["s3:ListBucket"]], &buckets));
    Ok(serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects<'a>(bot: &'a str, code: &'a str, q: Option<&'a str>, b: &'a Buckets) -> BotObjects<'a> {
        BotObjects { bot_id: bot, buckets: b, code_key: code, query_result_key: q }
    }

    #[test]
    fn policy_names_only_the_bots_objects() {
        let b = Buckets::default();
        let p = bot_session_policy(&objects("bot-1", "bot-1/v1.zip", None, &b)).expect("policy");
        assert!(!p.contains(' '), "compact JSON (Ceph 16 mis-decodes + in the form): {p}");
        let v: serde_json::Value = serde_json::from_str(&p).expect("JSON");
        let resources: Vec<String> = v["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .flat_map(|s| s["Resource"].as_array().expect("resources").iter())
            .map(|r| r.as_str().expect("string").to_owned())
            .collect();
        assert_eq!(
            resources,
            [
                "arn:aws:s3:::custom-bots/bot-1/v1.zip",
                "arn:aws:s3:::bot-state/bot-1/*",
                "arn:aws:s3:::bot-logs/logs/bot-1/*",
                "arn:aws:s3:::bot-state",
                "arn:aws:s3:::bot-logs",
                "arn:aws:s3:::query-results",
            ]
        );
        assert!(!p.contains("s3:*") && !p.contains("CreateBucket"), "{p}");
        // The code object is read-only.
        assert_eq!(v["Statement"][0]["Action"], serde_json::json!(["s3:GetObject"]));
    }

    #[test]
    fn query_result_key_is_write_only() {
        let b = Buckets::default();
        let p = bot_session_policy(&objects("b", "c.zip", Some("b/q-1.json"), &b)).expect("policy");
        let v: serde_json::Value = serde_json::from_str(&p).expect("JSON");
        let q = &v["Statement"][3];
        assert_eq!(q["Resource"], serde_json::json!(["arn:aws:s3:::query-results/b/q-1.json"]));
        assert!(!q["Action"].to_string().contains("GetObject"), "{q}");
    }

    #[test]
    fn names_that_would_widen_the_policy_are_refused() {
        let b = Buckets::default();
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            ("*", "c.zip", None, "bot id"),
            ("a?", "c.zip", None, "bot id"),
            ("a/b", "c.zip", None, "bot id"),
            ("", "c.zip", None, "bot id"),
            ("..", "c.zip", None, "bot id"),
            ("${aws:username}", "c.zip", None, "bot id"),
            ("a\n", "c.zip", None, "bot id"),
            ("a", "*", None, "code key"),
            ("a", "x/../y", None, "code key"),
            ("a", "", None, "code key"),
            ("a", "c.zip", Some("*"), "query result key"),
        ];
        for (bot, code, q, what) in cases {
            let e = bot_session_policy(&objects(bot, code, *q, &b)).expect_err(bot);
            assert_eq!(e.what, *what, "{bot:?} {code:?} {q:?}");
        }
        let wild = Buckets { state: "st*".into(), ..Buckets::default() };
        assert_eq!(bot_session_policy(&objects("a", "c", None, &wild)).expect_err("bucket").what, "state bucket");
    }
}
