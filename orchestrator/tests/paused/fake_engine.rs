//! An in-memory container engine for the paused-time tests: containers are entries in a map,
//! every call is recorded with the (virtual) time it was made, and the test says when a container
//! exits and with which code (a `die` event goes out, as Docker sends one). Nothing here waits on
//! anything but the test, so tokio's paused clock only moves when the test advances it or every
//! task is idle.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use the0_orchestrator::clock::Clock;
use the0_orchestrator::docker::{DockerError, ExecOutcome, OneShot, Result, WaitOutcome};
use the0_orchestrator::engine::{Engine, Pending};
use the0_orchestrator::observed::{Observed, State};
use the0_orchestrator::spec::{ContainerSpec, DUE_LABEL};
use tokio::sync::{mpsc, watch};

/// One call the engine saw, with the virtual Unix ms it came at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A realtime container was started for the bot.
    Run {
        bot: String,
        at_ms: i64,
    },
    /// A realtime start was refused (told to by [`FakeEngine::refuse_runs`]).
    RunRefused {
        bot: String,
        at_ms: i64,
    },
    /// A run-to-completion container was started for the bot's run due at `due_ms`.
    StartOneshot {
        bot: String,
        due_ms: Option<i64>,
        at_ms: i64,
    },
    Remove {
        container: String,
    },
    /// An update's successor was released (`runtime release`) with this state ETag.
    Release {
        container: String,
        etag: Option<String>,
        at_ms: i64,
    },
    Rename {
        container: String,
        name: String,
    },
}

struct Container {
    observed: Observed,
    oneshot: bool,
    due_ms: Option<i64>,
    /// Created in the executor's waiting mode and not released yet: no bot process runs.
    waiting: bool,
    /// When its code is prepared (waiting mode); `None`: never.
    prepared_at: Option<i64>,
    /// When it fails to prepare and exits 1 (waiting mode).
    fails_at: Option<i64>,
}

#[derive(Default)]
struct Inner {
    containers: BTreeMap<String, Container>,
    calls: Vec<Call>,
    next_id: u64,
    refuse_runs: u32,
    /// How long each `run` takes (virtual time) before its container exists.
    run_delay: Duration,
    observe_passes: u64,
    events: Vec<mpsc::UnboundedSender<Result<String>>>,
    /// How long a successor takes to prepare (virtual time).
    prepare_delay: Duration,
    /// The next successors fail to prepare (exit 1 after `prepare_delay`).
    fail_prepares: u32,
    /// The next successors never report prepared.
    hang_prepares: u32,
    /// Per bot: the most bot processes (running, not waiting) seen at once.
    peak_alive: BTreeMap<String, usize>,
}

/// Cheap to clone: clones share one engine (a started exec holds one until it finishes).
#[derive(Clone)]
pub struct FakeEngine {
    clock: Clock,
    inner: Arc<Mutex<Inner>>,
    /// Bumped on every container change; `wait_exit` waits on it.
    changed: Arc<watch::Sender<u64>>,
}

/// `runtime release --stdin` started in a successor: the release happens when its line comes.
struct FakePending {
    engine: FakeEngine,
    container: String,
}

impl Pending for FakePending {
    fn finish(self: Box<Self>, line: Option<String>) -> BoxFuture<'static, Result<ExecOutcome>> {
        Box::pin(async move {
            let mut cmd = vec!["/app/runtime".to_string(), "release".to_string()];
            match line.as_deref().map(str::trim) {
                Some("any") => {}
                Some(l) if l.starts_with("etag ") => {
                    cmd.extend(["--state-etag".to_string(), l["etag ".len()..].to_string()]);
                }
                other => return Ok(ExecOutcome { code: Some(1), output: format!("no release: {other:?}") }),
            }
            self.engine.exec(&self.container, &cmd).await
        })
    }
}

impl FakeEngine {
    pub fn new(clock: Clock) -> FakeEngine {
        FakeEngine { clock, inner: Arc::default(), changed: Arc::new(watch::channel(0).0) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// When each realtime start of `bot` happened (virtual Unix ms).
    pub fn runs_of(&self, bot: &str) -> Vec<i64> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Run { bot: b, at_ms } if b == bot => Some(at_ms),
                _ => None,
            })
            .collect()
    }

    /// How many times the reconciler has listed the containers (one per pass).
    pub fn observe_passes(&self) -> u64 {
        self.lock().observe_passes
    }

    /// The next `n` realtime starts fail as an engine error.
    pub fn refuse_runs(&self, n: u32) {
        self.lock().refuse_runs = n;
    }

    /// The bot's (only) live container exits with `code`; Docker's `die` event goes out.
    /// Every later `run` takes `d` of virtual time before its container exists.
    pub fn slow_runs(&self, d: Duration) {
        self.lock().run_delay = d;
    }

    pub fn exit(&self, bot: &str, code: i64) {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        let c = g
            .containers
            .values_mut()
            .find(|c| c.observed.bot_id == bot && c.observed.state == State::Running)
            .unwrap_or_else(|| panic!("no running container of {bot}"));
        c.observed.state = State::Exited;
        c.observed.exit_code = Some(code);
        c.observed.finished_ms = Some(now);
        g.events.retain(|tx| tx.send(Ok("die".to_string())).is_ok());
        drop(g);
        self.changed.send_modify(|v| *v += 1);
    }

    /// The bot's live container is removed by someone else (`docker rm -f`): Docker's `destroy`
    /// event goes out and no call is recorded.
    pub fn destroy(&self, bot: &str) {
        let mut g = self.lock();
        let id = g
            .containers
            .iter()
            .find(|(_, c)| c.observed.bot_id == bot && c.observed.state == State::Running)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no running container of {bot}"));
        g.containers.remove(&id);
        g.events.retain(|tx| tx.send(Ok("destroy".to_string())).is_ok());
        drop(g);
        self.changed.send_modify(|v| *v += 1);
    }

    /// Whether the bot has a running container.
    pub fn is_running(&self, bot: &str) -> bool {
        self.lock().containers.values().any(|c| c.observed.bot_id == bot && c.observed.state == State::Running)
    }

    /// Successors take `d` of virtual time to prepare (default: at once).
    pub fn prepare_in(&self, d: Duration) {
        self.lock().prepare_delay = d;
    }

    /// The next `n` successors fail to prepare: they exit 1 after the prepare delay.
    pub fn fail_prepares(&self, n: u32) {
        self.lock().fail_prepares = n;
    }

    /// The next `n` successors never report their code prepared.
    pub fn hang_prepares(&self, n: u32) {
        self.lock().hang_prepares = n;
    }

    /// The most bot processes of `bot` that ran at once (a waiting successor runs none).
    pub fn peak_alive(&self, bot: &str) -> usize {
        self.lock().peak_alive.get(bot).copied().unwrap_or(0)
    }

    /// The bot's containers as (name, running, waiting).
    pub fn containers_of(&self, bot: &str) -> Vec<(String, bool, bool)> {
        self.lock()
            .containers
            .values()
            .filter(|c| c.observed.bot_id == bot && !c.oneshot)
            .map(|c| (c.observed.name.clone(), c.observed.state == State::Running, c.waiting))
            .collect()
    }

    fn count_alive(g: &mut Inner, bot: &str) {
        let n = g
            .containers
            .values()
            .filter(|c| c.observed.bot_id == bot && !c.oneshot && c.observed.state == State::Running && !c.waiting)
            .count();
        let peak = g.peak_alive.entry(bot.to_string()).or_default();
        *peak = (*peak).max(n);
    }

    fn create(&self, spec: &ContainerSpec, oneshot: bool) -> String {
        let now = self.clock.now_ms();
        let mut g = self.lock();
        g.next_id += 1;
        let id = format!("fake{:08}", g.next_id);
        let bot = spec.labels.get(the0_contract::labels::ID).cloned().unwrap_or_default();
        let due_ms = spec.labels.get(DUE_LABEL).and_then(|d| d.parse().ok());
        let observed = Observed {
            container: id.clone(),
            name: spec.name.clone(),
            bot_id: bot.clone(),
            state: State::Running,
            hash: spec.labels.get(the0_contract::labels::CONFIG_HASH).cloned(),
            created_ms: now,
            started_ms: Some(now),
            finished_ms: None,
            exit_code: None,
            oom: false,
            successor: spec.labels.get(the0_contract::labels::SUCCESSOR).is_some_and(|v| v == "true")
                && spec.name.ends_with(the0_orchestrator::spec::SUCCESSOR_SUFFIX),
        };
        let waiting = spec.env.iter().any(|e| e == &format!("{}=1", the0_contract::env::THE0_WAIT_FOR_RELEASE));
        let ready = now + g.prepare_delay.as_millis() as i64;
        let (mut prepared_at, mut fails_at) = (waiting.then_some(ready), None);
        if waiting && g.fail_prepares > 0 {
            g.fail_prepares -= 1;
            (prepared_at, fails_at) = (None, Some(ready));
        } else if waiting && g.hang_prepares > 0 {
            g.hang_prepares -= 1;
            prepared_at = None;
        }
        g.containers.insert(id.clone(), Container { observed, oneshot, due_ms, waiting, prepared_at, fails_at });
        Self::count_alive(&mut g, &bot);
        let call = if oneshot { Call::StartOneshot { bot, due_ms, at_ms: now } } else { Call::Run { bot, at_ms: now } };
        g.calls.push(call);
        drop(g);
        self.changed.send_modify(|v| *v += 1);
        id
    }

    fn drop_container(&self, id: &str) {
        let mut g = self.lock();
        g.calls.push(Call::Remove { container: id.to_string() });
        if g.containers.remove(id).is_some() {
            g.events.retain(|tx| tx.send(Ok("destroy".to_string())).is_ok());
        }
        drop(g);
        self.changed.send_modify(|v| *v += 1);
    }

    async fn wait_until_exited(&self, id: &str) -> WaitOutcome {
        let mut rx = self.changed.subscribe();
        loop {
            let state = self.lock().containers.get(id).map(|c| (c.observed.state, c.observed.exit_code));
            match state {
                None => return WaitOutcome::Gone,
                Some((State::Running, _)) => {}
                Some((_, code)) => return WaitOutcome::Exited { code: code.unwrap_or(-1), oom: false },
            }
            if rx.changed().await.is_err() {
                return WaitOutcome::Gone;
            }
        }
    }
}

impl Engine for FakeEngine {
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn observe(&self) -> BoxFuture<'_, Result<Vec<Observed>>> {
        let mut g = self.lock();
        g.observe_passes += 1;
        let out = g.containers.values().filter(|c| !c.oneshot).map(|c| c.observed.clone()).collect();
        Box::pin(async move { Ok(out) })
    }

    fn managed_names(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        let out = self.lock().containers.values().map(|c| c.observed.name.clone()).collect();
        Box::pin(async move { Ok(out) })
    }

    fn run<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            {
                let mut g = self.lock();
                if g.refuse_runs > 0 {
                    g.refuse_runs -= 1;
                    let bot = spec.labels.get(the0_contract::labels::ID).cloned().unwrap_or_default();
                    g.calls.push(Call::RunRefused { bot, at_ms: self.clock.now_ms() });
                    return Err(DockerError::Network("refused by the test".into()));
                }
            }
            let delay = self.lock().run_delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(self.create(spec, false))
        })
    }

    fn stop_and_remove<'a>(&'a self, id: &'a str, _grace: Duration) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.drop_container(id);
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.drop_container(id);
            Ok(())
        })
    }

    fn events(&self) -> BoxStream<'static, Result<String>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().events.push(tx);
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }))
    }

    fn logs(&self, _name: &str, _follow: bool, _tail: Option<u32>) -> BoxStream<'static, Result<bytes::Bytes>> {
        Box::pin(futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"fake output\n"))]))
    }

    fn start_oneshot<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move { Ok(self.create(spec, true)) })
    }

    fn list_oneshots(&self) -> BoxFuture<'_, Result<Vec<OneShot>>> {
        let out = self
            .lock()
            .containers
            .values()
            .filter(|c| c.oneshot)
            .map(|c| OneShot {
                container: c.observed.container.clone(),
                name: c.observed.name.clone(),
                bot_id: c.observed.bot_id.clone(),
                state: c.observed.state,
                due_ms: c.due_ms,
                warm: c.observed.name.starts_with("the0-warm-"),
                created_ms: c.observed.created_ms,
            })
            .collect();
        Box::pin(async move { Ok(out) })
    }

    fn wait_exit<'a>(
        &'a self,
        id: &'a str,
        deadline: Option<Duration>,
        _grace: Duration,
    ) -> BoxFuture<'a, Result<WaitOutcome>> {
        Box::pin(async move {
            match deadline {
                None => Ok(self.wait_until_exited(id).await),
                Some(d) => match tokio::time::timeout(d, self.wait_until_exited(id)).await {
                    Ok(o) => Ok(o),
                    Err(_) => {
                        self.drop_container(id);
                        Ok(WaitOutcome::TimedOut)
                    }
                },
            }
        })
    }

    fn tail<'a>(&'a self, _id: &'a str, _n: u32) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async { Ok(vec!["fake output".to_string()]) })
    }

    fn container_ip<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }

    /// Knows `runtime release --check` and `runtime release [--state-etag E]` of a successor.
    fn exec<'a>(&'a self, id: &'a str, cmd: &'a [String]) -> BoxFuture<'a, Result<ExecOutcome>> {
        Box::pin(async move {
            let now = self.clock.now_ms();
            let mut g = self.lock();
            let not_running = || DockerError::Network(format!("container {id} is not running"));
            let c = g.containers.get_mut(id).ok_or_else(not_running)?;
            if c.fails_at.is_some_and(|at| now >= at) && c.observed.state == State::Running {
                c.observed.state = State::Exited;
                c.observed.exit_code = Some(1);
                c.observed.finished_ms = Some(now);
                g.events.retain(|tx| tx.send(Ok("die".to_string())).is_ok());
                drop(g);
                self.changed.send_modify(|v| *v += 1);
                return Err(not_running());
            }
            if c.observed.state != State::Running {
                return Err(not_running());
            }
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let out = |code: i64, text: &str| ExecOutcome { code: Some(code), output: text.to_string() };
            match args.as_slice() {
                ["/app/runtime", "release", "--check"] => Ok(match (c.waiting, c.prepared_at) {
                    (false, _) => out(0, "released\n"),
                    (true, Some(at)) if now >= at => out(0, "prepared\n"),
                    _ => out(2, "preparing\n"),
                }),
                ["/app/runtime", "release", rest @ ..] => {
                    let etag = match rest {
                        [] => None,
                        ["--state-etag", e] => Some(e.to_string()),
                        _ => return Ok(out(1, "bad flags")),
                    };
                    // Released before it is prepared, the executor takes it once prepared.
                    c.waiting = false;
                    let bot = c.observed.bot_id.clone();
                    g.calls.push(Call::Release { container: id.to_string(), etag, at_ms: now });
                    Self::count_alive(&mut g, &bot);
                    Ok(out(0, ""))
                }
                _ => Ok(out(127, "not found")),
            }
        })
    }

    /// `runtime release --stdin`: the container must be running when it starts, as in Docker.
    fn exec_pending<'a>(&'a self, id: &'a str, _cmd: &'a [String]) -> BoxFuture<'a, Result<Box<dyn Pending>>> {
        Box::pin(async move {
            let running = self.lock().containers.get(id).is_some_and(|c| c.observed.state == State::Running);
            if !running {
                return Err(DockerError::Network(format!("container {id} is not running")));
            }
            Ok(Box::new(FakePending { engine: self.clone(), container: id.to_string() }) as Box<dyn Pending>)
        })
    }

    fn rename<'a>(&'a self, id: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut g = self.lock();
            if g.containers.values().any(|c| c.observed.name == name && c.observed.container != id) {
                return Err(DockerError::NameInUse(name.to_string()));
            }
            let c = g.containers.get_mut(id).ok_or_else(|| DockerError::Network(format!("no container {id}")))?;
            c.observed.name = name.to_string();
            c.observed.successor = false;
            g.calls.push(Call::Rename { container: id.to_string(), name: name.to_string() });
            Ok(())
        })
    }
}
