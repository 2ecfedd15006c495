//! The `medchain` command: one binary for every role (DESIGN.md §1).
//!
//! - `keygen`, `address`: key files.
//! - `init`, `node`, `devnet`: start a network (validators from `medchain-node`).
//! - `org`, `record`, `consent`, `access`: sign and send transactions.
//! - `query`: read chain state, verified against a finalized block.
//!
//! This crate only parses arguments and prints; the logic lives in `medchain-client` (client
//! side) and `medchain-node` (validator side).

mod cli;
mod connect;
mod devnet;
mod error;
mod ids;
mod init;
mod list;
mod output;
mod query;
mod tx;

use clap::Parser;
use cli::{Cli, Command};
use error::CliError;
use medchain_client::keys;
use std::{io::IsTerminal as _, path::Path, process::ExitCode};

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}

/// Runs one command; the exit status is 0, or 3 for a denied access request (`tx::Finished`).
fn run(command: Command) -> Result<ExitCode, CliError> {
    let success = |()| ExitCode::SUCCESS;
    match command {
        Command::Keygen { out } => keygen(&out).map(success),
        Command::Address { key } => {
            println!("{}", keys::address_of(&connect::key(&key)?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => {
            init::print(&init::init(&args)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Node { config } => node(&config).map(success),
        Command::Devnet(args) => devnet::run(&args).map(success),
        Command::Org(command) => tx::org(command).map(ExitCode::from),
        Command::Record(command) => tx::record(command).map(ExitCode::from),
        Command::Consent(command) => tx::consent(command).map(ExitCode::from),
        Command::Access(command) => tx::access(command).map(ExitCode::from),
        Command::Query(command) => query::run(command).map(success),
    }
}

fn keygen(out: &Path) -> Result<(), CliError> {
    let key = keys::generate();
    keys::write_key_file(out, &key)?;
    println!("wrote {} (readable only by you)", out.display());
    println!("address: {}", keys::address_of(&key));
    Ok(())
}

/// Runs a validator with `tracing` logs (`RUST_LOG` filters; default `info`).
fn node(config: &Path) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only on a terminal: devnet writes node output to log files.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let loaded = medchain_node::config::NodeConfig::load(config)
        .map_err(|e| CliError::Node(e.to_string()))?;
    medchain_node::run::run(loaded, medchain_node::engine::Tuning::default())
        .map_err(|e| CliError::Node(e.to_string()))
}
