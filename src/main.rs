//! The `medchain` command: one binary for every role (docs/architecture.md § One binary,
//! every role). Exit statuses: [`exit`].
//!
//! - `keygen`, `address`: key files.
//! - `init`, `node`, `devnet`: start a network (validators from `medchain-node`).
//! - `org`, `record`, `consent`, `access`, `licence`, `revocation`: sign and send transactions.
//! - `licence show`, `revocation check`, `identity show`: identity state, verified.
//! - `query`: read chain state, verified against a finalized block (`--save` keeps the answer).
//! - `verify`: check a saved answer again, offline.
//!
//! This crate only parses arguments and prints; the logic lives in `medchain-client` (client
//! side) and `medchain-node` (validator side).

mod cli;
mod connect;
mod devnet;
mod error;
mod exit;
mod fresh;
mod identity_show;
mod ids;
mod init;
mod licence;
mod list;
mod output;
mod query;
mod time;
mod tx;

use clap::{
    CommandFactory as _, FromArgMatches as _,
    error::{ContextKind, ContextValue},
};
use cli::{Cli, Command};
use error::CliError;
use exit::Status;
use medchain_client::{api, keys};
use std::{io::IsTerminal as _, path::Path, process::ExitCode};

fn main() -> ExitCode {
    match run(parse().command) {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {}", error.report());
            error.status().into()
        }
    }
}

/// The command line, or clap's usage error (exit status 2) with any long value it quotes cut
/// short: an error never echoes a large input back whole.
fn parse() -> Cli {
    let command = Cli::command();
    let help = command
        .get_after_help()
        .map(|help| format!("{help}\n\n{}", Status::table()))
        .unwrap_or_else(Status::table);
    let parsed = command
        .after_help(help)
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    parsed.unwrap_or_else(|mut error| {
        if let Some(ContextValue::String(value)) = error.get(ContextKind::InvalidValue)
            && value.chars().count() > api::ECHO_CHARS
        {
            let short = format!(
                "{} ({} bytes)",
                api::elide(value, api::ECHO_CHARS),
                value.len()
            );
            error.insert(ContextKind::InvalidValue, ContextValue::String(short));
        }
        error.exit()
    })
}

/// Runs one command; its exit status is one of [`Status`].
fn run(command: Command) -> Result<Status, CliError> {
    let done = |()| Status::Ok;
    match command {
        Command::Keygen { out } => keygen(&out).map(done),
        Command::Address { key } => {
            println!("{}", keys::address_of(&connect::key(&key)?));
            Ok(Status::Ok)
        }
        Command::Init(args) => {
            init::print(&init::init(&args)?);
            Ok(Status::Ok)
        }
        Command::Node { config } => node(&config).map(done),
        Command::Devnet(args) => devnet::run(&args).map(done),
        Command::Org(command) => tx::org(command),
        Command::Record(command) => tx::record(command),
        Command::Consent(command) => tx::consent(command),
        Command::Access(command) => tx::access(command),
        Command::Query(command) => query::run(command),
        Command::Licence(command) => licence::licence(command),
        Command::Revocation(command) => licence::revocation(command),
        Command::Identity(cli::IdentityCommand::Show(args)) => identity_show::show(args),
        Command::Verify(args) => query::verify(&args),
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
