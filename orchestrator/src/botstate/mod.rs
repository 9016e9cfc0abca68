//! A bot's stored state seen from the host: the SDK's keys in `<state bucket>/<id>/state.tar.gz`
//! listed, read and removed the way the0's API does (`GET`/`DELETE /bots/:id/state/:key`), for
//! `orchestrator state` and the admin API. Reading is always safe. A removal rewrites the archive
//! conditionally on the version it read (`If-Match`), so a container that wrote state meanwhile
//! wins and the edit fails with [`StateError::Changed`] instead of losing the bot's write; the
//! admin API only edits a bot that has no container (`admin/state.rs`).
//!
//! The archive's bytes are handled in memory by the pure functions of [`archive`].

pub mod archive;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use the0_objstore::{Precondition, Store, StreamOptions};
use tokio::io::AsyncReadExt;

pub use archive::{ArchiveError, Key};
use archive::{Removed, MAX_UNPACKED};

/// The longest one read or write of an archive may take.
const TRANSFER: Duration = Duration::from_secs(120);

/// Why a state operation failed; the text names the bot, key or object.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("state storage: {0}")]
    Objects(#[from] the0_objstore::Error),
    #[error("reading the state archive {0}: {1}")]
    Read(String, std::io::Error),
    #[error("the state archive {0} took longer than {TRANSFER:?} to transfer")]
    Timeout(String),
    #[error("state key {key:?} of bot {bot:?} is not JSON: {why}")]
    NotJson { bot: String, key: String, why: String },
    #[error("bot {0:?}'s state changed while it was being edited; nothing was written, try again")]
    Changed(String),
}

impl StateError {
    /// Whether the archive moved under the edit (the caller may retry).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StateError::Changed(_))
    }
}

/// The state bucket, for the state archives of every bot.
#[derive(Clone)]
pub struct BotState {
    pub objects: Arc<Store>,
    pub bucket: String,
}

impl BotState {
    /// The archive's tar bytes and its version, `None` when the bot has no stored state.
    async fn fetch(&self, bot: &str) -> Result<Option<(Vec<u8>, String)>, StateError> {
        let key = the0_contract::keys::state_key(bot);
        let name = format!("{}/{key}", self.bucket);
        let read = async {
            let Some(obj) = self.objects.get(&self.bucket, &key).await? else {
                return Ok(None);
            };
            if obj.meta.size > MAX_UNPACKED {
                return Err(StateError::Archive(ArchiveError::TooLarge));
            }
            let mut gz = Vec::with_capacity(obj.meta.size as usize);
            obj.body
                .take(MAX_UNPACKED + 1)
                .read_to_end(&mut gz)
                .await
                .map_err(|e| StateError::Read(name.clone(), e))?;
            Ok(Some((archive::gunzip(&gz)?, obj.meta.etag)))
        };
        tokio::time::timeout(TRANSFER, read).await.map_err(|_| StateError::Timeout(name.clone()))?
    }

    /// The bot's keys; none when it has no stored state.
    pub async fn keys(&self, bot: &str) -> Result<Vec<Key>, StateError> {
        match self.fetch(bot).await? {
            Some((tar, _)) => Ok(archive::keys(&tar)?),
            None => Ok(Vec::new()),
        }
    }

    /// The JSON value of `key`, `None` when the bot has no such key.
    pub async fn get(&self, bot: &str, key: &str) -> Result<Option<Value>, StateError> {
        archive::check_key(key)?;
        let Some((tar, _)) = self.fetch(bot).await? else { return Ok(None) };
        let Some(bytes) = archive::value(&tar, key)? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| StateError::NotJson {
            bot: bot.into(),
            key: key.into(),
            why: e.to_string(),
        })
    }

    /// Removes `key`; `false` when there was no such key. The archive is written back only if it
    /// is still the version read (deleted instead when no file is left, as the executor does).
    pub async fn remove(&self, bot: &str, key: &str) -> Result<bool, StateError> {
        archive::check_key(key)?;
        let Some((tar, etag)) = self.fetch(bot).await? else { return Ok(false) };
        let object = the0_contract::keys::state_key(bot);
        let changed = |e: the0_objstore::Error| match e {
            the0_objstore::Error::Changed { .. } => StateError::Changed(bot.to_string()),
            e => StateError::Objects(e),
        };
        match archive::remove(&tar, key)? {
            Removed::Absent => Ok(false),
            Removed::Rest(rest) => {
                let gz = archive::gzip(&rest);
                let opts = StreamOptions { precondition: Precondition::Etag(etag), ..Default::default() };
                let put = self.objects.put_stream(&self.bucket, &object, gz.as_slice(), "application/gzip", opts);
                tokio::time::timeout(TRANSFER, put)
                    .await
                    .map_err(|_| StateError::Timeout(format!("{}/{object}", self.bucket)))?
                    .map_err(changed)?;
                Ok(true)
            }
            Removed::Empty => {
                // No conditional DELETE to rely on on S3: the HEAD is the check, as the executor's.
                let now = self.objects.head(&self.bucket, &object).await?;
                if !Precondition::Etag(etag).holds(now.as_ref().map(|m| m.etag.as_str())) {
                    return Err(StateError::Changed(bot.to_string()));
                }
                self.objects.delete(&self.bucket, &object).await?;
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> bytes::Bytes {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
        archive::gzip(&b.into_inner().unwrap()).into()
    }

    /// Against the local store: the last file's removal deletes the archive (D8), a value that is
    /// not JSON is named, and a bot without state has no keys.
    #[tokio::test]
    async fn removing_the_last_key_deletes_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let s = BotState { objects: Arc::new(Store::local(dir.path())), bucket: "bot-state".into() };
        assert_eq!(s.keys("b").await.unwrap(), vec![]);
        assert!(!s.remove("b", "k").await.unwrap(), "no state: nothing removed");
        let body = archive(&[(".the0-state/k.json", b"{\"a\":1}"), (".the0-state/bad.json", b"{nope")]);
        s.objects.put_bytes("bot-state", "b/state.tar.gz", body, "application/gzip").await.unwrap();
        assert_eq!(s.get("b", "k").await.unwrap(), Some(serde_json::json!({"a": 1})));
        let e = s.get("b", "bad").await.unwrap_err().to_string();
        assert!(e.starts_with("state key \"bad\" of bot \"b\" is not JSON"), "{e}");
        assert!(s.remove("b", "bad").await.unwrap());
        assert_eq!(s.keys("b").await.unwrap(), vec![Key { key: "k".into(), size: 7 }]);
        assert!(s.remove("b", "k").await.unwrap());
        assert_eq!(s.objects.head("bot-state", "b/state.tar.gz").await.unwrap(), None, "deleted, not emptied");
    }
}
