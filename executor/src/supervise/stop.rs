//! Waiting for a supervised process group and stopping it in order (D1): SIGTERM to the group,
//! a bounded grace period, then SIGKILL to whatever is left.

use std::time::Duration;

use tokio::sync::mpsc;

use super::signals;
use super::{ExitStatus, Reaper};

/// How a supervised run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub status: ExitStatus,
    /// The stop signal the executor received, if that is why it ended.
    pub stopped_by: Option<libc::c_int>,
}

/// Sends `sig` to the process group led by `pgid`; a group that is already gone is fine.
pub fn signal_group(reaper: &Reaper, pgid: i32, sig: libc::c_int) {
    if let Err(e) = reaper.sys().kill(-pgid, sig) {
        if e.raw_os_error() != Some(libc::ESRCH) {
            crate::warn!("cannot signal process group", pgid = pgid, signal = signals::name(sig), error = e);
        }
    }
}

/// Waits for `pid` (leader of its own group) while forwarding signals to the group. A stop signal
/// (TERM/INT) starts the ordered stop: the signal goes to the group, and after `grace` the group
/// is killed. Other signals are forwarded as they come.
pub async fn supervise(
    reaper: &Reaper,
    pid: i32,
    signals_rx: &mut mpsc::UnboundedReceiver<libc::c_int>,
    grace: Duration,
) -> Ended {
    let wait = reaper.wait(pid);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            status = &mut wait => return Ended { status, stopped_by: None },
            Some(sig) = signals_rx.recv() => {
                crate::info!("forwarding signal", signal = signals::name(sig), pid = pid);
                signal_group(reaper, pid, sig);
                if signals::is_stop(sig) {
                    let status = match tokio::time::timeout(grace, &mut wait).await {
                        Ok(status) => status,
                        Err(_) => {
                            crate::warn!("grace period over, killing the bot", grace_secs = grace.as_secs_f64());
                            signal_group(reaper, pid, libc::SIGKILL);
                            wait.await
                        }
                    };
                    return Ended { status, stopped_by: Some(sig) };
                }
            }
        }
    }
}
