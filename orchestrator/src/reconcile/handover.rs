//! The runner of an update handover ([`Handover`], issue #15): the effects the planner decided,
//! in order. Create the successor (waiting mode) unless it exists; wait, bounded, until its
//! executor reports the code prepared (`runtime release --check` through the engine's exec);
//! start `runtime release --stdin` in it (it waits for one line); stop the old container (TERM,
//! grace, final sync) and, as soon as it has exited (its removal goes on meanwhile), read the
//! state archive's ETag (HEAD) and release the successor with it (the line `etag E`, after which
//! it restores exactly that version; a plain `runtime release --state-etag E` exec if the waiting
//! one failed); rename it to the bot's name; record the release.
//!
//! A successor that does not get ready (it exits, or [`PREPARE_TIMEOUT`] passes) is removed, the
//! old container keeps running, and the failure is recorded as a failed start (event, status,
//! backoff before the next try). Any other failure leaves what Docker shows for the next pass to
//! go on from (see [`Handover`]). Never two bot processes: the successor runs no bot before its
//! release, and it is released only once the old container is gone.

use std::time::{Duration, Instant};

use the0_contract::{keys, paths};

use super::plan::Handover;
use super::record::{Record, Step};
use super::{exit_reason, short, Reconciler};
use crate::docker::WaitOutcome;
use crate::engine::Pending;
use crate::model::{is_enabled, validate, Launch};
use crate::observed::{Observed, State};
use crate::spec::{build_successor, container_name};
use crate::store::events::Kind;

/// Longest wait for a successor to fetch and extract its code.
pub const PREPARE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the successor is asked whether it is prepared.
pub const PREPARE_POLL: Duration = Duration::from_millis(50);
/// How long past the stop's grace the old container may take to exit (its final sync).
const STOP_SLACK: Duration = Duration::from_secs(60);
/// Engine errors in a row (the container gone, the engine down) that end the wait.
const EXEC_ERRORS: u32 = 3;

/// `runtime release --check`: exit 0 once prepared (or released), 2 while preparing.
pub fn check_cmd() -> Vec<String> {
    [paths::RUNTIME_BIN, "release", "--check"].map(String::from).to_vec()
}

/// `runtime release --stdin`: started before the old container's stop; its line comes once that
/// has exited ([`release_line`]).
pub fn release_stdin_cmd() -> Vec<String> {
    [paths::RUNTIME_BIN, "release", "--stdin"].map(String::from).to_vec()
}

/// The line `runtime release --stdin` reads: `etag E`, or `any` when there is no state archive
/// (the executor's release-file format, `release::Expect` in the executor crate).
pub fn release_line(etag: Option<&str>) -> String {
    etag.map_or_else(|| "any".to_string(), |e| format!("etag {e}"))
}

/// `runtime release [--state-etag E]`: `None` when there is no state archive (a first run).
pub fn release_cmd(etag: Option<&str>) -> Vec<String> {
    let mut cmd = vec![paths::RUNTIME_BIN.to_string(), "release".to_string()];
    if let Some(e) = etag {
        cmd.extend(["--state-etag".to_string(), e.to_string()]);
    }
    cmd
}

/// Closes a started `runtime release --stdin` without a line: it exits, releasing nothing.
async fn abandon(pending: crate::docker::Result<Box<dyn Pending>>) {
    if let Ok(p) = pending {
        let _ = p.finish(None).await;
    }
}

impl Reconciler {
    /// Carries out `h` for `bot`; `gone`: what the action removed before; `arrival`: when the
    /// change it answers was stored. Returns whether another pass is needed soon.
    pub(super) async fn handover(
        &self,
        bot: &str,
        h: &Handover,
        record: &mut Record<'_>,
        gone: &[String],
        arrival: Option<Instant>,
    ) -> bool {
        let l = &h.launch;
        let t0 = Instant::now();
        let next = match &h.next {
            Some(id) => id.clone(),
            None => match self.start_successor(l).await {
                Ok(id) => {
                    tracing::info!(bot_id = %bot, container = %short(&id), "update: successor started, preparing");
                    record.push(self.note(
                        bot,
                        Kind::Started,
                        format!("started successor {} ({})", short(&id), l.image),
                    ));
                    id
                }
                Err(err) => {
                    return self.handover_failed(bot, record, gone, None, format!("could not start: {err}")).await
                }
            },
        };
        if let Err(reason) = self.wait_prepared(&next).await {
            return self.handover_failed(bot, record, gone, Some(next.as_str()), reason).await;
        }
        let mut gone = gone.to_vec();
        let released = match &h.old {
            None => self.release(bot, &next).await.map(|etag| (etag, None)),
            Some(old) => {
                let grace = self.opts.stop_grace;
                // The release command starts now, before the stop, and waits for its line: the
                // exec's own start (tens of milliseconds) stays out of the bot's gap.
                let pending = self.host.engine.exec_pending(&next, &release_stdin_cmd()).await;
                // Released as soon as the old container has exited (its final sync done); its
                // removal goes on meanwhile, outside the bot's gap.
                let once_exited = async {
                    let waited = tokio::time::timeout(grace + STOP_SLACK, self.host.engine.wait_exit(old, None, grace));
                    match waited.await {
                        Ok(Ok(WaitOutcome::Exited { .. } | WaitOutcome::Gone)) => {
                            Some(self.release_pending(bot, &next, pending).await)
                        }
                        _ => {
                            abandon(pending).await;
                            None
                        }
                    }
                };
                let (stopped, released) = tokio::join!(self.host.engine.stop_and_remove(old, grace), once_exited);
                match stopped {
                    Ok(()) => {
                        self.host.metrics.stops.inc();
                        let why = "the bot's spec changed (its successor is prepared)";
                        record.push(self.note(bot, Kind::Stopped, format!("stopped container {}: {why}", short(old))));
                        gone.push(old.clone());
                    }
                    Err(e) => {
                        // Exited but not removed: a later pass removes it (and renames the successor).
                        self.snapshot.mark_stale();
                        tracing::error!(bot_id = %bot, container = %short(old), error = %e, "update: stop of the old container failed");
                    }
                }
                match released {
                    Some(r) => r,
                    None => {
                        self.snapshot.record(bot, &gone, None);
                        self.snapshot.mark_stale();
                        return true;
                    }
                }
            }
        };
        let (etag, fallback) = match released {
            Ok(r) => r,
            Err(why) => return self.release_failed(bot, &gone, &next, why),
        };
        let name = container_name(bot, self.host.settings.instance.as_deref());
        let renamed = self.host.engine.rename(&next, &name).await;
        if let Err(e) = &renamed {
            // Released but still named as a successor: the next pass releases it again (ignored
            // by its executor) and renames it.
            self.snapshot.mark_stale();
            tracing::warn!(bot_id = %bot, container = %short(&next), error = %e, "update: rename of the successor failed");
        }
        let now = self.host.clock.now_ms();
        let o = Observed {
            container: next.clone(),
            name,
            bot_id: bot.to_string(),
            state: State::Running,
            hash: Some(l.hash.clone()),
            created_ms: now,
            started_ms: Some(now),
            finished_ms: None,
            exit_code: None,
            oom: false,
            successor: false,
        };
        self.snapshot.record(bot, &gone, Some(o));
        self.host.metrics.container_start.observe(t0.elapsed().as_secs_f64());
        self.host.metrics.starts.inc();
        self.host.metrics.bots.set_state(bot, "running");
        if let Some(at) = arrival {
            self.host.metrics.event_to_running.observe(at.elapsed().as_secs_f64());
        }
        let mut state = etag.as_deref().map_or("no state archive".to_string(), |e| format!("state version {e}"));
        if let Some(why) = fallback {
            state.push_str(&format!("; by a plain exec: `runtime release --stdin` {why}"));
        }
        tracing::info!(bot_id = %bot, container = %short(&next), state = %state, "update: successor released");
        record.push(Step::Started);
        record.push(self.note(bot, Kind::Released, format!("released successor {} ({state})", short(&next))));
        renamed.is_err() || self.spec_changed_since(bot, l)
    }

    /// The state archive's version (`None`: no archive), read once the old container's final
    /// sync is done.
    async fn state_etag(&self, bot: &str) -> Result<Option<String>, String> {
        let (bucket, key) = (&self.host.settings.buckets.state, keys::state_key(bot));
        match self.host.objects.head(bucket, &key).await {
            Ok(meta) => Ok(meta.map(|m| m.etag)),
            Err(e) => Err(format!("cannot read the state's version: {e}")),
        }
    }

    /// Reads the state archive's version and releases `next` with it; returns the ETag (`None`:
    /// no archive), or why it could not.
    async fn release(&self, bot: &str, next: &str) -> Result<Option<String>, String> {
        let etag = self.state_etag(bot).await?;
        self.release_exec(next, etag).await
    }

    async fn release_exec(&self, next: &str, etag: Option<String>) -> Result<Option<String>, String> {
        match self.host.engine.exec(next, &release_cmd(etag.as_deref())).await {
            Ok(o) if o.code == Some(0) => Ok(etag),
            Ok(o) => Err(format!("`runtime release` exited {:?}: {}", o.code, o.output.trim())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// As [`Reconciler::release`], through the `runtime release --stdin` started before the stop;
    /// if that could not start or did not release, through a plain exec (a second release is
    /// harmless: the executor takes one), and then with why (for the `released` event).
    async fn release_pending(
        &self,
        bot: &str,
        next: &str,
        pending: crate::docker::Result<Box<dyn Pending>>,
    ) -> Result<(Option<String>, Option<String>), String> {
        let etag = match self.state_etag(bot).await {
            Ok(e) => e,
            Err(why) => {
                abandon(pending).await;
                return Err(why);
            }
        };
        let why = match pending {
            Ok(p) => match p.finish(Some(release_line(etag.as_deref()))).await {
                Ok(o) if o.code == Some(0) => return Ok((etag, None)),
                Ok(o) => format!("exited {:?}: {}", o.code, o.output.trim()),
                Err(e) => e.to_string(),
            },
            Err(e) => format!("could not start: {e}"),
        };
        tracing::warn!(bot_id = %bot, container = %short(next), reason = %why, "update: `runtime release --stdin` did not release; releasing with a plain exec");
        self.release_exec(next, etag).await.map(|etag| (etag, Some(why)))
    }

    /// Creates and starts the successor (objects checked first, as for any start).
    async fn start_successor(&self, l: &Launch) -> Result<String, super::StartError> {
        crate::objects::check_code(&self.host.objects, &self.host.settings, l).await?;
        crate::objects::prepare_local(&self.host.settings, l)?;
        let spec = build_successor(l, &self.host.settings);
        // Its credentials are the bot's (the directory of the bot's container name, mounted by
        // the spec): the successor takes that name once released.
        let name = container_name(&l.id, self.host.settings.instance.as_deref());
        crate::creds::issue(&self.host.settings, &l.id, &l.code_file, &name, None).await?;
        Ok(self.host.engine.run(&spec).await?)
    }

    /// Waits until `next` reports its code prepared; the reason when it will not be.
    async fn wait_prepared(&self, next: &str) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + PREPARE_TIMEOUT;
        let mut errors = 0;
        loop {
            match self.host.engine.exec(next, &check_cmd()).await {
                Ok(o) if o.code == Some(0) => return Ok(()),
                Ok(o) if o.code == Some(2) => errors = 0,
                // The container ended (Docker answers 126 when it stops during the exec), or its
                // executor has no `release` command: its own exit reason says why.
                failed => {
                    errors += 1;
                    if errors >= EXEC_ERRORS {
                        let what = match failed {
                            Ok(o) => format!("`runtime release --check` exited {:?}: {}", o.code, o.output.trim()),
                            Err(e) => e.to_string(),
                        };
                        let tail = self.tail(next, 50).await;
                        let why = exit_reason::from_log_tail(&tail).unwrap_or(what);
                        return Err(format!("ended or cannot report its progress: {why}"));
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("was not prepared within {} s", PREPARE_TIMEOUT.as_secs()));
            }
            tokio::time::sleep(PREPARE_POLL).await;
        }
    }

    /// The successor was not created or did not get ready: it goes, the old container stays,
    /// and the failure counts as a failed start (event, status, backoff).
    async fn handover_failed(
        &self,
        bot: &str,
        record: &mut Record<'_>,
        gone: &[String],
        next: Option<&str>,
        why: String,
    ) -> bool {
        let reason = format!("update failed, the old container keeps running: the new container {why}");
        if let Some(next) = next {
            if let Err(e) = self.host.engine.remove(next).await {
                tracing::warn!(bot_id = %bot, container = %short(next), error = %e, "update: cannot remove the successor");
            }
        }
        self.snapshot.record(bot, gone, None);
        self.snapshot.mark_stale();
        self.host.metrics.start_failures.inc();
        let at_ms = self.host.clock.now_ms();
        record.push(Step::StartFailed { reason: reason.clone(), at_ms });
        tracing::error!(bot_id = %bot, reason = %reason, "update failed");
        true
    }

    /// The old container is gone but the successor could not be released now: the next pass
    /// releases it (or, if it ended, starts the bot anew).
    fn release_failed(&self, bot: &str, gone: &[String], next: &str, why: String) -> bool {
        self.snapshot.record(bot, gone, None);
        self.snapshot.mark_stale();
        tracing::error!(bot_id = %bot, container = %short(next), error = %why, "update: release failed; retrying");
        true
    }

    /// Whether the bot's stored spec is no longer `l` (changed while the action ran).
    pub(super) fn spec_changed_since(&self, bot: &str, l: &Launch) -> bool {
        !self.host.store.get(bot).ok().flatten().is_some_and(|(rec, _)| {
            is_enabled(rec.enabled.as_ref(), &rec.config)
                && validate(&rec, &self.host.settings.images).is_ok_and(|v| v.hash == l.hash)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands and the line are the executor's `runtime release` interface (its `cli.rs`
    /// and `release.rs`): the real-Docker test `docker_handover` runs them against it.
    #[test]
    fn release_commands_and_line() {
        assert_eq!(check_cmd(), ["/app/runtime", "release", "--check"]);
        assert_eq!(release_stdin_cmd(), ["/app/runtime", "release", "--stdin"]);
        assert_eq!(release_cmd(None), ["/app/runtime", "release"]);
        assert_eq!(release_cmd(Some("\"e-1\"")), ["/app/runtime", "release", "--state-etag", "\"e-1\""]);
        assert_eq!(release_line(None), "any");
        assert_eq!(release_line(Some("\"e-1\"")), "etag \"e-1\"");
    }
}
