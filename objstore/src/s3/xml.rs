//! Just enough XML for S3's flat response documents (errors, ListObjectsV2, multipart results)
//! and the one request document we send (CompleteMultipartUpload). S3 documents have no nesting of
//! same-named elements, no CDATA and no comments, so finding `<Tag>`…`</Tag>` pairs and unescaping
//! their text is a faithful reading; a general XML parser would be a dependency for nothing.

use std::time::SystemTime;

use crate::{ObjectInfo, PendingUpload};
use the0_contract::timefmt::parse_rfc3339;

/// Replaces the five predefined entities and numeric character references; anything else
/// (a stray `&`) is kept as is.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&end| end <= 12).and_then(|end| {
            let c = match &rest[1..end] {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                e => {
                    let n = match e.strip_prefix("#x").or_else(|| e.strip_prefix("#X")) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => e.strip_prefix('#')?.parse().ok()?,
                    };
                    char::from_u32(n)?
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for an element body.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// Raw (still escaped) contents of every `<tag>` element, in order. `<tag attr="…">` and
/// `<tag/>` are recognised; `<tagX>` is not `<tag>`.
pub fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(gt) = after.find('>') else { break };
        match after.as_bytes().first() {
            Some(b'>') => {}
            Some(b'/') if gt == 1 => {
                out.push("");
                rest = &after[gt + 1..];
                continue;
            }
            Some(c) if c.is_ascii_whitespace() => {
                if after[..gt].ends_with('/') {
                    out.push("");
                    rest = &after[gt + 1..];
                    continue;
                }
            }
            _ => {
                rest = after;
                continue;
            }
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// Unescaped text of the first `<tag>` element.
pub fn first(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).first().map(|s| unescape(s))
}

/// `(Code, Message)` of an `<Error>` document (also found embedded in a 200 answer). Servers
/// that send no `<Message>` (Ceph's gateway) get `request id <RequestId>` instead when there is
/// one, else an empty message (rendered without a trailing `: `, see [`crate::Error::Server`]).
pub fn error(xml: &str) -> Option<(String, String)> {
    let err = *elements(xml, "Error").first()?;
    let message = first(err, "Message").map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    let message = message.or_else(|| {
        first(err, "RequestId").filter(|r| !r.trim().is_empty()).map(|r| format!("request id {}", r.trim()))
    });
    Some((first(err, "Code").unwrap_or_default(), message.unwrap_or_default()))
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, PartialEq)]
pub(crate) struct ListPage {
    pub objects: Vec<ObjectInfo>,
    /// Present when the listing continues.
    pub next_token: Option<String>,
}

pub(crate) fn list_page(xml: &str) -> Result<ListPage, String> {
    let mut objects = Vec::new();
    for c in elements(xml, "Contents") {
        let key = first(c, "Key").ok_or("<Contents> without <Key>")?;
        let size = first(c, "Size").unwrap_or_default();
        let size = size.trim().parse().map_err(|_| format!("bad <Size> {size:?} of {key:?}"))?;
        let lm = first(c, "LastModified").unwrap_or_default();
        let last_modified: SystemTime =
            parse_rfc3339(&lm).ok_or_else(|| format!("bad <LastModified> {lm:?} of {key:?}"))?;
        objects.push(ObjectInfo { key, size, last_modified });
    }
    let truncated = first(xml, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next_token = if truncated {
        Some(first(xml, "NextContinuationToken").ok_or("truncated listing without <NextContinuationToken>")?)
    } else {
        None
    };
    Ok(ListPage { objects, next_token })
}

/// One `<Upload>` of a ListMultipartUploads answer: key, upload id and `Initiated`, all required.
pub(crate) fn pending_upload(upload: &str) -> Result<PendingUpload, String> {
    let key = first(upload, "Key").ok_or("<Upload> without <Key>")?;
    let upload_id = first(upload, "UploadId").filter(|i| !i.is_empty()).ok_or(format!("no <UploadId> for {key:?}"))?;
    let at = first(upload, "Initiated").unwrap_or_default();
    let initiated = parse_rfc3339(&at).ok_or_else(|| format!("bad <Initiated> {at:?} of {key:?}"))?;
    Ok(PendingUpload { key, upload_id, initiated })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn unescape_table() {
        let cases = [
            ("plain", "plain"),
            ("a &amp; b", "a & b"),
            ("&lt;x&gt; &quot;q&quot; &apos;s&apos;", "<x> \"q\" 's'"),
            ("&amp;lt;", "&lt;"),
            ("&#65;&#x42;&#X43;&#x1F600;", "ABC😀"),
            ("tom & jerry", "tom & jerry"),
            ("&unknown; &#xZZ; &#1114112;", "&unknown; &#xZZ; &#1114112;"),
            ("trailing &", "trailing &"),
            ("ü&amp;ü", "ü&ü"),
        ];
        for (input, want) in cases {
            assert_eq!(unescape(input), want, "{input:?}");
        }
        assert_eq!(unescape(&escape("<a & 'b' \"c\">")), "<a & 'b' \"c\">");
    }

    #[test]
    fn element_table() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("<A>1</A><A>2</A>", "A", &["1", "2"]),
            ("<AB>x</AB><A>y</A>", "A", &["y"]),
            ("<A xmlns=\"u\">z</A>", "A", &["z"]),
            ("<A/><A />", "A", &["", ""]),
            ("<A>unterminated", "A", &[]),
            ("<B>n</B>", "A", &[]),
        ];
        for (xml, tag, want) in cases {
            assert_eq!(elements(xml, tag), *want, "{xml}");
        }
    }

    #[test]
    fn error_documents() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key></Error>"#;
        assert_eq!(error(xml), Some(("NoSuchKey".into(), "The specified key does not exist.".into())));
        assert_eq!(error("<CompleteMultipartUploadResult><ETag>x</ETag></CompleteMultipartUploadResult>"), None);
        let table: &[(&str, (&str, &str))] = &[
            ("<Error><Code>InternalError</Code></Error>", ("InternalError", "")),
            ("<Error><Code>InternalError</Code><Message> </Message></Error>", ("InternalError", "")),
            // Ceph's gateway: no <Message>, a request id.
            (
                "<Error><Code>SignatureDoesNotMatch</Code><RequestId>tx0000-abc</RequestId><HostId>h</HostId></Error>",
                ("SignatureDoesNotMatch", "request id tx0000-abc"),
            ),
            ("<Error><Code>X</Code><Message>m</Message><RequestId>r</RequestId></Error>", ("X", "m")),
        ];
        for (xml, (code, message)) in table {
            assert_eq!(error(xml), Some(((*code).into(), (*message).into())), "{xml}");
        }
    }

    #[test]
    fn list_pages() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>a &amp; b/&lt;c&gt;</Key><LastModified>2013-05-24T00:00:00.000Z</LastModified>
<ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>ü+x</Key><LastModified>2013-05-24T00:00:01Z</LastModified><Size>0</Size></Contents>
</ListBucketResult>"#;
        let page = list_page(xml).expect("parses");
        let t0 = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        assert_eq!(
            page,
            ListPage {
                objects: vec![
                    ObjectInfo { key: "a & b/<c>".into(), size: 12, last_modified: t0 },
                    ObjectInfo { key: "ü+x".into(), size: 0, last_modified: t0 + Duration::from_secs(1) },
                ],
                next_token: Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=".into()),
            }
        );
        let last = list_page("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").expect("parses");
        assert_eq!(last, ListPage { objects: vec![], next_token: None });
        assert!(list_page("<Contents><Key>k</Key><Size>x</Size></Contents>").is_err());
        assert!(
            list_page("<Contents><Key>k</Key><Size>1</Size><LastModified>yesterday</LastModified></Contents>").is_err()
        );
        assert!(list_page("<IsTruncated>true</IsTruncated>").is_err());
    }

    #[test]
    fn pending_uploads() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let ok =
            "<Key>logs/a&amp;b/x.log</Key><UploadId>VXBsb2Fk</UploadId><Initiated>2013-05-24T00:00:00.000Z</Initiated>";
        let want = PendingUpload { key: "logs/a&b/x.log".into(), upload_id: "VXBsb2Fk".into(), initiated: t0 };
        assert_eq!(pending_upload(ok), Ok(want));
        let bad: &[(&str, &str)] = &[
            ("<UploadId>u</UploadId><Initiated>2013-05-24T00:00:00Z</Initiated>", "without <Key>"),
            ("<Key>k</Key><Initiated>2013-05-24T00:00:00Z</Initiated>", "no <UploadId>"),
            ("<Key>k</Key><UploadId></UploadId><Initiated>2013-05-24T00:00:00Z</Initiated>", "no <UploadId>"),
            ("<Key>k</Key><UploadId>u</UploadId>", "bad <Initiated>"),
            ("<Key>k</Key><UploadId>u</UploadId><Initiated>soon</Initiated>", "bad <Initiated>"),
        ];
        for (xml, why) in bad {
            let err = pending_upload(xml).expect_err(xml);
            assert!(err.contains(why), "{xml}: {err}");
        }
    }
}
