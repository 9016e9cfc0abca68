//! `/app/runtime`: the executor binary. Thin: parse the command line, start the async runtime,
//! hand over to the library, exit with its code.

use std::process::ExitCode;

use the0_executor::cli::{self, Command};
use the0_executor::config::Config;
use the0_executor::supervise::signals;
use the0_executor::{daemon, error, query, run};

fn main() -> ExitCode {
    // Before any thread: one malloc arena and fixed thresholds (a no-op on musl).
    the0_executor::malloc::tune();
    // First, before any thread or child exists: the bot runs as our uid and must not read our
    // environment or memory through /proc (every mode holds the storage and NATS keys).
    if let Err(e) = the0_executor::supervise::harden::make_non_dumpable() {
        eprintln!("Error: cannot make the executor non-dumpable (PR_SET_DUMPABLE): {e}");
        return ExitCode::from(1);
    }
    // And its environment block blanked (the values move to the heap): gVisor's /proc serves
    // `environ` despite the above (docs/security/gvisor.md §3).
    the0_executor::supervise::harden::hide_environ_block();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{}", e.usage);
            eprintln!("Error: {}", e.message);
            return ExitCode::from(1);
        }
    };
    let code = match command {
        Command::Help(usage) => {
            print!("{usage}");
            0
        }
        Command::Version => {
            println!("{}", the0_contract::version_line());
            0
        }
        // Synchronous and short: no async runtime, no signal handlers (it is not PID 1).
        Command::Release(opts) => the0_executor::release::command(&opts),
        other => match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt.block_on(dispatch(other)),
            Err(e) => {
                eprintln!("Error: cannot start the async runtime: {e}");
                1
            }
        },
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

async fn dispatch(command: Command) -> i32 {
    // Handlers first: a stop during start-up must not be lost (PID 1 ignores unhandled signals).
    let signals_rx = match signals::listen() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("Error: cannot install signal handlers: {e}");
            return 1;
        }
    };
    let result = match command {
        Command::Execute(opts) => execute(opts, signals_rx).await,
        Command::DaemonSync(opts) => daemon::sync(opts, signals_rx).await,
        Command::DaemonInit(opts) => daemon::init(opts).await,
        Command::Help(_) | Command::Version | Command::Release(_) => Ok(0),
    };
    result.unwrap_or_else(|e| {
        error!("fatal", error = format!("{e:#}"));
        eprintln!("Error: {e:#}");
        the0_executor::exit_reason::emit(&format!("fatal: {e:#}"));
        1
    })
}

async fn execute(
    opts: cli::ExecuteOpts,
    signals_rx: tokio::sync::mpsc::UnboundedReceiver<libc::c_int>,
) -> anyhow::Result<i32> {
    let mut cfg = Config::from_process_env(true)?;
    the0_executor::log::set_level(cfg.log_level);
    the0_executor::supervise::child::limit_processes(cfg.bot_nproc);
    if let Some(q) = &opts.query {
        cfg.query_path = Some(q.clone());
    }
    if opts.query_server_only {
        return Ok(query::sidecar::run(cfg, signals_rx).await);
    }
    if cfg.query_warm {
        return Ok(query::warm::run(cfg, signals_rx).await);
    }
    if cfg.is_query_mode() {
        return Ok(query::oneshot::run(cfg, signals_rx).await);
    }
    Ok(run::normal_run(cfg, &opts, signals_rx).await)
}
