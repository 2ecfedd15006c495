//! The research market for end-to-end tests (S4-flow): the circuit `medchain init` set up,
//! registered by the regulator, a research and a cloud organisation founded by the accounts
//! `init` funded, and `medchain cloud` proxy processes a test can `kill -9` — all through the
//! binary, as the devnet does it.

use super::{
    MEDCHAIN, Network, PASSPHRASE, READY_TIMEOUT,
    hospital::{Doctor, GatewayProcess},
    tail, text,
};
use medchain_client::StateQuery;
use medchain_types::RecordId;
use std::{
    fs,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A running `medchain cloud`; dropping it kills the process.
pub struct CloudProcess {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The process's log.
    pub log: PathBuf,
    child: Option<Child>,
}

impl Network {
    /// Registers the circuit `medchain init` wrote to `DIR/zk` with the regulator's key.
    pub fn register_circuit(&self) {
        let regulator = self.regulator_key.display().to_string();
        let circuit = self.path("zk").display().to_string();
        self.ok(&[
            "research",
            "register-circuit",
            "--key",
            &regulator,
            "--circuit",
            &circuit,
        ]);
    }

    /// An audited organisation `name` of `kind` founded by the funded account `founder`, with
    /// the funded accounts `others` joined on the founder's endorsement.
    pub fn funded_org(&self, name: &str, kind: &str, founder: &str, others: &[&str]) {
        let founder = self.account(founder).display().to_string();
        self.ok(&[
            "org", "register", "--key", &founder, "--name", name, "--kind", kind,
        ]);
        self.approve_org(name);
        for member in others {
            let member = self.account(member).display().to_string();
            self.join_org(&member, name, &founder);
        }
    }

    /// `medchain research publish --json` by the key file `researcher` with `terms` (title,
    /// predicate, reward, proxies, …), then `research fund` of `amount`; the study's id.
    pub fn publish_funded(&self, researcher: &str, terms: &[&str], amount: u64) -> String {
        let mut args = vec!["research", "publish", "--key", researcher];
        args.extend(terms);
        let published = self.json(&args);
        let id = text(&published["study"]);
        self.ok(&[
            "research",
            "fund",
            "--key",
            researcher,
            "--study",
            &id,
            "--amount",
            &amount.to_string(),
        ]);
        id
    }

    /// `doctor` writes the FHIR bundle file `bundle` for the patient at `patient_address`
    /// (enrolled at the gateway's hospital, its nullifier key filed) through `gateway`; returns
    /// the record once the gateway's attestation of it is on chain.
    pub fn attested_record(
        &self,
        doctor: &Doctor,
        gateway: &GatewayProcess,
        patient_address: &str,
        bundle: &str,
    ) -> RecordId {
        let written = self.write_record(doctor, gateway, patient_address, bundle);
        let record = text(&written["record"]);
        let record_id = record.parse().expect("a record id");
        let client = self.client(0);
        let start = Instant::now();
        while client
            .read(&StateQuery::attestation(&record_id))
            .map_or(true, |attested| attested.value.is_none())
        {
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "the gateway never attested record {record}\n{}",
                gateway.logs()
            );
            thread::sleep(Duration::from_millis(300));
        }
        record_id
    }

    /// Starts `medchain cloud` with the funded account `account` (a member of an audited cloud
    /// organisation) on a free port, its data under `<network dir>/<account>`, and waits until
    /// it answers `/v1/info` and is registered on chain.
    pub fn start_proxy(&self, account: &str) -> CloudProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let log = self.path(&format!("{account}.log"));
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the proxy's log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(MEDCHAIN)
            .arg("cloud")
            .arg("--key")
            .arg(self.account(account))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--node"])
            .arg(&self.nodes[0].api)
            .arg("--data-dir")
            .arg(self.path(account))
            .current_dir(self.dir.path())
            .env("MEDCHAIN_GENESIS", &self.genesis)
            .env("MEDCHAIN_PASSPHRASE", PASSPHRASE)
            .env_remove("MEDCHAIN_KEY")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start medchain cloud");
        let mut proxy = CloudProcess {
            url: format!("http://127.0.0.1:{port}"),
            log,
            child: Some(child),
        };
        proxy.wait_registered();
        proxy
    }
}

impl CloudProcess {
    /// Waits until the proxy answers and says it is registered (it files its registration
    /// at start and answers `/v1/info` once the chain holds it).
    fn wait_registered(&mut self) {
        let start = Instant::now();
        let info = format!("{}/v1/info", self.url);
        loop {
            if ureq::get(&info).call().is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("medchain cloud exited ({status}):\n{}", self.logs());
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "the proxy did not answer within {READY_TIMEOUT:?}:\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// The tail of the proxy's log, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- proxy ({}) ---\n{}",
            self.log.display(),
            tail(&self.log, 30)
        )
    }
}

impl Drop for CloudProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
