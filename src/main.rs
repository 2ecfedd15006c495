//! The `medchain` command: one binary for every role (docs/architecture.md § One binary,
//! every role). Exit statuses: [`exit`].
//!
//! - `keygen`, `address`, `key`: key files (encrypted under a passphrase).
//! - `init`, `node`, `devnet`: start a network (validators from `medchain-node`).
//! - `org`, `record`, `consent`, `access`, `licence`, `revocation`: sign and send transactions.
//! - `identity enrol`: bind an identity and obtain its keys from the threshold PKG.
//! - `licence show`, `revocation check`, `identity show`: identity state, verified.
//! - `hospital`: run a hospital's gateway (medchain-gateway's service).
//! - `token`, `stake`: balances, payments and history; delegated stake and candidates.
//! - `query`: read chain state, verified against a finalized block (`--save` keeps the answer).
//! - `verify`: check a saved answer again, offline.
//! - `patient`, `doctor`: records at hospital gateways — enrol, write, read, authorise, fetch,
//!   break-glass — every answer checked against the chain.
//! - `zk setup`, `research`, `cloud`, `patient studies|enrol-study`: the research market
//!   (studies, enrolments proven in zero knowledge, records read through cloud proxies).
//!
//! This crate only parses arguments and prints; the logic lives in `medchain-client` (client
//! side) and `medchain-node` (validator side).

/// mimalloc rather than glibc's malloc: a validator allocates and frees block-sized buffers
/// from many threads, and glibc handed their pages back to the kernel and faulted fresh,
/// zeroed ones in again — 10 % of a validator's CPU in the network bench, where mimalloc
/// raised throughput by a third (docs/benchmarks.md, issue 14).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod circuit;
mod cli;
mod cloud;
mod connect;
mod devnet;
mod doctor;
mod error;
mod exit;
mod fresh;
mod grant;
mod hospital;
mod identity_enrol;
mod identity_show;
mod ids;
mod init;
mod licence;
mod list;
mod logs;
mod output;
mod patient;
mod portal;
mod query;
mod research;
mod sharing;
mod stake;
mod time;
mod token;
mod tx;

use clap::{
    CommandFactory as _, FromArgMatches as _,
    error::{ContextKind, ContextValue},
};
use cli::{Cli, Command, KeyCommand};
use error::CliError;
use exit::Status;
use medchain_client::{
    api,
    keys::{self, Confirm},
};
use medchain_types::keyfile::{KeyFile, KeyMaterial};
use std::{io::IsTerminal as _, path::Path, process::ExitCode};

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    match run(parse().command) {
        Ok(status) => status.into(),
        Err(error) => {
            eprintln!("error: {}", error.report());
            error.status().into()
        }
    }
}

/// `medchain … | head` closes stdout early; Rust ignores SIGPIPE, so the next `println!`
/// panics. A reader going away is not an error of ours: leave quietly with the shell's status
/// for a broken pipe (128 + SIGPIPE) instead of printing a panic. Every other panic keeps the
/// default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
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
            println!("{}", keys::read_key_file(&key)?.address());
            Ok(Status::Ok)
        }
        Command::Key(KeyCommand::Encrypt { key }) => encrypt_key(&key).map(done),
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
        Command::Identity(cli::IdentityCommand::Enrol {
            role,
            name,
            pkg_nodes,
            send,
        }) => identity_enrol::enrol(role, name, pkg_nodes, &send),
        Command::Token(command) => token::run(command),
        Command::Stake(command) => stake::run(command),
        Command::Query(command) => query::run(command),
        Command::Licence(command) => licence::licence(command),
        Command::Revocation(command) => licence::revocation(command),
        Command::Identity(cli::IdentityCommand::Show(args)) => identity_show::show(args),
        Command::Verify(args) => query::verify(&args),
        Command::Hospital(args) => hospital::run(&args).map(done),
        Command::Portal(args) => portal::run(&args).map(done),
        Command::Patient(command) => patient::run(command),
        Command::Doctor(command) => doctor::run(command),
        Command::Zk(cli::ZkCommand::Setup(args)) => circuit::setup(&args).map(done),
        Command::Research(command) => research::run(command),
        Command::Cloud(args) => cloud::run(&args).map(done),
    }
}
/// `medchain keygen`: a new key, sealed under a passphrase typed twice (or from the
/// environment).
fn keygen(out: &Path) -> Result<(), CliError> {
    let material = KeyMaterial::new(keys::generate());
    let passphrase = keys::ask_passphrase(out, Confirm::Twice)?;
    keys::write_encrypted_key_file(out, &material, &passphrase)?;
    println!(
        "wrote {} (encrypted with your passphrase, readable only by you)",
        out.display()
    );
    println!("address: {}", material.address());
    Ok(())
}

/// `medchain key encrypt`: seals a plain key file in place.
fn encrypt_key(path: &Path) -> Result<(), CliError> {
    let KeyFile::Plain(key) = keys::read_key_file(path)? else {
        return Err(CliError::Usage(format!(
            "{} is already encrypted; nothing to do",
            path.display()
        )));
    };
    let passphrase = keys::ask_passphrase(path, Confirm::Twice)?;
    keys::replace_key_file(path, &KeyMaterial::new(key), &passphrase)?;
    println!("encrypted {} under your passphrase", path.display());
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
