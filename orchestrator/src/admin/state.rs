//! `GET /bots/{id}/state` (the SDK's keys with their sizes), `GET /bots/{id}/state/{key}` (one
//! key's JSON value) and `DELETE /bots/{id}/state/{key}[?restart=true]`, for `orchestrator
//! state`. Reading is allowed at any time. A removal edits what a container restores at its start
//! and overwrites at each sync, so it is refused (409) while the bot has a container, unless
//! `restart=true`: then the bot is held stopped (a local disable, [`crate::store::Store::hold`]),
//! edited once its container is gone, and let go again, all in this request. A scheduled bot is
//! edited between its runs only.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::json;

use super::Admin;
use crate::botstate::{ArchiveError, StateError};
use crate::http::{self, Resp};
use crate::model::{is_scheduled, BotRecord};

/// How long `restart=true` waits for the bot's container to stop (the executor's grace period
/// for the bot's final state upload included).
const STOP_WAIT: Duration = Duration::from_secs(90);
/// How often it looks.
const STOP_POLL: Duration = Duration::from_millis(200);

/// A refusal: its status and message (kept small; made an answer by [`refusal`]).
type Refused = (StatusCode, String);

fn refusal((status, message): Refused) -> Resp {
    http::error(status, &message)
}

/// A failed state operation as an answer: what the caller can act on, named.
fn failed(e: StateError) -> Resp {
    let status = match &e {
        StateError::Archive(ArchiveError::BadKey(_)) => StatusCode::BAD_REQUEST,
        StateError::Archive(_) | StateError::NotJson { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        StateError::Changed(_) => StatusCode::CONFLICT,
        StateError::Objects(_) | StateError::Read(..) | StateError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    http::error(status, &e.to_string())
}

/// `restart=true|false` of the query string; anything else is named in a 400.
fn parse_restart(query: Option<&str>) -> Result<bool, String> {
    let mut restart = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("restart", "true" | "1") => restart = true,
            ("restart", "false" | "0") => restart = false,
            ("restart", v) => return Err(format!("restart {v:?} is not true or false")),
            (k, _) => return Err(format!("unknown parameter {k:?} (restart)")),
        }
    }
    Ok(restart)
}

impl Admin {
    /// The stored bot, or the answer that says why there is none.
    fn bot(&self, id: &str) -> Result<BotRecord, Refused> {
        match self.store.get(id) {
            Ok(Some((r, _))) => Ok(r),
            Ok(None) => Err((StatusCode::NOT_FOUND, format!("no bot {id:?}"))),
            Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        }
    }

    /// Why the bot's stored state is in use, `None` when nothing restores or uploads it now.
    fn state_in_use(&self, rec: &BotRecord) -> Result<Option<String>, Refused> {
        let id = &rec.id;
        if is_scheduled(&rec.config) {
            return match self.store.open_run(id) {
                Ok(Some(_)) => Ok(Some(format!("a scheduled run of bot {id:?} is in progress"))),
                Ok(None) => Ok(None),
                Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
            };
        }
        let busy = self.snapshot.primary(id).is_some() || self.snapshot.is_in_flight(id);
        Ok(busy.then(|| format!("bot {id:?} has a container")))
    }

    pub(super) async fn state_keys(&self, id: &str) -> Resp {
        if let Err(r) = self.bot(id) {
            return refusal(r);
        }
        match self.state.keys(id).await {
            Ok(keys) => http::json(StatusCode::OK, &json!(keys)),
            Err(e) => failed(e),
        }
    }

    pub(super) async fn state_get(&self, id: &str, key: &str) -> Resp {
        if let Err(r) = self.bot(id) {
            return refusal(r);
        }
        match self.state.get(id, key).await {
            Ok(Some(value)) => http::json(StatusCode::OK, &json!({"id": id, "key": key, "value": value})),
            Ok(None) => http::error(StatusCode::NOT_FOUND, &format!("bot {id:?} has no state key {key:?}")),
            Err(e) => failed(e),
        }
    }

    pub(super) async fn state_remove(&self, id: &str, key: &str, query: Option<&str>) -> Resp {
        let restart = match parse_restart(query) {
            Ok(r) => r,
            Err(e) => return http::error(StatusCode::BAD_REQUEST, &e),
        };
        if let Err(e) = crate::botstate::archive::check_key(key) {
            return failed(e.into());
        }
        let rec = match self.bot(id) {
            Ok(r) => r,
            Err(r) => return refusal(r),
        };
        let in_use = match self.state_in_use(&rec) {
            Ok(b) => b,
            Err(r) => return refusal(r),
        };
        let Some(why) = in_use else {
            return self.remove_key(id, key, false).await;
        };
        if is_scheduled(&rec.config) {
            return http::error(StatusCode::CONFLICT, &format!("{why}: try again when it has ended"));
        }
        if !restart {
            return http::error(
                StatusCode::CONFLICT,
                &format!(
                    "{why}, which restores this state at its start and overwrites it at each sync: \
                     `disable` the bot first, or pass --restart (restart=true) to stop it, edit and start it again"
                ),
            );
        }
        let prev = match self.store.hold(id) {
            Ok(Some(prev)) => prev,
            Ok(None) => return http::error(StatusCode::NOT_FOUND, &format!("no bot {id:?}")),
            Err(e) => return http::error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
        let stopped = self.wait_stopped(&rec).await;
        let answer = match stopped {
            Ok(()) => self.remove_key(id, key, true).await,
            Err(r) => refusal(r),
        };
        if let Err(e) = self.store.release(id, prev.as_deref()) {
            return http::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("bot {id:?} is still held stopped after its state edit: {e}; `enable` starts it"),
            );
        }
        answer
    }

    /// Waits, bounded, until the held bot's container is gone.
    async fn wait_stopped(&self, rec: &BotRecord) -> Result<(), Refused> {
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        loop {
            match self.state_in_use(rec)? {
                None => return Ok(()),
                Some(why) if tokio::time::Instant::now() >= deadline => {
                    return Err((
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("{why} that did not stop within {STOP_WAIT:?}; nothing was edited"),
                    ))
                }
                Some(_) => tokio::time::sleep(STOP_POLL).await,
            }
        }
    }

    /// The removal itself, recorded as a `state-edited` event.
    async fn remove_key(&self, id: &str, key: &str, restarted: bool) -> Resp {
        match self.state.remove(id, key).await {
            Ok(true) => {
                let how = if restarted { " (the bot was stopped for the edit and started again)" } else { "" };
                // The edit is done; a failed history row must not make it look undone.
                if let Err(e) = self.store.record_state_edit(id, &format!("state key {key:?} removed{how}")) {
                    tracing::warn!(bot_id = %id, error = %e, "the state edit was not recorded as an event");
                }
                http::json(StatusCode::OK, &json!({"id": id, "key": key, "deleted": true, "restarted": restarted}))
            }
            Ok(false) => http::error(StatusCode::NOT_FOUND, &format!("bot {id:?} has no state key {key:?}")),
            Err(e) => failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_restart;

    #[test]
    fn restart_parameter() {
        for (q, want) in [
            (None, Ok(false)),
            (Some(""), Ok(false)),
            (Some("restart=true"), Ok(true)),
            (Some("restart=1"), Ok(true)),
            (Some("restart=false"), Ok(false)),
            (Some("restart=yes"), Err("restart \"yes\" is not true or false".to_string())),
            (Some("force=1"), Err("unknown parameter \"force\" (restart)".to_string())),
        ] {
            assert_eq!(parse_restart(q), want, "{q:?}");
        }
    }
}
