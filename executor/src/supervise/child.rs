//! Starting a child the way an init must: its own process group (so signals reach the whole bot,
//! and grandchildren can be stopped with it), an empty signal mask and default dispositions (std
//! passes the parent's mask on; an inherited block would make `docker stop` wait out its grace),
//! stdin from /dev/null, registration with the one [`Reaper`], and the highest `oom_score_adj`
//! (every child is bot code: it must die before PID 1).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Reaper;
use crate::launch::Launch;

/// Where a child's stdout/stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Pipes handed back to the caller (teed into `bot.log`).
    Piped,
    /// The executor's own stdout/stderr (the query child: "stdio to the executor only").
    Inherit,
}

pub struct Spawned {
    pub pid: i32,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

/// Signals whose disposition a child must start with at the default.
const RESET_SIGNALS: &[libc::c_int] = &[
    libc::SIGPIPE,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCHLD,
    libc::SIGXFSZ,
];

/// `RLIMIT_NPROC` set on every child between fork and exec (0: none); see [`limit_processes`].
static CHILD_NPROC: AtomicU64 = AtomicU64::new(0);

/// Limits the processes and threads of every child spawned from now on to `n` (`THE0_BOT_NPROC`).
/// The executor keeps no limit itself, so a bot at its limit cannot stop the executor from
/// starting a thread, syncing or stopping it (gVisor only: docs/security/gvisor.md §4).
pub fn limit_processes(n: Option<u64>) {
    CHILD_NPROC.store(n.unwrap_or(0), Ordering::Relaxed);
}

/// Spawns `launch` in `cwd` with exactly `env`, in a new process group led by the child.
pub fn spawn(
    reaper: &Reaper,
    launch: &Launch,
    cwd: &Path,
    env: &BTreeMap<OsString, OsString>,
    output: Output,
) -> io::Result<Spawned> {
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args).current_dir(cwd).env_clear().envs(env).stdin(Stdio::null()).process_group(0);
    match output {
        Output::Piped => cmd.stdout(Stdio::piped()).stderr(Stdio::piped()),
        Output::Inherit => cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit()),
    };
    let nproc = CHILD_NPROC.load(Ordering::Relaxed);
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe functions.
    unsafe {
        cmd.pre_exec(move || {
            if nproc > 0 {
                let lim = libc::rlimit { rlim_cur: nproc as libc::rlim_t, rlim_max: nproc as libc::rlim_t };
                if libc::setrlimit(libc::RLIMIT_NPROC, &lim) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            for &sig in RESET_SIGNALS {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let (mut child, pid) = reaper.spawn(|| {
        let child = cmd.spawn()?;
        let pid = child.id() as i32;
        // `spawn` returned, so the child has exec'd: its /proc files are its own again.
        if let Err(e) = super::harden::set_oom_score_adj(pid, super::harden::BOT_OOM_SCORE_ADJ) {
            crate::warn!(
                "cannot raise the bot's oom_score_adj; under memory pressure the executor may be killed first",
                pid = pid,
                error = e
            );
        }
        Ok((child, pid))
    })?;
    // The std `Child` is dropped without waiting: the reaper owns its exit status.
    Ok(Spawned { pid, stdout: child.stdout.take(), stderr: child.stderr.take() })
}
