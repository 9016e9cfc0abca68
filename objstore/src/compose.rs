//! Assembling a new version of an object from byte ranges of its current version plus new bytes
//! ([`crate::Store::compose`]), so a large object with a small change is rewritten without the
//! unchanged bytes ever leaving the server (the state archive of the0 uses it, see the executor's
//! `state::incremental`). This file holds the backend-neutral part: the pieces and their checks.

use bytes::Bytes;

use crate::{Error, Result};

/// One piece of an object assembled by [`crate::Store::compose`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes `start..end` (end exclusive) of the object's current version.
    Copy { start: u64, end: u64 },
    /// New bytes.
    Data(Bytes),
}

impl Piece {
    /// Bytes this piece contributes.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Copy { start, end } => end.saturating_sub(*start),
            Piece::Data(b) => b.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks `pieces` against a source of `source_size` bytes: at least one piece, none empty, copy
/// ranges inside the source, and every piece but the last at least `min_piece` bytes.
pub(crate) fn check_pieces(
    op: &'static str,
    bucket: &str,
    key: &str,
    pieces: &[Piece],
    source_size: u64,
    min_piece: u64,
) -> Result<()> {
    let bad = |what: String| Err(Error::Invalid(format!("{op} {bucket}/{key}: {what}")));
    if pieces.is_empty() {
        return bad("no pieces to compose".into());
    }
    for (i, piece) in pieces.iter().enumerate() {
        if piece.is_empty() {
            return bad(format!("piece {i} is empty"));
        }
        if let Piece::Copy { start, end } = piece {
            if end > &source_size {
                return bad(format!("piece {i} copies bytes {start}..{end} of a {source_size}-byte object"));
            }
        }
        if i + 1 < pieces.len() && piece.len() < min_piece {
            return bad(format!("piece {i} has {} bytes; all but the last need at least {min_piece}", piece.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_checks() {
        let data = |n: usize| Piece::Data(Bytes::from(vec![0u8; n]));
        let copy = |start, end| Piece::Copy { start, end };
        let ok: &[&[Piece]] = &[&[copy(0, 10), data(1)], &[data(10), copy(90, 100)], &[data(3)]];
        for pieces in ok {
            assert!(check_pieces("Op", "b", "k", pieces, 100, 10).is_ok(), "{pieces:?}");
        }
        let bad: &[(&[Piece], &str)] = &[
            (&[], "no pieces"),
            (&[copy(5, 5)], "piece 0 is empty"),
            (&[data(0)], "piece 0 is empty"),
            (&[copy(95, 101)], "of a 100-byte object"),
            (&[copy(0, 9), data(20)], "at least 10"),
        ];
        for (pieces, want) in bad {
            let err = check_pieces("Op", "b", "k", pieces, 100, 10).expect_err("invalid").to_string();
            assert!(err.contains(want) && err.contains("Op b/k"), "{err}");
        }
    }
}
