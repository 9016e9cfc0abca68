//! `orchestrator logs ID -f` and `logs --all [-f]`: a bot's output followed across container
//! replacements (a new spec, a crash and restart, a `restart`), and every bot's output at once,
//! each line prefixed with its bot's id as `docker compose logs` does.
//!
//! A container's log stream ends when the container stops; the bot's next container has the same
//! name but a new id. [`next`] (pure, table-tested) decides from what Docker lists what to read
//! after a stream ended: a container of the bot other than the one just read (all its output, it
//! is new), the same one again if it still runs (the stream broke: from where it ended, to the
//! second), or nothing yet (wait for the replacement).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::docker::{Docker, DockerError};
use crate::logwindow::LogWindow;
use crate::observed::{Observed, State};

/// How often Docker is listed while a followed bot has no container to read.
const POLL: Duration = Duration::from_millis(500);

/// What to read next of one bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Read this container (its id), from this Unix second on (`None`: all of it).
    Attach { container: String, since_s: Option<i64> },
    /// Nothing to read until Docker shows another container of the bot.
    Wait,
}

/// What to read of a bot after the stream of `last` ended at `ended_s` (`last` is `None` before
/// the first read), given the containers Docker lists for it.
pub fn next(last: Option<&str>, ended_s: i64, seen: &[Observed]) -> Next {
    // An update's successor waiting for its release is read only once the bot's container is gone
    // (it becomes the bot's container then: issue #15).
    let bots: Vec<&Observed> = seen.iter().filter(|o| !o.successor).collect();
    let pool: Vec<&Observed> = if bots.is_empty() { seen.iter().collect() } else { bots };
    let Some(newest) = pool.into_iter().max_by_key(|o| o.created_ms) else {
        return Next::Wait;
    };
    if Some(newest.container.as_str()) != last {
        return Next::Attach { container: newest.container.clone(), since_s: None };
    }
    if newest.state == State::Running {
        return Next::Attach { container: newest.container.clone(), since_s: Some(ended_s) };
    }
    Next::Wait
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// A line of output and whose it is.
struct Line {
    bot: String,
    bytes: Vec<u8>,
}

/// Follows `bots` (every bot Docker shows a container of, when `None`) until the process is
/// stopped, writing their lines to `out`, each prefixed with the bot's id when `prefix`. The
/// first read of each container present at the start honours `window`; later ones (replacements)
/// are read whole.
pub async fn follow(
    docker: &Docker,
    bots: Option<&HashSet<String>>,
    window: &LogWindow,
    prefix: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), FollowError> {
    let (tx, mut rx) = mpsc::channel::<Line>(256);
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<String>();
    // Per bot: the container read last, and whether a stream of it is open.
    let mut last: HashMap<String, (Option<String>, bool, i64)> = HashMap::new();
    let mut first_round = true;
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            Some(line) = rx.recv() => {
                write_line(out, prefix, &line)?;
                continue;
            }
            Some(bot) = ended_rx.recv() => {
                if let Some(e) = last.get_mut(&bot) {
                    e.1 = false;
                    e.2 = now_s();
                }
                continue;
            }
            _ = tick.tick() => {}
        }
        let seen = docker.observe().await?;
        let mut by_bot: HashMap<String, Vec<Observed>> = HashMap::new();
        for o in seen {
            if bots.is_none_or(|b| b.contains(&o.bot_id)) {
                by_bot.entry(o.bot_id.clone()).or_default().push(o);
            }
        }
        let mut ids: Vec<String> = by_bot.keys().cloned().collect();
        ids.extend(bots.into_iter().flatten().cloned());
        ids.sort();
        ids.dedup();
        for bot in ids {
            let entry = last.entry(bot.clone()).or_insert((None, false, now_s()));
            if entry.1 {
                continue;
            }
            let cs = by_bot.get(&bot).map(Vec::as_slice).unwrap_or_default();
            let Next::Attach { container, since_s } = next(entry.0.as_deref(), entry.2, cs) else {
                continue;
            };
            let (tail, since) = if first_round { (window.tail, window.since_seconds()) } else { (None, since_s) };
            entry.0 = Some(container.clone());
            entry.1 = true;
            let stream = docker.logs(&container, true, tail, since);
            tokio::spawn(pump(bot.clone(), stream, tx.clone(), ended_tx.clone()));
        }
        first_round = false;
    }
}

fn now_s() -> i64 {
    crate::store::now_ms().div_euclid(1000)
}

/// Cuts one container's stream into lines and sends them; says when the stream ended.
async fn pump(
    bot: String,
    stream: impl futures_util::Stream<Item = Result<bytes::Bytes, DockerError>> + Send + 'static,
    tx: mpsc::Sender<Line>,
    ended: mpsc::UnboundedSender<String>,
) {
    let mut stream = Box::pin(stream);
    let mut partial = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        partial.extend_from_slice(&chunk);
        while let Some(i) = partial.iter().position(|&b| b == b'\n') {
            let rest = partial.split_off(i + 1);
            partial.truncate(i);
            let line = std::mem::replace(&mut partial, rest);
            if tx.send(Line { bot: bot.clone(), bytes: line }).await.is_err() {
                return;
            }
        }
    }
    if !partial.is_empty() {
        let _ = tx.send(Line { bot: bot.clone(), bytes: partial }).await;
    }
    let _ = ended.send(bot);
}

fn write_line(out: &mut (dyn Write + Send), prefix: bool, line: &Line) -> std::io::Result<()> {
    if prefix {
        write!(out, "{} | ", line.bot)?;
    }
    out.write_all(&line.bytes)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, created_ms: i64, state: State) -> Observed {
        Observed {
            container: id.into(),
            name: "the0-bot-b".into(),
            bot_id: "b".into(),
            state,
            hash: None,
            created_ms,
            started_ms: Some(created_ms),
            finished_ms: None,
            exit_code: None,
            oom: false,
            successor: false,
        }
    }

    fn waiting(id: &str, created_ms: i64) -> Observed {
        Observed { successor: true, ..c(id, created_ms, State::Running) }
    }

    #[test]
    fn what_to_read_after_a_stream_ended() {
        let attach = |id: &str, since_s| Next::Attach { container: id.into(), since_s };
        let table: Vec<(Option<&str>, Vec<Observed>, Next)> = vec![
            (None, vec![], Next::Wait),
            (None, vec![c("a", 1, State::Running)], attach("a", None)),
            (None, vec![c("a", 1, State::Exited)], attach("a", None)),
            (Some("a"), vec![c("a", 1, State::Exited)], Next::Wait),
            (Some("a"), vec![c("a", 1, State::Running)], attach("a", Some(100))),
            (Some("a"), vec![c("a", 1, State::Exited), c("b", 2, State::Created)], attach("b", None)),
            (Some("a"), vec![c("b", 2, State::Running), c("a", 1, State::Exited)], attach("b", None)),
            (Some("b"), vec![c("b", 2, State::Exited), c("a", 1, State::Exited)], Next::Wait),
            (Some("a"), vec![], Next::Wait),
            // An update's successor: not while the bot's container is listed, then read whole.
            (None, vec![c("a", 1, State::Running), waiting("n", 2)], attach("a", None)),
            (Some("a"), vec![c("a", 1, State::Exited), waiting("n", 2)], Next::Wait),
            (Some("a"), vec![waiting("n", 2)], attach("n", None)),
        ];
        for (last, seen, want) in table {
            assert_eq!(next(last, 100, &seen), want, "{last:?} {seen:?}");
        }
    }
}
