//! The last lines of a bot's output for its status page: from its container when it has one
//! (`docker logs --tail`), else from its newest stored daily log object, the way `orchestrator
//! logs` falls back. Bounded: at most [`LINES`] lines of at most [`LINE_CHARS`] characters, a
//! stored object is read through a [`WINDOW`]-byte window (its size never reaches memory), and
//! the whole read gives up after [`DEADLINE`]. Bot output is hostile: [`clean`] drops control
//! characters before the page escapes what is left.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::docker::DockerError;
use crate::engine::Engine;

/// Lines shown.
pub const LINES: usize = 20;
/// Characters kept of a line.
pub const LINE_CHARS: usize = 400;
/// Bytes of a stored log object kept while reading it (its end).
pub const WINDOW: usize = 64 * 1024;
/// The longest a page waits for a bot's logs.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// Why a bot's logs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("container logs: {0}")]
    Engine(#[from] DockerError),
    #[error("stored logs: {0}")]
    Objects(#[from] the0_objstore::Error),
    #[error("stored logs: {0}")]
    Read(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Where a bot's output is: the engine (its container) and the logs bucket.
#[derive(Clone)]
pub struct LogSource {
    pub engine: Arc<dyn Engine>,
    pub objects: Arc<the0_objstore::Store>,
    pub bucket: String,
}

impl LogSource {
    /// The bot's last lines: from `container` when given, else from its stored logs.
    pub async fn last_lines(&self, bot: &str, container: Option<&str>) -> Result<Vec<String>, LogsError> {
        let read = async {
            match container {
                Some(c) => {
                    let lines = self.engine.tail(c, LINES as u32).await?;
                    Ok(last(lines.iter().map(String::as_str)))
                }
                None => self.stored(bot).await,
            }
        };
        tokio::time::timeout(DEADLINE, read).await.map_err(|_| LogsError::Timeout(DEADLINE))?
    }

    async fn stored(&self, bot: &str) -> Result<Vec<String>, LogsError> {
        let objs = self.objects.list(&self.bucket, &the0_contract::keys::log_prefix(bot)).await?;
        let Some(newest) = objs.into_iter().max_by(|a, b| a.key.cmp(&b.key)) else {
            return Ok(Vec::new());
        };
        let Some(mut obj) = self.objects.get(&self.bucket, &newest.key).await? else {
            return Ok(Vec::new());
        };
        let mut window: Vec<u8> = Vec::with_capacity(2 * WINDOW);
        let mut cut = false;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = obj.body.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            window.extend_from_slice(&buf[..n]);
            if window.len() > 2 * WINDOW {
                window.drain(..window.len() - WINDOW);
                cut = true;
            }
        }
        Ok(tail_lines(&window, cut))
    }
}

/// The last [`LINES`] lines of `bytes`, cleaned; `cut` says the first line may be a fragment
/// (the window began inside it), which is then dropped.
pub fn tail_lines(bytes: &[u8], cut: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().skip(usize::from(cut)).collect();
    last(lines.into_iter())
}

/// The last [`LINES`] of `lines`, each [`clean`]ed (a run's stored lines, a container's tail).
pub fn last<'a>(lines: impl DoubleEndedIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = lines.rev().take(LINES).map(clean).collect();
    v.reverse();
    v
}

/// A log line without control characters (tabs become spaces), cut to [`LINE_CHARS`]
/// characters with `…`.
pub fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(LINE_CHARS * 4));
    for (i, c) in line.chars().enumerate() {
        if i == LINE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned_and_cut() {
        let long = "x".repeat(LINE_CHARS + 10);
        for (input, want) in [
            ("plain", "plain".to_string()),
            ("\u{1b}[31mred\u{1b}[0m", "[31mred[0m".to_string()),
            ("a\tb\rc\0d\u{7f}", "a bcd".to_string()),
            ("<script>x</script>", "<script>x</script>".to_string()),
            (long.as_str(), format!("{}…", "x".repeat(LINE_CHARS))),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn the_last_lines_of_a_window() {
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let got = tail_lines(text.as_bytes(), false);
        assert_eq!(got.len(), LINES);
        assert_eq!(got.first().map(String::as_str), Some("line 30"));
        assert_eq!(got.last().map(String::as_str), Some("line 49"));
        // A cut window drops its first, partial line.
        assert_eq!(tail_lines(b"ne 7\nline 8\n", true), ["line 8"]);
        assert_eq!(tail_lines(b"ne 7\nline 8\n", false), ["ne 7", "line 8"]);
        assert!(tail_lines(b"", false).is_empty());
        // Bytes that are not UTF-8 are replaced, not refused.
        assert_eq!(tail_lines(b"a\xffb", false), ["a\u{FFFD}b"]);
    }
}
