//! The SDK's keys inside a bot's state archive (docs/contract.md §2.8), read and removed in
//! memory: pure functions over the archive's bytes, so every case is a table test.
//!
//! A key is the regular file `.the0-state/<key>.json` (an optional `./` prefix and PAX long names
//! are read, as the executor's extractor reads them). Removing a key drops exactly that entry's
//! blocks (its header, any PAX or GNU extension headers before it, and its data) from the tar
//! stream and keeps every other byte as it was, so other files, modes, mtimes and PAX records
//! survive the edit (the0's API rebuilds the archive from `.the0-state` alone and loses them).

use std::io::{Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use tar::EntryType;

/// The directory of the SDK's keys inside `STATE_PATH`.
pub const KEYS_DIR: &str = ".the0-state";

/// Bytes an archive may hold unpacked before the host refuses to read it: an edit holds the
/// whole tar in memory, and a bot writes the archive, so its size is hostile input.
pub const MAX_UNPACKED: u64 = 256 << 20;

/// Why an archive or a key was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    #[error("state key {0:?} is not valid: a key is a non-empty name without `/`, `\\` or `..`")]
    BadKey(String),
    #[error("the state archive is not a gzip of a tar: {0}")]
    Corrupt(String),
    #[error("the state archive unpacks to more than {} MiB; edit it with the bot's own code", MAX_UNPACKED >> 20)]
    TooLarge,
}

/// One key of the archive and the size of its JSON in bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Key {
    pub key: String,
    pub size: u64,
}

/// The rule the0's API applies to a key in a path: non-empty, no `/`, `\` or `..`; and no NUL,
/// which no file name can hold.
pub fn check_key(key: &str) -> Result<(), ArchiveError> {
    let bad = key.is_empty() || key.contains(['/', '\\', '\0']) || key.contains("..");
    if bad {
        return Err(ArchiveError::BadKey(key.to_string()));
    }
    Ok(())
}

/// Unpacks a gzip stream (of one or more members, as the executor writes it) into the tar's
/// bytes, refusing more than [`MAX_UNPACKED`].
pub fn gunzip(gz: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    unpack(gz, MAX_UNPACKED)
}

fn unpack(gz: &[u8], cap: u64) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(gz).take(cap + 1).read_to_end(&mut out).map_err(|e| ArchiveError::Corrupt(e.to_string()))?;
    if out.len() as u64 > cap {
        return Err(ArchiveError::TooLarge);
    }
    Ok(out)
}

/// Packs tar bytes as one gzip member.
pub fn gzip(tar: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(tar);
    enc.finish().unwrap_or_default()
}

/// An entry of the tar: its normalised name, kind, size, and the byte range of its blocks.
struct Span {
    name: String,
    regular: bool,
    size: u64,
    /// From the end of the previous entry (so extension headers belong to the entry they
    /// describe) to the end of this entry's padded data.
    range: std::ops::Range<usize>,
    data: std::ops::Range<usize>,
}

fn spans(tar: &[u8]) -> Result<Vec<Span>, ArchiveError> {
    let corrupt = |e: std::io::Error| ArchiveError::Corrupt(e.to_string());
    let mut out = Vec::new();
    let mut prev_end = 0usize;
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?;
        let raw = path.to_string_lossy();
        let name = raw.strip_prefix("./").unwrap_or(&raw).trim_end_matches('/').to_string();
        let size = entry.size();
        let start = usize::try_from(entry.raw_file_position()).map_err(|_| ArchiveError::TooLarge)?;
        let len = usize::try_from(size).map_err(|_| ArchiveError::TooLarge)?;
        let end = start.checked_add(len.div_ceil(512) * 512).ok_or(ArchiveError::TooLarge)?;
        if end > tar.len() || start + len > tar.len() || prev_end > start {
            return Err(ArchiveError::Corrupt(format!("entry {name:?} runs past the end of the archive")));
        }
        let kind = entry.header().entry_type();
        out.push(Span {
            name,
            regular: matches!(kind, EntryType::Regular | EntryType::Continuous),
            size,
            range: prev_end..end,
            data: start..start + len,
        });
        prev_end = end;
    }
    Ok(out)
}

/// The key a name stands for: `.the0-state/<key>.json` directly under the keys directory.
fn key_of(name: &str) -> Option<&str> {
    let key = name.strip_prefix(KEYS_DIR)?.strip_prefix('/')?.strip_suffix(".json")?;
    (!key.is_empty() && !key.contains('/')).then_some(key)
}

/// The keys of the archive, in the archive's order (a key listed twice is shown once, with the
/// size of the entry an extraction keeps: the last one).
pub fn keys(tar: &[u8]) -> Result<Vec<Key>, ArchiveError> {
    let mut out: Vec<Key> = Vec::new();
    for s in spans(tar)? {
        let Some(k) = key_of(&s.name).filter(|_| s.regular) else { continue };
        match out.iter_mut().find(|e| e.key == k) {
            Some(e) => e.size = s.size,
            None => out.push(Key { key: k.to_string(), size: s.size }),
        }
    }
    Ok(out)
}

/// The bytes of `key` (the last entry of that name, as an extraction would leave it).
pub fn value(tar: &[u8], key: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
    check_key(key)?;
    Ok(spans(tar)?.into_iter().rev().find(|s| s.regular && key_of(&s.name) == Some(key)).map(|s| tar[s.data].to_vec()))
}

/// What is left of an archive once a key is removed.
#[derive(Debug, PartialEq, Eq)]
pub enum Removed {
    /// The archive has no such key: nothing to write.
    Absent,
    /// The new tar, which still holds at least one file.
    Rest(Vec<u8>),
    /// No file is left (directories at most): the archive is to be deleted, as the executor
    /// deletes the archive of an emptied state (D8).
    Empty,
}

/// The tar without every entry of `key`.
pub fn remove(tar: &[u8], key: &str) -> Result<Removed, ArchiveError> {
    check_key(key)?;
    let all = spans(tar)?;
    let (gone, kept): (Vec<&Span>, Vec<&Span>) = all.iter().partition(|s| s.regular && key_of(&s.name) == Some(key));
    if gone.is_empty() {
        return Ok(Removed::Absent);
    }
    // Only files are restored (the extractor skips links and devices): without one the state is empty.
    if !kept.iter().any(|s| s.regular) {
        return Ok(Removed::Empty);
    }
    let mut out = Vec::with_capacity(tar.len());
    let mut at = 0usize;
    for s in gone {
        out.extend_from_slice(&tar[at..s.range.start]);
        at = s.range.end;
    }
    out.extend_from_slice(&tar[at..]);
    Ok(Removed::Rest(out))
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
