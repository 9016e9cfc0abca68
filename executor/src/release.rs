//! The waiting mode of an update handover (`THE0_WAIT_FOR_RELEASE=1`, issue #15): the successor
//! container's executor fetches and extracts the new code, then waits, without restoring state or
//! starting anything, until the orchestrator releases it with `runtime release [--state-etag E]`
//! (run with `docker exec` once the old container has stopped and made its final sync). The
//! release hands over which version of the state archive the old container left, so the successor
//! never restores an older one (see `state::restore::restore_expecting`).
//!
//! The handshake is three small files in the run dir (`/var/the0`, a tmpfs of the container):
//!
//! * `prepared`: written by PID 1 when the code is in place and it waits;
//! * `release`: written atomically by `runtime release`: `etag <E>` or `any` (no state object was
//!   there: a first run, or whatever storage holds then);
//! * `released`: written by PID 1 when it has taken the release.
//!
//! PID 1 polls for `release` every [`POLL`] rather than being signalled: the executor forwards
//! every non-stop signal to the bot, so giving one a meaning of its own would take it from bots,
//! and a stat every 10 ms for the second or so that a handover lasts costs nothing. PID 1 opens
//! the file with `O_NOFOLLOW | O_NONBLOCK` and reads it only if it is a small regular file: nothing
//! else runs in the container while it waits (no bot yet), but the rule holds everywhere.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Run-dir file PID 1 writes when it waits for the release.
pub const PREPARED: &str = "prepared";
/// Run-dir file `runtime release` writes.
pub const RELEASE: &str = "release";
/// Run-dir file PID 1 writes once it took the release.
pub const RELEASED: &str = "released";
/// How often PID 1 looks for the release.
pub const POLL: Duration = Duration::from_millis(10);
/// Largest release file read (an ETag is well under this).
const MAX_RELEASE: u64 = 1024;

/// Which state archive the successor must restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// No archive was there when the old container ended: restore whatever storage holds.
    Any,
    /// Exactly this version (the state object's ETag after the old container's final sync).
    Etag(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

impl Expect {
    /// The release file's content.
    pub fn encode(&self) -> String {
        match self {
            Expect::Any => "any\n".into(),
            Expect::Etag(e) => format!("etag {e}\n"),
        }
    }

    /// Parses a release file's content; `None` when it is not one.
    pub fn decode(s: &str) -> Option<Expect> {
        let s = s.trim();
        if s == "any" {
            return Some(Expect::Any);
        }
        let etag = s.strip_prefix("etag ")?.trim();
        let ok = !etag.is_empty() && etag.chars().all(|c| c.is_ascii_graphic());
        ok.then(|| Expect::Etag(etag.to_string()))
    }

    /// Whether an archive whose ETag is `etag` (`None`: no archive) is the one to restore.
    /// Quotes around an ETag do not matter (servers quote some answers, not others).
    pub fn accepts(&self, etag: Option<&str>) -> bool {
        let bare = |e: &str| e.trim().trim_matches('"').to_string();
        match (self, etag) {
            (Expect::Any, _) => true,
            (Expect::Etag(want), Some(got)) => !bare(want).is_empty() && bare(want) == bare(got),
            (Expect::Etag(_), None) => false,
        }
    }
}

/// Where a waiting state's files are, for `runtime release` run beside PID 1: the parent of
/// `LOGS_PATH` as PID 1 computes it (`/var/the0` by default).
pub fn run_dir_from_env() -> PathBuf {
    let logs = std::env::var_os(the0_contract::env::LOGS_PATH)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(the0_contract::paths::DEFAULT_LOGS_PATH), PathBuf::from);
    logs.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ReleaseError + 'a {
    move |source| ReleaseError::Io { what, path: path.to_path_buf(), source }
}

fn write_marker(run_dir: &Path, name: &str, contents: &[u8]) -> Result<(), ReleaseError> {
    std::fs::create_dir_all(run_dir).map_err(io_err("creating", run_dir))?;
    let path = run_dir.join(name);
    the0_objstore::atomic::write_file(&path, contents, 0o600).map_err(io_err("writing", &path))
}

/// PID 1: the code is ready, waiting for the release.
pub fn mark_prepared(run_dir: &Path) -> Result<(), ReleaseError> {
    write_marker(run_dir, PREPARED, b"")
}

/// `runtime release`: hands `expect` to PID 1 (atomically: PID 1 never reads half a file).
pub fn release(run_dir: &Path, expect: &Expect) -> Result<(), ReleaseError> {
    write_marker(run_dir, RELEASE, expect.encode().as_bytes())
}

/// How far a waiting executor is, as `runtime release --check` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Still fetching the code (or not in waiting mode at all).
    Preparing,
    /// Code ready, waiting for the release.
    Prepared,
    /// Released: restoring state or running the bot.
    Released,
}

impl Progress {
    pub fn as_str(self) -> &'static str {
        match self {
            Progress::Preparing => "preparing",
            Progress::Prepared => "prepared",
            Progress::Released => "released",
        }
    }
}

/// Reads the markers (their existence only: nothing of them is opened).
pub fn progress(run_dir: &Path) -> Progress {
    let is_file = |name| std::fs::symlink_metadata(run_dir.join(name)).is_ok_and(|m| m.file_type().is_file());
    if is_file(RELEASED) {
        Progress::Released
    } else if is_file(PREPARED) {
        Progress::Prepared
    } else {
        Progress::Preparing
    }
}

/// One look for the release: `Ok(None)` when there is none yet. A release file that is a link,
/// not a regular file, too big or unparsable is an error (and is removed, so it is not read again).
pub fn take(run_dir: &Path) -> Result<Option<Expect>, ReleaseError> {
    let path = run_dir.join(RELEASE);
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            return Err(ReleaseError::Io { what: "opening", path, source: e });
        }
    };
    let read = read_small(&file, &path);
    let _ = std::fs::remove_file(&path);
    let text = read?;
    let expect = Expect::decode(&text)
        .ok_or_else(|| ReleaseError::Malformed { path: path.clone(), reason: format!("unknown content {text:?}") })?;
    write_marker(run_dir, RELEASED, expect.encode().as_bytes())?;
    Ok(Some(expect))
}

fn read_small(file: &File, path: &Path) -> Result<String, ReleaseError> {
    let meta = file.metadata().map_err(io_err("reading", path))?;
    if !meta.file_type().is_file() {
        return Err(ReleaseError::NotRegular(path.to_path_buf()));
    }
    if meta.len() > MAX_RELEASE {
        return Err(ReleaseError::Malformed { path: path.to_path_buf(), reason: format!("{} bytes", meta.len()) });
    }
    let mut s = String::new();
    file.take(MAX_RELEASE).read_to_string(&mut s).map_err(io_err("reading", path))?;
    Ok(s)
}

/// PID 1: waits until released; returns which state to restore. A malformed release is logged
/// and ignored (the orchestrator releases again, or stops the container).
pub async fn wait(run_dir: &Path) -> Expect {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match take(run_dir) {
            Ok(Some(e)) => return e,
            Ok(None) => {}
            Err(e) => crate::warn!("ignoring a bad release", error = e),
        }
    }
}

/// The release as `runtime release --stdin` reads it: one line (at most 1 KiB) in
/// the release file's format. A stream that ends without a whole line (the orchestrator gave up
/// on the handover and closed it) or a line that is not a release is an error: nothing is released.
pub fn read_line(input: impl BufRead) -> Result<Expect, ReleaseError> {
    let stdin = Path::new("stdin");
    let mut buf = Vec::new();
    input.take(MAX_RELEASE).read_until(b'\n', &mut buf).map_err(io_err("reading", stdin))?;
    let malformed = |reason: String| ReleaseError::Malformed { path: stdin.to_path_buf(), reason };
    if buf.last() != Some(&b'\n') {
        return Err(malformed("closed before a whole line (nothing released)".to_string()));
    }
    let text = String::from_utf8_lossy(&buf);
    Expect::decode(&text).ok_or_else(|| malformed(format!("unknown content {text:?}")))
}

/// `runtime release [--state-etag E | --stdin] [--check]`; returns the exit code. `--check` prints
/// the [`Progress`] and exits 0 when prepared or released, 2 while preparing.
pub fn command(opts: &crate::cli::ReleaseOpts) -> i32 {
    let run_dir = run_dir_from_env();
    if opts.check {
        let p = progress(&run_dir);
        println!("{}", p.as_str());
        return if p == Progress::Preparing { 2 } else { 0 };
    }
    let expect = if opts.stdin {
        match read_line(io::stdin().lock()) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        }
    } else {
        opts.state_etag.clone().map_or(Expect::Any, Expect::Etag)
    };
    match release(&run_dir, &expect) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_file_round_trips_and_rejects_garbage() {
        for e in [Expect::Any, Expect::Etag("\"abc-1\"".into()), Expect::Etag("4096-17-99".into())] {
            assert_eq!(Expect::decode(&e.encode()), Some(e.clone()), "{e:?}");
        }
        for bad in ["", "etag", "etag ", "etag a b", "anything", "etag \u{7f}x"] {
            assert_eq!(Expect::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_release_from_stdin_is_one_whole_line() {
        let read = |s: &str| read_line(s.as_bytes()).ok();
        assert_eq!(read("etag \"abc-1\"\n"), Some(Expect::Etag("\"abc-1\"".into())));
        assert_eq!(read("any\nrest"), Some(Expect::Any), "only the first line");
        for bad in ["", "etag abc", "any", "etag\n", "garbage\n"] {
            assert_eq!(read(bad), None, "{bad:?}: a closed stream or a bad line releases nothing");
        }
        let long = format!("etag {}\n", "a".repeat(MAX_RELEASE as usize));
        assert_eq!(read(&long), None, "bounded");
    }

    #[test]
    fn accepts_only_the_expected_version() {
        let e = |s: &str| Expect::Etag(s.into());
        for (want, got, ok) in [
            (Expect::Any, None, true),
            (Expect::Any, Some("x"), true),
            (e("abc"), Some("abc"), true),
            (e("\"abc\""), Some("abc"), true),
            (e("abc"), Some("\"abc\""), true),
            (e("abc"), Some("abd"), false),
            (e("abc"), None, false),
            (e("\"\""), Some(""), false),
        ] {
            assert_eq!(want.accepts(got), ok, "{want:?} {got:?}");
        }
    }

    #[test]
    fn progress_follows_the_markers_and_take_consumes_once() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("the0");
        assert_eq!(progress(&run), Progress::Preparing);
        assert!(take(&run).unwrap().is_none());
        mark_prepared(&run).unwrap();
        assert_eq!(progress(&run), Progress::Prepared);
        release(&run, &Expect::Etag("v1".into())).unwrap();
        assert_eq!(take(&run).unwrap(), Some(Expect::Etag("v1".into())));
        assert_eq!(progress(&run), Progress::Released);
        assert!(take(&run).unwrap().is_none(), "taken once");
    }

    #[test]
    fn a_link_or_a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let target = run.join("elsewhere");
        std::fs::write(&target, "etag stolen").unwrap();
        std::os::unix::fs::symlink(&target, run.join(RELEASE)).unwrap();
        assert!(take(run).is_err(), "a link is not followed");
        assert!(!run.join(RELEASE).exists() && target.exists(), "the link is removed, not its target");
        std::fs::create_dir(run.join(RELEASE)).unwrap();
        assert!(take(run).is_err(), "a directory is refused");
        std::fs::remove_dir(run.join(RELEASE)).unwrap();
        std::fs::write(run.join(RELEASE), "x".repeat(4096)).unwrap();
        assert!(matches!(take(run), Err(ReleaseError::Malformed { .. })), "too big");
        assert_eq!(progress(run), Progress::Preparing);
    }
}
