//! The data plane's speed on a real network (issue 9 § Bench): 4 `medchain node` validators
//! and two `medchain hospital` gateways (A holds the records, B is the fetching doctor's
//! hospital), SQLite and local blobs, all started from the `medchain` binary this build made.
//!
//! Organisations, identities, licences and the patient's enrolment are set up through the
//! binary, as `tests/sharing.rs` does (not timed). The measured protocol runs through the
//! libraries (taka and `GatewayClient`), so no key-file Argon2 is counted:
//!
//! 1. write → release: the doctor signs the release; `write_record` returns once the record is
//!    released, sealed, stored and its pointer final;
//! 2. a normal-share fetch: share request → A verifies, files `access.serve` and waits for its
//!    finality → response opened → the record's hEMR read (verified) → blob GET → blob opened
//!    and checked against hEMR;
//! 3. gateway A's CPU (utime + stime from `/proc/<pid>/stat`) per fetch of each bundle;
//! 4. many fetches at once (one thread each, each with its own agreement and authorisation
//!    prepared beforehand, released together by a barrier).
//!
//! Run with `cargo bench --bench sharing`; `MEDCHAIN_BENCH_SAMPLES` (default 20) and
//! `MEDCHAIN_BENCH_CONCURRENCY` (default 100) change the counts. It prints a markdown report.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{
    Network, PASSPHRASE,
    hospital::{GatewayProcess, Storage},
    measure::{
        Fallible, command_line, cpu_model, cpu_time, env_count, load_average, percentile, profile,
    },
};
use commonware_codec::Encode as _;
use medchain_client::{Client, StateQuery, WaitPolicy, build, keys};
use medchain_gateway::{
    blobs::{RecordBinding, RecordKey, SealedRecord},
    client::DoctorSigner,
    client::GatewayClient,
    wire::WriteRecord,
};
use medchain_types::{
    Address, ContentHash, Expiry, IdentityName, PrivateKey, Purpose, RecordId, keyfile::KeyMaterial,
};
use rand_core_06::OsRng;
use serde_json::Value;
use std::{
    fs,
    path::Path,
    sync::Barrier,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use taka::{
    Authorization, EntityKeys, HospitalResponse, Identity, Licence, PatientEnrolment, PendingShare,
    PublicParams, PublicPolynomial, RecordIndex,
};

/// The typical bundle: a committed synthetic FHIR R4 transaction bundle (~48 KB).
const TYPICAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/fhir/type2_diabetes-2-0000.json"
);

/// The large bundle is at least this long.
const LARGE_BYTES: usize = 1024 * 1024;

/// How long the bench's consent and authorisations last (longer than any run).
const GRANT_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// Associated data of the authorisation sealed under the agreed session key (transport only:
/// the gateway never sees it).
const AUTHORIZATION_AAD: &[u8] = b"medchain bench authorization";

fn main() -> Fallible<()> {
    let samples = env_count("MEDCHAIN_BENCH_SAMPLES", 20)?;
    let concurrency = env_count("MEDCHAIN_BENCH_CONCURRENCY", 100)?;
    let load_before = load_average();
    eprintln!("setting up 4 validators, 2 gateways, a patient and two doctors …");
    let setup_started = Instant::now();
    let bench = Bench::setup()?;
    eprintln!("set up in {:.0?}", setup_started.elapsed());

    let typical = Bundle::typical()?;
    let large = Bundle::large(&typical)?;
    let mut report = Report::default();
    let mut held = Vec::new();
    for bundle in [&typical, &large] {
        eprintln!("{} writes of the {} bundle …", samples, bundle.label);
        let (latencies, record) = bench.writes(bundle, samples)?;
        report.rows.push(Row::new(
            "write → released, stored, final",
            bundle,
            latencies,
        ));
        held.push(record);
    }
    bench.consent(&held)?;
    for (bundle, record) in [&typical, &large].into_iter().zip(&held) {
        eprintln!("{} fetches of the {} bundle …", samples, bundle.label);
        let fetches = bench.sequential_fetches(record, samples)?;
        report.rows.push(Row::new(
            "normal-share fetch (doctor's whole fetch)",
            bundle,
            fetches.totals(),
        ));
        report.rows.push(Row::new(
            "… of which the share request (gateway + chain)",
            bundle,
            fetches.shares(),
        ));
        report.cpu.push((bundle.label.clone(), fetches.cpu()));
    }
    for (bundle, record) in [&typical, &large].into_iter().zip(&held) {
        eprintln!(
            "{concurrency} concurrent fetches of the {} bundle …",
            bundle.label
        );
        let concurrent = bench.concurrent_fetches(record, concurrency)?;
        report.concurrent.push((bundle.label.clone(), concurrent));
    }
    report.load = (load_before, load_average());
    report.print(samples);
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A bundle to write, with the patient reference it carries.
struct Bundle {
    label: String,
    document: Value,
    fhir_patient: String,
}

impl Bundle {
    fn typical() -> Fallible<Self> {
        Self::from_document(serde_json::from_str(&fs::read_to_string(TYPICAL)?)?)
    }

    /// The typical bundle grown past [`LARGE_BYTES`] with copies of its Observations, each
    /// under a fresh `urn:uuid:` fullUrl (deterministic: a counter), so it stays one patient's
    /// valid bundle.
    fn large(typical: &Self) -> Fallible<Self> {
        let mut document = typical.document.clone();
        let observations: Vec<Value> = document["entry"]
            .as_array()
            .ok_or("no entries")?
            .iter()
            .filter(|entry| entry["resource"]["resourceType"] == "Observation")
            .cloned()
            .collect();
        if observations.is_empty() {
            return Err("the typical bundle has no Observation to copy".into());
        }
        let mut serial = 0u64;
        while serde_json::to_string_pretty(&document)?.len() < LARGE_BYTES {
            let entries = document["entry"].as_array_mut().ok_or("no entries")?;
            for observation in &observations {
                let mut copy = observation.clone();
                copy["fullUrl"] = format!("urn:uuid:00000000-0000-4000-8000-{serial:012x}").into();
                serial += 1;
                entries.push(copy);
            }
        }
        Self::from_document(document)
    }

    fn from_document(document: Value) -> Fallible<Self> {
        let fhir_patient = document["entry"]
            .as_array()
            .and_then(|entries| {
                entries
                    .iter()
                    .find(|entry| entry["resource"]["resourceType"] == "Patient")
            })
            .and_then(|patient| patient["fullUrl"].as_str())
            .ok_or("the bundle has no Patient entry with a fullUrl")?
            .to_string();
        let size = serde_json::to_string_pretty(&document)?.len();
        Ok(Self {
            label: format!("{} KiB", size.div_ceil(1024)),
            document,
            fhir_patient,
        })
    }

    /// `count` distinct copies (a gateway holds a patient's identical record once): the
    /// bundle with `Bundle.id` `bench-<n>`.
    fn copies(&self, count: usize) -> Fallible<Vec<String>> {
        (0..count)
            .map(|n| {
                let mut document = self.document.clone();
                document["id"] = format!("bench-{n}").into();
                Ok(serde_json::to_string_pretty(&document)?)
            })
            .collect()
    }
}

/// A record written at A, as the fetching side names it.
#[derive(Clone, Copy)]
struct Held {
    id: RecordId,
    index: u64,
}

/// One party's key file, opened.
struct Party {
    key: PrivateKey,
    address: Address,
    keys: EntityKeys,
    identity: Identity,
}

/// The running network and everything the measured steps need.
struct Bench {
    _network: Network,
    a_gateway: GatewayProcess,
    client: Client,
    params: PublicParams,
    writer: PrivateKey,
    patient: Party,
    enrolment: PatientEnrolment,
    doctor: Party,
    licence: Licence,
    /// Hospital A as the chain names it: what the doctor's signed requests are bound to.
    holder: IdentityName,
}

impl Bench {
    /// Everything through the binary, as a hospital's IT team and its users would.
    fn setup() -> Fallible<Self> {
        let network = Network::start(4);
        network.wait_for_pkg();
        let (a, mut a_doctors) = network.hospital("Seoul General", "seoul-general", &["dr-kim"]);
        let (b, mut b_doctors) = network.hospital("Busan Medical", "busan-medical", &["dr-park"]);
        let a_gateway = network.start_gateway(&a, &Storage::Embedded);
        let b_gateway = network.start_gateway(&b, &Storage::Embedded);
        let (patient_key, _) = network.keygen("patient.key");
        network.ok(&[
            "identity",
            "enrol",
            "--key",
            &patient_key,
            "--role",
            "patient",
        ]);
        network.ok(&[
            "patient",
            "enrol",
            "--key",
            &patient_key,
            "--hospital",
            &a_gateway.url,
        ]);

        let client = network.client(0);
        let params = public_params(&client)?;
        let writer = material(&a_doctors.pop().ok_or("no doctor at A")?.key)?.key;
        let patient_material = material(&patient_key)?;
        let link = patient_material
            .wallet
            .enrolments
            .first()
            .ok_or("the patient's key file holds no enrolment")?;
        let enrolment = PatientEnrolment::from_bytes(&link.enrolment.0)?;
        let patient = party(&client, &params, &patient_material)?;
        let doctor_file = b_doctors.pop().ok_or("no doctor at B")?;
        let doctor = party(&client, &params, &material(&doctor_file.key)?)?;
        let licence = GatewayClient::new(&b_gateway.url)?
            .licence(&IdentityName::new(doctor_file.identity.as_str())?)?;
        drop(b_gateway);
        Ok(Self {
            _network: network,
            a_gateway,
            client,
            params,
            writer,
            patient,
            enrolment,
            doctor,
            licence,
            holder: IdentityName::new(a.identity.as_str())?,
        })
    }

    fn gateway(&self) -> Fallible<GatewayClient> {
        Ok(GatewayClient::new(&self.a_gateway.url)?)
    }

    fn gateway_pid(&self) -> Fallible<u32> {
        Ok(self.a_gateway.pid().ok_or("gateway A is not running")?)
    }

    /// `count` writes of `bundle`; their latencies and the last record written.
    fn writes(&self, bundle: &Bundle, count: usize) -> Fallible<(Vec<Duration>, Held)> {
        let gateway = self.gateway()?;
        let mut latencies = Vec::with_capacity(count);
        let mut last = None;
        for json in bundle.copies(count)? {
            let started = Instant::now();
            let written = self.write(&gateway, bundle, json)?;
            latencies.push(started.elapsed());
            last = Some(Held {
                id: written.record,
                index: written.index,
            });
        }
        Ok((latencies, last.ok_or("no write")?))
    }

    /// S1-release as `medchain doctor write` does it, from the doctor's signature to the
    /// gateway's answer (released, stored, pointed to, final).
    fn write(
        &self,
        gateway: &GatewayClient,
        bundle: &Bundle,
        json: String,
    ) -> Fallible<medchain_gateway::wire::WrittenRecord> {
        let release = build::release_record(
            self.client.light.chain_id(),
            &self.writer,
            self.patient.address,
            json.as_bytes(),
        );
        let nonce = self.client.next_nonce(&keys::address_of(&self.writer))?;
        let signed = self
            .client
            .signer(self.writer.clone())
            .sign(release.payload, nonce)?;
        Ok(gateway.write_record(&WriteRecord {
            patient: self.patient.address,
            fhir_patient: bundle.fhir_patient.clone(),
            bundle: json,
            release: signed.encode().to_vec(),
        })?)
    }

    /// The patient's on-chain consent for the doctor to read `records` for treatment.
    fn consent(&self, records: &[Held]) -> Fallible<()> {
        let payload = build::grant_consent(
            &self.patient.address,
            self.doctor.address,
            records.iter().map(|held| held.id).collect(),
            Purpose::Treatment,
            Expiry::AtTime(now_ms() + GRANT_LIFETIME.as_millis() as u64),
        )?;
        self.client
            .signer(self.patient.key.clone())
            .send(payload, Some(&WaitPolicy::default()))?;
        Ok(())
    }

    /// What `doctor ask` + `patient authorize` + the first half of `doctor fetch` do before
    /// the request: the agreement, the patient's authorisation for record j sealed under the
    /// session key, and the doctor opening it.
    fn prepare(&self, held: Held) -> Fallible<Authorization> {
        let (initiator, hello) =
            taka::Initiator::start(&self.doctor.keys, self.patient.identity.clone(), &mut OsRng);
        let (reply, patient_session) = taka::respond(&self.patient.keys, &hello, &mut OsRng)?;
        let expires_at = (now_ms() + GRANT_LIFETIME.as_millis() as u64) / 1000;
        let authorization = self.enrolment.authorize(
            &self.doctor.identity,
            &[RecordIndex::new(held.index)?],
            expires_at,
        )?;
        let sealed =
            patient_session.seal(AUTHORIZATION_AAD, &authorization.to_bytes(), &mut OsRng)?;
        let doctor_session = initiator.finish(&self.doctor.keys, &reply)?;
        Ok(Authorization::from_bytes(
            &doctor_session.open(AUTHORIZATION_AAD, &sealed)?,
        )?)
    }

    /// The measured fetch (S3-share), as `medchain doctor fetch` does it after the grant is
    /// opened: returns the whole fetch's latency and the share request's.
    fn fetch(
        &self,
        gateway: &GatewayClient,
        held: Held,
        authorization: &Authorization,
    ) -> Fallible<FetchTiming> {
        let started = Instant::now();
        let (pending, request) = PendingShare::request(
            &self.doctor.keys,
            &self.params,
            self.licence.clone(),
            authorization,
            &mut OsRng,
        )?;
        let signer = DoctorSigner {
            key: &self.doctor.key,
            chain_id: self.client.light.chain_id(),
            holder: &self.holder,
        };
        let served = gateway.share(&held.id, Purpose::Treatment, &request, &signer)?;
        let share = started.elapsed();
        let releases = pending.open(&HospitalResponse::from_bytes(&served.response)?)?;
        let release = releases
            .iter()
            .find(|release| release.record().get() == held.index)
            .ok_or("the response does not release the record asked for")?;
        if release.htxm()[..] != held.id.0.0[..] {
            return Err("the release names another record (htxM)".into());
        }
        let key: [u8; 32] = release.emr().try_into()?;
        let blob_hash = served
            .blobs
            .iter()
            .find(|blob| blob.record == held.id)
            .ok_or("no blob named for the record")?
            .blob_hash;
        let on_chain = self
            .client
            .read(&StateQuery::record(&held.id))?
            .value
            .ok_or("the record is not on chain")?;
        let blob = gateway.blob(&blob_hash)?;
        let binding = RecordBinding {
            patient: on_chain.patient,
            index: held.index,
            record_hash: on_chain.record_hash,
        };
        let plaintext = SealedRecord::from_bytes(&blob)?.open(&RecordKey::new(key), &binding)?;
        let total = started.elapsed();
        if ContentHash::of(&plaintext) != on_chain.record_hash {
            return Err("the record does not match hEMR".into());
        }
        Ok(FetchTiming { total, share })
    }

    /// `count` fetches one after another after one unmeasured warm-up, with gateway A's CPU
    /// time summed over the measured ones.
    fn sequential_fetches(&self, held: &Held, count: usize) -> Fallible<Fetches> {
        let gateway = self.gateway()?;
        let pid = self.gateway_pid()?;
        let authorizations = (0..=count)
            .map(|_| self.prepare(*held))
            .collect::<Fallible<Vec<_>>>()?;
        let (warm_up, measured) = authorizations.split_first().ok_or("no authorisation")?;
        self.fetch(&gateway, *held, warm_up)?;
        let mut fetches = Fetches::default();
        for authorization in measured {
            let before = cpu_time(pid)?;
            let timing = self.fetch(&gateway, *held, authorization)?;
            let after = cpu_time(pid)?;
            fetches.timings.push(timing);
            fetches.gateway_cpu += after.saturating_sub(before);
        }
        Ok(fetches)
    }

    /// `count` fetches at once: one thread each, its own client and authorisation, released
    /// together.
    fn concurrent_fetches(&self, held: &Held, count: usize) -> Fallible<Concurrent> {
        let pid = self.gateway_pid()?;
        let prepared = (0..count)
            .map(|_| Ok((self.gateway()?, self.prepare(*held)?)))
            .collect::<Fallible<Vec<_>>>()?;
        let barrier = Barrier::new(count + 1);
        let (outcomes, wall, cpu) = thread::scope(|scope| -> Fallible<_> {
            let workers: Vec<_> = prepared
                .into_iter()
                .map(|(gateway, authorization)| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        barrier.wait();
                        self.fetch(&gateway, *held, &authorization)
                            .map(|timing| timing.total)
                            .map_err(|error| error.to_string())
                    })
                })
                .collect();
            let before = cpu_time(pid)?;
            barrier.wait();
            let started = Instant::now();
            let outcomes: Vec<Result<Duration, String>> = workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .unwrap_or_else(|_| Err("the fetch thread panicked".into()))
                })
                .collect();
            let wall = started.elapsed();
            Ok((outcomes, wall, cpu_time(pid)?.saturating_sub(before)))
        })?;
        let (latencies, errors): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(Result::is_ok);
        Ok(Concurrent {
            count,
            latencies: latencies.into_iter().filter_map(Result::ok).collect(),
            errors: errors.into_iter().filter_map(Result::err).collect(),
            wall,
            gateway_cpu: cpu,
        })
    }
}

/// A key file written by the tests' `medchain keygen`, opened.
fn material(path: &str) -> Fallible<KeyMaterial> {
    Ok(keys::load_key(Path::new(path), |_| {
        Ok(PASSPHRASE.to_string().into())
    })?)
}

/// The enrolled party holding `material`: its identity-based keys and taka identity.
fn party(client: &Client, params: &PublicParams, material: &KeyMaterial) -> Fallible<Party> {
    let address = material.address();
    let name = client
        .read(&StateQuery::identity_of(&address))?
        .value
        .ok_or("the key file's address has no identity")?;
    let keys = EntityKeys::from_bytes(
        params,
        material
            .entity_keys
            .as_ref()
            .ok_or("the key file holds no identity keys")?,
    )?;
    Ok(Party {
        key: material.key.clone(),
        address,
        keys,
        identity: Identity::new(name.as_str())?,
    })
}

/// taka's public parameters from the chain's threshold PKG (verified).
fn public_params(client: &Client) -> Fallible<PublicParams> {
    let pkg = client
        .read(&StateQuery::pkg())?
        .value
        .ok_or("the threshold PKG is not set up")?;
    let coefficients: Vec<[u8; 48]> = pkg.public_polynomial.iter().map(|c| c.0).collect();
    Ok(PublicPolynomial::from_compressed_coefficients(&coefficients)?.params())
}

/// How long one fetch took.
struct FetchTiming {
    /// The doctor's whole fetch.
    total: Duration,
    /// Building and sending the share request until the gateway's answer.
    share: Duration,
}

#[derive(Default)]
struct Fetches {
    timings: Vec<FetchTiming>,
    gateway_cpu: Duration,
}

impl Fetches {
    fn totals(&self) -> Vec<Duration> {
        self.timings.iter().map(|timing| timing.total).collect()
    }

    fn shares(&self) -> Vec<Duration> {
        self.timings.iter().map(|timing| timing.share).collect()
    }

    /// Gateway CPU per fetch, and the fetch's median wall time beside it.
    fn cpu(&self) -> CpuPerFetch {
        let count = self.timings.len().max(1) as u32;
        CpuPerFetch {
            per_fetch: self.gateway_cpu / count,
            wall: Summary::of(self.totals()).median,
        }
    }
}

struct CpuPerFetch {
    per_fetch: Duration,
    wall: Duration,
}

struct Concurrent {
    count: usize,
    latencies: Vec<Duration>,
    errors: Vec<String>,
    wall: Duration,
    gateway_cpu: Duration,
}

/// Median, 90th percentile (nearest rank) and maximum.
struct Summary {
    count: usize,
    median: Duration,
    p90: Duration,
    max: Duration,
}

impl Summary {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self {
            count: samples.len(),
            median: percentile(&samples, 0.5),
            p90: percentile(&samples, 0.9),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

struct Row {
    what: &'static str,
    bundle: String,
    summary: Summary,
}

impl Row {
    fn new(what: &'static str, bundle: &Bundle, samples: Vec<Duration>) -> Self {
        Self {
            what,
            bundle: bundle.label.clone(),
            summary: Summary::of(samples),
        }
    }
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    cpu: Vec<(String, CpuPerFetch)>,
    concurrent: Vec<(String, Concurrent)>,
    load: (String, String),
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

impl Report {
    fn print(&self, samples: usize) {
        println!("## medchain sharing bench");
        println!();
        println!(
            "- date: {}",
            command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
        );
        println!(
            "- machine: {} cores, {}",
            thread::available_parallelism().map_or(0, usize::from),
            cpu_model()
        );
        println!(
            "- profile: {} (the bench and the `medchain` binary it starts)",
            profile()
        );
        println!("- network: 4 validator processes, 2 gateways (SQLite + local blobs), loopback");
        println!(
            "- load average (1/5/15 min) before: {}, after: {}",
            self.load.0, self.load.1
        );
        println!("- samples per row: {samples}");
        println!();
        println!("| measure | bundle | n | median ms | p90 ms | max ms |");
        println!("|---|---|---|---|---|---|");
        for row in &self.rows {
            let s = &row.summary;
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                row.what,
                row.bundle,
                s.count,
                ms(s.median),
                ms(s.p90),
                ms(s.max)
            );
        }
        println!();
        println!(
            "| gateway A CPU per fetch | CPU ms (user + sys) | fetch wall ms (median) | idle (chain wait) ms |"
        );
        println!("|---|---|---|---|");
        for (bundle, cpu) in &self.cpu {
            println!(
                "| {bundle} | {} | {} | {} |",
                ms(cpu.per_fetch),
                ms(cpu.wall),
                ms(cpu.wall.saturating_sub(cpu.per_fetch))
            );
        }
        println!();
        println!(
            "| concurrent fetches | bundle | errors | wall s | fetches/s | latency median / p90 / max ms | gateway CPU ms per fetch |"
        );
        println!("|---|---|---|---|---|---|---|");
        for (bundle, concurrent) in &self.concurrent {
            let s = Summary::of(concurrent.latencies.clone());
            println!(
                "| {} | {bundle} | {} | {:.2} | {:.1} | {} / {} / {} | {} |",
                concurrent.count,
                concurrent.errors.len(),
                concurrent.wall.as_secs_f64(),
                s.count as f64 / concurrent.wall.as_secs_f64(),
                ms(s.median),
                ms(s.p90),
                ms(s.max),
                ms(concurrent.gateway_cpu / concurrent.count.max(1) as u32)
            );
        }
        for (bundle, concurrent) in &self.concurrent {
            for error in concurrent.errors.iter().take(5) {
                println!("- error ({bundle}): {error}");
            }
        }
    }
}
