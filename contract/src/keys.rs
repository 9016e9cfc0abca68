//! Object keys and subjects derived from a bot id (docs/contract.md §3, §2.8).

/// `<BOT_ID>/state.tar.gz` in the state bucket.
pub fn state_key(bot_id: &str) -> String {
    format!("{bot_id}/state.tar.gz")
}

/// `logs/<BOT_ID>/<YYYYMMDD>.log` in the logs bucket.
pub fn log_key(bot_id: &str, yyyymmdd: &str) -> String {
    format!("logs/{bot_id}/{yyyymmdd}.log")
}

/// Prefix of every log object of one bot.
pub fn log_prefix(bot_id: &str) -> String {
    format!("logs/{bot_id}/")
}

/// NATS subject for a bot's log chunks: `the0.bot.logs.<id>`, characters outside
/// `[A-Za-z0-9_-]` replaced by `_`, an empty id becoming `unknown`.
pub fn log_subject(bot_id: &str) -> String {
    if bot_id.is_empty() {
        return "the0.bot.logs.unknown".to_string();
    }
    let safe: String =
        bot_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    format!("the0.bot.logs.{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract() {
        assert_eq!(state_key("b1"), "b1/state.tar.gz");
        assert_eq!(log_key("b1", "20250131"), "logs/b1/20250131.log");
        assert_eq!(log_prefix("b1"), "logs/b1/");
    }

    #[test]
    fn subjects_are_sanitised() {
        for (id, want) in [
            ("abc-DEF_09", "the0.bot.logs.abc-DEF_09"),
            ("a.b*c>d e", "the0.bot.logs.a_b_c_d_e"),
            ("", "the0.bot.logs.unknown"),
            ("é", "the0.bot.logs._"),
        ] {
            assert_eq!(log_subject(id), want, "id {id:?}");
        }
    }
}
