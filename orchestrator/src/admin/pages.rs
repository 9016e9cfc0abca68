//! The status pages (`GET /ui`, `GET /ui/bots/{id}`): gathers per bot what `show` and `runs`
//! read (the stored status, the admin view, the observed container, the schedule and the runs
//! table) and its last log lines, and hands them to [`crate::ui`] to model and render.

use std::collections::HashMap;

use hyper::StatusCode;
use serde_json::Value;

use super::Admin;
use crate::http::Resp;
use crate::model::{is_scheduled, BotRecord};
use crate::observed::{BotStatus, Observed};
use crate::store::now_ms;
use crate::store::runs::{Outcome, Run, SchedState};
use crate::ui::model::{self, Facts, SPARK_RUNS};
use crate::ui::{logs, render, respond};

/// Runs listed on a scheduled bot's page.
const RUNS_SHOWN: usize = 15;

/// What the admin API knows of one bot, owned ([`Facts`] borrows it).
struct Gathered {
    shown: Value,
    status: BotStatus,
    container: Option<Observed>,
    sched: Option<SchedState>,
    runs: Vec<Run>,
    /// When a live bot crashed or was restarted on request, within the sparkline's window.
    restarts: Vec<i64>,
}

impl Gathered {
    fn facts(&self) -> Facts<'_> {
        Facts {
            shown: &self.shown,
            status: &self.status,
            container: self.container.as_ref(),
            sched: self.sched.as_ref(),
            runs: &self.runs,
            restart_times_ms: &self.restarts,
        }
    }
}

impl Admin {
    /// `restarts`: the bot's restart times from [`Admin::restart_times`].
    fn gather(&self, rec: &BotRecord, status: &BotStatus, restarts: Vec<i64>) -> Gathered {
        let scheduled = is_scheduled(&rec.config);
        Gathered {
            shown: self.show(rec, status),
            status: status.clone(),
            container: if scheduled { None } else { self.snapshot.primary(&rec.id) },
            sched: if scheduled { self.store.schedule_state(&rec.id).ok().flatten() } else { None },
            runs: if scheduled { self.store.runs(&rec.id, SPARK_RUNS as i64).unwrap_or_default() } else { Vec::new() },
            restarts,
        }
    }

    /// Every bot's restart times within the sparkline's window (empty if the events cannot be
    /// read: the page still shows the restart count).
    fn restart_times(&self, bot: Option<&str>, now_ms: i64) -> HashMap<String, Vec<i64>> {
        self.store.restart_times(bot, now_ms - model::SPARK_WINDOW_MS).unwrap_or_default()
    }

    /// `GET /ui`: every bot.
    pub(super) fn ui_overview(&self) -> Resp {
        let now = now_ms();
        match self.store.list() {
            Ok(all) => {
                let mut restarts = self.restart_times(None, now);
                let rows: Vec<_> = all
                    .iter()
                    .map(|(r, s)| {
                        let times = restarts.remove(&r.id).unwrap_or_default();
                        model::row(&self.gather(r, s, times).facts(), now)
                    })
                    .collect();
                respond::html(StatusCode::OK, render::overview(&rows, now))
            }
            Err(e) => respond::message(StatusCode::SERVICE_UNAVAILABLE, "the store cannot be read", &e.to_string()),
        }
    }

    /// `GET /ui/bots/{id}`: one bot, with its last log lines.
    pub(super) async fn ui_bot(&self, id: &str) -> Resp {
        let (rec, status) = match self.store.get(id) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return respond::message(StatusCode::NOT_FOUND, "no such bot", &format!("There is no bot {id:?}."))
            }
            Err(e) => {
                return respond::message(StatusCode::SERVICE_UNAVAILABLE, "the store cannot be read", &e.to_string())
            }
        };
        let times = self.restart_times(Some(id), now_ms()).remove(id).unwrap_or_default();
        let g = self.gather(&rec, &status, times);
        let lines = self.last_lines(id, &g).await.map_err(|e| e.to_string());
        let now = now_ms();
        respond::html(StatusCode::OK, render::bot(&model::detail(&g.facts(), now, RUNS_SHOWN, lines), now))
    }

    /// A live bot's output from its container (or its stored logs when it has none); a scheduled
    /// bot's from the container of its run going now, else the lines its newest run kept.
    async fn last_lines(&self, id: &str, g: &Gathered) -> Result<Vec<String>, logs::LogsError> {
        if g.sched.is_some() || is_scheduled(&g.shown["config"]) {
            return match g.runs.first() {
                Some(Run { outcome: Outcome::Running, container: Some(c), .. }) => {
                    self.logs.last_lines(id, Some(c)).await
                }
                Some(r) => Ok(logs::last(r.logs.iter().map(String::as_str))),
                None => Ok(Vec::new()),
            };
        }
        self.logs.last_lines(id, g.container.as_ref().map(|c| c.container.as_str())).await
    }
}
