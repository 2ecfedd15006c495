//! Enrolments per second through the network (issue 12 § Bench): `research.enrol`
//! transactions, each carrying a Groth16 proof that every validator verifies in the state
//! machine, on 4 `medchain node` validator processes with fees on, all started from the
//! `medchain` binary this build made.
//!
//! Set up through the binary, as `tests/research_flow.rs` does (not timed): the circuit
//! `medchain init` set up, registered by the regulator; a cloud organisation and one
//! `medchain cloud` proxy; a research organisation whose study (type 2 diabetes, one reward per
//! participant) is published and funded for K participants; a hospital with its gateway and
//! four doctors; K patients, each enrolled at the hospital (which files its nullifier key) with
//! one record the gateway releases and attests.
//!
//! Then, still before the clock, every patient's enrolment is proven and signed
//! (`medchain_research::patient::prepare`, what `medchain patient enrol-study` does before it
//! files), on as many threads as the machine has cores. The chain's keys and accumulator are
//! new on every run (`medchain init` draws them), so the proofs cannot be cached across runs.
//!
//! Measured: the K transactions submitted at once (one thread each, released together by a
//! barrier, spread over the 4 validators' APIs), and each one's finality as node-0 commits the
//! block holding it (its status polled every 20 ms from the first submission on). Every enrolment must be accepted: the
//! bench fails unless each receipt holds `Enrolled` and the study counts K participants. The
//! validators' CPU time over the run, and — after it, off the clock — the Groth16 verification
//! of each of the K proofs on this process's one thread, are reported beside it.
//!
//! Run with `cargo bench --bench enrolment`; `MEDCHAIN_BENCH_ENROLMENTS` (default 48) changes
//! K. It prints a markdown report.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{
    Network,
    hospital::{Doctor, GatewayProcess, Storage},
    measure::{
        Fallible, command_line, cpu_model, cpu_time, env_count, load_average, percentile, profile,
    },
    text,
};
use medchain_client::{Client, StateQuery, TxOutcome, keys};
use medchain_gateway::patient::HospitalRecords;
use medchain_research::patient::{self, EnrolRequest, PreparedEnrolment};
use medchain_types::{
    Event, Payload, RecordId, Transaction, TxId,
    research::{ResearchPayload, StudyId},
};
use std::{
    collections::{BTreeSet, HashMap},
    fs,
    path::Path,
    sync::{Barrier, Mutex},
    thread,
    time::{Duration, Instant},
};

/// A committed synthetic FHIR R4 bundle: a woman born 1963 with E11.9 and HbA1c 8.4 %.
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/fhir/type2_diabetes-2-0000.json"
);

/// The study's requirements, which the bundle meets.
const PREDICATE: &str = "age in 40..=75 and icd10 == E11 and hba1c >= 6.5";

/// The reward per participant: more than an enrolment's fee (about 520), which it pays.
const REWARD: u64 = 1_000;

/// What each patient key is funded with: its identity enrolment's and nullifier key's fees
/// (about 300 each).
const PATIENT_FUNDS: u64 = 2_000;

/// What the hospital and each doctor are funded with: their set-up's fees and, per record,
/// the release, storage pointer and attestation fees (under 1,500 together). The regulator's
/// genesis balance (1,000,000) funds every key, which bounds K at about 100.
fn staff_funds(count: usize) -> u64 {
    20_000 + 1_500 * count as u64
}

/// The hospital's doctors: the patients' records are written by this many at once.
const DOCTORS: [&str; 4] = ["dr-kim", "dr-lee", "dr-park", "dr-choi"];

/// How often node-0's height is polled while enrolments are in flight.
const POLL: Duration = Duration::from_millis(20);

/// How long the run may take before the bench gives up on the missing enrolments.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

fn main() -> Fallible<()> {
    let count = env_count("MEDCHAIN_BENCH_ENROLMENTS", 48)?;
    if count == 0 {
        return Err("MEDCHAIN_BENCH_ENROLMENTS must be at least 1".into());
    }
    let load_before = load_average();
    let started = Instant::now();
    eprintln!("setting up 4 validators, a proxy, a study for {count}, a hospital …");
    let market = Market::setup(count)?;
    eprintln!("{count} patients with attested records …");
    let patients = market.patients(count)?;
    eprintln!(
        "set up in {:.0?}; proving {count} enrolments …",
        started.elapsed()
    );
    let proving_started = Instant::now();
    let prepared = market.prepare(&patients)?;
    let proving = proving_started.elapsed();
    eprintln!("proven in {proving:.0?}; submitting …");
    let load_at_start = load_average();
    let run = market.submit(&prepared)?;
    let load_at_end = load_average();
    eprintln!("checking every enrolment was accepted …");
    market.check_accepted(&run, count)?;
    let verify = verification_times(&market, &prepared)?;
    Report {
        count,
        proving,
        run,
        verify,
        load: [load_before, load_at_start, load_at_end],
    }
    .print();
    Ok(())
}

/// The running network with everything an enrolment needs.
struct Market {
    network: Network,
    _proxy: common::research::CloudProcess,
    gateway: GatewayProcess,
    doctors: Vec<Doctor>,
    study: StudyId,
}

/// A patient with an attested record that qualifies for the study.
struct Patient {
    key: String,
    record: RecordId,
}

impl Market {
    fn setup(count: usize) -> Fallible<Self> {
        let mut network =
            Network::start_with(4, &["--fees", "default", "--epoch-length", "100000"]);
        network.fund_new_keys = Some(staff_funds(count));
        network.wait_for_pkg();
        network.register_circuit();
        network.funded_org("Seoul Cloud", "cloud", "cloud-1", &[]);
        network.funded_org("Busan Research", "research", "researcher-1", &[]);
        let proxy = network.start_proxy("cloud-1");
        let (hospital, doctors) = network.hospital("Seoul General", "seoul-general", &DOCTORS);
        let gateway = network.start_gateway(&hospital, &Storage::Embedded);
        network.fund_new_keys = Some(PATIENT_FUNDS);
        let researcher = network.account("researcher-1").display().to_string();
        let participants = count.to_string();
        let reward = REWARD.to_string();
        let study = network.publish_funded(
            &researcher,
            &[
                "--title",
                "T2D and HbA1c",
                "--predicate",
                PREDICATE,
                "--reward",
                &reward,
                "--participants",
                &participants,
                "--deadline",
                "1d",
                "--threshold",
                "1",
                "--proxy",
                &proxy.url,
            ],
            REWARD * count as u64,
        );
        Ok(Self {
            study: study.parse()?,
            network,
            _proxy: proxy,
            gateway,
            doctors,
        })
    }

    /// `count` funded patients (keys made one after another: the regulator funds each), then
    /// on one thread per doctor: each patient's identity, its enrolment at the hospital, and
    /// its record written and attested.
    fn patients(&self, count: usize) -> Fallible<Vec<Patient>> {
        let keys: Vec<(String, String)> = (0..count)
            .map(|n| self.network.keygen(&format!("patient-{n}.key")))
            .collect();
        let mut patients: Vec<Patient> = thread::scope(|scope| {
            let workers: Vec<_> = self
                .doctors
                .iter()
                .enumerate()
                .map(|(at, doctor)| {
                    let mine: Vec<_> = keys.iter().skip(at).step_by(self.doctors.len()).collect();
                    scope.spawn(move || {
                        mine.into_iter()
                            .map(|(key, address)| self.patient(doctor, key, address))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().expect("a set-up thread panicked"))
                .collect()
        });
        patients.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(patients)
    }

    fn patient(&self, doctor: &Doctor, key: &str, address: &str) -> Patient {
        let network = &self.network;
        network.ok(&["identity", "enrol", "--key", key, "--role", "patient"]);
        let enrolled = network.json(&[
            "patient",
            "enrol",
            "--key",
            key,
            "--hospital",
            &self.gateway.url,
        ]);
        text(&enrolled["nullifier_key_tx"]);
        Patient {
            key: key.to_string(),
            record: network.attested_record(doctor, &self.gateway, address, BUNDLE),
        }
    }

    /// Every patient's enrolment proven and signed, on one thread per core.
    fn prepare(&self, patients: &[Patient]) -> Fallible<Vec<PreparedEnrolment>> {
        let proving_key = fs::read(self.network.path("zk/proving-key.bin"))?;
        let bundle = fs::read(BUNDLE)?;
        let threads = thread::available_parallelism().map_or(1, usize::from);
        let next = Mutex::new(0usize);
        let done: Mutex<Vec<(usize, Fallible<PreparedEnrolment>)>> = Mutex::default();
        thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let client = self.network.client(0);
                    loop {
                        let at = {
                            let mut next = next.lock().expect("the work counter");
                            let at = *next;
                            *next += 1;
                            at
                        };
                        let Some(patient) = patients.get(at) else {
                            return;
                        };
                        let prepared = self.prepare_one(&client, patient, &bundle, &proving_key);
                        done.lock().expect("the results").push((at, prepared));
                    }
                });
            }
        });
        let mut done = done.into_inner().map_err(|_| "a proving thread panicked")?;
        done.sort_by_key(|(at, _)| *at);
        done.into_iter().map(|(_, prepared)| prepared).collect()
    }

    /// What `medchain patient enrol-study` does before it files: the record's opening from
    /// the gateway (checked against the chain's attestation), then the proof and signature.
    fn prepare_one(
        &self,
        client: &Client,
        patient: &Patient,
        bundle: &[u8],
        proving_key: &[u8],
    ) -> Fallible<PreparedEnrolment> {
        let material = keys::load_key(Path::new(&patient.key), |_| {
            Ok(common::PASSPHRASE.to_string().into())
        })?;
        let link = material
            .wallet
            .enrolments
            .first()
            .ok_or("the patient's key file holds no enrolment")?;
        let records = HospitalRecords::connect(link, material.address())?;
        let attestation = client
            .read(&StateQuery::attestation(&patient.record))?
            .value;
        let opening =
            records.fetch_opening(records.held(&patient.record)?, attestation.as_ref())?;
        Ok(patient::prepare(
            client,
            &material.key,
            &EnrolRequest {
                study: self.study,
                opening: &opening,
                bundle,
                proving_key,
            },
        )?)
    }

    /// The measured run: every transaction submitted at once, each one's finality seen at
    /// node-0.
    fn submit(&self, prepared: &[PreparedEnrolment]) -> Fallible<Run> {
        let nodes = self.network.validators;
        let pids = (0..nodes)
            .map(|index| self.network.pid(index).ok_or("a validator is not running"))
            .collect::<Result<Vec<_>, _>>()?;
        let cpu_before = pids
            .iter()
            .map(|&pid| cpu_time(pid))
            .collect::<Fallible<Vec<_>>>()?;
        let watcher = self.network.node_client(0);
        let mut height = watcher.status()?.height;
        let barrier = Barrier::new(prepared.len() + 1);
        // Known before submission, so node-0 is watched from the first submission on.
        let ids: Vec<TxId> = prepared.iter().map(|enrolment| enrolment.tx.id()).collect();
        let refused: Mutex<Vec<String>> = Mutex::default();
        let (submissions, finalized, first) = thread::scope(|scope| -> Fallible<_> {
            let submitters: Vec<_> = prepared
                .iter()
                .enumerate()
                .map(|(at, enrolment)| {
                    let node = self.network.node_client(at % nodes);
                    let (barrier, refused) = (&barrier, &refused);
                    scope.spawn(move || {
                        barrier.wait();
                        let sent = Instant::now();
                        if let Err(error) = node.submit(&enrolment.tx) {
                            refused
                                .lock()
                                .expect("the refusals")
                                .push(error.to_string());
                        }
                        sent
                    })
                })
                .collect();
            barrier.wait();
            let first = Instant::now();
            let mut finalized: HashMap<TxId, (Instant, u64)> = HashMap::new();
            while finalized.len() < ids.len() {
                if let Some(error) = refused.lock().expect("the refusals").first() {
                    return Err(format!("an enrolment was refused at submission: {error}").into());
                }
                if first.elapsed() > RUN_TIMEOUT {
                    return Err(format!(
                        "{} of {} enrolments not final after {RUN_TIMEOUT:?}",
                        ids.len() - finalized.len(),
                        ids.len()
                    )
                    .into());
                }
                let tip = watcher.status()?.height;
                let seen = Instant::now();
                for at in height + 1..=tip {
                    for id in watcher.block(at)?.tx_ids {
                        if ids.contains(&id) {
                            finalized.insert(id, (seen, at));
                        }
                    }
                }
                height = tip;
                thread::sleep(POLL);
            }
            let submissions: HashMap<TxId, Instant> = submitters
                .into_iter()
                .zip(&ids)
                .map(|(submitter, id)| {
                    Ok((
                        *id,
                        submitter
                            .join()
                            .map_err(|_| "a submitting thread panicked")?,
                    ))
                })
                .collect::<Fallible<_>>()?;
            Ok((submissions, finalized, first))
        })?;
        let cpu = pids
            .iter()
            .zip(&cpu_before)
            .map(|(&pid, before)| Ok(cpu_time(pid)?.saturating_sub(*before)))
            .collect::<Fallible<Vec<_>>>()?;
        let last = finalized
            .values()
            .map(|(seen, _)| *seen)
            .max()
            .ok_or("nothing finalized")?;
        let mut latencies: Vec<Duration> = finalized
            .iter()
            .map(|(id, (seen, _))| seen.saturating_duration_since(submissions[id]))
            .collect();
        latencies.sort();
        let blocks: BTreeSet<u64> = finalized.values().map(|(_, height)| *height).collect();
        let mut per_block: HashMap<u64, usize> = HashMap::new();
        for (_, height) in finalized.values() {
            *per_block.entry(*height).or_default() += 1;
        }
        Ok(Run {
            ids: submissions.keys().copied().collect(),
            wall: last.saturating_duration_since(first),
            latencies,
            blocks: blocks.len(),
            span: blocks
                .first()
                .zip(blocks.last())
                .map_or(0, |(low, high)| high - low + 1),
            fullest: per_block.values().copied().max().unwrap_or(0),
            validator_cpu: cpu,
        })
    }

    /// Fails unless every enrolment's verified receipt says `Enrolled` and the study counts
    /// them all: a run that measured refusals measured nothing.
    fn check_accepted(&self, run: &Run, count: usize) -> Fallible<()> {
        let client = self.network.client(0);
        let mut refused = Vec::new();
        for id in &run.ids {
            match client.transaction(id)? {
                TxOutcome::Finalized(confirmed)
                    if confirmed
                        .receipt
                        .events
                        .iter()
                        .any(|event| matches!(event, Event::Enrolled { .. })) => {}
                other => refused.push(format!("{id}: {other:?}")),
            }
        }
        if !refused.is_empty() {
            return Err(format!(
                "{} of {count} enrolments were not accepted:\n{}",
                refused.len(),
                refused.join("\n")
            )
            .into());
        }
        let study = client
            .read(&StateQuery::study(&self.study))?
            .value
            .ok_or("the study vanished")?;
        if u64::from(study.enrolled) != count as u64 {
            return Err(format!(
                "the study counts {} participants, not {count}",
                study.enrolled
            )
            .into());
        }
        Ok(())
    }
}

/// The Groth16 verification the state machine runs for each enrolment (`zk::verify` on the
/// statement it rebuilds), timed here on one thread for each of the run's proofs, after the
/// run.
fn verification_times(market: &Market, prepared: &[PreparedEnrolment]) -> Fallible<Vec<Duration>> {
    let vk = zk::VerifyingKey::from_bytes(&fs::read(market.network.path("zk/verifying-key.bin"))?)?;
    let mut times = prepared
        .iter()
        .map(|enrolment| {
            let proof = zk::Proof::from_bytes(proof_bytes(&enrolment.tx)?)?;
            let started = Instant::now();
            let valid = zk::verify(&vk, &enrolment.statement, &proof)?;
            let took = started.elapsed();
            if !valid {
                return Err("a proof the chain accepted does not verify here".into());
            }
            Ok(took)
        })
        .collect::<Fallible<Vec<_>>>()?;
    times.sort();
    Ok(times)
}

/// The proof an enrolment transaction carries.
fn proof_bytes(tx: &Transaction) -> Fallible<&[u8]> {
    match &tx.body.payload {
        Payload::Research(ResearchPayload::Enrol { proof, .. }) => Ok(proof.as_slice()),
        _ => Err("not an enrolment".into()),
    }
}

/// What the measured run saw.
struct Run {
    ids: Vec<TxId>,
    /// First submission → the last enrolment's block committed at node-0.
    wall: Duration,
    /// Each enrolment's submission → its block committed at node-0, sorted.
    latencies: Vec<Duration>,
    /// Blocks holding at least one enrolment.
    blocks: usize,
    /// Heights from the first such block to the last.
    span: u64,
    /// The most enrolments one block held.
    fullest: usize,
    /// Each validator's CPU time (user + system) over the run.
    validator_cpu: Vec<Duration>,
}

struct Report {
    count: usize,
    proving: Duration,
    run: Run,
    verify: Vec<Duration>,
    /// Before set-up, at the first submission, at the last finality.
    load: [String; 3],
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

impl Report {
    fn print(&self) {
        let run = &self.run;
        let cores = thread::available_parallelism().map_or(1, usize::from);
        let validators = run.validator_cpu.len();
        let rate = self.count as f64 / run.wall.as_secs_f64();
        let cpu: Duration = run.validator_cpu.iter().sum();
        let verify = percentile(&self.verify, 0.5);
        // Each validator verifies every proof twice: when the transaction reaches its mempool
        // (the admission dry run, whether a client or a peer sent it) and when it executes the
        // block holding it (built as proposer or checked as voter; finalization reuses that).
        let checks = 2 * validators;
        let bound = cores as f64 / (checks as f64 * verify.as_secs_f64());
        println!("## medchain enrolment bench");
        println!();
        println!(
            "- date: {}",
            command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
        );
        println!("- machine: {cores} cores, {}", cpu_model());
        println!(
            "- profile: {} (the bench and the `medchain` binary it starts)",
            profile()
        );
        println!(
            "- network: {validators} validator processes (fees on), 1 gateway, 1 proxy, loopback"
        );
        println!(
            "- load average (1/5/15 min) before set-up: {}, at the first submission: {}, at the last finality: {}",
            self.load[0], self.load[1], self.load[2]
        );
        println!(
            "- K = {} enrolments in one study, proven before the clock in {:.1} s on {cores} threads",
            self.count,
            self.proving.as_secs_f64()
        );
        println!();
        println!(
            "| K | accepted | wall s (first submission → last final) | enrolments/s | latency p50 / p99 / max ms | blocks used (span) | most in one block | validators' CPU ms per enrolment |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        println!(
            "| {} | {} | {:.2} | {:.1} | {} / {} / {} | {} ({}) | {} | {} |",
            self.count,
            self.count,
            run.wall.as_secs_f64(),
            rate,
            ms(percentile(&run.latencies, 0.5)),
            ms(percentile(&run.latencies, 0.99)),
            ms(run.latencies.last().copied().unwrap_or_default()),
            run.blocks,
            run.span,
            run.fullest,
            ms(cpu / self.count as u32),
        );
        println!();
        println!(
            "| Groth16 verify of the run's proofs (one thread) | min | median | max |\n|---|---|---|---|"
        );
        println!(
            "| `zk::verify` (what the state machine runs per enrolment) | {} | {} | {} |",
            ms(self.verify.first().copied().unwrap_or_default()),
            ms(verify),
            ms(self.verify.last().copied().unwrap_or_default()),
        );
        println!();
        println!(
            "Bound from verification alone: {validators} validators × 2 checks each (admission dry run + block execution) = {checks} verifications per enrolment, on {cores} cores at {} ms each: {:.0} enrolments/s. Measured {:.1}/s is {:.0} % of it.",
            ms(verify),
            bound,
            rate,
            100.0 * rate / bound
        );
    }
}
