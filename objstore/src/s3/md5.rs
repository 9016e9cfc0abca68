//! MD5 (RFC 1321), only to compute a multipart object's ETag when the server does not return
//! one (Ceph's gateway answers CompleteMultipartUpload with an empty `<ETag>`): S3 defines it as
//! `hex(md5(concat(md5 of each part)))-N`. Not used for anything security-related. ring has no
//! MD5, and a few dozen lines here avoid a dependency chain for one digest of a few hundred bytes.

const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15,
    21,
];

/// `floor(abs(sin(i + 1)) * 2^32)`, computed once.
fn k() -> [u32; 64] {
    let mut k = [0u32; 64];
    for (i, v) in k.iter_mut().enumerate() {
        *v = ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32;
    }
    k
}

/// The MD5 digest of `data`.
pub(crate) fn md5(data: &[u8]) -> [u8; 16] {
    let k = k();
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks_exact(64) {
        let mut m = [0u32; 16];
        for (i, w) in m.iter_mut().enumerate() {
            *w = u32::from_le_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
        }
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 16];
    for (i, w) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The ETag S3 gives a multipart object made of parts with these ETags (each the hex MD5 of
/// the part, quoted or not): `"hex(md5(concat(md5s)))-N"`, quoted. `None` when a part's ETag is
/// not a plain MD5 (then nothing can be computed).
pub(crate) fn multipart_etag(part_etags: &[String]) -> Option<String> {
    if part_etags.is_empty() {
        return None;
    }
    let mut concat = Vec::with_capacity(16 * part_etags.len());
    for e in part_etags {
        let hex = e.trim().trim_matches('"').as_bytes();
        if hex.len() != 32 {
            return None;
        }
        for pair in hex.chunks_exact(2) {
            concat.push(hex_value(pair[0])? << 4 | hex_value(pair[1])?);
        }
    }
    let digest: String = md5(&concat).iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("\"{digest}-{}\"", part_etags.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 16]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn rfc1321_vectors() {
        let table = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in table {
            assert_eq!(hex(md5(input.as_bytes())), want, "{input:?}");
        }
    }

    #[test]
    fn multipart_etags() {
        // Two parts "a" and "abc": md5(md5("a") || md5("abc")), computed independently.
        let a = "\"0cc175b9c0f1b6a831c399e269772661\"".to_string();
        let abc = "900150983cd24fb0d6963f7d28e17f72".to_string();
        let mut concat = md5(b"a").to_vec();
        concat.extend_from_slice(&md5(b"abc"));
        let want = format!("\"{}-2\"", hex(md5(&concat)));
        assert_eq!(multipart_etag(&[a.clone(), abc]), Some(want));
        for bad in [vec![], vec!["\"\"".to_string()], vec!["xyz".repeat(11)], vec![format!("\"{}-3\"", &a[1..33])]] {
            assert_eq!(multipart_etag(&bad), None, "{bad:?}");
        }
    }
}
