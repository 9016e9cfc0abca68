//! One bot's status as one reconcile action holds it: read from the store once, changed in
//! memory by the crash policy ([`super::policy::decide`]) and written back once with optimistic
//! concurrency. If the stored status changed meanwhile (an admin `PUT` of a new spec resets it, a
//! delete drops it), the steps are applied again to the fresh status, so such a change is never
//! overwritten with what was read before it (docs/contract.md §5.3).
//!
//! The same write records the bot's events (`store/events.rs`): each step that changes the status
//! says what happened ([`events_of`]: crashed, backing off, start failed, failed, steady), and
//! [`Step::Note`] carries what changes no status (a start, a stop); all go in the status's
//! transaction. A failed write is logged and never fails the action.

use super::policy::{self, Event};
use crate::observed::BotStatus;
use crate::store::events::{Kind, NewEvent};
use crate::store::Store;

/// What one action did to the bot, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An exit counted by the planner: its status, as is.
    Exit(BotStatus),
    Unrunnable(String),
    Steady,
    Started,
    StartFailed {
        reason: String,
        at_ms: i64,
    },
    /// The restart asked for at this time was carried out (or had nothing to do).
    RestartDone(i64),
    /// An event that changes no status (a start, a stop, a removal).
    Note(NewEvent),
}

/// `steps` applied to `base`. Pure.
pub fn fold(base: &BotStatus, steps: &[Step], bot: &str, base_ms: i64) -> BotStatus {
    steps.iter().fold(base.clone(), |s, step| match step {
        Step::Exit(x) => x.clone(),
        Step::Unrunnable(reason) => policy::decide(&s, Event::Unrunnable { reason }, bot, base_ms).0,
        Step::Steady => policy::decide(&s, Event::Steady, bot, base_ms).0,
        Step::Started => policy::decide(&s, Event::Started, bot, base_ms).0,
        Step::StartFailed { reason, at_ms } => {
            policy::decide(&s, Event::StartFailed { reason, at_ms: *at_ms }, bot, base_ms).0
        }
        Step::RestartDone(at) => BotStatus { restart_at: s.restart_at.filter(|r| r > at), ..s },
        Step::Note(_) => s,
    })
}

/// The events of `steps` applied to `base`, in order: what each step that changed the status
/// means (`now_ms` dates those without a time of their own), and the notes. Pure.
pub fn events(base: &BotStatus, steps: &[Step], bot: &str, base_ms: i64, now_ms: i64) -> Vec<NewEvent> {
    let mut s = base.clone();
    let mut out = Vec::new();
    for step in steps {
        let after = fold(&s, std::slice::from_ref(step), bot, base_ms);
        out.extend(events_of(step, &after, bot, now_ms));
        s = after;
    }
    out
}

/// What one step means, given the status after it. Pure.
pub fn events_of(step: &Step, after: &BotStatus, bot: &str, now_ms: i64) -> Vec<NewEvent> {
    let backing_off = |at_ms: i64| {
        after.backoff_until.map(|until| NewEvent {
            until_ms: Some(until),
            ..NewEvent::new(
                at_ms,
                bot,
                Kind::BackingOff,
                format!("backing off until {} ({:.1} s)", utc(until), (until - at_ms) as f64 / 1000.0),
            )
        })
    };
    match step {
        Step::Exit(x) => {
            let at = x.last_exit_at.unwrap_or(now_ms);
            let code = x.last_exit_code.map_or("no exit code".to_string(), |c| format!("exit {c}"));
            let reason = x.failure_reason.as_deref().unwrap_or("bot exited");
            let crashed = NewEvent {
                exit_code: x.last_exit_code,
                ..NewEvent::new(at, bot, Kind::Crashed, format!("crashed ({code}): {reason}"))
            };
            std::iter::once(crashed).chain(backing_off(at)).collect()
        }
        Step::StartFailed { reason, at_ms } => {
            let failed = NewEvent::new(*at_ms, bot, Kind::StartFailed, format!("start failed: {reason}"));
            std::iter::once(failed).chain(backing_off(*at_ms)).collect()
        }
        Step::Unrunnable(reason) => {
            vec![NewEvent::new(now_ms, bot, Kind::Failed, format!("cannot be run until its spec changes: {reason}"))]
        }
        Step::Steady => {
            vec![NewEvent::new(now_ms, bot, Kind::Steady, "up for 10 minutes: its crash history is forgotten")]
        }
        Step::Note(e) => vec![e.clone()],
        Step::Started | Step::RestartDone(_) => Vec::new(),
    }
}

/// A time in an event's message, to the second.
fn utc(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    the0_contract::timefmt::rfc3339_seconds(t)
}

pub struct Record<'a> {
    bot: &'a str,
    base_ms: i64,
    /// When the record was read: the time of events without one of their own.
    now_ms: i64,
    /// The status as read (`None`: the bot is not stored).
    read: Option<BotStatus>,
    steps: Vec<Step>,
}

impl<'a> Record<'a> {
    pub fn read(store: &Store, bot: &'a str, base_ms: i64, now_ms: i64) -> Record<'a> {
        Record { bot, base_ms, now_ms, read: store.get(bot).ok().flatten().map(|(_, s)| s), steps: Vec::new() }
    }

    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The status with every step so far.
    pub fn status(&self) -> BotStatus {
        fold(&self.read.clone().unwrap_or_default(), &self.steps, self.bot, self.base_ms)
    }

    /// Writes the status if the steps changed it, with their events. A bot no longer stored gets
    /// no status (its events are still recorded: history outlives the bot).
    pub fn write(&mut self, store: &Store) {
        let steps = std::mem::take(&mut self.steps);
        let base = self.read.clone().unwrap_or_default();
        let new = fold(&base, &steps, self.bot, self.base_ms);
        let evs = events(&base, &steps, self.bot, self.base_ms, self.now_ms);
        if new == base {
            if let Err(e) = store.record_events(&evs) {
                tracing::error!(bot_id = %self.bot, error = %e, "cannot record bot events");
            }
            return;
        }
        let written = match store.set_status_if(self.bot, self.read.as_ref(), &new, &evs) {
            Ok(true) => Ok(self.read.as_ref().map(|_| new)),
            // Changed meanwhile: apply the steps to what is stored now.
            Ok(false) => {
                let fresh = store.get(self.bot).ok().flatten().map(|(_, s)| s);
                let base = fresh.clone().unwrap_or_default();
                let new = fold(&base, &steps, self.bot, self.base_ms);
                let evs = events(&base, &steps, self.bot, self.base_ms, self.now_ms);
                store.set_status_with(self.bot, &new, &evs).map(|()| fresh.map(|_| new))
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(now) => self.read = now,
            Err(e) => tracing::error!(bot_id = %self.bot, error = %e, "cannot record bot status and events"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_apply_in_order_through_the_policy() {
        let crashed = BotStatus {
            restarts: 4,
            consecutive: 2,
            last_exit_at: Some(10),
            backoff_until: Some(20),
            failure_reason: Some("bot exited with code 1".into()),
            ..Default::default()
        };
        let base = BotStatus { restarts: 3, consecutive: 1, ..Default::default() };
        let cases: Vec<(Vec<Step>, BotStatus)> = vec![
            (vec![], base.clone()),
            (vec![Step::Exit(crashed.clone())], crashed.clone()),
            (
                vec![Step::Exit(crashed.clone()), Step::Started],
                BotStatus { backoff_until: None, failure_reason: None, ..crashed.clone() },
            ),
            (vec![Step::Steady], BotStatus { consecutive: 0, ..base.clone() }),
            (vec![Step::Unrunnable("bad".into())], BotStatus { failure_reason: Some("bad".into()), ..base.clone() }),
        ];
        for (steps, want) in cases {
            assert_eq!(fold(&base, &steps, "b", 10_000), want, "{steps:?}");
        }
        let failed = fold(&base, &[Step::StartFailed { reason: "no image".into(), at_ms: 100 }], "b", 10_000);
        assert_eq!((failed.consecutive, failed.failure_reason.as_deref()), (2, Some("no image")));
        assert!(failed.backoff_until.is_some_and(|u| u >= 100 + 20_000));
    }

    /// Each step's events, in order, from the status after it: a crash is `crashed (exit N)` then
    /// `backing off until`; a failed start, `start failed` then `backing off until`.
    #[test]
    fn what_each_step_records() {
        let crashed = BotStatus {
            restarts: 1,
            consecutive: 1,
            last_exit_code: Some(3),
            last_exit_at: Some(1_000),
            backoff_until: Some(11_500),
            failure_reason: Some("bot exited with code 3: state is full".into()),
            ..Default::default()
        };
        let note = NewEvent::new(7, "b", Kind::Started, "started container c1");
        // Time, kind, message, exit code, backoff end.
        type Row<'a> = (i64, Kind, &'a str, Option<i64>, Option<i64>);
        let rows: Vec<(Vec<Step>, Vec<Row<'_>>)> = vec![
            (vec![], vec![]),
            (
                vec![Step::Exit(crashed.clone())],
                vec![
                    (1_000, Kind::Crashed, "crashed (exit 3): bot exited with code 3: state is full", Some(3), None),
                    (1_000, Kind::BackingOff, "backing off until 1970-01-01T00:00:11Z (10.5 s)", None, Some(11_500)),
                ],
            ),
            (
                vec![Step::Exit(BotStatus { last_exit_code: None, failure_reason: None, ..crashed.clone() })],
                vec![
                    (1_000, Kind::Crashed, "crashed (no exit code): bot exited", None, None),
                    (1_000, Kind::BackingOff, "backing off until 1970-01-01T00:00:11Z (10.5 s)", None, Some(11_500)),
                ],
            ),
            (
                vec![Step::Unrunnable("no runtime".into())],
                vec![(50, Kind::Failed, "cannot be run until its spec changes: no runtime", None, None)],
            ),
            (
                vec![Step::Steady],
                vec![(50, Kind::Steady, "up for 10 minutes: its crash history is forgotten", None, None)],
            ),
            (
                vec![Step::Note(note.clone()), Step::Started, Step::RestartDone(3)],
                vec![(7, Kind::Started, "started container c1", None, None)],
            ),
        ];
        for (steps, want) in rows {
            let got: Vec<_> = events(&BotStatus::default(), &steps, "b", 10_000, 50)
                .into_iter()
                .map(|e| (e.at_ms, e.kind, e.message, e.exit_code, e.until_ms))
                .collect();
            let want: Vec<_> = want.into_iter().map(|(a, k, m, c, u)| (a, k, m.to_string(), c, u)).collect();
            assert_eq!(got, want, "{steps:?}");
        }
        let failed = events(
            &BotStatus::default(),
            &[Step::StartFailed { reason: "no image".into(), at_ms: 100 }],
            "b",
            10_000,
            50,
        );
        let kinds: Vec<_> = failed.iter().map(|e| (e.kind, e.at_ms)).collect();
        assert_eq!(kinds, [(Kind::StartFailed, 100), (Kind::BackingOff, 100)]);
        assert_eq!(failed[0].message, "start failed: no image");
    }

    #[test]
    fn a_restart_is_settled_only_up_to_its_time() {
        let asked = BotStatus { restart_at: Some(5), ..Default::default() };
        assert_eq!(fold(&asked, &[Step::RestartDone(5)], "b", 10_000).restart_at, None);
        assert_eq!(fold(&asked, &[Step::RestartDone(4)], "b", 10_000).restart_at, Some(5), "asked again since");
    }

    #[test]
    fn a_status_changed_meanwhile_is_not_overwritten() {
        use crate::model::{BotRecord, Change};
        use crate::store::Mode;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = |v: i64| BotRecord {
            id: "b".into(),
            config: serde_json::json!({"v": v}),
            custom: serde_json::json!({"filePath": "k"}),
            enabled: None,
        };
        store.apply(&Change::Upsert(rec(1)), Mode::Put, None).unwrap();
        let crashed = BotStatus { restarts: 2, consecutive: 5, backoff_until: Some(9), ..Default::default() };
        store.set_status("b", &crashed).unwrap();
        let mut r = Record::read(&store, "b", 10_000, 50);
        // A new spec arrives while the action runs: no backoff or failure carried over.
        store.apply(&Change::Upsert(rec(2)), Mode::Put, None).unwrap();
        r.push(Step::StartFailed { reason: "no image".into(), at_ms: 100 });
        r.write(&store);
        let got = store.get("b").unwrap().unwrap().1;
        assert_eq!((got.restarts, got.consecutive), (2, 1), "counted from the reset status: {got:?}");
        let kinds: Vec<_> = store.events_since(Some("b"), 0, 10).unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Some(Kind::StartFailed), Some(Kind::BackingOff)], "the events go with the status");
        // A bot deleted meanwhile gets no status.
        let mut r = Record::read(&store, "b", 10_000, 50);
        store.apply(&Change::Delete("b".into()), Mode::Put, None).unwrap();
        r.push(Step::Started);
        r.push(Step::Steady);
        r.write(&store);
        assert!(store.get("b").unwrap().is_none());
        let last = store.recent_events(Some("b"), 1).unwrap().pop().map(|e| e.kind);
        assert_eq!(last, Some(Some(Kind::Steady)), "a deleted bot's events are still recorded");
    }
}
