//! Hospitals for end-to-end tests: an audited organisation with its enrolled hospital identity
//! and licensed doctors (set up through the `medchain` binary, as an IT team would), and its
//! `medchain hospital` gateway process, which a test can `kill -9` and restart.

use super::{MEDCHAIN, Network, PASSPHRASE, READY_TIMEOUT, tail};
use medchain_types::Role;
use std::{
    fs,
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// An audited hospital organisation on the chain.
pub struct HospitalOrg {
    /// The organisation's registered name.
    pub org: String,
    /// The hospital's key file (founder of the org, enrolled as the hospital identity).
    pub key: String,
    /// Its address.
    pub address: String,
    /// Its enrolled identity (the issuer of its doctors' licences).
    pub identity: String,
}

/// A doctor enrolled and licensed at a hospital.
pub struct Doctor {
    /// The doctor's key file.
    pub key: String,
    /// Its address.
    pub address: String,
    /// Its enrolled identity.
    pub identity: String,
}

/// Where a gateway keeps its records.
pub enum Storage {
    /// SQLite and blobs under the gateway's data directory (the defaults).
    Embedded,
    /// A PostgreSQL database URL and an S3 URL.
    External { database: String, blobs: String },
}

/// A running `medchain hospital`; dropping it kills the process.
pub struct GatewayProcess {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The process's log.
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Network {
    /// Registers `org` (approved by the regulator), enrols its founder as the hospital
    /// identity `identity`, and enrols and licenses one doctor per name in `doctors`.
    pub fn hospital(
        &self,
        org: &str,
        identity: &str,
        doctors: &[&str],
    ) -> (HospitalOrg, Vec<Doctor>) {
        let (key, address) = self.keygen(&format!("{identity}.key"));
        self.register_org(&key, org);
        self.approve_org(org);
        self.enrol(&PathBuf::from(&key), identity, Role::Hospital);
        let hospital = HospitalOrg {
            org: org.to_string(),
            key,
            address,
            identity: identity.to_string(),
        };
        let doctors = doctors
            .iter()
            .map(|name| self.doctor(&hospital, name))
            .collect();
        (hospital, doctors)
    }

    /// A member of `hospital` enrolled as doctor `identity` and licensed for a year.
    pub fn doctor(&self, hospital: &HospitalOrg, identity: &str) -> Doctor {
        let (key, address) = self.keygen(&format!("{identity}.key"));
        let endorsement = self.json(&[
            "org",
            "endorse",
            "--key",
            &hospital.key,
            "--name",
            &hospital.org,
            "--member",
            &address,
        ]);
        let endorsement = endorsement["endorsement"].as_str().expect("endorsement");
        self.ok(&[
            "org",
            "join",
            "--key",
            &key,
            "--name",
            &hospital.org,
            "--endorser",
            &hospital.address,
            "--endorsement",
            endorsement,
        ]);
        self.enrol(&PathBuf::from(&key), identity, Role::Doctor);
        self.ok(&[
            "licence",
            "issue",
            "--key",
            &hospital.key,
            "--doctor",
            identity,
            "--expires",
            "365d",
        ]);
        Doctor {
            key,
            address,
            identity: identity.to_string(),
        }
    }

    /// Starts `medchain hospital` for `hospital` on a free port, its data under
    /// `<network dir>/gateway-<identity>`, and waits until it answers `/v1/info`.
    pub fn start_gateway(&self, hospital: &HospitalOrg, storage: &Storage) -> GatewayProcess {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let data_dir = self.path(&format!("gateway-{}", hospital.identity));
        let mut args: Vec<String> = [
            "hospital",
            "--key",
            &hospital.key,
            "--node",
            &self.nodes[0].api,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            &data_dir.display().to_string(),
        ]
        .map(String::from)
        .into();
        if let Storage::External { database, blobs } = storage {
            args.extend([
                "--database".into(),
                database.clone(),
                "--blobs".into(),
                blobs.clone(),
            ]);
        }
        let mut gateway = GatewayProcess {
            url: format!("http://127.0.0.1:{port}"),
            log: self.path(&format!("gateway-{}.log", hospital.identity)),
            args,
            child: None,
        };
        gateway.spawn(self);
        gateway
    }

    /// `medchain doctor write --json`: `doctor` writes the FHIR bundle file `bundle` for the
    /// patient at `patient_address` through `gateway`.
    pub fn write_record(
        &self,
        doctor: &Doctor,
        gateway: &GatewayProcess,
        patient_address: &str,
        bundle: &str,
    ) -> serde_json::Value {
        self.json(&[
            "doctor",
            "write",
            "--key",
            &doctor.key,
            "--hospital",
            &gateway.url,
            "--patient",
            patient_address,
            "--fhir-patient",
            &fhir_patient(bundle),
            "--bundle",
            bundle,
        ])
    }
}

/// The Patient reference of a FHIR bundle file (the `fullUrl` of its Patient entry), which
/// `medchain doctor write --fhir-patient` takes.
pub fn fhir_patient(bundle: &str) -> String {
    let bundle: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(bundle).expect("read the bundle")).expect("JSON");
    let entries = bundle["entry"].as_array().expect("entries");
    let patient = entries
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .expect("a Patient entry");
    patient["fullUrl"].as_str().expect("fullUrl").to_string()
}

impl GatewayProcess {
    fn spawn(&mut self, network: &Network) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open gateway log");
        let stderr = log.try_clone().expect("clone log handle");
        let child = Command::new(MEDCHAIN)
            .args(&self.args)
            .current_dir(network.dir.path())
            .env("MEDCHAIN_GENESIS", &network.genesis)
            .env("MEDCHAIN_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .expect("start medchain hospital");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        let info = format!("{}/v1/info", self.url);
        loop {
            if ureq::get(&info).call().is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("medchain hospital exited ({status}):\n{}", self.logs());
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "the gateway did not answer within {READY_TIMEOUT:?}:\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// Starts the gateway again on the same data and waits until it answers.
    pub fn restart(&mut self, network: &Network) {
        assert!(self.child.is_none(), "the gateway is running");
        self.spawn(network);
    }

    /// The process id while it runs (benches read its CPU time from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The tail of the gateway's log, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- gateway ({}) ---\n{}",
            self.log.display(),
            tail(&self.log, 30)
        )
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
