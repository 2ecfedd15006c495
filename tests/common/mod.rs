//! A local network of validator processes for end-to-end tests: `medchain init` into a temp
//! directory with free loopback ports, one `medchain node` process per validator (logs in
//! `node-i/node.log`), and a guard that kills every process when the test ends, passes or
//! fails. Failure messages carry the tail of every node's log.

#![allow(dead_code)]

pub mod browser;
pub mod hospital;
pub mod measure;
pub mod portal;
pub mod research;
pub mod tamper;

use medchain_client::{Client, LightClient, NodeClient, keys};
use medchain_types::{G1Point, IdentityName, IdentityPayload, Payload, Role};
use std::{
    fs,
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

/// The `medchain` binary under test.
pub const MEDCHAIN: &str = env!("CARGO_BIN_EXE_medchain");

/// A JSON string field of a command's output, or a failure naming what was there instead.
pub fn text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
        .to_string()
}

/// The passphrase of every key file the tests' `medchain keygen` writes.
pub const PASSPHRASE: &str = "e2e test passphrase";

/// Generous: debug builds on a busy 2-core machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// One validator process.
pub struct NodeProcess {
    pub config: PathBuf,
    pub log: PathBuf,
    pub api: String,
    child: Option<Child>,
}

/// A running network; dropping it kills every validator.
pub struct Network {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeProcess>,
    pub genesis: PathBuf,
    pub regulator_key: PathBuf,
    /// How many of `nodes` are genesis validators (the rest are standbys).
    pub validators: usize,
    /// Tokens the regulator gives every key [`Network::keygen`] makes (a chain with fees whose
    /// test does not care how its keys are funded); `None` leaves new keys empty.
    pub fund_new_keys: Option<u64>,
}

impl Network {
    /// Initialises `validators` validators on free ports of a chain without tokens (every
    /// transaction free, the suites written before fees), starts them, and waits until each
    /// answers and the chain has finalized a block.
    pub fn start(validators: usize) -> Self {
        Self::start_with(validators, &["--fees", "free"])
    }

    /// [`Network::start`] with more `medchain init` arguments (`--standby 1`,
    /// `--epoch-length 30`, `--fees default`, …); standby nodes are started too, after the
    /// validators, and are `nodes[validators..]`.
    pub fn start_with(validators: usize, init_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let standby: usize = init_args
            .iter()
            .position(|arg| *arg == "--standby")
            .and_then(|at| init_args.get(at + 1))
            .map_or(0, |count| count.parse().expect("--standby N"));
        let count = validators + standby;
        let (p2p, api) = free_port_bases(count);
        let mut research = Vec::new();
        if !init_args.contains(&"free") {
            research.push("--circuit".to_string());
            research.push(shared_circuit().display().to_string());
        }
        let init = Command::new(MEDCHAIN)
            .args([
                "init",
                "--chain-id",
                "medchain-e2e",
                "--validators",
                &validators.to_string(),
            ])
            .args(init_args)
            .args(&research)
            .arg("--out")
            .arg(dir.path())
            .args([
                "--p2p-base-port",
                &p2p.to_string(),
                "--api-base-port",
                &api.to_string(),
            ])
            .output()
            .expect("run medchain init");
        assert!(
            init.status.success(),
            "medchain init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let nodes = (0..count)
            .map(|i| {
                let node_dir = dir.path().join(format!("node-{i}"));
                NodeProcess {
                    config: node_dir.join("node.toml"),
                    log: node_dir.join("node.log"),
                    api: format!("http://127.0.0.1:{}", api + i as u16),
                    child: None,
                }
            })
            .collect();
        let mut network = Self {
            genesis: dir.path().join("genesis.json"),
            regulator_key: dir.path().join("regulator.key"),
            validators,
            dir,
            nodes,
            fund_new_keys: None,
        };
        for index in 0..count {
            network.spawn(index);
        }
        for index in 0..count {
            network.wait_ready(index, 1);
        }
        network
    }

    /// The key file of a funded account `medchain init` wrote (`hospital-1`, `patient-2`, …;
    /// a network started with fees only).
    pub fn account(&self, name: &str) -> PathBuf {
        self.dir.path().join("accounts").join(format!("{name}.key"))
    }

    fn spawn(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .expect("open log");
        let stderr = log.try_clone().expect("clone log handle");
        let child = Command::new(MEDCHAIN)
            .arg("node")
            .arg("--config")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .expect("start medchain node");
        node.child = Some(child);
    }

    /// Waits until validator `index` answers and has committed `height`.
    pub fn wait_ready(&self, index: usize, height: u64) {
        let node = self.node_client(index);
        let start = Instant::now();
        loop {
            if let Ok(status) = node.status()
                && status.height >= height
            {
                return;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "node-{index} did not reach height {height} within {READY_TIMEOUT:?}\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until node `index`'s status satisfies `done` (described by `what` in the failure
    /// message); returns that status.
    pub fn wait_for_status(
        &self,
        index: usize,
        what: &str,
        done: impl Fn(&medchain_api::StatusView) -> bool,
    ) -> medchain_api::StatusView {
        let node = self.node_client(index);
        let start = Instant::now();
        loop {
            if let Ok(status) = node.status()
                && done(&status)
            {
                return status;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "node-{index}: {what} did not happen within {READY_TIMEOUT:?} (last status: {:?})\n{}",
                node.status(),
                self.logs()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until every validator holds its threshold-PKG share; returns each one's public
    /// view of the PKG.
    pub fn wait_for_pkg(&self) -> Vec<medchain_node::pkg::PublicPkg> {
        let start = Instant::now();
        loop {
            let pkgs: Option<Vec<_>> = (0..self.validators)
                .map(|i| {
                    let data = self.dir.path().join(format!("node-{i}")).join("data");
                    medchain_node::pkg::PublicPkg::read(&data)
                })
                .collect();
            if let Some(pkgs) = pkgs {
                return pkgs;
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "the threshold PKG was not set up within {READY_TIMEOUT:?}\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kill -9` validator `index`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// The process id of validator `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].child.as_ref().map(Child::id)
    }

    /// Starts validator `index` again on its data directory.
    pub fn restart(&mut self, index: usize) {
        assert!(self.nodes[index].child.is_none(), "node-{index} is running");
        self.spawn(index);
    }

    /// The HTTP API of validator `index`.
    pub fn node_client(&self, index: usize) -> NodeClient {
        NodeClient::with_timeout(&self.nodes[index].api, Duration::from_secs(10)).expect("node URL")
    }

    /// A verifying client for validator `index`.
    pub fn client(&self, index: usize) -> Client {
        let genesis = keys::read_genesis(&self.genesis).expect("genesis");
        Client::new(
            self.node_client(index),
            LightClient::new(genesis).expect("light client"),
        )
    }

    /// `medchain keygen`, returning the key path and the address it printed (checked against
    /// `medchain address`); funded by the regulator when [`Network::fund_new_keys`] says so.
    pub fn keygen(&self, name: &str) -> (String, String) {
        let path = self.path(name).display().to_string();
        let out = self.ok(&["keygen", "--out", &path]);
        let address = out
            .lines()
            .find_map(|line| line.strip_prefix("address: "))
            .unwrap_or_else(|| panic!("keygen printed no address:\n{out}"))
            .to_string();
        assert_eq!(self.ok(&["address", "--key", &path]).trim(), address);
        if let Some(amount) = self.fund_new_keys {
            let regulator = self.regulator_key.display().to_string();
            self.ok(&[
                "token",
                "send",
                "--key",
                &regulator,
                "--to",
                &address,
                "--amount",
                &amount.to_string(),
                "--to-balance",
                "--from-balance",
            ]);
        }
        (path, address)
    }

    /// Enrols the key file at `key` as `identity` with `role` the way a user does: `medchain
    /// identity enrol` binds the address on chain, then extracts the identity-based keys from
    /// t of the validators' threshold PKG (each answer checked against the on-chain public
    /// polynomial) and stores them, encrypted, in the key file.
    pub fn enrol(&self, key: &Path, identity: &str, role: Role) {
        self.wait_for_pkg();
        let role = match role {
            Role::Patient => "patient",
            Role::Doctor => "doctor",
            Role::Hospital => "hospital",
        };
        let key = key.display().to_string();
        let enrolled = self.json(&[
            "identity", "enrol", "--key", &key, "--role", role, "--name", identity,
        ]);
        assert_eq!(enrolled["identity"], identity, "{enrolled}");
    }

    /// A path inside the network's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `medchain ARGS` as a script would, in the network directory, pointed at node-0,
    /// with the key files' passphrase ([`PASSPHRASE`]) in the environment.
    pub fn medchain(&self, args: &[&str]) -> Output {
        Command::new(MEDCHAIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("MEDCHAIN_NODE", &self.nodes[0].api)
            .env("MEDCHAIN_GENESIS", &self.genesis)
            .env("MEDCHAIN_PASSPHRASE", PASSPHRASE)
            .env_remove("MEDCHAIN_KEY")
            .output()
            .expect("run medchain")
    }

    /// `medchain org register` of `name` by the key file `key`.
    pub fn register_org(&self, key: &str, name: &str) {
        self.ok(&["org", "register", "--key", key, "--name", name]);
    }

    /// `medchain org approve` of `name` by the network's regulator.
    pub fn approve_org(&self, name: &str) {
        let regulator = self.regulator_key.display().to_string();
        self.ok(&["org", "approve", "--key", &regulator, "--name", name]);
    }

    /// `medchain org endorse` by the member key file `endorser`, then `medchain org join` of
    /// the key file `member` with that endorsement, as two users would.
    pub fn join_org(&self, member: &str, org: &str, endorser: &str) {
        let member_address = self.ok(&["address", "--key", member]).trim().to_string();
        let endorser_address = self.ok(&["address", "--key", endorser]).trim().to_string();
        let endorsed = self.json(&[
            "org",
            "endorse",
            "--key",
            endorser,
            "--name",
            org,
            "--member",
            &member_address,
        ]);
        let endorsement = endorsed["endorsement"]
            .as_str()
            .unwrap_or_else(|| panic!("no endorsement: {endorsed}"));
        self.ok(&[
            "org",
            "join",
            "--key",
            member,
            "--name",
            org,
            "--endorser",
            &endorser_address,
            "--endorsement",
            endorsement,
        ]);
    }

    /// `medchain record release --json` of a small FHIR bundle by the doctor's key file to the
    /// patient's address; the command's JSON answer.
    pub fn release_record(&self, doctor: &str, patient: &str) -> serde_json::Value {
        let record = self.path("record.json");
        fs::write(&record, br#"{"resourceType":"Bundle","type":"collection"}"#)
            .expect("write the record");
        self.json(&[
            "record",
            "release",
            "--key",
            doctor,
            "--patient",
            patient,
            "--file",
            &record.display().to_string(),
        ])
    }

    /// Runs `medchain ARGS`, asserts success, and returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.medchain(args);
        assert!(
            output.status.success(),
            "`medchain {}` failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs an access request, asserts it was finalized and denied (exit status 3), and returns
    /// its standard output.
    pub fn denied(&self, args: &[&str]) -> String {
        let output = self.medchain(args);
        assert_eq!(
            output.status.code(),
            Some(3),
            "`medchain {}` should have been denied:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `medchain ARGS` and returns its exit status.
    pub fn status(&self, args: &[&str]) -> i32 {
        let output = self.medchain(args);
        output
            .status
            .code()
            .unwrap_or_else(|| panic!("`medchain {}` was killed by a signal", args.join(" ")))
    }

    /// Runs `medchain ARGS`, asserts failure, and returns its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.medchain(args);
        assert!(
            !output.status.success(),
            "`medchain {}` should have failed but printed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// `medchain ARGS --json`, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let text = self.ok(&with_json);
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "`medchain {}` printed no JSON ({e}):\n{text}",
                args.join(" ")
            )
        })
    }

    /// The tail of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                format!(
                    "--- node-{i} ({}) ---\n{}",
                    node.log.display(),
                    tail(&node.log, 20)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    match fs::File::open(path) {
        Ok(file) => {
            let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(no log: {error})"),
    }
}

/// The private key in the key file at `path` (written by the tests' `medchain keygen`, so
/// sealed under [`PASSPHRASE`]).
pub fn private_key(path: &Path) -> medchain_types::PrivateKey {
    keys::load_key(path, |_| Ok(PASSPHRASE.to_string().into()))
        .expect("key file")
        .key
}

/// A valid key part L_U1 for enrolments in tests: the BLS12-381 G1 generator, compressed. The
/// chain only checks that a key part is a valid non-identity point; real ones come from the
/// enrollee's own secret during `medchain identity enrol`.
pub fn key_part() -> G1Point {
    let mut bytes = [0u8; G1Point::LEN];
    hex::decode_to_slice(
        "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb",
        &mut bytes,
    )
    .expect("hex");
    G1Point(bytes)
}

/// The chain's enrolment of the sender as `identity` with `role` (see [`Network::enrol`]).
pub fn enrolment(identity: &str, role: Role) -> Payload {
    Payload::Identity(IdentityPayload::Enrol {
        identity: IdentityName::new(identity).expect("identity name"),
        role,
        key_part: key_part(),
    })
}

/// The research circuit every network with tokens copies (`medchain init --circuit`): its
/// trusted setup takes seconds to minutes, so it runs once per build of the binary (the cache's
/// name carries the binary's size and time) and is shared by every test.
pub fn shared_circuit() -> PathBuf {
    static CIRCUIT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CIRCUIT
        .get_or_init(|| {
            let built = fs::metadata(MEDCHAIN).expect("the medchain binary");
            let modified = built
                .modified()
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |since| since.as_secs());
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let dir = tmp.join(format!("research-circuit-{}-{modified}", built.len()));
            if !dir.join("circuit.json").exists() {
                let staging = tempfile::tempdir_in(tmp).expect("a staging directory");
                let out = staging.path().join("circuit");
                let setup = Command::new(MEDCHAIN)
                    .args(["zk", "setup", "--json", "--out"])
                    .arg(&out)
                    .output()
                    .expect("run medchain zk setup");
                assert!(
                    setup.status.success(),
                    "medchain zk setup failed: {}",
                    String::from_utf8_lossy(&setup.stderr)
                );
                // Another test binary may have won the race: either copy serves.
                let _ = fs::rename(&out, &dir);
            }
            dir
        })
        .clone()
}

/// Two non-overlapping ranges of `count` consecutive free loopback ports (p2p, API), below
/// the kernel's ephemeral range so outgoing connections do not take them.
pub fn free_port_bases(count: usize) -> (u16, u16) {
    let count = count as u16;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let seed = (std::process::id() ^ nanos) as u16;
    for attempt in 0..200u16 {
        let base = 12_000 + (seed.wrapping_add(attempt.wrapping_mul(997)) % 18_000);
        let all_free =
            (base..base + 2 * count).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok());
        if all_free {
            return (base, base + count);
        }
    }
    panic!("no free loopback port range found");
}

/// A "node" on a free loopback port that answers every request with `body` (status 200,
/// JSON): a node replaying an old answer. Returns its URL; it serves until the process ends.
pub fn replaying_node(body: String) -> String {
    use std::io::{Read as _, Write as _};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}
