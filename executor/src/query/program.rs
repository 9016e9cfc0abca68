//! The query program's lifecycle behind the front (D16): start it with `THE0_QUERY_PORT` set to a
//! free internal port, probe until it answers, restart it when it dies (1 s doubling to 30 s,
//! reset after a minute up), kill it when it hangs on a query or never comes up, stop it on
//! shutdown. Its output goes to the container's output, never to `bot.log`.
//!
//! One task owns the child and is the only one waiting for its pid (the [`Reaper`] hands each
//! status out once); everyone else learns the state through the [`Phase`] watch channel. The
//! restart loop (`restarts`) is apart from one run of the child (`run_once`) so its timing is
//! tested in paused time with a stand-in run; times are tokio's (the same clock outside tests).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use the0_contract::{env, labels};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::upstream::{self, UpstreamError};
use crate::backoff::Backoff;
use crate::childenv::{self, ChildKind};
use crate::config::Config;
use crate::launch::{self, Launch, Role};
use crate::supervise::child::{self, Output};
use crate::supervise::stop::signal_group;
use crate::supervise::{ExitStatus, Reaper};

/// What the front knows about the query program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// There is no query entrypoint: nothing will ever answer.
    Absent,
    /// Not answering yet: waiting to be launched (sidecar) or starting.
    Starting,
    /// Answering on this internal port; `generation` counts the starts.
    Ready { port: u16, generation: u64 },
    /// Died or was stopped for hanging; it starts again after a backoff.
    Restarting,
    /// The front is shutting down.
    Stopped,
}

impl Phase {
    /// The word the front's own `/health` reports.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Absent => "none",
            Phase::Starting => "starting",
            Phase::Ready { .. } => "ready",
            Phase::Restarting => "restarting",
            Phase::Stopped => "stopped",
        }
    }
}

/// How to run the query program.
#[derive(Debug, Clone)]
pub struct ProgramSpec {
    pub launch: Launch,
    pub cwd: PathBuf,
    /// The child environment, without `THE0_QUERY_PORT` (set per start).
    pub env: BTreeMap<OsString, OsString>,
}

impl ProgramSpec {
    /// The launch table's query command for `entrypoint`, in server mode: `BOT_TYPE=realtime` (the
    /// SDKs serve only then) and no one-shot variables (they would make the SDK run once and exit).
    pub fn from_config(cfg: &Config, entrypoint: &str) -> ProgramSpec {
        let launch =
            launch::command(&cfg.runtime, entrypoint, &cfg.code_path, &crate::run::wrappers_dir(), Role::Query);
        let mut env = childenv::build(std::env::vars_os(), cfg, ChildKind::default());
        env.retain(|k, _| {
            let k = k.to_string_lossy();
            k != env::QUERY_PATH
                && k != env::QUERY_PARAMS
                && k != env::QUERY_RESULT_KEY
                && !k.starts_with(env::QUERY_PARAM_PREFIX)
        });
        env.insert(env::BOT_TYPE.into(), labels::TYPE_REALTIME.into());
        ProgramSpec { launch, cwd: cfg.code_path.clone(), env }
    }
}

/// Timing of the lifecycle.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Longest wait for a started program to answer before it is killed and started again.
    pub startup: Duration,
    pub probe_every: Duration,
    pub probe_timeout: Duration,
    /// TERM → KILL when stopping it.
    pub grace: Duration,
    pub backoff: Backoff,
    /// Up this long → the next restart waits the base delay again.
    pub stable_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            startup: Duration::from_secs(120),
            probe_every: Duration::from_millis(50),
            probe_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(3),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            stable_after: Duration::from_secs(60),
        }
    }
}

/// The channels of a running lifecycle.
pub struct Control {
    pub phase: watch::Sender<Phase>,
    /// Generations the front saw hang on a query.
    pub hung: mpsc::UnboundedReceiver<u64>,
    /// Becomes true on shutdown.
    pub stop: watch::Receiver<bool>,
}

/// A free port on loopback for the program (it binds it itself a moment later).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Whether anything answered on `port`: any reply, even a broken one, means the program is up.
async fn answers(port: u16, limit: Duration) -> bool {
    let req = upstream::Request { method: "GET", target: "/health", headers: &[], body: b"" };
    match tokio::time::timeout(limit, upstream::exchange(port, &req)).await {
        Ok(Ok(_)) => true,
        Ok(Err(UpstreamError::Connect(_) | UpstreamError::NoReply | UpstreamError::Io(_))) | Err(_) => false,
        Ok(Err(_)) => true,
    }
}

async fn probe_until_ready(port: u16, t: Timing) -> bool {
    let deadline = Instant::now() + t.startup;
    while Instant::now() < deadline {
        if answers(port, t.probe_timeout).await {
            return true;
        }
        tokio::time::sleep(t.probe_every).await;
    }
    false
}

async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// TERM to the group, `grace`, KILL; then KILL whatever the group left behind.
async fn end<F>(reaper: &Reaper, pid: i32, mut wait: Pin<&mut F>, grace: Duration) -> ExitStatus
where
    F: std::future::Future<Output = ExitStatus> + ?Sized,
{
    signal_group(reaper, pid, libc::SIGTERM);
    let status = match tokio::time::timeout(grace, &mut wait).await {
        Ok(s) => s,
        Err(_) => {
            signal_group(reaper, pid, libc::SIGKILL);
            wait.await
        }
    };
    signal_group(reaper, pid, libc::SIGKILL);
    status
}

/// How one run of the program ended.
enum RunEnd {
    /// The front is shutting down; the program was stopped.
    Shutdown,
    /// It exited, was killed for hanging, or never answered; `up` is how long it answered.
    Ended { up: Duration },
}

/// One run of the query program, as the restart loop sees it.
trait Run {
    async fn run(&mut self, ctl: &mut Control, generation: u64) -> RunEnd;
}

/// The real program: a child process.
struct Child<'a> {
    spec: &'a ProgramSpec,
    reaper: &'a Reaper,
    t: Timing,
}

impl Run for Child<'_> {
    async fn run(&mut self, ctl: &mut Control, generation: u64) -> RunEnd {
        run_once(self.spec, self.reaper, ctl, self.t, generation).await
    }
}

/// Runs the program until shutdown, restarting it as needed.
pub async fn supervise(spec: ProgramSpec, reaper: Reaper, ctl: Control, t: Timing) {
    restarts(Child { spec: &spec, reaper: &reaper, t }, ctl, t).await;
}

/// Runs `program` until shutdown: after each end, waits the backoff's next delay (reset first
/// if it was up `stable_after`), then starts it again.
async fn restarts(mut program: impl Run, mut ctl: Control, t: Timing) {
    let mut backoff = t.backoff;
    let mut generation = 0u64;
    loop {
        generation += 1;
        let run = program.run(&mut ctl, generation).await;
        match run {
            RunEnd::Shutdown => break,
            RunEnd::Ended { up } => {
                if up >= t.stable_after {
                    backoff.reset();
                }
            }
        }
        let _ = ctl.phase.send(Phase::Restarting);
        let delay = backoff.next_delay();
        crate::info!("query program will be started again", restart_in = format!("{delay:?}"));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopping(&mut ctl.stop) => break,
        }
    }
    let _ = ctl.phase.send(Phase::Stopped);
}

async fn run_once(spec: &ProgramSpec, reaper: &Reaper, ctl: &mut Control, t: Timing, generation: u64) -> RunEnd {
    if *ctl.stop.borrow() {
        return RunEnd::Shutdown;
    }
    let port = match free_port() {
        Ok(p) => p,
        Err(e) => {
            crate::warn!("no free port for the query program", error = e);
            return RunEnd::Ended { up: Duration::ZERO };
        }
    };
    let mut env = spec.env.clone();
    env.insert(env::THE0_QUERY_PORT.into(), port.to_string().into());
    let pid = match child::spawn(reaper, &spec.launch, &spec.cwd, &env, Output::Inherit) {
        Ok(s) => s.pid,
        Err(e) => {
            crate::warn!("cannot start the query program", program = spec.launch.program.display(), error = e);
            return RunEnd::Ended { up: Duration::ZERO };
        }
    };
    crate::info!("query program started", pid = pid, port = port, generation = generation);
    let mut wait = Box::pin(reaper.wait(pid));

    // Until it answers.
    let ready = tokio::select! {
        status = &mut wait => {
            crate::warn!("query program exited before answering", pid = pid, status = status);
            return RunEnd::Ended { up: Duration::ZERO };
        }
        _ = stopping(&mut ctl.stop) => {
            end(reaper, pid, wait.as_mut(), t.grace).await;
            return RunEnd::Shutdown;
        }
        ready = probe_until_ready(port, t) => ready,
    };
    if !ready {
        crate::warn!("query program never answered; restarting it", pid = pid, waited = format!("{:?}", t.startup));
        let status = end(reaper, pid, wait.as_mut(), t.grace).await;
        crate::info!("query program stopped", pid = pid, status = status);
        return RunEnd::Ended { up: Duration::ZERO };
    }
    let since = Instant::now();
    let _ = ctl.phase.send(Phase::Ready { port, generation });
    crate::info!("query program answering", pid = pid, port = port);

    // Until it ends, hangs, or the front shuts down.
    loop {
        tokio::select! {
            status = &mut wait => {
                signal_group(reaper, pid, libc::SIGKILL);
                crate::warn!("query program exited", pid = pid, status = status);
                return RunEnd::Ended { up: since.elapsed() };
            }
            _ = stopping(&mut ctl.stop) => {
                let _ = ctl.phase.send(Phase::Stopped);
                let status = end(reaper, pid, wait.as_mut(), t.grace).await;
                crate::info!("query program stopped", pid = pid, status = status);
                return RunEnd::Shutdown;
            }
            Some(g) = ctl.hung.recv() => {
                if g != generation {
                    continue;
                }
                let _ = ctl.phase.send(Phase::Restarting);
                crate::warn!("query program hangs on a query; restarting it", pid = pid);
                let status = end(reaper, pid, wait.as_mut(), t.grace).await;
                crate::info!("query program stopped", pid = pid, status = status);
                return RunEnd::Ended { up: since.elapsed() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the child: each run is up for the next of `ups` and ends; when they are
    /// used up, it returns as on shutdown. Notes when each run started.
    struct Scripted {
        ups: Vec<Duration>,
        starts: std::sync::Arc<std::sync::Mutex<Vec<Instant>>>,
    }

    impl Run for Scripted {
        async fn run(&mut self, ctl: &mut Control, _generation: u64) -> RunEnd {
            self.starts.lock().unwrap().push(Instant::now());
            if self.ups.is_empty() || *ctl.stop.borrow() {
                return RunEnd::Shutdown;
            }
            let up = self.ups.remove(0);
            tokio::time::sleep(up).await;
            RunEnd::Ended { up }
        }
    }

    fn control() -> (Control, watch::Receiver<Phase>, watch::Sender<bool>) {
        let (phase, phase_rx) = watch::channel(Phase::Starting);
        let (stop_tx, stop) = watch::channel(false);
        let (_hung_tx, hung) = mpsc::unbounded_channel();
        (Control { phase, hung, stop }, phase_rx, stop_tx)
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_wait_one_second_doubling_to_thirty_and_reset_after_a_minute_up() {
        let s = |n| Duration::from_secs(n);
        // Seven quick deaths, one run up for 61 s (past `stable_after`), then three quick deaths.
        let ups = vec![s(0), s(0), s(0), s(0), s(0), s(0), s(0), s(61), s(0), s(0)];
        let starts = std::sync::Arc::default();
        let program = Scripted { ups: ups.clone(), starts: std::sync::Arc::clone(&starts) };
        let (ctl, phase, _stop) = control();
        restarts(program, ctl, Timing::default()).await;
        let starts = starts.lock().unwrap().clone();
        assert_eq!(starts.len(), ups.len() + 1);
        let waits: Vec<u64> =
            starts.windows(2).zip(&ups).map(|(w, up)| (w[1] - w[0] - *up).as_millis() as u64).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 1_000, 2_000, 4_000]);
        assert_eq!(*phase.borrow(), Phase::Stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_during_the_backoff_ends_the_loop_without_another_start() {
        let starts = std::sync::Arc::default();
        let program = Scripted { ups: vec![Duration::ZERO; 5], starts: std::sync::Arc::clone(&starts) };
        let (ctl, phase, stop) = control();
        let looping = tokio::spawn(restarts(program, ctl, Timing::default()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(*phase.borrow(), Phase::Restarting, "waiting the first second");
        stop.send(true).unwrap();
        looping.await.unwrap();
        assert_eq!(starts.lock().unwrap().len(), 1, "no start after the stop");
        assert_eq!(*phase.borrow(), Phase::Stopped);
    }

    #[test]
    fn phase_names() {
        assert_eq!(Phase::Ready { port: 1, generation: 1 }.name(), "ready");
        assert_eq!(Phase::Absent.name(), "none");
        assert_eq!(Phase::Restarting.name(), "restarting");
    }

    #[test]
    fn server_spec_drops_one_shot_variables() {
        let vars: std::collections::HashMap<String, String> = [
            ("BOT_ID", "b"),
            ("RUNTIME", "python3.11"),
            ("ENTRYPOINT", "main.py"),
            ("CODE_PATH", "/code"),
            ("BOT_TYPE", "scheduled"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = Config::from_vars(&vars, true).unwrap();
        let spec = ProgramSpec::from_config(&cfg, "query.py");
        assert_eq!(spec.launch.program, PathBuf::from("python3"));
        assert_eq!(spec.launch.args, vec!["query.py".to_string()]);
        assert_eq!(spec.cwd, PathBuf::from("/code"));
        assert_eq!(spec.env.get(&OsString::from("BOT_TYPE")), Some(&OsString::from("realtime")));
        assert!(!spec.env.contains_key(&OsString::from("QUERY_PATH")));
    }
}
