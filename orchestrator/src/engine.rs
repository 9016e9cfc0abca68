//! The container engine seam: exactly the calls the host roles make on containers (observe, run,
//! stop, remove, events, logs, one-shot runs, addresses, exec and rename), as a trait the host holds as
//! `Arc<dyn Engine>`. It exists so the loops that wait (crash backoff, reconcile ticks, the
//! scheduler) can be tested in paused time against an in-memory engine (a timeout around a real
//! Docker call would fire at once there), and so a second driver (Kubernetes, issue #12) can
//! stand beside [`Docker`]. The Docker driver implements it by calling its own methods, unchanged.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use crate::docker::{Docker, ExecOutcome, OneShot, PendingExec, Result, WaitOutcome};
use crate::observed::Observed;
use crate::spec::ContainerSpec;

/// A command started with its stdin open ([`Engine::exec_pending`]).
pub trait Pending: Send {
    /// Writes `line` to the command's stdin (`None`: closes it without one), waits for the
    /// command and returns its exit code and output.
    fn finish(self: Box<Self>, line: Option<String>) -> BoxFuture<'static, Result<ExecOutcome>>;
}

impl Pending for PendingExec {
    fn finish(self: Box<Self>, line: Option<String>) -> BoxFuture<'static, Result<ExecOutcome>> {
        Box::pin(PendingExec::finish(*self, line))
    }
}

/// What the host's roles ask of a container engine. Errors are the Docker driver's
/// ([`crate::docker::DockerError`]), which every caller already handles.
pub trait Engine: Send + Sync {
    /// Whether the engine answers.
    fn ping(&self) -> BoxFuture<'_, Result<()>>;
    /// Every managed realtime container of this instance, stopped ones included.
    fn observe(&self) -> BoxFuture<'_, Result<Vec<Observed>>>;
    /// Names of every managed container of this instance, whatever its role or state.
    fn managed_names(&self) -> BoxFuture<'_, Result<Vec<String>>>;
    /// Creates and starts a realtime container (adopting one of the same name and spec).
    fn run<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>>;
    /// SIGTERM, `grace`, SIGKILL, then remove; a missing container is success.
    fn stop_and_remove<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<()>>;
    /// Force-remove; a missing container is success.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>>;
    /// `die`, `oom`, `start`, `destroy` events of managed containers; ends when the stream breaks.
    fn events(&self) -> BoxStream<'static, Result<String>>;
    /// The container's output, optionally followed, optionally only the last `tail` lines.
    fn logs(&self, name: &str, follow: bool, tail: Option<u32>) -> BoxStream<'static, Result<bytes::Bytes>>;
    /// Creates and starts a run-to-completion container.
    fn start_oneshot<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>>;
    /// Every managed run-to-completion container of this instance.
    fn list_oneshots(&self) -> BoxFuture<'_, Result<Vec<OneShot>>>;
    /// Waits for the container to exit, for at most `deadline` (then stops and removes it).
    fn wait_exit<'a>(
        &'a self,
        id: &'a str,
        deadline: Option<Duration>,
        grace: Duration,
    ) -> BoxFuture<'a, Result<WaitOutcome>>;
    /// The last `n` lines of the container's output.
    fn tail<'a>(&'a self, id: &'a str, n: u32) -> BoxFuture<'a, Result<Vec<String>>>;
    /// The container's address on the bot network; `None` when it has none.
    fn container_ip<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>>>;
    /// Runs `cmd` in the running container as its user and waits for it (an update's successor's
    /// `runtime release`); a container that is not running is an error.
    fn exec<'a>(&'a self, id: &'a str, cmd: &'a [String]) -> BoxFuture<'a, Result<ExecOutcome>>;
    /// Starts `cmd` as [`Engine::exec`] does, with its stdin open: it runs, waiting for input,
    /// until [`Pending::finish`] (the successor's `runtime release --stdin`, started before the old
    /// container is stopped).
    fn exec_pending<'a>(&'a self, id: &'a str, cmd: &'a [String]) -> BoxFuture<'a, Result<Box<dyn Pending>>>;
    /// Renames a container (a released successor takes the bot's name).
    fn rename<'a>(&'a self, id: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>>;
}

impl Engine for Docker {
    fn ping(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Docker::ping(self))
    }
    fn observe(&self) -> BoxFuture<'_, Result<Vec<Observed>>> {
        Box::pin(Docker::observe(self))
    }
    fn managed_names(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(Docker::managed_names(self))
    }
    fn run<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>> {
        Box::pin(Docker::run(self, spec))
    }
    fn stop_and_remove<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<()>> {
        Box::pin(Docker::stop_and_remove(self, id, grace))
    }
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(Docker::remove(self, id))
    }
    fn events(&self) -> BoxStream<'static, Result<String>> {
        Box::pin(Docker::events(self))
    }
    fn logs(&self, name: &str, follow: bool, tail: Option<u32>) -> BoxStream<'static, Result<bytes::Bytes>> {
        Box::pin(Docker::logs(self, name, follow, tail, None))
    }
    fn start_oneshot<'a>(&'a self, spec: &'a ContainerSpec) -> BoxFuture<'a, Result<String>> {
        Box::pin(Docker::start_oneshot(self, spec))
    }
    fn list_oneshots(&self) -> BoxFuture<'_, Result<Vec<OneShot>>> {
        Box::pin(Docker::list_oneshots(self))
    }
    fn wait_exit<'a>(
        &'a self,
        id: &'a str,
        deadline: Option<Duration>,
        grace: Duration,
    ) -> BoxFuture<'a, Result<WaitOutcome>> {
        Box::pin(Docker::wait_exit(self, id, deadline, grace))
    }
    fn tail<'a>(&'a self, id: &'a str, n: u32) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(Docker::tail(self, id, n))
    }
    fn container_ip<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(Docker::container_ip(self, id))
    }
    fn exec<'a>(&'a self, id: &'a str, cmd: &'a [String]) -> BoxFuture<'a, Result<ExecOutcome>> {
        Box::pin(Docker::exec(self, id, cmd))
    }
    fn exec_pending<'a>(&'a self, id: &'a str, cmd: &'a [String]) -> BoxFuture<'a, Result<Box<dyn Pending>>> {
        Box::pin(async move { Ok(Box::new(Docker::exec_pending(self, id, cmd).await?) as Box<dyn Pending>) })
    }
    fn rename<'a>(&'a self, id: &'a str, name: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(Docker::rename(self, id, name))
    }
}
