//! One bot's status as one reconcile action holds it: read from the store once, changed in
//! memory by the crash policy ([`super::policy::decide`]) and written back once with optimistic
//! concurrency. If the stored status changed meanwhile (an admin `PUT` of a new spec resets it, a
//! delete drops it), the steps are applied again to the fresh status, so such a change is never
//! overwritten with what was read before it (docs/contract.md §5.3).

use super::policy::{self, Event};
use crate::log;
use crate::observed::BotStatus;
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
    })
}

pub struct Record<'a> {
    bot: &'a str,
    base_ms: i64,
    /// The status as read (`None`: the bot is not stored).
    read: Option<BotStatus>,
    steps: Vec<Step>,
}

impl<'a> Record<'a> {
    pub fn read(store: &Store, bot: &'a str, base_ms: i64) -> Record<'a> {
        Record { bot, base_ms, read: store.get(bot).ok().flatten().map(|(_, s)| s), steps: Vec::new() }
    }

    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The status with every step so far.
    pub fn status(&self) -> BotStatus {
        fold(&self.read.clone().unwrap_or_default(), &self.steps, self.bot, self.base_ms)
    }

    /// Writes the status if the steps changed it. A bot no longer stored gets no status.
    pub fn write(&mut self, store: &Store) {
        let steps = std::mem::take(&mut self.steps);
        let base = self.read.clone().unwrap_or_default();
        let new = fold(&base, &steps, self.bot, self.base_ms);
        if new == base {
            return;
        }
        let written = match store.set_status_if(self.bot, self.read.as_ref(), &new) {
            Ok(true) => Ok(self.read.as_ref().map(|_| new)),
            // Changed meanwhile: apply the steps to what is stored now.
            Ok(false) => {
                let fresh = store.get(self.bot).ok().flatten().map(|(_, s)| s);
                let new = fold(&fresh.clone().unwrap_or_default(), &steps, self.bot, self.base_ms);
                store.set_status(self.bot, &new).map(|()| fresh.map(|_| new))
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(now) => self.read = now,
            Err(e) => log::error("cannot record bot status", &[("bot_id", &self.bot), ("error", &e)]),
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
        let mut r = Record::read(&store, "b", 10_000);
        // A new spec arrives while the action runs: no backoff or failure carried over.
        store.apply(&Change::Upsert(rec(2)), Mode::Put, None).unwrap();
        r.push(Step::StartFailed { reason: "no image".into(), at_ms: 100 });
        r.write(&store);
        let got = store.get("b").unwrap().unwrap().1;
        assert_eq!((got.restarts, got.consecutive), (2, 1), "counted from the reset status: {got:?}");
        // A bot deleted meanwhile gets no status.
        let mut r = Record::read(&store, "b", 10_000);
        store.apply(&Change::Delete("b".into()), Mode::Put, None).unwrap();
        r.push(Step::Started);
        r.push(Step::Steady);
        r.write(&store);
        assert!(store.get("b").unwrap().is_none());
    }
}
