//! Renewal of scoped credentials: one background task. Each pass reads the records on disk
//! (so it survives an orchestrator restart), lists the managed containers, and lets the pure
//! [`plan`] decide: keys past half their life are issued again; the credentials of a container
//! that no longer exists are removed, but only once it has been gone past [`GONE_GRACE`] after
//! the last issue (a container is created a moment after its keys are written).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{forget, grants, reissue, Grant};
use crate::engine::Engine;
use crate::spec::HostSettings;

/// Keys issued this recently are kept even if their container is not (yet) listed.
pub const GONE_GRACE: Duration = Duration::from_secs(120);

/// What a pass does with one grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Renew,
    Remove,
}

/// The pure planner. `live` is the set of managed container names, `None` when Docker could not
/// be asked (then nothing is removed). `now` is Unix seconds.
pub fn plan(grants: &[Grant], live: Option<&HashSet<String>>, now: u64) -> Vec<(usize, Action)> {
    let mut out = Vec::new();
    for (i, g) in grants.iter().enumerate() {
        let gone = live.is_some_and(|l| !l.contains(&g.container));
        if gone && now >= g.issued_unix.saturating_add(GONE_GRACE.as_secs()) {
            out.push((i, Action::Remove));
            continue;
        }
        if gone {
            continue;
        }
        let half = g.expires_unix.saturating_sub(g.issued_unix) / 2;
        if now >= g.issued_unix.saturating_add(half) {
            out.push((i, Action::Renew));
        }
    }
    out
}

/// How often a pass runs: an eighth of the keys' life, between 5 s and 60 s, so renewal at half
/// life is never late by more than a small part of the remaining half.
pub fn tick(duration: Duration) -> Duration {
    (duration / 8).clamp(Duration::from_secs(5), Duration::from_secs(60))
}

/// One pass. Returns (renewed, removed, failed).
pub async fn pass(h: &HostSettings, docker: &dyn Engine) -> (usize, usize, usize) {
    let Some(s) = &h.scoped else { return (0, 0, 0) };
    let mut all = grants(s);
    let live = match docker.managed_names().await {
        Ok(names) => Some(names.into_iter().collect::<HashSet<_>>()),
        Err(e) => {
            tracing::warn!(error = %e, "scoped credentials: cannot list containers");
            None
        }
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (mut renewed, mut removed, mut failed) = (0, 0, 0);
    for (i, action) in plan(&all, live.as_ref(), now) {
        let g = &mut all[i];
        match action {
            Action::Remove => {
                forget(h, &g.bot_id, &g.container);
                removed += 1;
            }
            Action::Renew => match reissue(h, g).await {
                Ok(()) => renewed += 1,
                Err(e) => {
                    failed += 1;
                    tracing::error!(
                        bot_id = %g.bot_id,
                        container = %g.container,
                        error = %e,
                        "scoped credentials: renewal failed (retried next pass)",
                    );
                }
            },
        }
    }
    (renewed, removed, failed)
}

/// Runs passes forever (spawn it once when `--scoped-credentials` is on).
pub async fn run(h: Arc<HostSettings>, docker: Arc<dyn Engine>) {
    let Some(s) = &h.scoped else { return };
    let every = tick(s.duration);
    loop {
        let (renewed, removed, failed) = pass(&h, &*docker).await;
        if renewed + removed + failed > 0 {
            tracing::info!(renewed = %renewed, removed = %removed, failed = %failed, "scoped credentials pass");
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(container: &str, issued: u64, expires: u64) -> Grant {
        Grant {
            bot_id: "b".into(),
            container: container.into(),
            code_key: "k".into(),
            query_result_key: None,
            issued_unix: issued,
            expires_unix: expires,
        }
    }

    #[test]
    fn renews_at_half_life_and_removes_gone_containers_after_grace() {
        let live: HashSet<String> = ["a".to_string(), "b".to_string()].into();
        let grants = vec![
            g("a", 1000, 4600), // half life at 2800
            g("b", 1000, 1900), // 900 s keys: half at 1450
            g("gone", 1000, 4600),
            g("new", 2790, 6390), // not listed yet, issued 10 s ago
        ];
        type Case<'a> = (u64, Option<&'a HashSet<String>>, &'a [(usize, Action)]);
        let cases: &[Case<'_>] = &[
            (1449, Some(&live), &[(2, Action::Remove)]),
            (1450, Some(&live), &[(1, Action::Renew), (2, Action::Remove)]),
            (2800, Some(&live), &[(0, Action::Renew), (1, Action::Renew), (2, Action::Remove)]),
            (2800, None, &[(0, Action::Renew), (1, Action::Renew), (2, Action::Renew)]),
            (2909, Some(&live), &[(0, Action::Renew), (1, Action::Renew), (2, Action::Remove)]),
            (2910, Some(&live), &[(0, Action::Renew), (1, Action::Renew), (2, Action::Remove), (3, Action::Remove)]),
            (1000, Some(&live), &[]),
        ];
        for (now, live, want) in cases {
            assert_eq!(plan(&grants, *live, *now), want.to_vec(), "now={now}");
        }
    }

    #[test]
    fn expired_or_odd_records_renew_at_once() {
        // An expiry at or before the issue (clock step, bad record) is due now, not never.
        assert_eq!(plan(&[g("a", 100, 50)], None, 100), vec![(0, Action::Renew)]);
    }

    #[test]
    fn tick_is_an_eighth_clamped() {
        assert_eq!(tick(Duration::from_secs(3600)), Duration::from_secs(60));
        assert_eq!(tick(Duration::from_secs(900)), Duration::from_secs(60));
        assert_eq!(tick(Duration::from_secs(240)), Duration::from_secs(30));
        assert_eq!(tick(Duration::from_secs(16)), Duration::from_secs(5));
    }
}
