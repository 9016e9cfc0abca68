//! AWS Signature Version 4 for S3 (header-based), on `ring` only. S3 flavour: the path is
//! URI-encoded once (not twice as for other services) and the payload hash travels in
//! `x-amz-content-sha256` (`UNSIGNED-PAYLOAD` for streamed bodies).

use ring::{digest, hmac};

/// Payload hash for bodies we stream instead of hashing up front.
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// SigV4 URI encoding: `A-Z a-z 0-9 - _ . ~` stay, every other byte becomes `%XX` (upper-case
/// hex); `/` stays unless `encode_slash`.
pub(crate) fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

/// The canonical (and wire) query string: names and values encoded, sorted, `name=value`
/// joined by `&` (a bare name gets `=`).
pub(crate) fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (uri_encode(k, true), uri_encode(v, true))).collect();
    pairs.sort();
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&k);
        out.push('=');
        out.push_str(&v);
    }
    out
}

fn hmac_sha256(key: &[u8], data: &str) -> hmac::Tag {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
}

/// Credentials and region of one store.
#[derive(Clone)]
pub(crate) struct Signer {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// What the signature covers. `headers` are `(name, value)` pairs; every one is signed.
pub(crate) struct Canonical<'a> {
    pub method: &'a str,
    /// Already URI-encoded path, e.g. `/bucket/some%20key`.
    pub path: &'a str,
    /// Output of [`canonical_query`].
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload_hash: &'a str,
}

impl Signer {
    /// The `Authorization` header value for a request made at `amz_date` (`YYYYMMDDTHHMMSSZ`).
    #[cfg(test)]
    pub(crate) fn authorization(&self, amz_date: &str, req: &Canonical<'_>) -> String {
        self.authorization_for("s3", amz_date, req)
    }

    /// [`Signer::authorization`] for another service (`sts` for AssumeRole).
    pub(crate) fn authorization_for(&self, service: &str, amz_date: &str, req: &Canonical<'_>) -> String {
        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" ")))
            .collect();
        headers.sort();
        let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let signed = signed.join(";");
        let mut canonical = format!("{}\n{}\n{}\n", req.method, req.path, req.query);
        for (n, v) in &headers {
            canonical.push_str(n);
            canonical.push(':');
            canonical.push_str(v);
            canonical.push('\n');
        }
        canonical.push('\n');
        canonical.push_str(&signed);
        canonical.push('\n');
        canonical.push_str(req.payload_hash);

        let date = amz_date.get(..8).unwrap_or(amz_date);
        let scope = format!("{date}/{}/{service}/aws4_request", self.region);
        let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
        let k_date = hmac_sha256(format!("AWS4{}", self.secret_key).as_bytes(), date);
        let k_region = hmac_sha256(k_date.as_ref(), &self.region);
        let k_service = hmac_sha256(k_region.as_ref(), service);
        let k_signing = hmac_sha256(k_service.as_ref(), "aws4_request");
        let signature = hex(hmac_sha256(k_signing.as_ref(), &to_sign).as_ref());
        format!("AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed},Signature={signature}", self.access_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HOST: &str = "examplebucket.s3.amazonaws.com";
    const DATE: &str = "20130524T000000Z";

    fn signer() -> Signer {
        Signer {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        }
    }

    fn sign(method: &str, path: &str, query: &[(&str, &str)], extra: &[(&str, &str)], payload: &str) -> String {
        let mut headers = vec![("Host", HOST), ("x-amz-content-sha256", payload), ("x-amz-date", DATE)];
        headers.extend_from_slice(extra);
        let q = canonical_query(query);
        signer().authorization(DATE, &Canonical { method, path, query: &q, headers: &headers, payload_hash: payload })
    }

    // The four examples of "Signature Calculations for the Authorization Header" in the S3 API docs.
    #[test]
    fn aws_get_object_example() {
        let auth = sign("GET", "/test.txt", &[], &[("Range", "bytes=0-9")], EMPTY);
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn aws_put_object_example() {
        let payload = sha256_hex(b"Welcome to Amazon S3.");
        assert_eq!(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        let path = format!("/{}", uri_encode("test$file.text", false));
        let extra = [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")];
        let auth = sign("PUT", &path, &[], &extra, &payload);
        assert!(auth.contains("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"));
        assert!(auth.ends_with("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"), "{auth}");
    }

    #[test]
    fn aws_get_bucket_lifecycle_example() {
        let auth = sign("GET", "/", &[("lifecycle", "")], &[], EMPTY);
        assert!(auth.ends_with("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"), "{auth}");
    }

    #[test]
    fn aws_list_objects_example() {
        let auth = sign("GET", "/", &[("prefix", "J"), ("max-keys", "2")], &[], EMPTY);
        assert!(auth.ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), "{auth}");
    }

    /// Path-style requests with awkward keys and multipart/list queries, as botocore 1.44.5's
    /// `S3SigV4Auth` signs them (computed once with its clock pinned to 20130524T000000Z and, for
    /// the PUT, `payload_signing_enabled=False`).
    #[test]
    fn matches_botocore_on_path_style_requests() {
        let s = Signer { region: "eu-west-3".into(), ..signer() };
        let path = format!("/bot-logs/{}", uri_encode("logs/bot 1/a+b ü€.log", false));
        assert_eq!(path, "/bot-logs/logs/bot%201/a%2Bb%20%C3%BC%E2%82%AC.log");
        let query = canonical_query(&[("uploadId", "a/b+c=="), ("partNumber", "2")]);
        let headers = [
            ("host", "127.0.0.1:9000"),
            ("x-amz-date", DATE),
            ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
            ("content-type", "text/plain"),
            ("x-amz-copy-source", "/bot-logs/logs/bot%201/x.log"),
        ];
        let req =
            Canonical { method: "PUT", path: &path, query: &query, headers: &headers, payload_hash: UNSIGNED_PAYLOAD };
        let auth = s.authorization(DATE, &req);
        assert!(auth.contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-copy-source;x-amz-date,"));
        assert!(auth.ends_with("Signature=784685ed38ac8b8c6dfe55937e72fe427c16d5dfa4ee21200a8093ec9464664e"), "{auth}");

        let query = canonical_query(&[("list-type", "2"), ("prefix", "a b/"), ("continuation-token", "x+y=")]);
        let headers = [("host", "127.0.0.1:9000"), ("x-amz-date", DATE), ("x-amz-content-sha256", EMPTY)];
        let req =
            Canonical { method: "GET", path: "/bot-state", query: &query, headers: &headers, payload_hash: EMPTY };
        let auth = s.authorization(DATE, &req);
        assert!(auth.ends_with("Signature=a3db8cd323e76525d148da2f199992d2e3cf9b5c0f443c934020fbcfec52f8be"), "{auth}");
    }

    #[test]
    fn uri_encoding_table() {
        let cases = [
            ("a b", false, "a%20b"),
            ("a+b", false, "a%2Bb"),
            ("100%", false, "100%25"),
            ("A-z_0.9~", true, "A-z_0.9~"),
            ("a/b", false, "a/b"),
            ("a/b", true, "a%2Fb"),
            ("=&?#", true, "%3D%26%3F%23"),
            ("!'()*$", false, "%21%27%28%29%2A%24"),
            ("ü", false, "%C3%BC"),
            ("logs/bot 1/ключ.log", false, "logs/bot%201/%D0%BA%D0%BB%D1%8E%D1%87.log"),
            ("", true, ""),
        ];
        for (input, slash, want) in cases {
            assert_eq!(uri_encode(input, slash), want, "{input:?} encode_slash={slash}");
        }
    }

    #[test]
    fn query_is_encoded_and_sorted() {
        assert_eq!(canonical_query(&[]), "");
        assert_eq!(canonical_query(&[("uploads", "")]), "uploads=");
        assert_eq!(
            canonical_query(&[("uploadId", "a/b+c=="), ("partNumber", "2")]),
            "partNumber=2&uploadId=a%2Fb%2Bc%3D%3D"
        );
        assert_eq!(
            canonical_query(&[("prefix", "a b/"), ("list-type", "2"), ("continuation-token", "x+y")]),
            "continuation-token=x%2By&list-type=2&prefix=a%20b%2F"
        );
    }

    #[test]
    fn hex_and_hash() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(sha256_hex(b""), EMPTY);
    }
}
