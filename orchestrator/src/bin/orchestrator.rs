//! The `orchestrator` binary: parse the command line, run the command from the library.

use std::collections::HashMap;

use anyhow::Context;
use the0_orchestrator::config::{self, Command, StateAction};
use the0_orchestrator::{client, log, render, server};
use the0_orchestrator::{cmdargs, cmdline};

fn main() {
    the0_orchestrator::malloc::tune();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let vars: HashMap<String, String> = std::env::vars().collect();
    let parsed = match cmdline::parse(&args, &vars) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = log::init(&parsed.log_level, vars.get("RUST_LOG").map(String::as_str)) {
        eprintln!("Error: {e}");
        std::process::exit(1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(parsed)) {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// How many of its last events `show` prints.
const SHOW_EVENTS: i64 = 5;

/// What an import did, one line per bot (or `-o json`); exit 1 when a write failed.
fn print_import(report: &the0_orchestrator::takeover::Report, output: config::OutputFormat) -> anyhow::Result<()> {
    match output {
        config::OutputFormat::Json => println!("{}", report.json()),
        _ => print!("{}", report.text()),
    }
    anyhow::ensure!(!report.failed(), "some records could not be written (see above)");
    Ok(())
}

async fn run(c: config::Cli) -> anyhow::Result<()> {
    match c.command.clone() {
        Command::Help(text) => print!("{text}"),
        Command::Completions(shell) => {
            clap_complete::generate(shell, &mut cmdargs::command(), "orchestrator", &mut std::io::stdout())
        }
        Command::Version => println!("{}", the0_contract::version_line()),
        Command::Serve | Command::BotRunner | Command::BotScheduler => {
            let s = server::Server::bind(c).await.context("cannot start")?;
            s.run(shutdown_signal()).await;
        }
        Command::QueryServer => {
            let s = the0_orchestrator::server::query_server::Standalone::bind(&c).await.context("cannot start")?;
            s.run(shutdown_signal()).await;
        }
        Command::Deploy { dir, id, output } => {
            let v = client::deploy(&c, &dir, id.as_deref()).await?;
            print!(
                "{}",
                render::reply(&v, output, |v| format!(
                    "deployed {} ({})",
                    render::cell(&v["id"]),
                    render::cell(&v["status"]["state"])
                ))
            );
        }
        Command::List { filter, output } => {
            print!("{}", render::list(&render::filter_bots(client::list(&c).await?, filter), output))
        }
        Command::Show { id, output } => {
            print!("{}", render::show(&client::show(&c, &id).await?, output));
            if output == config::OutputFormat::Table {
                // The bot's last events; a server without the history shows the bot alone.
                if let Ok(evs) = client::events(&c, Some(&id), None, SHOW_EVENTS).await {
                    print!("{}", render::recent_events(&evs));
                }
            }
        }
        Command::Restart { id, output } => {
            let v = client::restart(&c, &id).await?;
            print!("{}", render::reply(&v, output, |_| format!("{id}: restart requested")));
        }
        Command::Events { follow: false, bot, limit, output } => {
            let evs = client::events(&c, bot.as_deref(), None, limit).await?;
            print!("{}", render::events(&evs, output, true, false));
        }
        Command::Events { follow: true, bot, limit, output } => {
            use std::io::Write;
            let mut first = true;
            let mut print = |evs: &[serde_json::Value]| {
                let mut out = std::io::stdout().lock();
                let text = render::events(evs, output, std::mem::take(&mut first), true);
                out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(client::CliError::Output)
            };
            client::follow_events(&c, bot.as_deref(), limit, &mut print, shutdown_signal()).await?;
        }
        Command::Runs { id, output } => print!("{}", render::runs(&client::runs(&c, &id).await?, output)),
        Command::SetEnabled { id, enabled, output } => {
            let v = client::set_enabled(&c, &id, enabled).await?;
            print!("{}", render::reply(&v, output, |v| format!("{id}: {}", render::cell(&v["status"]["state"]))));
        }
        Command::Remove { id, output } => {
            let v = client::remove(&c, &id).await?;
            print!("{}", render::reply(&v, output, |_| format!("removed {id} (its state and logs are kept)")));
        }
        Command::Logs { id, follow, tail, since } => {
            let since_ms = since.map(|d| the0_orchestrator::store::now_ms() - d.as_millis() as i64);
            let window = the0_orchestrator::logwindow::LogWindow { tail, since_ms };
            let mut out = std::io::stdout();
            match id {
                Some(id) => client::logs(&c, &id, follow, &window, &mut out).await?,
                None => client::logs_all(&c, follow, &window, &mut out).await?,
            }
        }
        Command::Run { id, config, timeout_s, wait, output } => {
            let v = client::request_run(&c, &id, config.as_ref(), timeout_s).await?;
            let seq = v["seq"].as_i64().unwrap_or_default();
            if !wait {
                print!(
                    "{}",
                    render::reply(&v, output, |_| format!("{id}: run {seq} requested (`runs {id}` shows it)"))
                );
                return Ok(());
            }
            // Its deadline, the stop after it, and time to be started (a run of the bot may be going).
            let within = std::time::Duration::from_secs(timeout_s.unwrap_or(600) as u64 + 180);
            let run = client::wait_run(&c, &id, seq, within).await?;
            print!("{}", render::run_result(&id, &run, output));
            if run["outcome"] != "succeeded" {
                let outcome = render::outcome_words(&run);
                return Err(client::CliError::RunFailed { id, seq, outcome }.into());
            }
        }
        Command::State { id, action, output } => {
            let v = client::state(&c, &id, &action).await?;
            let text = match &action {
                StateAction::List => render::state_keys(&v, output),
                StateAction::Get(_) => render::state_value(&v, output),
                StateAction::Remove { key, .. } => render::reply(&v, output, |v| {
                    let how = if v["restarted"] == true { " (stopped for the edit and started again)" } else { "" };
                    format!("{id}: state key {key} removed{how}")
                }),
            };
            print!("{text}");
        }
        Command::Query { id, path, params, output } => {
            let v = client::query(&c, &id, &path, &params).await?;
            print!("{}", render::reply(&v, output, |v| format!("{:#}", v.get("data").unwrap_or(v))));
        }
        Command::StopAll => println!("stopped {} containers", client::stop_all(&c).await?),
        Command::HealthCheck => client::healthcheck(&c).await?,
        Command::Gc { dry_run, interval, json } => {
            let gc = the0_orchestrator::gc::Gc::open(&c)?;
            let opts = the0_orchestrator::gc::GcOptions { dry_run, interval, json };
            gc.run(opts, &mut std::io::stdout(), shutdown_signal()).await?;
        }
        Command::ImportRunning { kubernetes, target, output } => {
            let report = the0_orchestrator::takeover::run::import_running(&c, &target, kubernetes).await?;
            print_import(&report, output)?;
        }
        Command::ImportMongo { bots, schedules, target, output } => {
            let report =
                the0_orchestrator::takeover::run::import_mongo(&c, &target, &bots, schedules.as_deref()).await?;
            print_import(&report, output)?;
        }
        Command::Controller(f) => {
            let r = the0_orchestrator::kube::run::Running::bind(&c, &f, None).await.context("cannot start")?;
            r.run(shutdown_signal()).await;
        }
    }
    Ok(())
}
