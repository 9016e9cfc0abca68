//! The `orchestrator` binary: parse the command line, run the command from the library.

use std::collections::HashMap;

use anyhow::Context;
use the0_orchestrator::cmdline;
use the0_orchestrator::config::{self, Command};
use the0_orchestrator::{client, log, server};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let vars: HashMap<String, String> = std::env::vars().collect();
    let parsed = match cmdline::parse(&args, &vars) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}\n\nError: {e}", cmdline::USAGE);
            std::process::exit(1);
        }
    };
    log::set_level(log::Level::parse(&parsed.log_level));
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

async fn run(c: config::Cli) -> anyhow::Result<()> {
    match c.command.clone() {
        Command::Help => println!("{}", cmdline::USAGE),
        Command::Version => println!("{}", the0_contract::version_line()),
        Command::Serve | Command::BotRunner | Command::BotScheduler => {
            let s = server::Server::bind(c).await.context("cannot start")?;
            s.run(shutdown_signal()).await;
        }
        Command::QueryServer => {
            let s = the0_orchestrator::server::query_server::Standalone::bind(&c).await.context("cannot start")?;
            s.run(shutdown_signal()).await;
        }
        Command::Deploy { dir, id } => {
            let v = client::deploy(&c, &dir, id.as_deref()).await?;
            println!("deployed {} ({})", v["id"].as_str().unwrap_or(""), v["status"]["state"].as_str().unwrap_or(""));
        }
        Command::List => print!("{}", client::render_list(&client::list(&c).await?)),
        Command::Remove { id } => {
            client::remove(&c, &id).await?;
            println!("removed {id} (its state and logs are kept)");
        }
        Command::Logs { id, follow } => {
            let mut out = std::io::stdout();
            client::logs(&c, &id, follow, &mut out).await?;
        }
        Command::StopAll => println!("stopped {} containers", client::stop_all(&c).await?),
        Command::HealthCheck => client::healthcheck(&c).await?,
    }
    Ok(())
}
