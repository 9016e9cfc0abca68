//! The signals PID 1 must handle (it ignores any it has no handler for): TERM and INT stop the
//! bot in order; HUP, QUIT, USR1, USR2 and WINCH are forwarded to its process group.

use std::io;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

pub const FORWARDED: &[libc::c_int] =
    &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];

/// Whether a signal starts the ordered stop.
pub fn is_stop(sig: libc::c_int) -> bool {
    sig == libc::SIGTERM || sig == libc::SIGINT
}

pub fn name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGKILL => "SIGKILL",
        _ => "signal",
    }
}

/// Installs handlers for every forwarded signal; each delivery arrives on the returned channel.
/// Install this first thing, so a `docker stop` during start-up is not lost.
pub fn listen() -> io::Result<mpsc::UnboundedReceiver<libc::c_int>> {
    let (tx, rx) = mpsc::unbounded_channel();
    for &sig in FORWARDED {
        let mut stream = signal(SignalKind::from_raw(sig))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}
