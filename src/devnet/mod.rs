//! `medchain devnet`: a local network of validator *processes* on loopback.
//!
//! First run: `init` into the directory. Later runs: reuse it, so the same chain continues
//! (each validator recovers from its data directory). Each validator is this executable
//! running `node --config DIR/node-i/node.toml`, logging to `DIR/node-i/node.log`. Ctrl-C or
//! SIGTERM stops them cleanly: SIGTERM, a grace period, then SIGKILL for any that hang.

mod market;

use crate::{
    cli::{DevnetArgs, InitArgs},
    error::CliError,
    init,
};
use medchain_api::MedStatus;
use medchain_client::{Client, ClientError, LightClient, NodeClient, StateQuery};
use medchain_node::{config::NodeConfig, pkg::PublicPkg};
use medchain_types::{Address, Genesis};
use nix::{sys::signal, unistd::Pid};
use std::{
    ffi::OsString,
    fs,
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

/// How long validators get to answer on their API after start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the validators get to set up the threshold PKG once they answer.
const PKG_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a validator gets to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// How often the supervisor looks at its children.
const POLL: Duration = Duration::from_millis(200);
/// Lines of a log shown when a validator dies.
const LOG_TAIL: usize = 15;

/// A child process of the devnet: this executable with `args`, logging to `log`.
struct Process {
    name: String,
    args: Vec<OsString>,
    log: PathBuf,
    child: Option<Child>,
}

/// One validator process.
struct Validator {
    process: Process,
    config: PathBuf,
    api: String,
    data_dir: PathBuf,
    /// Whether its key is a genesis validator's: those hold a share of the threshold PKG; a
    /// standby node follows the chain until it is elected.
    genesis_validator: bool,
}

/// Runs the devnet until Ctrl-C / SIGTERM.
pub fn run(args: &DevnetArgs) -> Result<(), CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::Devnet(format!("cannot handle signals: {e}")))?;
    }
    let dir = &args.dir;
    let start = prepare(args)?;
    let mut network = Network {
        validators: load_validators(dir)?,
        proxies: Vec::new(),
    };
    for validator in &network.validators {
        check_ports_free(&validator.config)?;
    }
    for validator in &mut network.validators {
        validator.process.start()?;
    }
    network.wait_ready(&stop)?;
    network.wait_for_pkg(&stop)?;
    let proxies = match market::enabled(dir) {
        true => network.start_market(dir, cloud_base_port(args))?,
        false => Vec::new(),
    };
    print_banner(dir, &network.validators, start)?;
    if !proxies.is_empty() {
        print_market(dir, &network.proxies, &proxies)?;
    }
    println!(
        "\nCtrl-C stops the validators; `{}` again resumes the same chain.",
        devnet_command(dir)
    );
    network.supervise(&stop)?;
    network.stop_all();
    println!(
        "devnet stopped; run `{}` again to resume the same chain",
        devnet_command(dir)
    );
    Ok(())
}

/// Where the first cloud proxy listens: `--cloud-base-port`, else 801 above the API base port
/// (8400 → 9201), so devnets on other ports do not collide.
fn cloud_base_port(args: &DevnetArgs) -> u16 {
    args.cloud_base_port
        .unwrap_or_else(|| args.api_base_port.saturating_add(801))
}

/// Whether the devnet started a new chain or resumed one from its directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    Fresh,
    Resumed,
}

/// Initialises `args.dir` unless it already holds a network.
fn prepare(args: &DevnetArgs) -> Result<Start, CliError> {
    let dir = &args.dir;
    if init::genesis_file(dir).exists() {
        println!("reusing {}", dir.display());
        return Ok(Start::Resumed);
    }
    let layout = init::init(&InitArgs {
        validators: args.validators,
        out: dir.to_path_buf(),
        chain_id: Some(init::random_chain_id("medchain-devnet")?),
        p2p_base_port: args.p2p_base_port,
        api_base_port: args.api_base_port,
        economy: args.economy.clone(),
        circuit: args.circuit.clone(),
        // The devnet runs both chains (S3-dual), every validator mining, unless asked not to.
        med: !args.no_med,
    })?;
    println!(
        "initialised a new {}-validator chain {} in {}",
        args.validators,
        layout.chain_id,
        dir.display()
    );
    Ok(Start::Fresh)
}

fn load_validators(dir: &Path) -> Result<Vec<Validator>, CliError> {
    let mut validators = Vec::new();
    while init::node_config_file(dir, validators.len()).exists() {
        let index = validators.len();
        let config = init::node_config_file(dir, index);
        let loaded = NodeConfig::load(&config).map_err(|e| CliError::Devnet(e.to_string()))?;
        let key = medchain_client::keys::address_of(&loaded.key);
        validators.push(Validator {
            genesis_validator: loaded.genesis.validator_keys().contains(&key),
            process: Process::new(
                format!("node-{index}"),
                vec!["node".into(), "--config".into(), config.clone().into()],
                dir.join(format!("node-{index}")).join("node.log"),
            ),
            api: format!("http://{}", loaded.config.api.listen),
            data_dir: loaded.config.data_dir,
            config,
        });
    }
    if validators.is_empty() {
        return Err(CliError::Devnet(format!(
            "{} has a genesis but no node-0/node.toml; delete the directory to start over",
            dir.display()
        )));
    }
    Ok(validators)
}

/// Refuses to start if a validator's ports are taken (another devnet is probably running,
/// and its API would answer our readiness checks).
fn check_ports_free(config: &Path) -> Result<(), CliError> {
    let loaded = NodeConfig::load(config).map_err(|e| CliError::Devnet(e.to_string()))?;
    for address in [loaded.config.api.listen, loaded.config.p2p.listen] {
        TcpListener::bind(address).map_err(|e| port_in_use(address, e))?;
    }
    Ok(())
}

fn port_in_use(address: SocketAddr, error: std::io::Error) -> CliError {
    CliError::Devnet(format!(
        "cannot use {address}: {error}. Is another devnet or node running? Stop it, or use `medchain init` with other ports"
    ))
}

impl Process {
    fn new(name: String, args: Vec<OsString>, log: PathBuf) -> Self {
        Self {
            name,
            args,
            log,
            child: None,
        }
    }

    fn start(&mut self) -> Result<(), CliError> {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::Devnet(format!("cannot find this executable: {e}")))?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(CliError::io(&self.log))?;
        let stderr = log.try_clone().map_err(CliError::io(&self.log))?;
        let child = Command::new(exe)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| CliError::Devnet(format!("cannot start {}: {e}", self.name)))?;
        self.child = Some(child);
        Ok(())
    }

    /// The exit status if the process has ended (and forgets it).
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.child = None;
        Some(status)
    }

    fn report_exit(&self, status: ExitStatus) -> String {
        format!(
            "{} exited unexpectedly ({status}); last lines of {}:\n{}",
            self.name,
            self.log.display(),
            log_tail(&self.log, LOG_TAIL)
        )
    }
}

/// The validators as a group; stopping them is guaranteed by `Drop`.
struct Network {
    validators: Vec<Validator>,
    /// The research market's cloud proxies (`medchain cloud`), started once the chain runs.
    proxies: Vec<Process>,
}

impl Network {
    /// Every child process: validators, then proxies.
    fn processes(&mut self) -> impl Iterator<Item = &mut Process> {
        self.validators
            .iter_mut()
            .map(|v| &mut v.process)
            .chain(self.proxies.iter_mut())
    }

    /// An error naming the first child that has exited, if any.
    fn check_alive(&mut self) -> Result<(), CliError> {
        for process in self.processes() {
            if let Some(status) = process.exited() {
                return Err(CliError::Devnet(process.report_exit(status)));
            }
        }
        Ok(())
    }

    fn wait_ready(&mut self, stop: &AtomicBool) -> Result<(), CliError> {
        let start = Instant::now();
        let clients: Vec<NodeClient> = self
            .validators
            .iter()
            .map(|v| NodeClient::with_timeout(&v.api, Duration::from_secs(2)))
            .collect::<Result<_, _>>()?;
        let mut ready = vec![false; clients.len()];
        while !ready.iter().all(|r| *r) {
            if stop.load(Ordering::SeqCst) {
                return Err(CliError::Devnet("interrupted while starting".into()));
            }
            self.check_alive()?;
            for (index, client) in clients.iter().enumerate() {
                ready[index] = ready[index] || client.health().is_ok();
            }
            if start.elapsed() > STARTUP_TIMEOUT {
                return Err(CliError::Devnet(format!(
                    "validators did not answer within {STARTUP_TIMEOUT:?}; see {}",
                    self.validators[0].process.log.display()
                )));
            }
            thread::sleep(POLL);
        }
        Ok(())
    }

    /// Waits until every validator holds its threshold-PKG share (S3-setup: the validators'
    /// key generation runs by itself when they start), and says so.
    fn wait_for_pkg(&mut self, stop: &AtomicBool) -> Result<(), CliError> {
        let start = Instant::now();
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(CliError::Devnet("interrupted while starting".into()));
            }
            self.check_alive()?;
            let results: Vec<Option<PublicPkg>> = self
                .validators
                .iter()
                .filter(|v| v.genesis_validator)
                .map(|v| PublicPkg::read(&v.data_dir))
                .collect();
            if let Some(Some(pkg)) = results.first()
                && results.iter().all(|r| r.as_ref() == Some(pkg))
            {
                println!(
                    "threshold PKG ready: {} of {} validators, P_pub {:?} (key generation took {:.1} s; no process holds the master secret)",
                    pkg.threshold,
                    pkg.validators,
                    pkg.master_public_key,
                    start.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if start.elapsed() > PKG_TIMEOUT {
                return Err(CliError::Devnet(format!(
                    "the threshold PKG's key generation did not complete within {PKG_TIMEOUT:?}; see the `pkg:` lines in {}",
                    self.validators[0].process.log.display()
                )));
            }
            thread::sleep(POLL);
        }
    }

    /// Sets up the research market (circuit, organisations) unless the chain has it, starts
    /// the cloud proxies and waits until each is registered on chain; their URLs.
    fn start_market(&mut self, dir: &Path, base_port: u16) -> Result<Vec<String>, CliError> {
        let genesis_path = init::genesis_file(dir);
        let genesis = medchain_client::keys::read_genesis(&genesis_path)?;
        let api = self.validators[0].api.clone();
        let client = Client::new(
            NodeClient::new(&api)?,
            LightClient::new(genesis).map_err(ClientError::from)?,
        );
        market::set_up(dir, &client)?;
        let mut urls = Vec::new();
        for (mut process, url) in market::proxies(dir, &genesis_path, &api, base_port)? {
            let listen = url.trim_start_matches("http://");
            if let Ok(address) = listen.parse::<SocketAddr>() {
                TcpListener::bind(address).map_err(|e| port_in_use(address, e))?;
            }
            process.start()?;
            self.proxies.push(process);
            urls.push(url);
        }
        market::wait_registered(&client, &market::proxy_addresses(dir)?, || {
            self.check_alive()
        })?;
        Ok(urls)
    }

    /// Watches the children until a stop signal; reports any that die.
    fn supervise(&mut self, stop: &AtomicBool) -> Result<(), CliError> {
        while !stop.load(Ordering::SeqCst) {
            for process in self.processes() {
                if let Some(status) = process.exited() {
                    eprintln!("{}", process.report_exit(status));
                }
            }
            if self.validators.iter().all(|v| v.process.child.is_none()) {
                return Err(CliError::Devnet("every validator has stopped".into()));
            }
            thread::sleep(POLL);
        }
        println!("stopping validators…");
        Ok(())
    }

    /// How many children are still running (reaping those that ended).
    fn running(&mut self) -> usize {
        self.processes()
            .map(|p| p.child.is_some() && p.exited().is_none())
            .filter(|running| *running)
            .count()
    }

    /// SIGTERM to every running child (proxies first: they use the validators), then SIGKILL
    /// for any still running after the grace period.
    fn stop_all(&mut self) {
        let proxies_first = self
            .proxies
            .iter()
            .chain(self.validators.iter().map(|v| &v.process));
        for process in proxies_first {
            if let Some(pid) = process
                .child
                .as_ref()
                .and_then(|c| i32::try_from(c.id()).ok())
            {
                // Already gone is fine: that is the state we want.
                let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && self.running() > 0 {
            thread::sleep(POLL);
        }
        for process in self.processes() {
            if let Some(mut child) = process.child.take() {
                eprintln!(
                    "{} did not stop within {STOP_GRACE:?}; killing it",
                    process.name
                );
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn print_banner(dir: &Path, validators: &[Validator], start: Start) -> Result<(), CliError> {
    let genesis_path = init::genesis_file(dir);
    let genesis = medchain_client::keys::read_genesis(&genesis_path)?;
    let medchain = medchain_command();
    let standbys = validators.iter().filter(|v| !v.genesis_validator).count();
    println!(
        "\nmedchain devnet is running: chain {}, {} validators{}",
        genesis.chain_id,
        validators.len() - standbys,
        match standbys {
            0 => String::new(),
            n => format!(" and {n} standby"),
        }
    );
    for validator in validators {
        println!(
            "  {}  {}  (log {}){}",
            validator.process.name,
            validator.api,
            validator.process.log.display(),
            if validator.genesis_validator {
                ""
            } else {
                "  standby: follows until elected"
            }
        );
    }
    if genesis.med.is_some() {
        println!("{}", med_status_line(&validators[0].api));
    }
    let regulator = dir.join("regulator.key");
    println!("regulator key: {}", regulator.display());
    print_accounts(dir, &genesis, &validators[0].api)?;
    if dir != Path::new(".devnet") || validators[0].api != "http://127.0.0.1:8400" {
        println!("\nin another terminal, point the client at this network:");
        println!(
            "  export MEDCHAIN_GENESIS={} MEDCHAIN_NODE={}",
            genesis_path.display(),
            validators[0].api
        );
    }
    if !medchain_on_path() {
        println!(
            "\n`medchain` is not on your PATH, so the commands below name this executable; `cargo install --path .` (in the repository) puts it there."
        );
    }
    match start {
        Start::Fresh => {
            println!("\nquick start (another terminal, same directory):");
            println!("  {medchain} keygen --out doctor.key");
            if genesis.tokens.is_some() {
                // A new key holds no tokens; every transaction pays a fee from its balance.
                println!(
                    "  {medchain} token send --key {} --to $({medchain} address --key doctor.key) --amount 100000 --to-balance",
                    regulator.display()
                );
            }
            println!(
                "  {medchain} org register --key doctor.key --name \"Seoul General\" --kind hospital"
            );
            println!(
                "  {medchain} org approve --key {} --name \"Seoul General\"",
                regulator.display()
            );
            println!("  {medchain} query org \"Seoul General\"");
            println!("the whole flow (records, consent, access): docs/cli.md");
        }
        Start::Resumed => {
            let height = NodeClient::new(&validators[0].api)
                .and_then(|node| node.status())
                .map_or_else(|_| "?".to_string(), |status| status.height.to_string());
            println!(
                "\nresumed the chain at height {height}: every organisation, record and consent registered before is still there."
            );
            println!("  {medchain} query status");
            println!(
                "  {medchain} query org \"Seoul General\"     # an organisation you registered"
            );
            println!(
                "a new chain: stop this one and run it with another --dir (or delete {}).",
                dir.display()
            );
        }
    }
    Ok(())
}

/// What the research market offers on this devnet (docs/research.md).
fn print_market(dir: &Path, proxies: &[Process], urls: &[String]) -> Result<(), CliError> {
    let circuit = crate::circuit::CircuitDir::beside(&init::genesis_file(dir));
    let manifest = circuit.manifest()?;
    println!("\nresearch market (docs/research.md):");
    println!(
        "  circuit   {} {} registered by the regulator (keys in {})",
        manifest.schema,
        manifest.circuit,
        circuit.path().display()
    );
    println!(
        "  research  \"{}\": {}",
        market::RESEARCH_ORG,
        init::account_key_file(dir, "researcher-1").display()
    );
    println!(
        "  proxies   \"{}\", threshold {} of {}:",
        market::CLOUD_ORG,
        urls.len() / 2 + 1,
        urls.len()
    );
    for (process, url) in proxies.iter().zip(urls) {
        println!(
            "    {}  {url}  (log {})",
            process.name,
            process.log.display()
        );
    }
    Ok(())
}

/// One line on the MED chain as the validator at `api` sees it, or where to look if it cannot
/// say yet.
fn med_status_line(api: &str) -> String {
    let route = format!("{api}/v1/med/status");
    let status = medchain_client::http_endpoint(api, Duration::from_secs(5))
        .ok()
        .and_then(|(base, agent)| agent.get(format!("{base}/v1/med/status")).call().ok())
        .filter(|answer| answer.status().is_success())
        .and_then(|mut answer| answer.body_mut().read_json::<MedStatus>().ok());
    match status {
        Some(status) => format!(
            "MED chain: every validator mines; best Mblock {} (difficulty now {}), checkpointed by SUP up to Mblock {}, {} batches waiting  (GET {route})",
            status.best.height,
            status.difficulty,
            status.checkpointed.height,
            status.pending_batches
        ),
        None => format!("MED chain: every validator mines; its status: GET {route}"),
    }
}

/// The funded accounts with their balance and coins, each verified by a light client against a
/// finalized block of `api` (what genesis gave them, and says so, if that read fails); a chain
/// without tokens has none.
fn print_accounts(dir: &Path, genesis: &Genesis, api: &str) -> Result<(), CliError> {
    let accounts = init::funded_accounts(dir, genesis)?;
    if accounts.is_empty() {
        return Ok(());
    }
    let client = NodeClient::new(api).and_then(|node| {
        let light = LightClient::new(genesis.clone()).map_err(ClientError::from)?;
        Ok(Client::new(node, light))
    });
    let verified = |address: &Address| {
        let client = client.as_ref().ok()?;
        let balance = client.read(&StateQuery::account(address)).ok()?.value;
        let coins = client.read(&StateQuery::held(address)).ok()?;
        Some((
            balance.map_or(0, |account| account.balance),
            coins.value.unwrap_or(0),
            coins.at.header.height,
        ))
    };
    println!("funded accounts (the balance pays fees; coins are unspent outputs):");
    for account in accounts {
        let holdings = match verified(&account.address) {
            Some((balance, coins, height)) => {
                format!("balance {balance}, coins {coins} (verified at block {height})")
            }
            None => format!(
                "balance {}, coins {} (at genesis)",
                account.allocation.balance,
                account.allocation.outputs.iter().sum::<u64>()
            ),
        };
        println!(
            "  {:<13} {}  {}  {holdings}",
            account.name,
            account.address,
            account.key.display()
        );
    }
    Ok(())
}

/// How the user runs `medchain` from this terminal: `medchain` when that name on PATH is
/// this executable, else this executable's path (relative to the working directory when it
/// is inside it, as after `cargo run` or `cargo build`).
fn medchain_command() -> String {
    if medchain_on_path() {
        return "medchain".to_string();
    }
    let Ok(exe) = std::env::current_exe() else {
        return "medchain".to_string();
    };
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| exe.strip_prefix(cwd).ok().map(Path::to_path_buf));
    match relative {
        Some(path) => format!("./{}", path.display()),
        None => exe.display().to_string(),
    }
}

/// Whether `medchain` on PATH is this very executable.
fn medchain_on_path() -> bool {
    let (Ok(exe), Some(path)) = (
        std::env::current_exe().and_then(fs::canonicalize),
        std::env::var_os("PATH"),
    ) else {
        return false;
    };
    // The shell runs the first `medchain` on PATH.
    std::env::split_paths(&path)
        .find_map(|dir| fs::canonicalize(dir.join("medchain")).ok())
        .is_some_and(|first| first == exe)
}

/// The command that runs this devnet again.
fn devnet_command(dir: &Path) -> String {
    let medchain = medchain_command();
    if dir == Path::new(".devnet") {
        format!("{medchain} devnet")
    } else {
        format!("{medchain} devnet --dir {}", dir.display())
    }
}

/// The last `lines` lines of a log file (or why it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match fs::File::open(path) {
        Ok(file) => {
            let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}
