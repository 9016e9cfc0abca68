//! The one reaper (containerd-shim style). As PID 1 (or a subreaper) the executor must collect
//! every exited descendant, but a `waitpid(-1)` loop would steal the statuses that `Child::wait`
//! expects. So nothing else ever waits: children are spawned through [`Reaper::spawn`], which
//! registers the pid while holding the table lock (the reaper cannot reap it before it is known),
//! and their statuses are handed out by [`Reaper::wait`]. Orphans are reaped and dropped.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

use super::status::ExitStatus;
use super::sys::{RealSys, Sys};

#[derive(Clone)]
pub struct Reaper {
    inner: Arc<Inner>,
}

struct Inner {
    sys: Arc<dyn Sys>,
    /// Tracked pids: `None` while running, the status once reaped.
    table: Mutex<HashMap<i32, Option<ExitStatus>>>,
    changed: Notify,
}

impl Reaper {
    pub fn new(sys: Arc<dyn Sys>) -> Reaper {
        Reaper { inner: Arc::new(Inner { sys, table: Mutex::new(HashMap::new()), changed: Notify::new() }) }
    }

    /// A reaper over the real kernel, listening for SIGCHLD on the current tokio runtime.
    /// SIGCHLD coalesces, so every delivery reaps in a loop until nothing is left; a slow
    /// periodic pass covers a signal that raced with handler installation.
    pub fn start() -> io::Result<Reaper> {
        let reaper = Reaper::new(Arc::new(RealSys));
        let mut sigchld = signal(SignalKind::child())?;
        let r = reaper.clone();
        tokio::spawn(async move {
            let mut slow = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = slow.tick() => {}
                }
                r.reap();
            }
        });
        Ok(reaper)
    }

    pub fn sys(&self) -> &Arc<dyn Sys> {
        &self.inner.sys
    }

    fn table(&self) -> MutexGuard<'_, HashMap<i32, Option<ExitStatus>>> {
        self.inner.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `spawn` (which starts a process and returns it with its pid) with the table locked and
    /// registers the pid before the lock is released.
    pub fn spawn<T>(&self, spawn: impl FnOnce() -> io::Result<(T, i32)>) -> io::Result<(T, i32)> {
        let mut table = self.table();
        let (value, pid) = spawn()?;
        table.insert(pid, None);
        Ok((value, pid))
    }

    /// Collects every exited child; returns how many were reaped.
    pub fn reap(&self) -> usize {
        let mut n = 0;
        let mut table = self.table();
        loop {
            match self.inner.sys.reap_one() {
                Ok(Some((pid, status))) => {
                    n += 1;
                    match table.get_mut(&pid) {
                        Some(slot) => *slot = Some(status),
                        None => crate::debug!("reaped orphan", pid = pid, status = status),
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    crate::warn!("waitpid failed", error = e);
                    break;
                }
            }
        }
        drop(table);
        if n > 0 {
            self.inner.changed.notify_waiters();
        }
        n
    }

    /// The status of a tracked pid, if it has exited.
    pub fn try_status(&self, pid: i32) -> Option<ExitStatus> {
        self.table().get(&pid).copied().flatten()
    }

    /// Waits for a tracked pid to exit and forgets it. An untracked pid never resolves.
    pub async fn wait(&self, pid: i32) -> ExitStatus {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut table = self.table();
                if let Some(Some(status)) = table.get(&pid).copied() {
                    table.remove(&pid);
                    return status;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A kernel whose exits are scripted.
    #[derive(Default)]
    struct FakeSys {
        exits: Mutex<VecDeque<(i32, ExitStatus)>>,
    }

    impl Sys for FakeSys {
        fn kill(&self, _pid: i32, _sig: i32) -> io::Result<()> {
            Ok(())
        }
        fn reap_one(&self) -> io::Result<Option<(i32, ExitStatus)>> {
            Ok(self.exits.lock().unwrap().pop_front())
        }
    }

    #[tokio::test]
    async fn hands_out_tracked_statuses_and_drops_orphans() {
        let sys = Arc::new(FakeSys::default());
        let reaper = Reaper::new(sys.clone());
        let ((), pid) = reaper.spawn(|| Ok(((), 42))).unwrap();
        sys.exits.lock().unwrap().extend([
            (7, ExitStatus::Exited(0)),
            (42, ExitStatus::Signaled(15)),
            (8, ExitStatus::Exited(1)),
        ]);
        let waiter = tokio::spawn({
            let r = reaper.clone();
            async move { r.wait(pid).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(reaper.reap(), 3, "orphans are reaped too");
        assert_eq!(waiter.await.unwrap(), ExitStatus::Signaled(15));
        assert!(reaper.table().is_empty(), "orphans are not remembered, waited pids are forgotten");
    }

    #[tokio::test]
    async fn status_reaped_before_wait_is_kept() {
        let sys = Arc::new(FakeSys::default());
        let reaper = Reaper::new(sys.clone());
        reaper.spawn(|| Ok(((), 5))).unwrap();
        sys.exits.lock().unwrap().push_back((5, ExitStatus::Exited(3)));
        reaper.reap();
        assert_eq!(reaper.try_status(5), Some(ExitStatus::Exited(3)));
        assert_eq!(reaper.wait(5).await, ExitStatus::Exited(3));
    }
}
