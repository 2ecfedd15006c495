//! `cargo bench -p proxy-reencryption --bench threshold`: threshold re-encryption of a 1 MB
//! record end to end, 2 of 3 proxies, each step timed on its own (docs/benchmarks.md).

use std::hint::black_box;
use std::time::{Duration, Instant};

use proxy_reencryption::{
    EncryptedRecord, ProxyKey, RecordCapsule, ResearcherKey, StudyKeys, grant, reencrypt,
};

const RECORD_BYTES: usize = 1 << 20;
const ROUNDS: usize = 40;
const THRESHOLD: u8 = 2;
const PROXIES: usize = 3;

fn main() {
    let plaintext: Vec<u8> = (0..RECORD_BYTES).map(|i| (i % 251) as u8).collect();
    let researcher = ResearcherKey::generate();
    let proxies: Vec<ProxyKey> = (0..PROXIES).map(|_| ProxyKey::generate()).collect();
    let publics: Vec<[u8; 32]> = proxies.iter().map(ProxyKey::public).collect();
    let mut steps: [Vec<Duration>; 6] = Default::default();

    for round in 0..ROUNDS {
        let study = [round as u8; 32];
        let enrolment = [0xe0 ^ round as u8; 32];

        let (keys, elapsed) = timed(|| StudyKeys::derive(&[9; 32], &study));
        steps[0].push(elapsed);
        let (record, elapsed) =
            timed(|| EncryptedRecord::encrypt(&keys.delegating_public(), &plaintext).unwrap());
        steps[1].push(elapsed);
        let bytes = record.to_bytes();
        let (sealed, elapsed) =
            timed(|| grant(&keys, &researcher.public(), THRESHOLD, &publics, &enrolment).unwrap());
        steps[2].push(elapsed);

        // Each proxy: open + verify its kfrag, read the capsule of the stored bytes, re-encrypt.
        let mut cfrags = Vec::new();
        for (proxy, sealed) in proxies.iter().zip(&sealed).take(usize::from(THRESHOLD)) {
            let (kfrag, elapsed) = timed(|| {
                proxy
                    .open_kfrag(
                        sealed,
                        &enrolment,
                        &keys.delegating_public(),
                        &keys.verifying_public(),
                        &researcher.public(),
                    )
                    .unwrap()
            });
            steps[3].push(elapsed);
            let (cfrag, elapsed) = timed(|| {
                let capsule = RecordCapsule::from_record_bytes(&bytes).unwrap();
                reencrypt(&kfrag, &capsule)
            });
            steps[4].push(elapsed);
            cfrags.push(cfrag);
        }

        let (opened, elapsed) = timed(|| {
            let record = EncryptedRecord::from_bytes(&bytes).unwrap();
            researcher
                .open(
                    &record,
                    &cfrags,
                    &keys.delegating_public(),
                    &keys.verifying_public(),
                    THRESHOLD,
                )
                .unwrap()
        });
        steps[5].push(elapsed);
        assert_eq!(opened.len(), RECORD_BYTES);
    }

    let names = [
        "derive study keys (patient)",
        "encrypt 1 MB (patient)",
        "kfrags 2-of-3 + HPKE seal x3 (patient)",
        "open + verify kfrag (per proxy)",
        "re-encrypt capsule (per proxy)",
        "verify 2 cfrags + decrypt 1 MB (researcher)",
    ];
    println!("{ROUNDS} rounds, 1 MiB record, t = {THRESHOLD} of n = {PROXIES}");
    println!("| step | min ms | median ms |");
    println!("|---|---:|---:|");
    let mut total_min = 0.0;
    let mut total_median = 0.0;
    for (name, samples) in names.iter().zip(steps.iter_mut()) {
        samples.sort();
        let min = millis(samples[0]);
        let median = millis(samples[samples.len() / 2]);
        // Per-proxy steps run once per proxy in the total (t proxies are asked).
        let times = if name.contains("per proxy") {
            f64::from(THRESHOLD)
        } else {
            1.0
        };
        total_min += min * times;
        total_median += median * times;
        println!("| {name} | {min:.3} | {median:.3} |");
    }
    println!("| total CPU, t proxies included | {total_min:.3} | {total_median:.3} |");
}

fn timed<T>(step: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = black_box(step());
    (value, start.elapsed())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
