//! A child's end: exit code or terminating signal, and the code the executor exits with.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// Decodes a raw `waitpid` status; `None` for stop/continue notifications.
    pub fn from_wait_status(status: libc::c_int) -> Option<ExitStatus> {
        if libc::WIFEXITED(status) {
            Some(ExitStatus::Exited(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ExitStatus::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    /// The exit code to report: the child's own code, or 128+signal as shells and tini do (D2).
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "signal {s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(ExitStatus::Exited(0).code(), 0);
        assert_eq!(ExitStatus::Exited(3).code(), 3);
        assert_eq!(ExitStatus::Signaled(libc::SIGKILL).code(), 137);
        assert_eq!(ExitStatus::Signaled(libc::SIGTERM).code(), 143);
        // Raw wait statuses as the kernel encodes them.
        assert_eq!(ExitStatus::from_wait_status(3 << 8), Some(ExitStatus::Exited(3)));
        assert_eq!(ExitStatus::from_wait_status(libc::SIGKILL), Some(ExitStatus::Signaled(9)));
        assert_eq!(ExitStatus::from_wait_status(0x137f), None); // stopped by SIGSTOP
    }
}
