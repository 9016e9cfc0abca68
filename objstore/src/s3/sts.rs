//! STS AssumeRole with a session policy, sent to the S3 endpoint itself (Ceph's gateway, MinIO and
//! AWS regional STS all answer `POST /` with `Action=AssumeRole`). The orchestrator uses it to
//! obtain, per bot, temporary keys that only reach that bot's objects (issue #10): the session
//! policy intersects with the role's policy, so the result can never exceed it.
//!
//! The form is percent-encoded with `%20` for spaces: Ceph 16's gateway does not decode `+` in
//! the `Policy` parameter (seen: "failed to parse policy: Invalid value.policy{"Version":+…").

use std::time::Duration;

use bytes::Bytes;
use http::Method;

use super::call::{bad_reply, Call};
use super::creds::Credentials;
use super::sigv4::uri_encode;
use super::{xml, S3Store};
use crate::{Error, Result};
use the0_contract::timefmt::parse_rfc3339;

/// One AssumeRole request.
#[derive(Debug, Clone)]
pub struct AssumeRole {
    pub role_arn: String,
    /// 2 to 64 characters of `[\w+=,.@-]` (AWS rule).
    pub session_name: String,
    /// The session policy (JSON, at most 2048 characters on AWS after packing).
    pub policy: Option<String>,
    /// 900 s to the role's maximum (12 h on AWS).
    pub duration: Duration,
}

/// The form body of an AssumeRole request.
pub(crate) fn form(req: &AssumeRole) -> Result<String> {
    let name_ok = (2..=64).contains(&req.session_name.len())
        && req.session_name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !name_ok {
        return Err(Error::Invalid(format!(
            "AssumeRole session name {:?} must be 2 to 64 characters of [A-Za-z0-9_+=,.@-]",
            req.session_name
        )));
    }
    if req.role_arn.is_empty() {
        return Err(Error::Invalid("AssumeRole needs a role ARN".into()));
    }
    let mut pairs: Vec<(&str, String)> = vec![
        ("Action", "AssumeRole".into()),
        ("Version", "2011-06-15".into()),
        ("RoleArn", req.role_arn.clone()),
        ("RoleSessionName", req.session_name.clone()),
        ("DurationSeconds", req.duration.as_secs().to_string()),
    ];
    if let Some(p) = &req.policy {
        pairs.push(("Policy", p.clone()));
    }
    Ok(pairs.iter().map(|(k, v)| format!("{k}={}", uri_encode(v, true))).collect::<Vec<_>>().join("&"))
}

/// The credentials of an AssumeRole answer.
pub(crate) fn parse_reply(body: &str) -> std::result::Result<Credentials, String> {
    let creds = xml::elements(body, "Credentials");
    let block = creds.first().ok_or("no <Credentials> in the answer")?;
    let field = |tag: &str| -> std::result::Result<String, String> {
        let v = xml::elements(block, tag).first().map(|s| xml::unescape(s.trim())).unwrap_or_default();
        if v.is_empty() {
            Err(format!("no <{tag}> in the answer's credentials"))
        } else {
            Ok(v)
        }
    };
    let expiration = field("Expiration")?;
    Ok(Credentials {
        access_key: field("AccessKeyId")?,
        secret_key: field("SecretAccessKey")?,
        session_token: Some(field("SessionToken")?),
        expiration: Some(parse_rfc3339(&expiration).ok_or_else(|| format!("bad <Expiration> {expiration:?}"))?),
    })
}

impl S3Store {
    /// Calls STS AssumeRole with this store's keys and returns the temporary credentials.
    pub async fn assume_role(&self, req: &AssumeRole) -> Result<Credentials> {
        let body = form(req)?;
        let call = Call::new("AssumeRole", Method::POST, "", "")
            .service("sts")
            .header("content-type", "application/x-www-form-urlencoded")
            .bytes(Bytes::from(body));
        let reply = self.http.call_ok(call).await?;
        parse_reply(&String::from_utf8_lossy(&reply.body)).map_err(|why| bad_reply("AssumeRole", "", "", why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, policy: Option<&str>) -> AssumeRole {
        AssumeRole {
            role_arn: "arn:aws:iam:::role/r".into(),
            session_name: name.into(),
            policy: policy.map(str::to_owned),
            duration: Duration::from_secs(900),
        }
    }

    #[test]
    fn form_encodes_spaces_as_percent_20() {
        let f = form(&req("bot-1", Some(r#"{"a": "b+c"}"#))).expect("form");
        assert_eq!(
            f,
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A%3Arole%2Fr\
             &RoleSessionName=bot-1&DurationSeconds=900&Policy=%7B%22a%22%3A%20%22b%2Bc%22%7D"
        );
    }

    #[test]
    fn session_names_are_checked() {
        for (name, ok) in [("ab", true), ("a", false), ("bot_1.x@y=z,w+v-u", true), ("a b", false), ("a/b", false)] {
            assert_eq!(form(&req(name, None)).is_ok(), ok, "{name:?}");
        }
        assert!(form(&req(&"x".repeat(65), None)).is_err());
    }

    #[test]
    fn parses_an_assume_role_answer() {
        let body = "<AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser><Arn>x</Arn></AssumedRoleUser>\
            <Credentials><AccessKeyId>AK</AccessKeyId><SecretAccessKey>S&amp;K</SecretAccessKey>\
            <SessionToken>T</SessionToken><Expiration>2026-12-05T10:31:28Z</Expiration></Credentials>\
            </AssumeRoleResult></AssumeRoleResponse>";
        let c = parse_reply(body).expect("parse");
        assert_eq!((c.access_key.as_str(), c.secret_key.as_str()), ("AK", "S&K"));
        assert_eq!(c.session_token.as_deref(), Some("T"));
        assert!(c.expiration.is_some());
        assert!(parse_reply("<Error><Code>x</Code></Error>").unwrap_err().contains("Credentials"));
        let no_token = body.replace("<SessionToken>T</SessionToken>", "");
        assert!(parse_reply(&no_token).unwrap_err().contains("SessionToken"));
    }
}
