//! Issue 12 benchmark: the enrolment circuit at N = 10, 100, 1000 attributes, K = 8 clauses and
//! E = 1 none-of slot (accumulator depth 24), beside seed 004's libsnark figures (S4-figures).
//!
//! `cargo bench -p zk` (or build with `cargo build --release -p zk --benches` and run the binary
//! from `target/release/deps/enrolment-*`). Optional arguments: attribute counts to measure,
//! e.g. `-- 1000`.

use ark_std::rand::{Rng, SeedableRng, rngs::StdRng};
use std::time::{Duration, Instant};
use zk::*;

const K: u16 = 8;
const E: u16 = 1;
/// Commitments in the benchmark's accumulator besides the prover's.
const OTHER_LEAVES: usize = 1023;
const PROVE_RUNS: usize = 7;
const VERIFY_RUNS: usize = 200;

struct Row {
    attributes: u32,
    exclusions: u16,
    constraints: usize,
    setup: Duration,
    commit: Duration,
    prove: (Duration, Duration),
    prove_cpu: Option<Duration>,
    verify: (Duration, Duration),
    path: Duration,
    synthesis: Duration,
    pk_load: Duration,
    pk_trusted: Duration,
    pk_bytes: usize,
    vk_bytes: usize,
    proof_bytes: usize,
}

/// `(min, median)` of the samples: the minimum is the figure least disturbed by other load on
/// a shared machine, the median the typical one.
fn summary(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    (samples[0], samples[samples.len() / 2])
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// A record of random lab-like values and a true predicate spread over the record: six AND-ed
/// interval clauses, one OR-group of two, and one exclusion over the first 16 indices.
fn workload(
    attributes: u32,
    exclusions: u16,
    rng: &mut StdRng,
) -> Result<(Schema, Record, Predicate)> {
    let schema = Schema::new(
        "bench_v1",
        vec![Attribute::multi(
            "lab",
            Encoding::Integer,
            attributes,
            FhirSource::None,
        )],
    )?;
    let values: Vec<u64> = (0..attributes)
        .map(|_| rng.gen_range(100..10_000))
        .collect();
    let clause = |slot: u32, matching: bool| {
        let index = slot * attributes / u32::from(K);
        let value = values[index as usize];
        let (low, high) = if matching {
            (value - 50, value + 50)
        } else {
            (1, value - 1)
        };
        Clause::on(index, low, high, false)
    };
    let mut groups = (0..6)
        .map(|slot| clause(slot, true).map(|c| vec![c]))
        .collect::<Result<Vec<_>>>()?;
    groups.push(vec![clause(6, false)?, clause(7, true)?]);
    let last = attributes.min(EXCLUSION_WIDTH) - 1;
    let exclusion = Exclusion::new(0, last, 1, 99)?;
    let exclusions = vec![exclusion; usize::from(exclusions)];
    let predicate = Predicate::new(&schema, groups, exclusions)?;
    Ok((schema, Record::new(values)?, predicate))
}

fn measure(attributes: u32, exclusions: u16) -> Result<Row> {
    let mut rng = StdRng::seed_from_u64(u64::from(attributes));
    let shape = CircuitShape::new(attributes, K, exclusions)?;
    // The first synthesis in a process is what a proving-key load also pays once (the key's
    // vector lengths are checked against it).
    let (constraints, synthesis) = timed(|| constraint_count(&shape));
    let constraints = constraints?;
    let (keys, setup_time) = timed(|| setup(&shape, &mut rng, &mut |_, _| {}));
    let (pk, vk) = keys?;
    let (schema, record, predicate) = workload(attributes, exclusions, &mut rng)?;
    let secret = PatientSecret::from_seed(&[7; 32]);
    let opening =
        RecordOpening::random(&schema, record, secret.nullifier_key(), [5; 32], &mut rng)?;
    let (commitment, commit) = timed(|| opening.commit());
    let mut leaves: Vec<Commitment> = (0..OTHER_LEAVES)
        .map(|i| Commitment::from_bytes(&study_tag(&[i as u8; 32]).0))
        .collect::<Result<_>>()?;
    leaves.push(commitment?);
    let (path, path_time) = timed(|| membership_path(&leaves, OTHER_LEAVES as u64));
    let path = path?;
    let witness = EnrolmentWitness {
        opening: &opening,
        secret: &secret,
        path: &path,
    };
    let (study, binding) = (study_tag(&[1; 32]), binding_of(&[2; 32]));

    let mut proofs = Vec::with_capacity(PROVE_RUNS);
    let mut prove_times = Vec::with_capacity(PROVE_RUNS);
    let cpu_before = process_cpu_time();
    for _ in 0..PROVE_RUNS {
        let (proof, time) = timed(|| prove(&pk, &witness, &predicate, study, binding, &mut rng));
        proofs.push(proof?);
        prove_times.push(time);
    }
    let prove_cpu = process_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| (after - before) / PROVE_RUNS as u32);
    let (statement, proof) = &proofs[0];

    let mut verify_times = Vec::with_capacity(VERIFY_RUNS);
    for _ in 0..VERIFY_RUNS {
        // What a contract does: digest its predicate, then check the pairing equation.
        let (accepted, time) = timed(|| {
            Statement::enrolment(
                &vk,
                statement.root,
                &predicate,
                study,
                binding,
                statement.nullifier,
                statement.exclusivity,
                statement.delivery,
            )
            .and_then(|statement| verify(&vk, &statement, proof))
        });
        assert!(accepted?, "benchmark proof must verify");
        verify_times.push(time);
    }

    let pk_bytes = pk.to_bytes();
    let (loaded, pk_load) = timed(|| ProvingKey::from_bytes(&pk_bytes));
    loaded?;
    let digest = ProvingKey::digest_of(&pk_bytes);
    let (trusted, pk_trusted) = timed(|| ProvingKey::from_trusted_bytes(&pk_bytes, &digest));
    trusted?;
    Ok(Row {
        attributes,
        exclusions,
        constraints,
        setup: setup_time,
        commit,
        prove: summary(prove_times),
        prove_cpu,
        verify: summary(verify_times),
        path: path_time,
        synthesis,
        pk_load,
        pk_trusted,
        pk_bytes: pk_bytes.len(),
        vk_bytes: vk.to_bytes().len(),
        proof_bytes: proof.to_bytes().len(),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn min_median((min, median): (Duration, Duration)) -> String {
    format!("{} / {}", ms(min), ms(median))
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// CPU time (user + system, all threads) this process has used so far, from `/proc/self/stat`
/// (Linux, USER_HZ = 100). Unlike wall time it does not grow when other jobs share the cores.
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The 1-minute load average (Linux), printed so a reader knows how contended the run was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> Result<()> {
    let requested: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // Each N with E none-of slots, and N = 1000 without one (what a market without exclusion
    // criteria would pay).
    let runs: Vec<(u32, u16)> = if requested.is_empty() {
        vec![(10, E), (100, E), (1000, E), (1000, 0)]
    } else {
        requested.into_iter().map(|n| (n, E)).collect()
    };
    println!(
        "zk enrolment benchmark: Groth16/BN254, K = {K}, E = {E}, accumulator depth {ACCUMULATOR_DEPTH}, {} threads",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("1-minute load average at the start: {}", load_average());
    println!();
    println!(
        "| N | E | constraints | setup | commit (hospital) | path from {} leaves | prove, min / median of {PROVE_RUNS} | prove CPU time | verify, min / median of {VERIFY_RUNS} | pk load validated | pk load trusted | + circuit synthesis (once per process) | proving key (uncompressed) | verifying key | proof |",
        OTHER_LEAVES + 1
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (attributes, exclusions) in runs {
        let row = measure(attributes, exclusions)?;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} B | {} B |",
            row.attributes,
            row.exclusions,
            row.constraints,
            ms(row.setup),
            ms(row.commit),
            ms(row.path),
            min_median(row.prove),
            row.prove_cpu.map_or_else(|| "n/a".into(), ms),
            min_median(row.verify),
            ms(row.pk_load),
            ms(row.pk_trusted),
            ms(row.synthesis),
            kib(row.pk_bytes),
            row.vk_bytes,
            row.proof_bytes,
        );
    }
    println!();
    println!(
        "Per-slot cost (constraints): | N | base (K = 1, E = 0) | + 1 clause slot | + 1 none-of slot |"
    );
    println!("|---:|---:|---:|---:|");
    for attributes in [10, 37, 100, 1000] {
        let count = |k, e| CircuitShape::new(attributes, k, e).and_then(|s| constraint_count(&s));
        let base = count(1, 0)?;
        println!(
            "| {attributes} | {base} | {} | {} |",
            count(2, 0)? - base,
            count(1, 1)? - base
        );
    }
    println!();
    println!(
        "1-minute load average at the end: {} (2 cores, shared)",
        load_average()
    );
    println!(
        "Seed 004 (S4-figures, libsnark, 1000 inputs, i7-4770): key generation 16.3 s, prove 52 s, verify 614 ms,"
    );
    println!(
        "proving key 15.3 MB, verification key 125.4 KB, proof 125.4 KB (10 inputs: vk 3.5 KB, proof 12.9 KB)."
    );
    println!(
        "Targets at N = 1000 (issues 4, 12): prove <= 2 s (goal 1 s), verify <= 5 ms, proof <= 200 B, vk <= 2 KB, trusted pk load <= 0.5 s, setup <= 16 s."
    );
    Ok(())
}
