use super::*;

const HOUR: Duration = Duration::from_secs(3600);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn obj(key: &str, age: Duration) -> ObjectInfo {
    ObjectInfo { key: key.into(), size: 1, last_modified: now() - age }
}

fn upload(bucket: &str, key: &str, age: Duration) -> (String, PendingUpload) {
    (bucket.into(), PendingUpload { key: key.into(), upload_id: format!("id-{key}"), initiated: now() - age })
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// (bucket, key, reason kind) of each deletion.
fn summary(p: &Plan) -> Vec<(String, String, &'static str)> {
    p.deletions().iter().map(|d| (d.bucket.clone(), d.key.clone(), d.reason.kind())).collect()
}

#[test]
fn decisions() {
    let b = Buckets::default();
    let old = HOUR + Duration::from_secs(60);
    let fresh = Duration::from_secs(60);
    let known = || ids(&["live", "sched"]);
    struct Case {
        name: &'static str,
        listing: Listing,
        known: BTreeSet<String>,
        containers: BTreeSet<String>,
        want: Vec<(&'static str, &'static str, &'static str)>,
    }
    let cases = vec![
        Case {
            name: "an old upload is aborted, a fresh one kept, whoever's it is",
            listing: Listing {
                uploads: vec![
                    upload("bot-state", "live/state.tar.gz", old),
                    upload("bot-state", "gone/state.tar.gz", fresh),
                    upload("bot-logs", "logs/running/20250101.log", old),
                ],
                ..Listing::default()
            },
            known: known(),
            containers: ids(&["running"]),
            want: vec![
                ("bot-state", "live/state.tar.gz", "stale-upload"),
                ("bot-logs", "logs/running/20250101.log", "stale-upload"),
            ],
        },
        Case {
            name: "an orphan's state and logs go, a known bot's and a bot with a container's stay",
            listing: Listing {
                state: vec![
                    obj("gone/state.tar.gz", fresh),
                    obj("live/state.tar.gz", old),
                    obj("sched/state.tar.gz", old),
                    obj("running/state.tar.gz", old),
                ],
                logs: vec![
                    obj("logs/gone/20250101.log", fresh),
                    obj("logs/gone/.tmp-123", fresh),
                    obj("logs/live/20250101.log", old),
                    obj("logs/running/20250101.log", old),
                ],
                ..Listing::default()
            },
            known: known(),
            containers: ids(&["running"]),
            want: vec![
                ("bot-state", "gone/state.tar.gz", "orphan-state"),
                ("bot-logs", "logs/gone/20250101.log", "orphan-logs"),
                ("bot-logs", "logs/gone/.tmp-123", "orphan-logs"),
            ],
        },
        Case {
            name: "keys of another shape are never touched",
            listing: Listing {
                state: vec![obj("gone/other.json", old), obj("a/b/state.tar.gz", old), obj("state.tar.gz", old)],
                logs: vec![obj("gone/20250101.log", old), obj("logs/gone", old), obj("other/gone/x.log", old)],
                query_results: vec![obj("gone/result.json", old), obj("gone/1/2/result.json", old), obj("g/1/x", old)],
                ..Listing::default()
            },
            known: known(),
            containers: BTreeSet::new(),
            want: vec![],
        },
        Case {
            name: "old temp log objects of known bots go, fresh ones and a running bot's stay",
            listing: Listing {
                logs: vec![
                    obj("logs/live/.tmp-1700000000000000000", old),
                    obj("logs/live/.tmp-1700000000000000001", fresh),
                    obj("logs/running/.tmp-1700000000000000000", old),
                    obj("logs/live/.tmp-abc", old),
                    obj("logs/live/20250101.log.tmp-1", old),
                ],
                ..Listing::default()
            },
            known: ids(&["live", "running"]),
            containers: ids(&["running"]),
            want: vec![("bot-logs", "logs/live/.tmp-1700000000000000000", "stale-temp")],
        },
        Case {
            name: "old query results go (Docker and Kubernetes shapes), fresh ones and a running bot's stay",
            listing: Listing {
                query_results: vec![
                    obj("live/1700000000000000000-00112233aabbccdd/result.json", old),
                    obj("gone/1700000000000000000/result.json", old),
                    obj("live/1700000000000000001/result.json", fresh),
                    obj("running/1700000000000000000/result.json", old),
                ],
                ..Listing::default()
            },
            known: known(),
            containers: ids(&["running"]),
            want: vec![
                ("query-results", "live/1700000000000000000-00112233aabbccdd/result.json", "stale-query-result"),
                ("query-results", "gone/1700000000000000000/result.json", "stale-query-result"),
            ],
        },
        Case {
            name: "D33: an empty id set deletes nothing, not even old uploads",
            listing: Listing {
                state: vec![obj("gone/state.tar.gz", old)],
                logs: vec![obj("logs/gone/20250101.log", old)],
                query_results: vec![obj("gone/1/result.json", old)],
                uploads: vec![upload("bot-state", "gone/state.tar.gz", old)],
            },
            known: BTreeSet::new(),
            containers: BTreeSet::new(),
            want: vec![],
        },
        Case {
            name: "a time in the future is not old",
            listing: Listing {
                state: vec![],
                logs: vec![ObjectInfo { key: "logs/live/.tmp-1".into(), size: 0, last_modified: now() + HOUR * 2 }],
                query_results: vec![],
                uploads: vec![],
            },
            known: known(),
            containers: BTreeSet::new(),
            want: vec![],
        },
    ];
    for c in cases {
        let protected = Protected { known: c.known, with_container: c.containers };
        let got = plan(&c.listing, &b, &protected, now());
        let want: Vec<_> = c.want.iter().map(|(b, k, r)| (b.to_string(), k.to_string(), *r)).collect();
        assert_eq!(summary(&got), want, "{}", c.name);
    }
}

#[test]
fn empty_store_is_its_own_outcome() {
    let p = plan(&Listing::default(), &Buckets::default(), &Protected::default(), now());
    assert_eq!(p, Plan::NoKnownBots);
}

#[test]
fn one_bucket_for_everything_lists_each_deletion_once() {
    let b = Buckets { code: "b".into(), state: "b".into(), logs: "b".into(), query_results: "b".into() };
    let old = HOUR * 2;
    let listing = Listing {
        uploads: vec![upload("b", "gone/state.tar.gz", old), upload("b", "gone/state.tar.gz", old)],
        state: vec![obj("gone/state.tar.gz", old), obj("logs/gone/x.log", old)],
        logs: vec![obj("gone/state.tar.gz", old), obj("logs/gone/x.log", old)],
        query_results: vec![obj("gone/state.tar.gz", old), obj("logs/gone/x.log", old)],
    };
    let protected = Protected { known: ids(&["live"]), with_container: BTreeSet::new() };
    let got = summary(&plan(&listing, &b, &protected, now()));
    let want = [
        ("gone/state.tar.gz", "stale-upload"),
        ("gone/state.tar.gz", "orphan-state"),
        ("logs/gone/x.log", "orphan-logs"),
    ];
    let want: Vec<_> = want.iter().map(|(k, r)| ("b".to_string(), k.to_string(), *r)).collect();
    assert_eq!(got, want);
}

#[test]
fn lines_name_the_object_and_the_reason() {
    let d = Deletion {
        bucket: "bot-state".into(),
        key: "gone/state.tar.gz".into(),
        upload: None,
        reason: Reason::OrphanState { bot: "gone".into() },
    };
    assert_eq!(
        d.to_string(),
        "delete bot-state/gone/state.tar.gz: bot \"gone\" is in neither the bots nor the schedules table and has no container"
    );
    let u = Deletion {
        upload: Some(PendingUpload { key: "k".into(), upload_id: "u".into(), initiated: now() }),
        reason: Reason::StaleUpload { age: Duration::from_secs(2 * 3600 + 300) },
        ..d
    };
    assert_eq!(u.to_string(), "abort upload bot-state/gone/state.tar.gz: unfinished upload started 125 min ago");
}

#[test]
fn json_lines_carry_the_same_facts() {
    let d = Deletion {
        bucket: "bot-logs".into(),
        key: "logs/b/20250101.log".into(),
        upload: Some(PendingUpload { key: "logs/b/20250101.log".into(), upload_id: "u1".into(), initiated: now() }),
        reason: Reason::StaleUpload { age: Duration::from_secs(5400) },
    };
    assert_eq!(
        d.to_json(),
        serde_json::json!({"action": "abort-upload", "bucket": "bot-logs", "key": "logs/b/20250101.log",
            "upload_id": "u1", "reason": "stale-upload", "bot": null, "age_secs": 5400,
            "detail": "unfinished upload started 90 min ago"})
    );
    let o = Deletion { upload: None, reason: Reason::OrphanLogs { bot: "b".into() }, ..d };
    let v = o.to_json();
    assert_eq!(
        (v["action"].as_str(), v["bot"].as_str(), &v["upload_id"]),
        (Some("delete"), Some("b"), &serde_json::Value::Null)
    );
}
