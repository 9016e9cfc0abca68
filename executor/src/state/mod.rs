//! Bot state: fingerprint, archive, restore and upload of `STATE_PATH` (docs/contract.md §2.8, D4–D8).
//!
//! The whole tree below `STATE_PATH` is the bot's state. It is restored once per pod from
//! `<state bucket>/<BOT_ID>/state.tar.gz` ([`restore`](mod@restore)), fingerprinted cheaply on every sync
//! trigger ([`fingerprint`]) and uploaded when it changed ([`upload`]): as a streamed gzip(tar)
//! of one member per [`segment`], or, when the remote archive is still the one last uploaded
//! ([`layout`]), by recompressing only the changed segments and composing the new object from
//! server-side copies of the rest ([`incremental`], planned by [`plan`]). Every write is
//! conditional on the version of the archive this pod last read or wrote ([`seen`]).

pub mod archive;
pub mod extract;
pub mod fingerprint;
pub mod incremental;
pub mod layout;
pub mod members;
pub mod pipe;
pub mod plan;
pub mod restore;
pub mod restored;
pub mod seen;
pub mod segment;
pub mod tree;
pub mod upload;

pub use archive::{extract_tar_gz, write_tar_gz, ArchiveError, ArchiveStats, ExtractStats, Written};
pub use fingerprint::{Entry, Kind, Manifest};
pub use restore::{
    expecting_policy, restore, restore_expecting, restore_read_only, restore_with, RestoreError, RestoreOutcome,
    RetryPolicy,
};
pub use upload::{StateSyncError, StateSyncOutcome, StateSyncer};
