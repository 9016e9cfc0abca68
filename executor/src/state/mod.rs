//! Bot state: fingerprint, archive, restore and upload of `STATE_PATH` (CONTRACT §2.8, D4–D8).
//!
//! The whole tree below `STATE_PATH` is the bot's state. It is restored once per pod from
//! `<state bucket>/<BOT_ID>/state.tar.gz` ([`restore`]), fingerprinted cheaply on every sync
//! trigger ([`fingerprint`]) and uploaded as a streamed gzip(tar) when it changed ([`upload`]).

pub mod archive;
pub mod extract;
pub mod fingerprint;
pub mod pipe;
pub mod restore;
pub mod tree;
pub mod upload;

pub use archive::{extract_tar_gz, write_tar_gz, ArchiveError, ArchiveStats, ExtractStats};
pub use fingerprint::{Entry, Kind, Manifest};
pub use restore::{restore, restore_read_only, restore_with, RestoreError, RestoreOutcome, RetryPolicy};
pub use upload::{StateSyncError, StateSyncOutcome, StateSyncer};
