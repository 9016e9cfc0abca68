//! The observed world: what Docker shows of a managed container ([`Observed`], its [`State`]) and
//! the per-bot bookkeeping the reconciler keeps in the store ([`BotStatus`]). Shared vocabulary of
//! the planner, the store, the Docker driver and the admin API, so none of them imports another
//! for it (docs/contract.md §5.3).

/// The reconciler's per-bot bookkeeping, kept in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotStatus {
    /// Every restart after an unrequested exit or a failed start.
    pub restarts: u32,
    /// Consecutive failures (exits or failed starts) since the bot was last up for 10 minutes.
    pub consecutive: u32,
    pub last_exit_code: Option<i64>,
    pub last_exit_at: Option<i64>,
    pub backoff_until: Option<i64>,
    pub failure_reason: Option<String>,
    /// When a restart was asked for (`restart ID`) that the reconciler has not carried out yet.
    pub restart_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Created,
    Exited,
    Dead,
    Paused,
    Restarting,
    Removing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Created => "created",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
        }
    }
    /// States that hold a live process: kept, or stopped before removal.
    pub(crate) fn is_live(self) -> bool {
        matches!(self, State::Running | State::Paused | State::Restarting)
    }
}

/// A managed container as Docker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub container: String,
    pub name: String,
    pub bot_id: String,
    pub state: State,
    /// `runtime.config-hash` label; `None` for containers the original created (adopted as is).
    pub hash: Option<String>,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub exit_code: Option<i64>,
    pub oom: bool,
    /// An update's successor still waiting for its release (labelled `runtime.successor` and
    /// named `…-next`, issue #15): not yet the bot's container.
    pub successor: bool,
}
