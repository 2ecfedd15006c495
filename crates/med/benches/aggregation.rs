//! `cargo bench -p medchain-med --bench aggregation`: verifying an Mblock of 1,000 tx_mr
//! (10 hospitals × 100, 10 doctors each) as ONE aggregate BLS signature, against checking the
//! same 1,010 (key, message) pairs — 1,000 doctors' releases and 10 hospitals' batch roots —
//! one BLS signature at a time, as a BLS batch (random weights), and as ed25519 signatures
//! (one at a time and commonware's batch verifier). Also prints the signature bytes per block
//! and the encoded Mblock size with and without aggregation (docs/benchmarks.md, "MED chain").

use commonware_codec::{Copying, DecodeExt, EncodeSize, FixedSize};
use commonware_cryptography::{
    BatchEntry, BatchVerifier, Signer as _, Verifier as _,
    bls12381::{
        self,
        primitives::{
            ops::hash_with_namespace,
            variant::{MinPk, Variant},
        },
    },
    ed25519,
};
use commonware_parallel::Sequential;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medchain_med::aggregate::{
    SignerKeys, SignerRefusal, batch_message, block_signature, htxm_message, seal_batch,
    sign_release, verify_block, verify_release,
};
use medchain_types::{
    Address, BlsPublicKey, BlsSignature, ChainId, ContentHash, Hash32, PrivateKey,
    emergency::{BlsVouchingKey, vouching_key_from},
    med::{Mblock, MblockBody, MblockHeader, SignedBatch, TxMr},
    namespace,
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};
use std::{collections::HashMap, hint::black_box, time::Duration};

const HOSPITALS: u64 = 10;
const DOCTORS_PER_HOSPITAL: u64 = 10;
const RELEASES_PER_HOSPITAL: u64 = 100;

/// A signer: its chain key (ed25519), address and vouching key (BLS).
struct Party {
    chain_key: PrivateKey,
    address: Address,
    vouching: BlsVouchingKey,
}

fn party(seed: u64) -> Party {
    let chain_key = PrivateKey::from_seed(seed);
    Party {
        address: Address::from(chain_key.public_key()),
        vouching: vouching_key_from(&chain_key),
        chain_key,
    }
}

/// SUP's registered keys, as a map.
#[derive(Default)]
struct Registry {
    keys: HashMap<Address, BlsPublicKey>,
}

impl SignerKeys for Registry {
    fn doctor(&self, doctor: &Address, _: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        self.hospital(doctor)
    }

    fn hospital(&self, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        self.keys
            .get(hospital)
            .copied()
            .ok_or_else(|| SignerRefusal("unknown".into()))
    }

    fn patient(&self, patient: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        self.hospital(patient)
    }
}

/// One (signer, message) pair of the block with its individual signatures, as a chain
/// without aggregation would carry them.
struct Pair {
    message: Vec<u8>,
    bls_key: BlsPublicKey,
    bls: BlsSignature,
    ed_key: ed25519::PublicKey,
    ed: ed25519::Signature,
}

struct Fixture {
    chain_id: ChainId,
    registry: Registry,
    block: Mblock,
    /// The doctors' releases with their individual BLS signatures.
    releases: Vec<(TxMr, BlsPublicKey, BlsSignature)>,
    pairs: Vec<Pair>,
}

fn fixture() -> Fixture {
    let chain_id = ChainId::new("medchain-bench").unwrap();
    let mut registry = Registry::default();
    let mut batches: Vec<SignedBatch> = Vec::new();
    let mut releases = Vec::new();
    let mut pairs = Vec::new();
    for h in 0..HOSPITALS {
        let hospital = party(1 + h);
        let doctors: Vec<Party> = (0..DOCTORS_PER_HOSPITAL)
            .map(|d| party(1_000 + h * DOCTORS_PER_HOSPITAL + d))
            .collect();
        for signer in std::iter::once(&hospital).chain(&doctors) {
            registry
                .keys
                .insert(signer.address, signer.vouching.public());
        }
        let signed: Vec<(TxMr, BlsSignature)> = (0..RELEASES_PER_HOSPITAL)
            .map(|n| {
                let doctor = &doctors[(n % DOCTORS_PER_HOSPITAL) as usize];
                let tx = TxMr {
                    doctor: doctor.address,
                    patient: party(100_000 + h * RELEASES_PER_HOSPITAL + n).address,
                    record_hash: ContentHash::of(&(h * RELEASES_PER_HOSPITAL + n).to_be_bytes()),
                    issued_at_ms: 1_700_000_000_000 + n,
                };
                let signature = sign_release(&chain_id, &doctor.vouching, &tx);
                pairs.push(pair(
                    doctor,
                    htxm_message(&chain_id, &tx.htxm(&chain_id)),
                    signature,
                ));
                releases.push((tx.clone(), doctor.vouching.public(), signature));
                (tx, signature)
            })
            .collect();
        let batch = seal_batch(
            &chain_id,
            &hospital.vouching,
            hospital.address,
            signed,
            Vec::new(),
            &registry,
        )
        .unwrap();
        let message = batch_message(&chain_id, &batch.batch.root(&chain_id));
        let signature = hospital.vouching.sign_med(&message);
        pairs.push(pair(&hospital, message, signature));
        batches.push(batch);
    }
    let body = MblockBody {
        batches: batches.iter().map(|b| b.batch.clone()).collect(),
        signature: block_signature(&batches),
    };
    let block = Mblock {
        header: MblockHeader {
            height: 1,
            parent: Hash32::from([0; 32]),
            tx_root: body.item_root(&chain_id),
            body_hash: body.hash(),
            timestamp_ms: 1_700_000_000_000,
            difficulty: 20_000,
            miner: party(1).address,
            nonce: 0,
        },
        body,
    };
    Fixture {
        chain_id,
        registry,
        block,
        releases,
        pairs,
    }
}

fn pair(signer: &Party, message: Vec<u8>, bls: BlsSignature) -> Pair {
    let ed = signer.chain_key.sign(namespace::MED, &message);
    Pair {
        bls_key: signer.vouching.public(),
        bls,
        ed_key: signer.chain_key.public_key(),
        ed,
        message,
    }
}

/// Decodes (and group-checks) a point or key the fixture made.
fn decode<T: DecodeExt<()>>(bytes: &[u8]) -> T {
    T::decode(Copying(bytes)).unwrap()
}

fn print_sizes(fixture: &Fixture) {
    let pairs = fixture.pairs.len();
    let aggregated = fixture.block.encode_size();
    let bls_each = pairs * BlsSignature::SIZE;
    let ed_each = pairs * ed25519::Signature::SIZE;
    // Without aggregation each release and batch carries its own signature instead of the one.
    let unaggregated = aggregated - BlsSignature::SIZE + bls_each;
    println!(
        "MED block of {} tx_mr in {HOSPITALS} batches: {pairs} signed pairs",
        fixture.releases.len()
    );
    println!(
        "signature bytes: one aggregate {} B | {pairs} BLS {bls_each} B | {pairs} ed25519 {ed_each} B",
        BlsSignature::SIZE
    );
    println!(
        "encoded Mblock: aggregated {aggregated} B | with {pairs} BLS signatures {unaggregated} B | with {pairs} ed25519 signatures {} B",
        aggregated - BlsSignature::SIZE + ed_each
    );
}

fn bench(c: &mut Criterion) {
    let fixture = fixture();
    verify_block(&fixture.chain_id, &fixture.block.body, &fixture.registry).unwrap();
    print_sizes(&fixture);
    let pairs = &fixture.pairs;

    let mut group = c.benchmark_group("mblock_1000_tx_mr");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(pairs.len() as u64));

    group.bench_function("bls_one_aggregate", |b| {
        b.iter(|| {
            verify_block(
                &fixture.chain_id,
                black_box(&fixture.block.body),
                &fixture.registry,
            )
            .unwrap()
        })
    });

    group.bench_function("bls_single_each", |b| {
        b.iter(|| {
            for (tx, key, signature) in &fixture.releases {
                assert!(verify_release(
                    &fixture.chain_id,
                    tx,
                    key,
                    black_box(signature)
                ));
            }
            for pair in &pairs[fixture.releases.len()..] {
                let key: bls12381::PublicKey = decode(&pair.bls_key.0);
                let signature: bls12381::Signature = decode(&pair.bls.0);
                assert!(key.verify(namespace::MED, &pair.message, black_box(&signature)));
            }
        })
    });

    group.bench_function("bls_batch_random_weights", |b| {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        b.iter(|| {
            let publics: Vec<<MinPk as Variant>::Public> =
                pairs.iter().map(|p| decode(&p.bls_key.0)).collect();
            let signatures: Vec<<MinPk as Variant>::Signature> =
                pairs.iter().map(|p| decode(&p.bls.0)).collect();
            let hms: Vec<_> = pairs
                .iter()
                .map(|p| hash_with_namespace::<MinPk>(MinPk::MESSAGE, namespace::MED, &p.message))
                .collect();
            MinPk::batch_verify(&mut rng, &publics, &hms, &signatures, &Sequential).unwrap()
        })
    });

    group.bench_function("ed25519_single_each", |b| {
        b.iter(|| {
            for pair in pairs {
                assert!(
                    pair.ed_key
                        .verify(namespace::MED, &pair.message, black_box(&pair.ed))
                );
            }
        })
    });

    group.bench_function("ed25519_batch", |b| {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        b.iter(|| {
            let entries: Vec<BatchEntry<'_, ed25519::PublicKey>> = pairs
                .iter()
                .map(|pair| BatchEntry {
                    namespace: namespace::MED,
                    message: &pair.message,
                    public_key: &pair.ed_key,
                    signature: &pair.ed,
                })
                .collect();
            assert!(ed25519::PublicKey::verify_batch(
                &mut rng,
                black_box(&entries),
                |_, entry| *entry,
                &Sequential
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
