//! The pure core of the warm query servers ([`super::warm`], issue 15): which bot has a server,
//! where a query goes ([`Book::decide`]), whether a server's state is still the stored one
//! ([`Book::verify`]), which servers go to stay under the cap (least recently used first) or
//! because they idled ([`Book::expire`]), which bots are cold, and whether a bot may keep its
//! server at all ([`keeps`]). Every time is passed in; nothing here touches a container.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::index::IndexedBot;
use crate::docker::OneShot;
use crate::model::is_enabled;

/// The state object's ETag is read at most this often per bot before proxying.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a bot whose server never became ready keeps the one-shot path.
pub const COLD_FOR: Duration = Duration::from_secs(300);

/// A container to remove: (bot id, container id).
pub type Removal = (String, String);

/// One bot's warm server as the book knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Tells this start apart from a later one of the same bot.
    pub generation: u64,
    /// `None` while it is being created.
    pub container: Option<String>,
    /// The bot's config hash it was started with.
    pub hash: String,
    /// The state object's ETag read before it started (`None`: there was no state object).
    pub etag: Option<String>,
    /// Its query program answers.
    pub ready: bool,
    pub last_used: Instant,
    /// When the ETag was last compared; `None`: at the next query.
    pub checked: Option<Instant>,
}

/// Where a query of a scheduled bot goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// To this ready server; `check`: compare the state object's ETag first ([`Book::verify`]).
    Proxy { container: String, generation: u64, check: bool },
    /// The one-shot way; `remove`: an outdated server (another config hash), removed from the book.
    OneShot { remove: Option<Removal> },
}

/// What an ETag comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The same state: proxy.
    Fresh,
    /// The state changed: this server is out of the book and must be removed.
    Stale(Option<Removal>),
    /// The server is gone already (removed meanwhile).
    Gone,
}

/// The warm servers, pure: every decision on which server serves, starts or goes.
#[derive(Debug, Default)]
pub struct Book {
    servers: HashMap<String, Server>,
    /// Bots whose server never became ready, until when they keep the one-shot path.
    cold: HashMap<String, Instant>,
    next: u64,
    /// After [`Book::drain`]: nothing starts any more.
    closed: bool,
}

fn removal(id: &str, s: Server) -> Option<Removal> {
    s.container.map(|c| (id.to_string(), c))
}

impl Book {
    /// Servers in the book (starting ones included).
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Server> {
        self.servers.get(id)
    }

    /// Routes a query of bot `id` (config hash `hash`) at `now`, and counts it as a use.
    pub fn decide(&mut self, id: &str, hash: &str, now: Instant) -> Decision {
        let Some(s) = self.servers.get_mut(id) else { return Decision::OneShot { remove: None } };
        if s.hash != hash {
            let old = self.servers.remove(id).and_then(|s| removal(id, s));
            return Decision::OneShot { remove: old };
        }
        s.last_used = now;
        let Some(container) = s.container.clone().filter(|_| s.ready) else {
            return Decision::OneShot { remove: None };
        };
        let check = s.checked.is_none_or(|t| now.saturating_duration_since(t) >= CHECK_EVERY);
        if check {
            s.checked = Some(now);
        }
        Decision::Proxy { container, generation: s.generation, check }
    }

    /// The state object's ETag read for a [`Decision::Proxy`] with `check`.
    pub fn verify(&mut self, id: &str, generation: u64, etag: &Option<String>) -> Verdict {
        let same = match self.servers.get(id) {
            Some(s) if s.generation == generation => s.etag == *etag,
            _ => return Verdict::Gone,
        };
        if same {
            Verdict::Fresh
        } else {
            Verdict::Stale(self.servers.remove(id).and_then(|s| removal(id, s)))
        }
    }

    /// The ETag could not be read: compare at the next query.
    pub fn recheck(&mut self, id: &str, generation: u64) {
        if let Some(s) = self.servers.get_mut(id).filter(|s| s.generation == generation) {
            s.checked = None;
        }
    }

    /// Admits a new server of bot `id` after a one-shot query at `now`, its state at `etag`:
    /// its generation and the servers removed to stay within `max` (least recently used first).
    /// `None` when it already has one (running or starting), is cold, or the book is closed.
    pub fn begin(
        &mut self,
        id: &str,
        hash: &str,
        etag: Option<String>,
        now: Instant,
        max: usize,
    ) -> Option<(u64, Vec<Removal>)> {
        if self.closed || self.servers.contains_key(id) || self.cold.get(id).is_some_and(|t| *t > now) {
            return None;
        }
        self.cold.remove(id);
        let mut evicted = Vec::new();
        while self.servers.len() >= max.max(1) {
            let lru = self.servers.iter().min_by(|a, b| (a.1.last_used, a.0).cmp(&(b.1.last_used, b.0)));
            let Some(k) = lru.map(|(k, _)| k.clone()) else { break };
            evicted.extend(self.servers.remove(&k).and_then(|s| removal(&k, s)));
        }
        self.next += 1;
        let s = Server {
            generation: self.next,
            container: None,
            hash: hash.to_string(),
            etag,
            ready: false,
            last_used: now,
            checked: Some(now),
        };
        self.servers.insert(id.to_string(), s);
        Some((self.next, evicted))
    }

    /// Its container was created: `false` when the server left the book meanwhile (the caller
    /// removes the container).
    pub fn created(&mut self, id: &str, generation: u64, container: &str) -> bool {
        match self.servers.get_mut(id).filter(|s| s.generation == generation) {
            Some(s) => {
                s.container = Some(container.to_string());
                true
            }
            None => false,
        }
    }

    /// Whether this start is still the bot's server.
    pub fn holds(&self, id: &str, generation: u64) -> bool {
        self.servers.get(id).is_some_and(|s| s.generation == generation)
    }

    /// Its query program answers: queries may be proxied to it. `false` when it left the book.
    pub fn ready(&mut self, id: &str, generation: u64) -> bool {
        match self.servers.get_mut(id).filter(|s| s.generation == generation) {
            Some(s) => {
                s.ready = true;
                true
            }
            None => false,
        }
    }

    /// This start failed (or never became ready): out of the book, and the bot cold until
    /// `cold_until` when given.
    pub fn abandon(&mut self, id: &str, generation: u64, cold_until: Option<Instant>) -> Option<Removal> {
        if let Some(t) = cold_until {
            self.cold.insert(id.to_string(), t);
        }
        if !self.holds(id, generation) {
            return None;
        }
        self.servers.remove(id).and_then(|s| removal(id, s))
    }

    /// The bot's server leaves the book (a run ended, the bot changed).
    pub fn drop_bot(&mut self, id: &str) -> Option<Removal> {
        self.servers.remove(id).and_then(|s| removal(id, s))
    }

    /// The server at `container` could not be reached: it leaves the book if it is still the bot's.
    pub fn lost(&mut self, id: &str, container: &str) -> Option<Removal> {
        if self.servers.get(id).and_then(|s| s.container.as_deref()) != Some(container) {
            return None;
        }
        self.drop_bot(id)
    }

    /// Servers idle for `keep_for` or more at `now` leave the book (and cold marks that ran out).
    pub fn expire(&mut self, now: Instant, keep_for: Duration) -> Vec<Removal> {
        self.cold.retain(|_, t| *t > now);
        let idle: Vec<String> = self
            .servers
            .iter()
            .filter(|(_, s)| now.saturating_duration_since(s.last_used) >= keep_for)
            .map(|(k, _)| k.clone())
            .collect();
        idle.iter().filter_map(|k| self.drop_bot(k)).collect()
    }

    /// (bot id, config hash) of every server, for [`keeps`].
    pub fn bots(&self) -> Vec<(String, String)> {
        self.servers.iter().map(|(k, s)| (k.clone(), s.hash.clone())).collect()
    }

    /// Every server leaves the book and none starts any more (shutdown).
    pub fn drain(&mut self) -> Vec<Removal> {
        self.closed = true;
        let all: Vec<String> = self.servers.keys().cloned().collect();
        all.iter().filter_map(|k| self.drop_bot(k)).collect()
    }
}

/// Whether a server started with config hash `hash` may keep serving `bot` (as the index has it
/// now): the bot exists, is scheduled, enabled, queryable, and its spec is the same.
pub fn keeps(bot: Option<&IndexedBot>, hash: &str) -> bool {
    let Some(bot) = bot else { return false };
    let same = bot.launch.as_ref().is_ok_and(|l| l.hash == hash);
    same && bot.scheduled && bot.has_query && is_enabled(bot.record.enabled.as_ref(), &bot.record.config)
}

/// Whether a listed one-shot container is a warm query server.
pub fn is_warm_container(o: &OneShot) -> bool {
    o.warm && o.due_ms.is_none()
}

#[cfg(test)]
#[path = "warmbook_tests.rs"]
mod tests;
