//! Leader election's decision, as a pure function: given the Lease as last read (or none), the
//! time now and this replica's identity, [`decide`] says whether to create the Lease, take it over
//! (expired, or released with an empty holder), renew it, or follow the replica that holds it until
//! a given time. The same rules as client-go's `leaderelection` package (`tryAcquireOrRenew`).
//!
//! Why it exists: the elector ([`super::elector`]) only reads and writes the Lease; every choice it
//! makes comes from here, so each case (expiry to the instant, missing fields, transitions) is a
//! table test rather than a timing test against an API server.
//!
//! Expiry: a Lease held by another replica expires `leaseDurationSeconds` after the later of its
//! `renewTime` (the holder's clock) and the moment this replica first saw that version of it (its
//! own clock, as client-go times it), so a holder whose clock runs behind is not overthrown early;
//! at exactly that instant it has expired. A duration missing or not positive counts as ours.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The fields of a Lease's spec that leader election reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// `holderIdentity`: `None` or empty when released.
    pub holder: Option<String>,
    pub acquire_time: Option<Timestamp>,
    pub renew_time: Option<Timestamp>,
    /// `leaseDurationSeconds`.
    pub duration_seconds: Option<i32>,
    /// `leaseTransitions`: how many times the holder changed.
    pub transitions: Option<i32>,
}

/// The Lease as read: its record, its `resourceVersion`, and when this replica first saw that
/// version (the elector keeps it; `None` counts as now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub record: Record,
    pub resource_version: Option<String>,
    pub seen_since: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it with this record.
    Create(Record),
    /// Expired or released: replace it with this record at `resource_version`.
    TakeOver { record: Record, resource_version: Option<String> },
    /// Ours: replace it with this record (new renew time) at `resource_version`.
    Renew { record: Record, resource_version: Option<String> },
    /// Another replica holds it until `until`.
    Follow { holder: String, until: Timestamp },
}

/// `d` as a Lease's whole seconds, rounded up (never shorter than meant), at least 1.
pub fn duration_seconds(d: Duration) -> i32 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    i32::try_from(secs).unwrap_or(i32::MAX).max(1)
}

/// What to do with the Lease, given what was read (`None`: there is none), `now`, this replica's
/// identity `me`, and the lease duration it writes.
pub fn decide(observed: Option<&Observed>, now: Timestamp, me: &str, lease_duration: Duration) -> Decision {
    let ours = duration_seconds(lease_duration);
    let fresh = |acquire_time: Timestamp, transitions: i32| Record {
        holder: Some(me.to_string()),
        acquire_time: Some(acquire_time),
        renew_time: Some(now),
        duration_seconds: Some(ours),
        transitions: Some(transitions),
    };
    let Some(o) = observed else { return Decision::Create(fresh(now, 0)) };
    let r = &o.record;
    let transitions = r.transitions.unwrap_or(0).max(0);
    let resource_version = o.resource_version.clone();
    match r.holder.as_deref().filter(|h| !h.is_empty()) {
        Some(h) if h == me => {
            Decision::Renew { record: fresh(r.acquire_time.unwrap_or(now), transitions), resource_version }
        }
        None => Decision::TakeOver { record: fresh(now, transitions.saturating_add(1)), resource_version },
        Some(holder) => {
            let until = expiry(o, now, ours);
            if now < until {
                Decision::Follow { holder: holder.to_string(), until }
            } else {
                Decision::TakeOver { record: fresh(now, transitions.saturating_add(1)), resource_version }
            }
        }
    }
}

/// When another replica's hold ends: its duration after the later of its renew time (else its
/// acquire time) and when this version was first seen.
fn expiry(o: &Observed, now: Timestamp, ours: i32) -> Timestamp {
    let secs = o.record.duration_seconds.filter(|d| *d > 0).unwrap_or(ours);
    let seen = o.seen_since.unwrap_or(now);
    let from = match o.record.renew_time.or(o.record.acquire_time) {
        Some(t) if t > seen => t,
        _ => seen,
    };
    from.checked_add(SignedDuration::from_secs(i64::from(secs))).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "pod-a";
    const D: Duration = Duration::from_secs(15);

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn held(holder: &str, renew: i64, seen: i64, transitions: i32) -> Observed {
        Observed {
            record: Record {
                holder: Some(holder.into()),
                acquire_time: Some(t(renew - 100)),
                renew_time: Some(t(renew)),
                duration_seconds: Some(15),
                transitions: Some(transitions),
            },
            resource_version: Some("7".into()),
            seen_since: Some(t(seen)),
        }
    }

    fn mine(acquire: i64, transitions: i32) -> Record {
        Record {
            holder: Some(ME.into()),
            acquire_time: Some(t(acquire)),
            renew_time: Some(t(0)),
            duration_seconds: Some(15),
            transitions: Some(transitions),
        }
    }

    fn take_over(transitions: i32) -> Decision {
        Decision::TakeOver { record: mine(0, transitions), resource_version: Some("7".into()) }
    }

    fn follow(holder: &str, until: i64) -> Decision {
        Decision::Follow { holder: holder.into(), until: t(until) }
    }

    /// Every case at `now` = t(0), lease duration 15 s.
    #[test]
    fn every_case_of_the_decision() {
        let released = |holder: Option<&str>| Observed {
            record: Record { holder: holder.map(str::to_string), ..held("x", -1, -1, 3).record },
            ..held("x", -1, -1, 3)
        };
        let no_times = Observed {
            record: Record { holder: Some("b".into()), ..Record::default() },
            resource_version: Some("7".into()),
            seen_since: Some(t(-10)),
        };
        let cases: Vec<(&str, Option<Observed>, Decision)> = vec![
            ("no lease: create it, no transition yet", None, Decision::Create(mine(0, 0))),
            ("ours: renew, keeping acquire time and transitions", Some(held(ME, -2, -2, 4)), {
                Decision::Renew { record: mine(-102, 4), resource_version: Some("7".into()) }
            }),
            ("ours even if long expired (same identity after a restart)", Some(held(ME, -600, -600, 1)), {
                Decision::Renew { record: mine(-700, 1), resource_version: Some("7".into()) }
            }),
            ("held, renewed 5 s ago: follow until renew + 15 s", Some(held("b", -5, -5, 2)), follow("b", 10)),
            ("held, 1 s before expiry", Some(held("b", -14, -14, 2)), follow("b", 1)),
            ("held, exactly at expiry: expired", Some(held("b", -15, -15, 2)), take_over(3)),
            ("held, expired 1 s ago", Some(held("b", -16, -16, 2)), take_over(3)),
            ("released (empty holder): take over at once", Some(released(Some(""))), take_over(4)),
            ("released (no holder field)", Some(released(None)), take_over(4)),
            ("old renew time but first seen just now: wait a duration from now", Some(held("b", -600, 0, 2)), {
                follow("b", 15)
            }),
            ("holder's clock ahead: renew time in the future counts", Some(held("b", 20, -1, 2)), follow("b", 35)),
            ("held with no times: from when first seen", Some(no_times.clone()), follow("b", 5)),
            (
                "held with no times, seen 15 s ago: expired; missing transitions count as 0",
                Some(Observed { seen_since: Some(t(-15)), ..no_times.clone() }),
                take_over(1),
            ),
            (
                "no duration (or 0): ours",
                Some(Observed {
                    record: Record { duration_seconds: Some(0), ..held("b", -10, -10, 2).record },
                    ..held("b", -10, -10, 2)
                }),
                follow("b", 5),
            ),
            (
                "a longer duration written by the holder is honoured",
                Some(Observed {
                    record: Record { duration_seconds: Some(60), ..held("b", -30, -30, 2).record },
                    ..held("b", -30, -30, 2)
                }),
                follow("b", 30),
            ),
            (
                "negative transitions count as 0",
                Some(Observed {
                    record: Record { transitions: Some(-5), ..released(Some("")).record },
                    ..released(None)
                }),
                take_over(1),
            ),
            (
                "transitions saturate",
                Some(Observed {
                    record: Record { transitions: Some(i32::MAX), ..released(Some("")).record },
                    ..released(None)
                }),
                take_over(i32::MAX),
            ),
        ];
        for (what, observed, want) in cases {
            assert_eq!(decide(observed.as_ref(), t(0), ME, D), want, "{what}");
        }
    }

    #[test]
    fn unseen_counts_as_now_and_missing_resource_version_is_kept_missing() {
        let o = Observed { seen_since: None, resource_version: None, ..held("b", -20, -20, 0) };
        assert_eq!(decide(Some(&o), t(0), ME, D), follow("b", 15), "first seen now");
        let o = Observed { record: Record { holder: None, ..Record::default() }, ..Observed::default() };
        assert_eq!(decide(Some(&o), t(0), ME, D), Decision::TakeOver { record: mine(0, 1), resource_version: None });
    }

    #[test]
    fn lease_durations_are_whole_seconds_of_at_least_one() {
        assert_eq!(duration_seconds(Duration::from_secs(15)), 15);
        assert_eq!(duration_seconds(Duration::from_millis(1500)), 2, "rounded up, never shorter");
        assert_eq!(duration_seconds(Duration::from_millis(200)), 1);
        assert_eq!(duration_seconds(Duration::ZERO), 1);
        assert_eq!(duration_seconds(Duration::from_secs(u64::MAX)), i32::MAX);
        let d = Duration::from_millis(2500);
        match decide(None, t(0), ME, d) {
            Decision::Create(r) => assert_eq!(r.duration_seconds, Some(3)),
            other => panic!("{other:?}"),
        }
    }
}
