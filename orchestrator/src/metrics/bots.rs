//! Per-bot series that stay bounded: at most one series per bot for each of `the0_bot_state`
//! (its `state` label says which), `the0_bot_recorded_restarts` and `the0_bot_last_exit_code`, replaced
//! after each reconcile pass from the pass's view of the store, and removed when the bot leaves it.
//! So N bots give at most 3N series, whatever happens to them.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type BotLabel = [(&'static str, String); 1];
type StateLabels = [(&'static str, String); 2];

/// One bot as a reconcile pass sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotSample<'a> {
    pub id: &'a str,
    /// `running`, `pending`, `backing_off`, `failed` or `disabled`.
    pub state: &'static str,
    pub restarts: u32,
    pub last_exit_code: Option<i64>,
}

pub struct BotSeries {
    state: Family<StateLabels, Gauge>,
    restarts: Family<BotLabel, Gauge>,
    last_exit: Family<BotLabel, Gauge>,
    /// Each bot with series: the state its `the0_bot_state` series carries, and whether it has a
    /// `the0_bot_last_exit_code` series.
    known: Mutex<HashMap<String, (&'static str, bool)>>,
}

fn bot(id: &str) -> BotLabel {
    [("bot_id", id.to_string())]
}

fn state(id: &str, s: &'static str) -> StateLabels {
    [("bot_id", id.to_string()), ("state", s.to_string())]
}

impl BotSeries {
    pub fn new(r: &mut Registry) -> BotSeries {
        let s = BotSeries {
            state: Family::default(),
            restarts: Family::default(),
            last_exit: Family::default(),
            known: Mutex::new(HashMap::new()),
        };
        r.register("the0_bot_state", "1 for the bot's current state (one series per bot)", s.state.clone());
        r.register(
            "the0_bot_recorded_restarts",
            "Restarts recorded for the bot (kept with its status; reset when the bot is removed)",
            s.restarts.clone(),
        );
        r.register(
            "the0_bot_last_exit_code",
            "Exit code of the bot's last unrequested exit (absent until it has one)",
            s.last_exit.clone(),
        );
        s
    }

    /// Makes the series say exactly `bots`: a bot not in it loses its series.
    pub fn update(&self, bots: &[BotSample<'_>]) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let now: HashMap<&str, &BotSample<'_>> = bots.iter().map(|b| (b.id, b)).collect();
        known.retain(|id, (st, _)| {
            if now.contains_key(id.as_str()) {
                return true;
            }
            self.state.remove(&state(id, st));
            self.restarts.remove(&bot(id));
            self.last_exit.remove(&bot(id));
            false
        });
        for b in bots {
            match known.insert(b.id.to_string(), (b.state, b.last_exit_code.is_some())) {
                Some((old, _)) if old != b.state => {
                    self.state.remove(&state(b.id, old));
                }
                _ => {}
            }
            self.state.get_or_create(&state(b.id, b.state)).set(1);
            self.restarts.get_or_create(&bot(b.id)).set(i64::from(b.restarts));
            match b.last_exit_code {
                Some(c) => {
                    self.last_exit.get_or_create(&bot(b.id)).set(c);
                }
                None => {
                    self.last_exit.remove(&bot(b.id));
                }
            }
        }
    }

    /// Moves a known bot to `new_state` at once (a start that succeeded), not waiting for the next
    /// pass; a bot the passes have not reported (or have removed) gets no series.
    pub fn set_state(&self, id: &str, new_state: &'static str) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let Some((old, _)) = known.get_mut(id) else { return };
        if *old != new_state {
            self.state.remove(&state(id, old));
            *old = new_state;
        }
        self.state.get_or_create(&state(id, new_state)).set(1);
    }

    /// How many series the three families hold now.
    pub fn series(&self) -> usize {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.values().map(|(_, exit)| 2 + usize::from(*exit)).sum()
    }
}
