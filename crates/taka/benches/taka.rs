//! Per-party, per-flow cost of seed 003's protocols on this machine: pairings, scalar
//! multiplications (counted by instrumentation, `taka::ops`) and median wall time of each step,
//! single-threaded. Each step includes decoding the messages it receives and encoding the ones it
//! sends. Run: `cargo bench -p taka` (or build with `cargo build --release -p taka --benches` and
//! run the binary under target/release/deps).

use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use taka::ops::{OpCounts, measure};
use taka::*;

const ROUNDS: usize = 30;

struct Row {
    flow: &'static str,
    party: &'static str,
    step: &'static str,
    ops: OpCounts,
    times: Vec<Duration>,
}

#[derive(Default)]
struct Table(Vec<Row>);

impl Table {
    /// Times `f` as one step; rows with the same (flow, party, step) accumulate samples.
    fn step<T>(
        &mut self,
        flow: &'static str,
        party: &'static str,
        step: &'static str,
        f: impl FnOnce() -> T,
    ) -> T {
        let start = Instant::now();
        let (out, ops) = measure(f);
        let elapsed = start.elapsed();
        match self
            .0
            .iter_mut()
            .find(|r| (r.flow, r.party, r.step) == (flow, party, step))
        {
            Some(row) => row.times.push(elapsed),
            None => self.0.push(Row {
                flow,
                party,
                step,
                ops,
                times: vec![elapsed],
            }),
        }
        out
    }

    fn print(&self) {
        println!(
            "| flow | party | step | pairings (final exps) | G1 muls | G2 muls | hash-to-curve | median ms |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let mut flows: Vec<&str> = self.0.iter().map(|r| r.flow).collect();
        flows.dedup();
        for flow in flows {
            let rows: Vec<&Row> = self.0.iter().filter(|r| r.flow == flow).collect();
            let mut total = OpCounts::default();
            let mut total_ms = 0.0;
            for r in &rows {
                let ms = median_ms(&r.times);
                total_ms += ms;
                add(&mut total, &r.ops);
                println!(
                    "| {flow} | {} | {} | {} | {:.3} |",
                    r.party,
                    r.step,
                    counts(&r.ops),
                    ms
                );
            }
            println!(
                "| **{flow}** | **all** | **total** | {} | **{total_ms:.3}** |",
                counts(&total)
            );
        }
    }
}

fn add(total: &mut OpCounts, ops: &OpCounts) {
    total.pairings += ops.pairings;
    total.final_exps += ops.final_exps;
    total.g1_muls += ops.g1_muls;
    total.g2_muls += ops.g2_muls;
    total.hash_to_curve += ops.hash_to_curve;
}

fn counts(o: &OpCounts) -> String {
    format!(
        "{} ({}) | {} | {} | {}",
        o.pairings, o.final_exps, o.g1_muls, o.g2_muls, o.hash_to_curve
    )
}

fn median_ms(times: &[Duration]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2].as_secs_f64() * 1e3
}

fn id(s: &str) -> Identity {
    Identity::new(s).expect("valid identity")
}

fn j(n: u64) -> RecordIndex {
    RecordIndex::new(n).expect("valid index")
}

fn register(t: &mut Table, pkg: &Pkg, name: &str, rng: &mut ChaCha20Rng) -> EntityKeys {
    const FLOW: &str = "S3-register";
    let (pending, request) = t.step(FLOW, "entity", "request", || {
        let (p, r) = PendingRegistration::new(id(name), rng);
        (p, r.to_bytes())
    });
    let response = t.step(FLOW, "PKG", "extract keys", || {
        let request = RegistrationRequest::from_bytes(&request).expect("request");
        pkg.register(&request, rng).to_bytes()
    });
    t.step(FLOW, "entity", "check response", || {
        let response = RegistrationResponse::from_bytes(&response).expect("response");
        pending
            .complete(pkg.params(), response)
            .expect("registered")
    })
}

fn enrol(
    t: &mut Table,
    patient: &EntityKeys,
    hospital: &EntityKeys,
    rng: &mut ChaCha20Rng,
) -> (PatientEnrolment, HospitalEnrolment) {
    const FLOW: &str = "S3-agree (enrolment)";
    let (state, hello) = t.step(FLOW, "patient C", "hello", || {
        let (s, h) = Initiator::start_enrolment(patient, hospital.id().clone(), rng);
        (s, h.to_bytes())
    });
    let (reply, pending) = t.step(FLOW, "hospital A", "respond", || {
        let hello = Hello::from_bytes(&hello).expect("hello");
        let (reply, pending) = respond_enrolment(hospital, &hello, rng).expect("enrolment");
        (reply.to_bytes(), pending)
    });
    let (patient_side, confirmation) = t.step(FLOW, "patient C", "finish + confirm", || {
        let reply = EnrolmentReply::from_bytes(&reply).expect("reply");
        let (_sk, side, confirmation) = state.finish_enrolment(patient, &reply).expect("finish");
        (side, confirmation.to_bytes())
    });
    let hospital_side = t.step(FLOW, "hospital A", "check confirmation", || {
        let confirmation = EnrolmentConfirmation::from_bytes(&confirmation).expect("confirmation");
        pending.confirm(&confirmation).expect("confirmed").1
    });
    (patient_side, hospital_side)
}

/// Threshold enrolment (S3-register with the master secret shared t = 3 of n = 4; shares from
/// a trusted dealer, which costs the same as the DKG's): one node's two rounds and the
/// enrollee's combination, each step over the wire.
fn threshold_enrolment(
    t: &mut Table,
    polynomial: &PublicPolynomial,
    shares: &[MasterKeyShare],
    rng: &mut ChaCha20Rng,
) {
    const FLOW: &str = "S3-register (threshold 3 of 4)";
    let (pending, registration) = PendingRegistration::new(id("dr-bob"), rng);
    let signers = &shares[..polynomial.threshold()];
    let mut round1 = Vec::new();
    for share in signers {
        round1.push(t.step(FLOW, "each node", "commit (round 1)", || {
            let (nonces, commitment) = share.commit(rng);
            (nonces, commitment.to_bytes())
        }));
    }
    let request = t.step(FLOW, "entity", "request (round 2)", || {
        let commitments = round1
            .iter()
            .map(|(_, c)| NonceCommitment::from_bytes(c).expect("commitment"))
            .collect();
        ExtractionRequest::new(&registration, commitments)
            .expect("request")
            .to_bytes()
    });
    let mut partials = Vec::new();
    for (share, (nonces, _)) in signers.iter().zip(round1) {
        partials.push(t.step(FLOW, "each node", "partial key (round 2)", || {
            let request = ExtractionRequest::from_bytes(&request).expect("request");
            share
                .extract(nonces, &request, polynomial)
                .expect("partial")
                .to_bytes()
        }));
    }
    t.step(FLOW, "entity", "combine + verify", || {
        let request = ExtractionRequest::from_bytes(&request).expect("request");
        let partials = partials
            .iter()
            .map(|p| PartialKey::from_bytes(p).expect("partial"))
            .collect();
        pending
            .complete_threshold(polynomial, &request, partials)
            .expect("registered")
    });
}

struct Parties {
    params: PublicParams,
    patient: EntityKeys,
    hospital_a: EntityKeys,
    doctor: EntityKeys,
    doctors_hospital: Identity,
    licence: Licence,
    patient_at_a: PatientEnrolment,
    a_with_patient: HospitalEnrolment,
}

fn share(t: &mut Table, flow: &'static str, p: &Parties, records: &[u64], rng: &mut ChaCha20Rng) {
    let (doctor_state, hello) = t.step(flow, "doctor B̄", "agree: hello", || {
        let (s, h) = Initiator::start(&p.doctor, p.patient.id().clone(), rng);
        (s, h.to_bytes())
    });
    let (reply, sealed_auth) = t.step(flow, "patient C", "agree + authorize", || {
        let hello = Hello::from_bytes(&hello).expect("hello");
        let (reply, sk) = respond(&p.patient, &hello, rng).expect("respond");
        let records: Vec<RecordIndex> = records.iter().map(|&n| j(n)).collect();
        let auth = p
            .patient_at_a
            .authorize(p.doctor.id(), &records, u64::MAX)
            .expect("authorize");
        let sealed = sk.seal(b"auth", &auth.to_bytes(), rng).expect("seal");
        (reply.to_bytes(), sealed)
    });
    let (pending, request) = t.step(flow, "doctor B̄", "agree + request", || {
        let reply = Reply::from_bytes(&reply).expect("reply");
        let sk = doctor_state.finish(&p.doctor, &reply).expect("finish");
        let auth = Authorization::from_bytes(&sk.open(b"auth", &sealed_auth).expect("open"))
            .expect("auth");
        let (pending, request) =
            PendingShare::request(&p.doctor, &p.params, p.licence.clone(), &auth, rng)
                .expect("request");
        (pending, request.to_bytes())
    });
    let response = t.step(flow, "hospital A", "verify + release", || {
        let request = ShareRequest::from_bytes(&request).expect("request");
        let check = LicenceCheck {
            expected_issuer: &p.doctors_hospital,
            revocation: RevocationStatus::NotRevoked,
            now: 0,
        };
        let verified = p
            .a_with_patient
            .verify_request(&p.hospital_a, &p.params, &request, &check)
            .expect("verified");
        let releases: Vec<RecordRelease> = verified
            .records()
            .iter()
            .map(|&r| RecordRelease::new(r, [1; 32], vec![0u8; 4096]).expect("release"))
            .collect();
        verified
            .respond(&releases, rng)
            .expect("respond")
            .to_bytes()
    });
    t.step(flow, "doctor B̄", "open records", || {
        let response = HospitalResponse::from_bytes(&response).expect("response");
        assert_eq!(pending.open(&response).expect("open").len(), records.len());
    });
}

fn emergency(
    t: &mut Table,
    p: &Parties,
    entry: &EncryptedEntry,
    template: &[u8],
    rng: &mut ChaCha20Rng,
) {
    const FLOW: &str = "S3-emergency";
    let (pending, hello) = t.step(FLOW, "doctor B̄", "open EEE + hello", || {
        let found = entry.open(p.patient.id(), template).expect("entry");
        let eta = EmergencyRequest::new(p.patient.id().clone(), found.record(), rng);
        let (pending, hello) =
            PendingEmergency::start(&p.doctor, found.hospital().clone(), eta, [3; 32], rng);
        (pending, hello.to_bytes())
    });
    let response = t.step(FLOW, "hospital A", "respond", || {
        let hello = EmergencyHello::from_bytes(&hello).expect("hello");
        let release = RecordRelease::new(hello.request().record(), [1; 32], vec![0u8; 4096])
            .expect("release");
        respond_emergency(&p.hospital_a, &hello, &release, rng)
            .expect("respond")
            .to_bytes()
    });
    t.step(FLOW, "doctor B̄", "open record", || {
        let response = HospitalResponse::from_bytes(&response).expect("response");
        pending.open(&p.doctor, &response).expect("open")
    });
}

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(2024);
    let mut t = Table::default();
    let pkg = t.step("S3-setup", "PKG", "setup", || Pkg::setup(&mut rng));
    let (polynomial, shares) = pkg.deal_shares(4, 3, &mut rng).expect("shares");
    for _ in 0..ROUNDS {
        threshold_enrolment(&mut t, &polynomial, &shares, &mut rng);
    }
    let mut parties = None;
    for _ in 0..ROUNDS {
        let patient = register(&mut t, &pkg, "patient-carol", &mut rng);
        let hospital_a = register(&mut t, &pkg, "hospital-a", &mut rng);
        let hospital_b = register(&mut t, &pkg, "hospital-b", &mut rng);
        let doctor = register(&mut t, &pkg, "dr-bob", &mut rng);
        let (patient_at_a, a_with_patient) = enrol(&mut t, &patient, &hospital_a, &mut rng);
        let licence = Licence::issue(
            &hospital_b,
            pkg.params(),
            doctor.id().clone(),
            u64::MAX,
            &mut rng,
        );
        parties = Some(Parties {
            params: *pkg.params(),
            patient,
            hospital_a,
            doctor,
            doctors_hospital: hospital_b.id().clone(),
            licence,
            patient_at_a,
            a_with_patient,
        });
    }
    let p = parties.expect("at least one round");
    for (n, step) in [(1, "factor s_α^1"), (SEGMENT_LEN, "factor s_α^64")] {
        t.step("S3-release", "either side", step, || {
            p.patient_at_a.factors().factor(j(n))
        });
    }
    let template = b"canonical fingerprint template of patient-carol";
    let entry = EmrEntry::new(
        vec!["allergy".into()],
        [1; 32],
        p.hospital_a.id().clone(),
        j(4),
    )
    .expect("entry");
    let eee = t.step(
        "S3-entry",
        "patient C",
        "seal EEE (Argon2id 19 MiB, t=2)",
        || {
            EncryptedEntry::seal(
                p.patient.id(),
                &entry,
                template,
                BiometricKdfParams::RECOMMENDED,
                &mut rng,
            )
            .expect("seal")
        },
    );
    for _ in 0..ROUNDS {
        share(&mut t, "S3-share (1 record)", &p, &[3], &mut rng);
        share(
            &mut t,
            "S3-share (4 records)",
            &p,
            &[3, 9, 64, 65],
            &mut rng,
        );
        emergency(&mut t, &p, &eee, template, &mut rng);
    }
    println!("taka benchmark: {ROUNDS} rounds, median per step, single thread, release build\n");
    t.print();
}
