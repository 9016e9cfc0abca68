//! The syscall seam of supervision (youki style): the real implementation calls libc; tests use a
//! scripted fake to drive the reaper's bookkeeping deterministically.

use std::io;

use super::status::ExitStatus;

pub trait Sys: Send + Sync + 'static {
    /// `kill(pid, sig)`; a negative pid addresses a process group.
    fn kill(&self, pid: i32, sig: i32) -> io::Result<()>;
    /// `waitpid(-1, WNOHANG)`: one exited child, `None` when none is waiting (or no children).
    fn reap_one(&self) -> io::Result<Option<(i32, ExitStatus)>>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSys;

impl Sys for RealSys {
    fn kill(&self, pid: i32, sig: i32) -> io::Result<()> {
        // SAFETY: kill has no memory-safety preconditions.
        if unsafe { libc::kill(pid, sig) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn reap_one(&self) -> io::Result<Option<(i32, ExitStatus)>> {
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: status is a valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            match pid {
                0 => return Ok(None),
                -1 => {
                    let err = io::Error::last_os_error();
                    return match err.raw_os_error() {
                        Some(libc::ECHILD) => Ok(None),
                        Some(libc::EINTR) => continue,
                        _ => Err(err),
                    };
                }
                pid => match ExitStatus::from_wait_status(status) {
                    Some(st) => return Ok(Some((pid, st))),
                    None => continue,
                },
            }
        }
    }
}

/// Makes this process the reaper of orphaned descendants when it is not PID 1 (D3).
pub fn become_subreaper() -> io::Result<()> {
    prctl_set(libc::PR_SET_CHILD_SUBREAPER, 1)
}

/// `prctl(option, value)` for the options that take one plain integer (subreaper, dumpable).
pub(crate) fn prctl_set(option: libc::c_int, value: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the options passed here take plain integers, no pointer.
    if unsafe { libc::prctl(option, value, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn is_pid1() -> bool {
    std::process::id() == 1
}
