//! Issue 9's whole data plane through the `medchain` binary: 4 validator processes, two
//! `medchain hospital` gateways, a patient and doctors at both (S1-release, S1-storage,
//! S3-agree, S3-release, S3-entry, S3-share, S3-emergency, S1-rights).
//!
//! write at A → release on chain → the patient reads it → authorises a doctor of B → the
//! doctor fetches it → consent revoked → refused → licence revoked → refused → emergency with
//! the right template succeeds and is notified → a wrong template fails; a tampered blob is
//! caught by the reader; a gateway killed with `kill -9` loses nothing. Every refusal is in the
//! patient's verified access history.
//!
//! The scenario runs twice, with the record-holding hospital on each storage: SQLite + local
//! blobs, and PostgreSQL + S3 (a real PostgreSQL cluster and a moto S3 server started here).

mod common;

use common::{
    Network,
    hospital::{Doctor, GatewayProcess, HospitalOrg, Storage, fhir_patient},
};
use medchain_gateway::testkit::{Moto, PostgresServer};
use serde_json::Value;
use std::fs;

/// A committed synthetic FHIR R4 bundle and its patient reference.
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/fhir/type2_diabetes-2-0000.json"
);

/// Exit status of a gateway's refusal and of a template that opens no entry.
const REFUSED: i32 = 7;
const WRONG_TEMPLATE: i32 = 8;

/// The external services of the PostgreSQL + S3 storage; dropped (stopped) with the test.
struct External {
    _postgres: PostgresServer,
    _moto: Moto,
    storage: Storage,
}

fn external() -> External {
    let postgres = PostgresServer::start();
    let moto = Moto::start();
    moto.create_bucket("records");
    let storage = Storage::External {
        database: postgres.url(),
        blobs: format!(
            "s3://records?endpoint={}&region=us-east-1&allow_http=true&access_key_id=test&secret_access_key=test",
            moto.endpoint
        ),
    };
    External {
        _postgres: postgres,
        _moto: moto,
        storage,
    }
}

struct Scene {
    network: Network,
    a_gateway: GatewayProcess,
    b_gateway: GatewayProcess,
    kim: Doctor,
    park: Doctor,
    lee: Doctor,
    b: HospitalOrg,
    patient: String,
    patient_address: String,
}

impl Scene {
    fn path(&self, name: &str) -> String {
        self.network.path(name).display().to_string()
    }

    /// `medchain ARGS --json` that must exit with `status`; its JSON (or stderr text).
    fn exits(&self, status: i32, args: &[&str]) -> String {
        let output = self.network.medchain(args);
        assert_eq!(
            output.status.code(),
            Some(status),
            "`medchain {}`:\nstdout: {}\nstderr: {}\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.a_gateway.logs(),
            self.b_gateway.logs()
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Dr Park of B asks the patient, the patient authorises `record`, Dr Park fetches.
    /// Returns the fetch's exit status, its JSON or report, and the consent id.
    fn share(&self, doctor: &Doctor, record: &str, tag: &str) -> (String, String) {
        let hello = self.path(&format!("ask-{tag}.json"));
        let grant = self.path(&format!("grant-{tag}.json"));
        self.network.ok(&[
            "doctor",
            "ask",
            "--key",
            &doctor.key,
            "--patient",
            &self.patient_address,
            "--out",
            &hello,
        ]);
        let authorized = self.network.json(&[
            "patient",
            "authorize",
            "--key",
            &self.patient,
            "--hello",
            &hello,
            "--record",
            record,
            "--purpose",
            "treatment",
            "--expires",
            "1h",
            "--out",
            &grant,
        ]);
        let consent = authorized["consent"]
            .as_str()
            .expect("consent id")
            .to_string();
        (grant, consent)
    }

    /// `doctor write` by Dr Kim at A of `bundle`, claimed to be about the scene's bundle's
    /// patient.
    fn write_args(&self, bundle: &str) -> Vec<String> {
        [
            "doctor",
            "write",
            "--key",
            &self.kim.key,
            "--hospital",
            &self.a_gateway.url,
            "--patient",
            &self.patient_address,
            "--fhir-patient",
            &fhir_patient(BUNDLE),
            "--bundle",
            bundle,
        ]
        .map(String::from)
        .into()
    }

    fn fetch(&self, doctor: &Doctor, grant: &str, out: &str) -> std::process::Output {
        self.network.medchain(&[
            "doctor",
            "fetch",
            "--key",
            &doctor.key,
            "--grant",
            grant,
            "--hospital",
            &self.b_gateway.url,
            "--out",
            out,
            "--json",
        ])
    }

    fn history(&self) -> Vec<Value> {
        let history = self
            .network
            .json(&["patient", "history", "--key", &self.patient]);
        history["entries"].as_array().expect("entries").clone()
    }
}

fn setup(a_storage: &Storage, b_storage: &Storage) -> Scene {
    let network = Network::start(4);
    network.wait_for_pkg();
    let (a, mut a_doctors) = network.hospital("Seoul General", "seoul-general", &["dr-kim"]);
    let (b, mut b_doctors) =
        network.hospital("Busan Medical", "busan-medical", &["dr-park", "dr-lee"]);
    let a_gateway = network.start_gateway(&a, a_storage);
    let b_gateway = network.start_gateway(&b, b_storage);
    let (patient, patient_address) = network.keygen("patient.key");
    network.ok(&["identity", "enrol", "--key", &patient, "--role", "patient"]);
    let enrolled = network.json(&[
        "patient",
        "enrol",
        "--key",
        &patient,
        "--hospital",
        &a_gateway.url,
    ]);
    assert_eq!(enrolled["hospital"], "seoul-general", "{enrolled}");
    let lee = b_doctors.pop().unwrap();
    let park = b_doctors.pop().unwrap();
    Scene {
        kim: a_doctors.pop().unwrap(),
        park,
        lee,
        network,
        a_gateway,
        b_gateway,
        b,
        patient,
        patient_address,
    }
}

fn scenario(a_storage: Storage, b_storage: Storage) {
    let mut scene = setup(&a_storage, &b_storage);
    let network = &scene.network;

    // S1-release, S3-release: Dr Kim writes at A; the gateway files the release and the
    // pointer and keeps the sealed blob.
    let written = network.json(&strs(&scene.write_args(BUNDLE)));
    let record = written["record"].as_str().expect("record id").to_string();
    assert_eq!(written["index"], 1, "{written}");

    // A bundle about someone else is refused before anything reaches the chain.
    let other = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/fhir/healthy-12-0000.json"
    );
    let refused = scene.exits(1, &strs(&scene.write_args(other)));
    assert!(refused.contains("patient"), "{refused}");

    // S3-entry, S1-rights: the patient reads it back, decrypted and checked against hEMR.
    let records_dir = scene.path("my-records");
    let mine = network.json(&[
        "patient",
        "records",
        "--key",
        &scene.patient,
        "--out",
        &records_dir,
    ]);
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["records"][0]["status"], "verified", "{mine}");
    let read_back = fs::read(format!("{records_dir}/{record}.json")).unwrap();
    assert_eq!(read_back, fs::read(BUNDLE).unwrap());
    let template = scene.path("thumb.bin");
    fs::write(&template, [7u8; 64]).unwrap();
    network.ok(&[
        "patient",
        "entry",
        "--key",
        &scene.patient,
        "--record",
        &record,
        "--template",
        &template,
        "--keywords",
        "diabetes,metformin",
    ]);

    // S3-share: Dr Park of B, authorised, fetches the record from A.
    let (grant, consent) = scene.share(&scene.park, &record, "1");
    // The grant names who may read which record of whom: its owner's eyes only.
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        fs::metadata(&grant).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let fetched_path = scene.path("fetched-1.json");
    let fetched = scene.fetch(&scene.park, &grant, &fetched_path);
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    assert_eq!(fs::read(&fetched_path).unwrap(), fs::read(BUNDLE).unwrap());

    // Consent revoked: the same authorisation is refused and the refusal is logged.
    network.ok(&[
        "patient",
        "consent",
        "revoke",
        "--key",
        &scene.patient,
        "--consent",
        &consent,
    ]);
    let refused = scene.fetch(&scene.park, &grant, &scene.path("fetched-2.json"));
    assert_eq!(
        refused.status.code(),
        Some(REFUSED),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("consent_revoked"));

    // Licence revoked: a fresh authorisation does not help a revoked doctor.
    let (grant, _) = scene.share(&scene.park, &record, "2");
    network.ok(&[
        "revocation",
        "add",
        "--key",
        &scene.b.key,
        "--doctor",
        &scene.park.identity,
    ]);
    let refused = scene.fetch(&scene.park, &grant, &scene.path("fetched-3.json"));
    assert_eq!(
        refused.status.code(),
        Some(REFUSED),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("doctor_revoked"));

    // S3-emergency: a wrong template opens nothing and files nothing; the right one breaks
    // the glass, and the patient is notified.
    let wrong = scene.path("wrong.bin");
    fs::write(&wrong, [8u8; 64]).unwrap();
    let emergency_args = |template: &str, out: &str| {
        [
            "doctor",
            "emergency",
            "--key",
            &scene.lee.key,
            "--patient",
            &scene.patient_address,
            "--template",
            template,
            "--hospital",
            &scene.b_gateway.url,
            "--gateway",
            &scene.a_gateway.url,
            "--out",
            out,
        ]
        .map(String::from)
    };
    let args = emergency_args(&wrong, &scene.path("emergency-0.json"));
    scene.exits(WRONG_TEMPLATE, &strs(&args));
    let quiet = network.json(&["patient", "notifications", "--key", &scene.patient]);
    assert_eq!(quiet["total"], 0, "{quiet}");
    let emergency_path = scene.path("emergency-1.json");
    let args = emergency_args(&template, &emergency_path);
    network.ok(&strs(&args));
    assert_eq!(
        fs::read(&emergency_path).unwrap(),
        fs::read(BUNDLE).unwrap()
    );
    let notified = network.json(&["patient", "notifications", "--key", &scene.patient]);
    assert_eq!(notified["total"], 1, "{notified}");
    assert_eq!(
        notified["notifications"][0]["doctor"],
        scene.lee.identity.as_str()
    );
    assert_eq!(notified["notifications"][0]["record"], record.as_str());

    // The patient's verified history: allowed, denied twice, break-glass — in that order.
    let kinds: Vec<String> = scene
        .history()
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["allowed", "denied", "denied", "break_glass"],
        "{kinds:?}"
    );

    // kill -9 of the holding gateway in the middle of a write loses nothing and leaves no
    // half-released record: after the restart every record the gateway took is completed
    // (release, blob and pointer), and one it never took can be written again.
    kill_during_a_write(&mut scene);
    let network = &scene.network;
    let again = network.json(&["patient", "records", "--key", &scene.patient]);
    assert_eq!(again["total"], 2, "{again}");
    assert!(
        again["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "verified"),
        "{again}"
    );

    // A blob altered behind the gateway's back is caught by the reader (embedded storage only:
    // the blob is a file under the gateway's data directory).
    if matches!(a_storage, Storage::Embedded) {
        tamper_blobs(&network.path("gateway-seoul-general"));
        let tampered = network.medchain(&["patient", "records", "--key", &scene.patient, "--json"]);
        assert_eq!(tampered.status.code(), Some(1));
        let answer: Value = serde_json::from_slice(&tampered.stdout).unwrap();
        assert_eq!(answer["records"][0]["status"], "failed", "{answer}");
    }
}

/// A second visit is being written when the holding gateway is killed with `kill -9`; it is
/// restarted on the same data. Either the gateway had taken the record — then it completes it
/// by itself — or it had not, and the doctor writes it again.
fn kill_during_a_write(scene: &mut Scene) {
    let second = scene.path("second-visit.json");
    let bundle: Value = serde_json::from_str(&fs::read_to_string(BUNDLE).unwrap()).unwrap();
    let mut visit = bundle.clone();
    visit["id"] = Value::from("second-visit");
    fs::write(&second, serde_json::to_vec_pretty(&visit).unwrap()).unwrap();
    let write = scene.write_args(&second);
    let in_flight = std::process::Command::new(common::MEDCHAIN)
        .args(&write)
        .current_dir(scene.network.dir.path())
        .env("MEDCHAIN_NODE", &scene.network.nodes[0].api)
        .env("MEDCHAIN_GENESIS", &scene.network.genesis)
        .env("MEDCHAIN_PASSPHRASE", common::PASSPHRASE)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start doctor write");
    // The CLI opens its key file (Argon2id) before it calls the gateway: kill inside the
    // gateway's work, which follows.
    std::thread::sleep(std::time::Duration::from_millis(700));
    scene.a_gateway.kill();
    let _ = in_flight.wait_with_output();
    scene.a_gateway.restart(&scene.network);
    // Whether or not the gateway had taken it, writing the visit again ends with it stored
    // once: a record the gateway took is resumed by the restarted gateway (and the second
    // write is refused as a duplicate), one it never took is written now.
    let _ = scene.network.medchain(&strs(&write));
    let deadline = std::time::Instant::now() + common::READY_TIMEOUT;
    loop {
        let mine =
            scene
                .network
                .medchain(&["patient", "records", "--key", &scene.patient, "--json"]);
        let answer: Value = serde_json::from_slice(&mine.stdout).unwrap_or(Value::Null);
        let stored = answer["records"].as_array().is_some_and(|records| {
            records.len() == 2 && records.iter().all(|r| r["status"] == "verified")
        });
        if stored {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the visit written during the kill was never completed: {answer}\n{}",
            scene.a_gateway.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Borrowed arguments for [`Network::medchain`].
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Flips one byte of every blob file under `dir`.
fn tamper_blobs(dir: &std::path::Path) {
    let mut stack = vec![dir.to_path_buf()];
    let mut touched = 0;
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.components().any(|c| c.as_os_str() == "blobs") {
                let mut bytes = fs::read(&path).unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                fs::write(&path, bytes).unwrap();
                touched += 1;
            }
        }
    }
    assert!(touched > 0, "no blob file under {}", dir.display());
}

#[test]
fn records_flow_from_sqlite_to_a_doctor_at_a_postgres_hospital() {
    let external = external();
    scenario(Storage::Embedded, external.storage);
}

#[test]
fn records_flow_from_postgres_and_s3_to_a_doctor_at_a_sqlite_hospital() {
    let external = external();
    scenario(external.storage, Storage::Embedded);
}
