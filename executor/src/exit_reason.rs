//! Why the executor ends, when it is not simply the bot's own exit: a full state directory, a
//! start-up (code or restore) failure, a fatal error, state not saved because another writer
//! replaced the remote archive (`state::upload`). The reason goes out as the executor's LAST
//! stdout line, a JSON log line with an `exit_reason` field (one human-readable line), which the
//! orchestrator reads from the container's log to show why a bot stopped.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Below this many free bytes a state directory counts as full (a bot filling a tmpfs until
/// `ENOSPC` leaves at most a partial page).
pub const FULL_BELOW: u64 = 64 * 1024;

/// Writes the `exit_reason` line; call it last, just before the process exits.
pub fn emit(reason: &str) {
    crate::error!("executor exiting", exit_reason = one_line(reason));
}

/// `s` on one line: every run of whitespace (newlines included) becomes one space.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether a filesystem of `total` bytes with `avail` bytes free is full.
pub fn is_full(total: u64, avail: u64) -> bool {
    total > 0 && avail < FULL_BELOW
}

/// The reason given when the state directory is full.
pub fn state_full(path: &Path, total: u64) -> String {
    format!("state directory {} is full ({}): the bot could not write its state", path.display(), mib(total))
}

/// `n` bytes as `12.3 MiB`.
pub fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

/// `(total, available)` bytes of the filesystem holding `path`.
pub fn fs_space(path: &Path) -> io::Result<(u64, u64)> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: c is a valid NUL-terminated path and st a valid out-pointer.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above: c outlives the call and st is a valid, writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// The reason to give if the state directory at `path` is full now; `None` when it is not (or
/// cannot be measured).
pub fn check_state_full(path: &Path) -> Option<String> {
    let (total, avail) = fs_space(path).ok()?;
    is_full(total, avail).then(|| state_full(path, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fullness() {
        for (total, avail, want) in [
            (8 << 20, 0, true),
            (8 << 20, 4096, true),
            (8 << 20, FULL_BELOW - 1, true),
            (8 << 20, FULL_BELOW, false),
            (8 << 20, 4 << 20, false),
            (0, 0, false),
        ] {
            assert_eq!(is_full(total, avail), want, "{total} {avail}");
        }
    }

    #[test]
    fn reasons_read_well_on_one_line() {
        assert_eq!(
            state_full(Path::new("/state"), 64 << 20),
            "state directory /state is full (64.0 MiB): the bot could not write its state"
        );
        assert_eq!(one_line("cannot restore state:\n  bad\tarchive  "), "cannot restore state: bad archive");
        assert_eq!(mib(1536 * 1024), "1.5 MiB");
    }

    #[test]
    fn a_real_directory_is_measured() {
        let dir = tempfile::tempdir().unwrap();
        let (total, _) = fs_space(dir.path()).unwrap();
        assert!(total > 0);
        assert!(fs_space(&dir.path().join("missing")).is_err());
    }
}
