//! Reading a gzip stream member by member while noting where each member lies, in the compressed
//! object and in the decompressed tar stream. A restore uses the spans to learn which byte ranges
//! of the downloaded archive hold which entries ([`super::restored`]), so the first upload of a
//! new pod can already copy unchanged members server-side instead of uploading the whole tree.
//!
//! Decoding is the same as a multi-member gzip decoder: members one after another until the
//! input ends; a member that is not gzip, or a bad checksum, is an error.

use std::io::{self, BufRead, Read};
use std::ops::Range;

use flate2::bufread::GzDecoder;

/// Where one gzip member lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// Byte range of the member in the compressed input.
    pub compressed: Range<u64>,
    /// Byte range of its contents in the decompressed stream.
    pub decompressed: Range<u64>,
}

/// A [`BufRead`] that counts the bytes consumed from it.
struct Counting<R> {
    inner: R,
    consumed: u64,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

/// Decompresses a multi-member gzip stream and records each finished member's [`Span`].
pub struct MemberReader<R: BufRead> {
    current: Option<GzDecoder<Counting<R>>>,
    /// Compressed and decompressed offsets where the current member began.
    start: (u64, u64),
    /// Decompressed bytes handed out so far.
    out: u64,
    spans: Vec<Span>,
}

impl<R: BufRead> MemberReader<R> {
    pub fn new(input: R) -> MemberReader<R> {
        let current = Some(GzDecoder::new(Counting { inner: input, consumed: 0 }));
        MemberReader { current, start: (0, 0), out: 0, spans: Vec::new() }
    }

    /// Reads what is left (a tar reader stops at its end-of-archive blocks), so every member is
    /// checked and its span known; returns the spans of all members, in order.
    pub fn finish(mut self) -> io::Result<Vec<Span>> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.spans)
    }
}

impl<R: BufRead> Read for MemberReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(dec) = self.current.as_mut() else { return Ok(0) };
            let n = dec.read(buf)?;
            if n > 0 {
                self.out += n as u64;
                return Ok(n);
            }
            // This member ended (its trailer checked): note it; another may follow.
            let Some(dec) = self.current.take() else { return Ok(0) };
            let mut input = dec.into_inner();
            let end = input.consumed;
            self.spans.push(Span { compressed: self.start.0..end, decompressed: self.start.1..self.out });
            if input.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.start = (end, self.out);
            self.current = Some(GzDecoder::new(input));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn member(data: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn spans_of_each_member() {
        let (a, b, c) = (member(b"hello "), member(&[7u8; 100_000]), member(b""));
        let input: Vec<u8> = [a.clone(), b.clone(), c.clone()].concat();
        let mut r = MemberReader::new(&input[..]);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 6 + 100_000);
        let (la, lb, lc) = (a.len() as u64, b.len() as u64, c.len() as u64);
        assert_eq!(
            r.finish().unwrap(),
            vec![
                Span { compressed: 0..la, decompressed: 0..6 },
                Span { compressed: la..la + lb, decompressed: 6..100_006 },
                Span { compressed: la + lb..la + lb + lc, decompressed: 100_006..100_006 },
            ]
        );
    }

    #[test]
    fn finish_reads_what_a_reader_left() {
        let input: Vec<u8> = [member(b"abc"), member(b"def")].concat();
        let mut r = MemberReader::new(&input[..]);
        let mut first = [0u8; 2];
        r.read_exact(&mut first).unwrap();
        let spans = r.finish().unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].compressed.end, input.len() as u64);
    }

    #[test]
    fn garbage_and_bad_checksums_are_errors() {
        let mut bad = member(b"abc");
        let n = bad.len();
        bad[n - 8] ^= 1; // the CRC
        assert!(MemberReader::new(&bad[..]).finish().is_err());
        let trailing: Vec<u8> = [member(b"abc"), b"not gzip".to_vec()].concat();
        assert!(MemberReader::new(&trailing[..]).finish().is_err());
        assert!(MemberReader::new(&b"plain text"[..]).finish().is_err());
    }
}
