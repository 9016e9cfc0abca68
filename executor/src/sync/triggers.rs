//! What starts a sync (D7): an inotify watch, recursive on `STATE_PATH` (state sync) and on
//! `LOGS_PATH` (log sync), debounced; and a periodic tick (`--interval`, 60 s) that runs both.
//! There is no sync at start (a normal run's watch and its catch-up sync begin a second after the
//! bot, [`Triggers::start_after`]); the final sync is the caller's, after [`Triggers::stop`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use super::debounce::{Debounce, Dirty};
use super::SyncEngine;

pub struct Triggers {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Which half a changed path belongs to (the deeper root wins if one contains the other).
pub fn classify(path: &Path, state_path: &Path, logs_path: &Path) -> Dirty {
    let in_state = path.starts_with(state_path);
    let in_logs = path.starts_with(logs_path);
    match (in_state, in_logs) {
        (true, true) if logs_path.starts_with(state_path) => Dirty { state: false, logs: true },
        (true, true) => Dirty { state: true, logs: false },
        (s, l) => Dirty { state: s, logs: l },
    }
}

/// Whether an event is a change worth syncing (reads are not).
fn is_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any | EventKind::Other
    )
}

type Watch = (notify::RecommendedWatcher, mpsc::UnboundedReceiver<Dirty>);

/// An inotify watch: recursive on the state path, and on the logs path unless it lies inside.
fn watch(state_path: &Path, logs_path: &Path) -> notify::Result<Watch> {
    let (tx, rx) = mpsc::unbounded_channel::<Dirty>();
    let (sp, lp): (PathBuf, PathBuf) = (state_path.to_path_buf(), logs_path.to_path_buf());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let dirty = match res {
            Ok(ev) if is_change(&ev.kind) => {
                ev.paths.iter().fold(Dirty::default(), |d, p| d.union(classify(p, &sp, &lp)))
            }
            Ok(_) => Dirty::default(),
            // Overflow or watch errors: assume everything changed.
            Err(_) => Dirty::BOTH,
        };
        if dirty.any() {
            let _ = tx.send(dirty);
        }
    })?;
    watcher.watch(state_path, RecursiveMode::Recursive)?;
    if !logs_path.starts_with(state_path) {
        watcher.watch(logs_path, RecursiveMode::Recursive)?;
    }
    Ok((watcher, rx))
}

/// The trigger loop: debounced watch events, the periodic tick, until stopped.
async fn run_loop(
    engine: Arc<SyncEngine>,
    watch: Option<Watch>,
    mut stopped: oneshot::Receiver<()>,
    interval: Duration,
) {
    let (_watcher, mut rx) = match watch {
        Some((w, rx)) => (Some(w), Some(rx)),
        None => (None, None),
    };
    let mut debounce = Debounce::new(Debounce::QUIET, Debounce::MAX);
    let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let deadline = debounce.deadline().map(Instant::from_std);
        tokio::select! {
            _ = &mut stopped => break,
            Some(d) = recv_opt(&mut rx) => debounce.mark(std::time::Instant::now(), d),
            _ = tick.tick() => engine.sync(Dirty::BOTH, false).await,
            _ = sleep_until_opt(deadline) => {
                let due = debounce.take_due(std::time::Instant::now());
                if due.any() {
                    engine.sync(due, false).await;
                }
            }
        }
    }
}

impl Triggers {
    /// Starts watching now (the returned value means "ready") and the trigger loop.
    pub fn start(
        engine: Arc<SyncEngine>,
        state_path: &Path,
        logs_path: &Path,
        interval: Duration,
    ) -> notify::Result<Triggers> {
        let w = watch(state_path, logs_path)?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run_loop(engine, Some(w), stopped, interval));
        Ok(Triggers { stop, task })
    }

    /// Starts watching only after `delay`, then syncs once to catch what changed meanwhile. A run
    /// that is over sooner never creates a watch: tearing one down costs the kernel a grace period
    /// (~15 ms) at exit, and the final sync ships everything such a short run wrote anyway.
    pub fn start_after(
        engine: Arc<SyncEngine>,
        state_path: &Path,
        logs_path: &Path,
        interval: Duration,
        delay: Duration,
    ) -> Triggers {
        let (stop, mut stopped) = oneshot::channel();
        let (sp, lp) = (state_path.to_path_buf(), logs_path.to_path_buf());
        let task = tokio::spawn(async move {
            tokio::select! {
                _ = &mut stopped => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let w = match watch(&sp, &lp) {
                Ok(w) => Some(w),
                Err(e) => {
                    crate::warn!("file watching unavailable; syncing on the periodic tick only", error = e);
                    None
                }
            };
            engine.sync(Dirty::BOTH, false).await;
            run_loop(engine, w, stopped, interval).await;
        });
        Triggers { stop, task }
    }

    /// Stops the loop, letting a sync in progress finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn recv_opt(rx: &mut Option<mpsc::UnboundedReceiver<Dirty>>) -> Option<Dirty> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let (s, l) = (Path::new("/state"), Path::new("/var/the0/logs"));
        assert_eq!(classify(Path::new("/state/.the0-state/k.json"), s, l), Dirty { state: true, logs: false });
        assert_eq!(classify(Path::new("/var/the0/logs/bot.log"), s, l), Dirty { state: false, logs: true });
        assert_eq!(classify(Path::new("/tmp/x"), s, l), Dirty::default());
        // logs nested in state: the deeper root wins
        let nested = Path::new("/state/logs");
        assert_eq!(classify(Path::new("/state/logs/bot.log"), s, nested), Dirty { state: false, logs: true });
        assert_eq!(classify(Path::new("/state/a"), s, nested), Dirty { state: true, logs: false });
    }
}
