//! The command line of `/app/runtime` (docs/contract.md §2.1), parsed the way the original's cobra/pflag
//! parser does: `--flag value` = `--flag=value`, booleans as `--flag` or `--flag=true|false`, Go
//! durations, and `--mongo-uri`/`--nats-url` accepted everywhere and ignored. Pure, so every rule is
//! table-tested; errors are printed by the caller as usage + `Error: <msg>` with exit code 1.

use std::path::PathBuf;
use std::time::Duration;

use the0_contract::{duration, paths};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecuteOpts {
    /// `--query P`: ephemeral query mode for path P (wins over `QUERY_PATH`).
    pub query: Option<String>,
    pub query_server_only: bool,
    pub skip_sync: bool,
    pub skip_query_server: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOpts {
    pub bot_id: String,
    pub code_path: PathBuf,
    pub state_path: PathBuf,
    pub code_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOpts {
    pub bot_id: String,
    pub state_path: PathBuf,
    pub logs_path: PathBuf,
    pub interval: Duration,
    pub watch_done: Option<PathBuf>,
    /// 0 = no health server.
    pub readiness_port: u16,
}

/// `runtime release`: run by the orchestrator (`docker exec`) in an update's successor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReleaseOpts {
    /// `--state-etag E`: the state archive's version the successor must restore (none: no archive).
    pub state_etag: Option<String>,
    /// `--check`: only report whether the successor is prepared.
    pub check: bool,
    /// `--stdin`: read the release (`etag E` or `any`) as one line from stdin. The orchestrator
    /// starts the command before it stops the old container and writes the line once that has
    /// exited, so the exec's own start is not part of the update's gap.
    pub stdin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Execute(ExecuteOpts),
    DaemonInit(InitOpts),
    DaemonSync(SyncOpts),
    Release(ReleaseOpts),
    Version,
    /// `help`, `-h`, `--help`: print this usage text and exit 0.
    Help(&'static str),
}

/// A parse error: the caller prints `usage`, then `Error: <message>`, and exits 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub message: String,
    pub usage: &'static str,
}

pub const USAGE_ROOT: &str = "Usage:
  runtime [command]

Available Commands:
  execute     Run the bot (PID 1 of a bot container)
  daemon      Sidecar commands: init, sync
  release     Release an update's waiting successor (run by the orchestrator)
  version     Print the version

Global Flags:
      --mongo-uri string   accepted for compatibility, ignored (env MONGO_URI)
      --nats-url string    accepted for compatibility, ignored (env NATS_URL)
";

pub const USAGE_EXECUTE: &str = "Usage:
  runtime execute [flags]

Flags:
      --query string          run the query at this path once and exit (ephemeral query mode)
      --query-server-only     run only the query server (Kubernetes sidecar)
      --skip-sync             do not sync state and logs (a sidecar does)
      --skip-query-server     do not start the query server
";

pub const USAGE_RELEASE: &str = "Usage:
  runtime release [flags]

Flags:
      --state-etag string   the state archive's ETag to restore (omit when there is no archive)
      --check               print preparing, prepared or released; exit 0 once prepared, 2 before
      --stdin               read the release from stdin, one line: \"etag E\" or \"any\" (stdin closed
                            without one: nothing is released, exit 1)
";

pub const USAGE_DAEMON: &str = "Usage:
  runtime daemon [command]

Available Commands:
  init        Download code and restore state, then exit
  sync        Sync state and logs until stopped
";

pub const USAGE_INIT: &str = "Usage:
  runtime daemon init --bot-id ID [flags]

Flags:
      --bot-id string      bot id (required)
      --code-path string   code directory (default \"/bot\")
      --state-path string  state directory (default \"/state\")
      --code-file string   code object key
";

pub const USAGE_SYNC: &str = "Usage:
  runtime daemon sync --bot-id ID [flags]

Flags:
      --bot-id string          bot id (required)
      --state-path string      state directory (default \"/state\")
      --logs-path string       logs directory (default \"/var/the0/logs\")
      --interval duration      periodic sync interval (default 1m0s)
      --watch-done string      exit after a final sync once this file exists
      --readiness-port int     serve /healthz and /readyz on this port (0 = off)
";

/// Flags accepted by every command and ignored (the original's global flags).
const GLOBAL_VALUE_FLAGS: &[&str] = &["mongo-uri", "nats-url"];

struct Flags<'a> {
    usage: &'static str,
    args: &'a [String],
    pos: usize,
}

enum Flag<'a> {
    /// `--name` or `--name=value` with the name and the inline value.
    Named(&'a str, Option<&'a str>),
    Positional(&'a str),
}

impl<'a> Flags<'a> {
    fn err(&self, message: impl Into<String>) -> CliError {
        CliError { message: message.into(), usage: self.usage }
    }

    fn next(&mut self) -> Option<Flag<'a>> {
        let arg = self.args.get(self.pos)?;
        self.pos += 1;
        Some(match arg.strip_prefix("--") {
            Some(rest) if !rest.is_empty() => match rest.split_once('=') {
                Some((name, value)) => Flag::Named(name, Some(value)),
                None => Flag::Named(rest, None),
            },
            _ => Flag::Positional(arg),
        })
    }

    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str, CliError> {
        if let Some(v) = inline {
            return Ok(v);
        }
        let v = self.args.get(self.pos).ok_or_else(|| self.err(format!("flag needs an argument: --{name}")))?;
        self.pos += 1;
        Ok(v)
    }

    fn boolean(&self, name: &str, inline: Option<&str>) -> Result<bool, CliError> {
        match inline {
            None => Ok(true),
            Some(v) => match v {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
                _ => Err(self.err(format!("invalid argument {v:?} for \"--{name}\" flag: parse error"))),
            },
        }
    }

    fn help_or_unknown(&self, name: &str) -> Result<Command, CliError> {
        if name == "help" {
            return Ok(Command::Help(self.usage));
        }
        Err(self.err(format!("unknown flag: --{name}")))
    }
}

/// Parses `argv[1..]`.
pub fn parse(args: &[String]) -> Result<Command, CliError> {
    let args = strip_globals(args, USAGE_ROOT)?;
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help(USAGE_ROOT));
    };
    match command.as_str() {
        "execute" => parse_execute(rest),
        "daemon" => parse_daemon(rest),
        "release" => parse_release(rest),
        "version" => Ok(Command::Version),
        "help" | "-h" | "--help" => Ok(Command::Help(USAGE_ROOT)),
        other => Err(CliError { message: format!("unknown command {other:?} for \"runtime\""), usage: USAGE_ROOT }),
    }
}

fn is_global(arg: &str) -> bool {
    GLOBAL_VALUE_FLAGS
        .iter()
        .any(|g| arg.strip_prefix("--").is_some_and(|r| r == *g || r.starts_with(&format!("{g}="))))
}

/// Removes the ignored global flags (and their separate values) wherever they appear.
fn strip_globals(args: &[String], usage: &'static str) -> Result<Vec<String>, CliError> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if is_global(a) {
            if !a.contains('=') && it.next().is_none() {
                return Err(CliError { message: format!("flag needs an argument: {a}"), usage });
            }
            continue;
        }
        out.push(a.clone());
    }
    Ok(out)
}

fn parse_execute(args: &[String]) -> Result<Command, CliError> {
    let mut f = Flags { usage: USAGE_EXECUTE, args, pos: 0 };
    let mut o = ExecuteOpts::default();
    while let Some(flag) = f.next() {
        match flag {
            Flag::Named("query", v) => o.query = Some(f.value("query", v)?.to_string()).filter(|q| !q.is_empty()),
            Flag::Named("query-server-only", v) => o.query_server_only = f.boolean("query-server-only", v)?,
            Flag::Named("skip-sync", v) => o.skip_sync = f.boolean("skip-sync", v)?,
            Flag::Named("skip-query-server", v) => o.skip_query_server = f.boolean("skip-query-server", v)?,
            Flag::Named(name, _) => return f.help_or_unknown(name),
            Flag::Positional("-h") => return Ok(Command::Help(USAGE_EXECUTE)),
            Flag::Positional(p) => return Err(f.err(format!("unknown command {p:?} for \"runtime execute\""))),
        }
    }
    Ok(Command::Execute(o))
}

fn parse_release(args: &[String]) -> Result<Command, CliError> {
    let mut f = Flags { usage: USAGE_RELEASE, args, pos: 0 };
    let mut o = ReleaseOpts::default();
    while let Some(flag) = f.next() {
        match flag {
            Flag::Named("state-etag", v) => {
                let etag = f.value("state-etag", v)?;
                if etag.is_empty() || !etag.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(f.err(format!("invalid argument {etag:?} for \"--state-etag\" flag")));
                }
                o.state_etag = Some(etag.to_string());
            }
            Flag::Named("check", v) => o.check = f.boolean("check", v)?,
            Flag::Named("stdin", v) => o.stdin = f.boolean("stdin", v)?,
            Flag::Named(name, _) => return f.help_or_unknown(name),
            Flag::Positional("-h") => return Ok(Command::Help(USAGE_RELEASE)),
            Flag::Positional(p) => return Err(f.err(format!("unknown command {p:?} for \"runtime release\""))),
        }
    }
    if o.stdin && (o.check || o.state_etag.is_some()) {
        return Err(
            f.err("\"--stdin\" takes the release from stdin: not with \"--check\" or \"--state-etag\"".to_string())
        );
    }
    Ok(Command::Release(o))
}

fn parse_daemon(args: &[String]) -> Result<Command, CliError> {
    match args.first().map(String::as_str) {
        Some("init") => parse_init(&args[1..]),
        Some("sync") => parse_sync(&args[1..]),
        None | Some("help" | "-h" | "--help") => Ok(Command::Help(USAGE_DAEMON)),
        Some(other) => {
            Err(CliError { message: format!("unknown command {other:?} for \"runtime daemon\""), usage: USAGE_DAEMON })
        }
    }
}

fn required_bot_id(f: &Flags<'_>, bot_id: Option<String>) -> Result<String, CliError> {
    bot_id.filter(|b| !b.is_empty()).ok_or_else(|| f.err("required flag(s) \"bot-id\" not set"))
}

fn parse_init(args: &[String]) -> Result<Command, CliError> {
    let mut f = Flags { usage: USAGE_INIT, args, pos: 0 };
    let (mut bot_id, mut code_file) = (None, None);
    let mut code_path = PathBuf::from(paths::DEFAULT_CODE_PATH);
    let mut state_path = PathBuf::from(paths::DEFAULT_STATE_PATH);
    while let Some(flag) = f.next() {
        match flag {
            Flag::Named("bot-id", v) => bot_id = Some(f.value("bot-id", v)?.to_string()),
            Flag::Named("code-path", v) => code_path = f.value("code-path", v)?.into(),
            Flag::Named("state-path", v) => state_path = f.value("state-path", v)?.into(),
            Flag::Named("code-file", v) => {
                code_file = Some(f.value("code-file", v)?.to_string()).filter(|c| !c.is_empty())
            }
            Flag::Named(name, _) => return f.help_or_unknown(name),
            Flag::Positional(p) => return Err(f.err(format!("unknown command {p:?} for \"runtime daemon init\""))),
        }
    }
    let bot_id = required_bot_id(&f, bot_id)?;
    Ok(Command::DaemonInit(InitOpts { bot_id, code_path, state_path, code_file }))
}

fn parse_sync(args: &[String]) -> Result<Command, CliError> {
    let mut f = Flags { usage: USAGE_SYNC, args, pos: 0 };
    let mut o = SyncOpts {
        bot_id: String::new(),
        state_path: PathBuf::from(paths::DEFAULT_STATE_PATH),
        logs_path: PathBuf::from(paths::DEFAULT_LOGS_PATH),
        interval: Duration::from_secs(60),
        watch_done: None,
        readiness_port: 0,
    };
    let mut bot_id = None;
    while let Some(flag) = f.next() {
        match flag {
            Flag::Named("bot-id", v) => bot_id = Some(f.value("bot-id", v)?.to_string()),
            Flag::Named("state-path", v) => o.state_path = f.value("state-path", v)?.into(),
            Flag::Named("logs-path", v) => o.logs_path = f.value("logs-path", v)?.into(),
            Flag::Named("interval", v) => {
                let raw = f.value("interval", v)?;
                o.interval = duration::parse(raw)
                    .map_err(|e| f.err(format!("invalid argument {raw:?} for \"--interval\" flag: {e}")))?;
                if o.interval.is_zero() {
                    return Err(f.err("invalid argument \"0\" for \"--interval\" flag: must be positive"));
                }
            }
            Flag::Named("watch-done", v) => {
                o.watch_done = Some(f.value("watch-done", v)?.into()).filter(|p: &PathBuf| !p.as_os_str().is_empty())
            }
            Flag::Named("readiness-port", v) => {
                let raw = f.value("readiness-port", v)?;
                o.readiness_port = raw.parse().map_err(|_| {
                    f.err(format!("invalid argument {raw:?} for \"--readiness-port\" flag: not a port number"))
                })?;
            }
            Flag::Named(name, _) => return f.help_or_unknown(name),
            Flag::Positional(p) => return Err(f.err(format!("unknown command {p:?} for \"runtime daemon sync\""))),
        }
    }
    o.bot_id = required_bot_id(&f, bot_id)?;
    Ok(Command::DaemonSync(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Command, CliError> {
        parse(&line.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn execute_flags() {
        assert_eq!(p("execute"), Ok(Command::Execute(ExecuteOpts::default())));
        let want = ExecuteOpts {
            query: Some("/portfolio".into()),
            skip_sync: true,
            skip_query_server: true,
            query_server_only: false,
        };
        assert_eq!(p("execute --query /portfolio --skip-sync --skip-query-server"), Ok(Command::Execute(want.clone())));
        assert_eq!(p("execute --query=/portfolio --skip-sync=true --skip-query-server=1"), Ok(Command::Execute(want)));
        assert_eq!(p("execute --skip-sync=false"), Ok(Command::Execute(ExecuteOpts::default())));
        assert_eq!(
            p("execute --query-server-only"),
            Ok(Command::Execute(ExecuteOpts { query_server_only: true, ..Default::default() }))
        );
    }

    #[test]
    fn release_flags() {
        assert_eq!(p("release"), Ok(Command::Release(ReleaseOpts::default())));
        assert_eq!(
            p("release --state-etag \"abc-1\""),
            Ok(Command::Release(ReleaseOpts { state_etag: Some("\"abc-1\"".into()), ..Default::default() }))
        );
        assert_eq!(p("release --check"), Ok(Command::Release(ReleaseOpts { check: true, ..Default::default() })));
        assert_eq!(p("release --stdin"), Ok(Command::Release(ReleaseOpts { stdin: true, ..Default::default() })));
        assert_eq!(p("release --help"), Ok(Command::Help(USAGE_RELEASE)));
        for bad in [
            "release --state-etag",
            "release --state-etag=",
            "release now",
            "release --force",
            "release --stdin --check",
            "release --stdin --state-etag e",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globals_are_accepted_anywhere_and_ignored() {
        assert_eq!(
            p("--mongo-uri mongodb://x execute --nats-url=nats://y"),
            Ok(Command::Execute(ExecuteOpts::default()))
        );
        assert_eq!(p("version --mongo-uri m"), Ok(Command::Version));
        assert!(p("execute --nats-url").is_err());
    }

    #[test]
    fn daemon_sync_flags() {
        let Ok(Command::DaemonSync(o)) =
            p("daemon sync --bot-id b1 --state-path /s --logs-path /l --interval 1m30s --watch-done /var/the0/done --readiness-port 8079")
        else {
            panic!("parse failed")
        };
        assert_eq!(o.bot_id, "b1");
        assert_eq!(o.state_path, PathBuf::from("/s"));
        assert_eq!(o.logs_path, PathBuf::from("/l"));
        assert_eq!(o.interval, Duration::from_secs(90));
        assert_eq!(o.watch_done, Some(PathBuf::from("/var/the0/done")));
        assert_eq!(o.readiness_port, 8079);
        let Ok(Command::DaemonSync(d)) = p("daemon sync --bot-id=b") else { panic!() };
        assert_eq!((d.interval, d.readiness_port, d.watch_done), (Duration::from_secs(60), 0, None));
        assert_eq!(d.logs_path, PathBuf::from("/var/the0/logs"));
    }

    #[test]
    fn daemon_init_flags() {
        assert_eq!(
            p("daemon init --bot-id b --code-file u/b/1 --code-path /c"),
            Ok(Command::DaemonInit(InitOpts {
                bot_id: "b".into(),
                code_path: "/c".into(),
                state_path: "/state".into(),
                code_file: Some("u/b/1".into())
            }))
        );
    }

    #[test]
    fn errors_name_the_problem() {
        for (line, needle) in [
            ("bogus", "unknown command \"bogus\""),
            ("execute --nope", "unknown flag: --nope"),
            ("execute --query", "flag needs an argument: --query"),
            ("execute --skip-sync=maybe", "--skip-sync"),
            ("daemon sync", "required flag(s) \"bot-id\" not set"),
            ("daemon init --code-path /x", "\"bot-id\""),
            ("daemon sync --bot-id b --interval 10", "--interval"),
            ("daemon sync --bot-id b --interval 0s", "must be positive"),
            ("daemon sync --bot-id b --readiness-port http", "--readiness-port"),
            ("daemon frob", "unknown command \"frob\""),
        ] {
            let e = p(line).expect_err(line);
            assert!(e.message.contains(needle), "{line}: {}", e.message);
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(""), Ok(Command::Help(USAGE_ROOT)));
        assert_eq!(p("--help"), Ok(Command::Help(USAGE_ROOT)));
        assert_eq!(p("execute --help"), Ok(Command::Help(USAGE_EXECUTE)));
        assert_eq!(p("daemon"), Ok(Command::Help(USAGE_DAEMON)));
        assert_eq!(p("version"), Ok(Command::Version));
    }
}
