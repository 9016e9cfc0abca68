//! Object names and label values in Kubernetes mode (docs/contract.md §5.7, D32).
//!
//! Why it exists: the API server refuses an object whose name is not a DNS-1123 name and a label
//! whose value is not a label value, so a bot id or a bot name that breaks either would fail every
//! reconcile. Names are checked up front (a bot whose id cannot form one is skipped with a reason
//! its status can show); label values pass through the one sanitiser here.

/// Longest label value (and DNS-1123 label).
pub const MAX_LABEL: usize = 63;
/// Longest CronJob name: the CronJob controller appends `-<11 digits>` to name each Job, and a
/// Job's name must stay a 63-character label (`batch.kubernetes.io/job-name`).
pub const MAX_CRONJOB_NAME: usize = 52;

/// Why a bot gets no object (shown in its status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "bot id {0:?} cannot name a Kubernetes object: it must be 1-{max} characters of [a-z0-9-], starting and ending with a letter or digit (a DNS-1123 label)",
        max = MAX_LABEL
    )]
    NotDnsLabel(String),
}

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    s.len() <= MAX_LABEL && is_dashed_word(s)
}

/// A DNS-1123 subdomain, as most objects' names (a Lease's): up to 253 characters, dot-separated
/// parts of `[a-z0-9-]` with alphanumeric ends.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dashed_word)
}

/// One or more of `[a-z0-9-]`, alphanumeric at both ends.
fn is_dashed_word(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.first().is_some_and(alnum) && b.last().is_some_and(alnum) && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// A bot id usable in Kubernetes: a DNS-1123 label, so `bot-<id>` is a pod name whose hostname
/// the kubelet accepts (no dots) and the id itself is a valid `the0.app/bot-id` label value.
pub fn check_id(id: &str) -> Result<(), NameError> {
    if is_dns_label(id) {
        Ok(())
    } else {
        Err(NameError::NotDnsLabel(id.to_string()))
    }
}

/// `bot-<id>` (the id checked by [`check_id`]).
pub fn pod_name(id: &str) -> String {
    format!("bot-{id}")
}

/// `desired-<id>` (the id checked by [`check_id`]): the ConfigMap that holds the bot's record
/// with `--desired-state configmaps`.
pub fn desired_name(id: &str) -> String {
    format!("desired-{id}")
}

/// `schedule-<id>`, cut to [`MAX_CRONJOB_NAME`] with trailing `-` trimmed (§5.7).
pub fn cronjob_name(id: &str) -> String {
    let mut name = format!("schedule-{id}");
    name.truncate(MAX_CRONJOB_NAME);
    name.trim_end_matches('-').to_string()
}

/// `query-<id>-<unixNanos>`, at most 63 characters: a longer id is cut (trailing `-` trimmed)
/// so the nanoseconds, which make the name unique, are kept whole. The Job is found by its
/// labels, never by parsing its name.
pub fn job_name(id: &str, unix_nanos: u128) -> String {
    let suffix = format!("-{unix_nanos}");
    let room = MAX_LABEL.saturating_sub("query-".len() + suffix.len());
    let mut head = id.to_string();
    head.truncate(room);
    format!("query-{}{suffix}", head.trim_end_matches('-'))
}

/// A label value from any text (the contract's sanitiser, §5.7): lowercased, every character
/// outside `[a-z0-9-_.]` becomes `-`, cut to 63, then non-alphanumerics trimmed from both ends.
/// May be empty (a valid label value); callers with a fallback check for that.
pub fn label_value(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(MAX_LABEL)
        .collect();
    mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_form_dns_labels_pass_and_others_are_refused() {
        for (id, ok) in [
            ("0b6e8f2a-4c1d-4e5f-9a7b-3c2d1e0f9a8b", true),
            ("a", true),
            ("bot-1", true),
            (&"a".repeat(63), true),
            (&"a".repeat(64), false),
            ("", false),
            ("Bot1", false),
            ("bot_1", false),
            ("bot.1", false),
            ("-bot", false),
            ("bot-", false),
            ("böt", false),
        ] {
            assert_eq!(check_id(id).is_ok(), ok, "{id:?}");
        }
    }

    #[test]
    fn subdomains_are_dotted_labels_up_to_253() {
        for (name, ok) in [
            ("the0-runtime-controller", true),
            ("a.b-c.d", true),
            (&"a".repeat(253), true),
            (&"a".repeat(254), false),
            ("", false),
            ("a..b", false),
            (".a", false),
            ("a-.b", false),
            ("A", false),
            ("a_b", false),
        ] {
            assert_eq!(is_dns_subdomain(name), ok, "{name:?}");
        }
    }

    #[test]
    fn cronjob_names_are_cut_to_52_without_a_trailing_dash() {
        for (id, want) in [
            ("abc", "schedule-abc".to_string()),
            (&"a".repeat(43), format!("schedule-{}", "a".repeat(43))),
            (&"a".repeat(50), format!("schedule-{}", "a".repeat(43))),
            (&format!("{}-b", "a".repeat(42)), format!("schedule-{}", "a".repeat(42))),
        ] {
            let got = cronjob_name(id);
            assert_eq!(got, want, "{id}");
            assert!(got.len() <= MAX_CRONJOB_NAME && is_dns_label(&got), "{got}");
        }
    }

    #[test]
    fn job_names_fit_63_and_keep_the_nanoseconds() {
        let nanos = 1_733_443_200_123_456_789u128;
        for (id, want) in [
            ("b1", "query-b1-1733443200123456789".to_string()),
            (
                "0b6e8f2a-4c1d-4e5f-9a7b-3c2d1e0f9a8b",
                "query-0b6e8f2a-4c1d-4e5f-9a7b-3c2d1e0f9a8b-1733443200123456789".into(),
            ),
            (&"a".repeat(63), format!("query-{}-{nanos}", "a".repeat(37))),
            (&format!("{}-bc", "a".repeat(36)), format!("query-{}-{nanos}", "a".repeat(36))),
        ] {
            let got = job_name(id, nanos);
            assert_eq!(got, want, "{id}");
            assert!(got.len() <= MAX_LABEL && is_dns_label(&got), "{got}");
        }
    }

    #[test]
    fn label_values_are_sanitised() {
        for (raw, want) in [
            ("my-bot", "my-bot"),
            ("My Bot!", "my-bot"),
            ("python3.11", "python3.11"),
            ("__x__", "x"),
            ("1.0.0", "1.0.0"),
            ("", ""),
            ("***", ""),
            ("Ünïcode", "n-code"),
            (&"x".repeat(70), &"x".repeat(63)),
            (&format!("{}-y", "x".repeat(62)), &"x".repeat(62)),
        ] {
            assert_eq!(label_value(raw), want, "{raw:?}");
        }
    }
}
