//! `sharpeyes`: the command line. Logs go to stderr (RUST_LOG, default info); stdout carries
//! results (alerts as JSON lines, detections as JSON, summaries).
//!
//! This file parses and dispatches: the arguments are in `cli.rs`, and each subcommand is a
//! function in `commands/<command>.rs`.

mod cli;
mod commands;

use clap::Parser;
use sharpeyes::models::ModelStore;

use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    // Before any thread: see its docs (resident memory over hours with many cameras).
    sharpeyes::runtime::limit_malloc_arenas();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let store = ModelStore::from_env();
    match cli.command {
        Command::Demo(args) => commands::demo::run(args, &store),
        Command::Run(args) => commands::run::run(args, &store),
        Command::Cluster { command } => commands::cluster::run(command),
        Command::Serve(args) => commands::serve::run(args),
        Command::User { command } => commands::user::run(command),
        Command::Camera { command } => commands::camera::run(command, &store),
        Command::Config { command } => commands::config::run(command),
        Command::Replay(args) => commands::replay::run(args, &store),
        Command::Notify(args) => commands::notify::run(args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Detect(args) => commands::detect::run(args, &store),
        Command::Models { command } => commands::models::run(command, &store),
    }
}
