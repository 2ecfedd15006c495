//! The fixed context the targets verify against, built once per process from constant seeds:
//! a four-validator chain and its light client, a taka PKG with a patient, a hospital and a
//! doctor, and a small zk circuit's keys. The seed-corpus generator
//! (`examples/seed_corpus.rs`) signs and proves with the same keys, so seed inputs pass
//! verification and the fuzzers start from the deep end of every check.

use ark_std::rand::{SeedableRng as _, rngs::StdRng};
use commonware_cryptography::Signer as _;
use medchain_api::HeaderView;
use medchain_client::LightClient;
use medchain_types::{
    Address, ChainId, Genesis, Hash32, Header, PrivateKey, ValidatorInfo, tx_root,
};
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;
use taka::{
    EntityKeys, HospitalEnrolment, Identity, Initiator, Licence, LicenceCheck, PatientEnrolment,
    PendingRegistration, Pkg, PublicParams, RevocationStatus, respond_enrolment,
};
use zk::{
    CircuitShape, EnrolmentWitness, PatientSecret, Predicate, Proof, ProvingKey, RecordOpening,
    Schema, Statement, VerifyingKey,
};

/// Seeds of the four validators' ed25519 keys.
pub const VALIDATOR_SEEDS: [u64; 4] = [100, 101, 102, 103];
/// Seed of the regulator's key.
pub const REGULATOR_SEED: u64 = 0;
/// Genesis time, unix milliseconds.
pub const GENESIS_TIME_MS: u64 = 1_700_000_000_000;

/// A chain the light client trusts, and the header certificates are checked against.
pub struct Chain {
    /// Chain id `medchain-fuzz`, four validators.
    pub genesis: Genesis,
    /// A light client trusting only `genesis`.
    pub light: LightClient,
    /// A height-1 header: what the `certificate` target's inputs must certify.
    pub header: Header,
    /// `header` as the API serves it.
    pub header_view: HeaderView,
}

/// The validators' signing keys, in [`VALIDATOR_SEEDS`] order.
pub fn validator_keys() -> Vec<PrivateKey> {
    VALIDATOR_SEEDS.map(PrivateKey::from_seed).to_vec()
}

/// The chain fixture.
pub fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let genesis = Genesis {
            chain_id: ChainId::new("medchain-fuzz").expect("valid chain id"),
            genesis_time_ms: GENESIS_TIME_MS,
            regulator: Address::from(PrivateKey::from_seed(REGULATOR_SEED).public_key()),
            validators: validator_keys()
                .iter()
                .enumerate()
                .map(|(i, key)| ValidatorInfo {
                    name: format!("node-{i}"),
                    public_key: Address::from(key.public_key()),
                })
                .collect(),
            tokens: None,
            med: None,
        };
        let light = LightClient::new(genesis.clone()).expect("the fixture genesis is valid");
        let block_zero = medchain_client::genesis_header(&genesis).expect("genesis header");
        let header = Header {
            height: 1,
            parent: block_zero.digest(),
            timestamp_ms: GENESIS_TIME_MS + 1_000,
            proposer: genesis.validators[0].public_key,
            tx_root: tx_root(&[]),
            state_root: block_zero.state_root,
            receipts_root: medchain_types::receipts_root(&[]),
            revocation_root: Hash32::from([0; 32]),
            med_checkpoint: Hash32::from([0; 32]),
        };
        Chain {
            header_view: HeaderView::from(&header),
            genesis,
            light,
            header,
        }
    })
}

/// Deterministic randomness for taka (rand_core 0.6).
pub fn taka_rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A taka deployment: PKG, a patient enrolled at a hospital, a doctor licensed by it.
pub struct Taka {
    /// The PKG (the seed generator registers and signs with it).
    pub pkg: Pkg,
    /// Its public parameters.
    pub params: PublicParams,
    /// Patient `patient-carol`.
    pub patient: EntityKeys,
    /// Hospital `hospital-a`.
    pub hospital: EntityKeys,
    /// Doctor `dr-bob`.
    pub doctor: EntityKeys,
    /// The doctor's licence from the hospital, valid forever.
    pub licence: Licence,
    /// The patient's side of its enrolment at the hospital.
    pub patient_enrolment: PatientEnrolment,
    /// The hospital's side of it: what checks share requests.
    pub hospital_enrolment: HospitalEnrolment,
}

impl Taka {
    /// The checks the hospital makes of the fixture's doctor: licensed by the fixture's
    /// hospital, not revoked, at time 0.
    pub fn licence_check(&self) -> LicenceCheck<'_> {
        LicenceCheck {
            expected_issuer: self.hospital.id(),
            revocation: RevocationStatus::NotRevoked,
            now: 0,
        }
    }
}

/// The message the fixture's taka signatures are over.
pub const TAKA_MESSAGE: &[u8] = b"medchain fuzz message";

/// The taka fixture.
pub fn taka() -> &'static Taka {
    static TAKA: OnceLock<Taka> = OnceLock::new();
    TAKA.get_or_init(|| {
        let mut rng = taka_rng(3);
        let pkg = Pkg::setup(&mut rng);
        let params = *pkg.params();
        let mut register = |name: &str| {
            let (pending, request) =
                PendingRegistration::new(Identity::new(name).expect("identity"), &mut rng);
            let response = pkg.register(&request, &mut rng);
            pending.complete(&params, response).expect("honest PKG")
        };
        let patient = register("patient-carol");
        let hospital = register("hospital-a");
        let doctor = register("dr-bob");
        let licence = Licence::issue(&hospital, &params, doctor.id().clone(), u64::MAX, &mut rng);
        let (state, hello) = Initiator::start_enrolment(&patient, hospital.id().clone(), &mut rng);
        let (reply, pending) =
            respond_enrolment(&hospital, &hello, &mut rng).expect("honest hello");
        let (_, patient_enrolment, confirmation) = state
            .finish_enrolment(&patient, &reply)
            .expect("honest reply");
        let (_, hospital_enrolment) = pending.confirm(&confirmation).expect("honest confirmation");
        Taka {
            pkg,
            params,
            patient,
            hospital,
            doctor,
            licence,
            patient_enrolment,
            hospital_enrolment,
        }
    })
}

/// Deterministic randomness for zk (arkworks' rand 0.8).
pub fn zk_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A small enrolment circuit (`age`, `ldl`; two clause slots, no none-of slot) and a statement
/// about one attested record under one predicate.
pub struct Zk {
    /// The attribute schema.
    pub schema: Schema,
    /// Its circuit shape.
    pub shape: CircuitShape,
    /// Proving key (the seed generator proves with it).
    pub proving_key: ProvingKey,
    /// Verifying key.
    pub verifying_key: VerifyingKey,
    /// The predicate `age >= 50 and ldl < 160`.
    pub predicate: Predicate,
    /// The committed record ([`ZK_RECORD`]) and its blinding.
    pub opening: RecordOpening,
    /// "An attested record satisfies the predicate" (accumulator of that one commitment).
    pub statement: Statement,
    /// A genuine proof of `statement`.
    pub proof: Proof,
}

/// The record the zk fixture commits to (it satisfies the predicate).
pub const ZK_RECORD: [(&str, &str); 2] = [("age", "52"), ("ldl", "131.5")];

/// The zk fixture.
pub fn zk() -> &'static Zk {
    static ZK: OnceLock<Zk> = OnceLock::new();
    ZK.get_or_init(|| {
        use zk::{Attribute, Encoding, FhirSource};
        let mut rng = zk_rng(4);
        let schema = Schema::new(
            "fuzz_v1",
            vec![
                Attribute::new("age", Encoding::Integer, FhirSource::None),
                Attribute::new(
                    "ldl",
                    Encoding::Quantity {
                        decimals: 1,
                        unit: "mg/dL".into(),
                    },
                    FhirSource::None,
                ),
            ],
        )
        .expect("schema");
        let shape = CircuitShape::new(schema.num_attributes(), 2, 0).expect("shape");
        let (proving_key, verifying_key) =
            zk::setup(&shape, &mut rng, &mut |_, _| {}).expect("setup");
        let predicate = Predicate::parse("age >= 50 and ldl < 160", &schema).expect("predicate");
        let record = schema.encode(&ZK_RECORD).expect("record");
        let secret = PatientSecret::from_seed(&[4; 32]);
        let opening =
            RecordOpening::random(&schema, record, secret.nullifier_key(), [5; 32], &mut rng)
                .expect("opening");
        let leaves = [opening.commit().expect("commitment")];
        let path = zk::membership_path(&leaves, 0).expect("path");
        let witness = EnrolmentWitness {
            opening: &opening,
            secret: &secret,
            path: &path,
        };
        let (statement, proof) = zk::prove(
            &proving_key,
            &witness,
            &predicate,
            zk::study_tag(&[1; 32]),
            zk::binding_of(&[2; 32]),
            &mut rng,
        )
        .expect("the fixture record satisfies the fixture predicate");
        Zk {
            schema,
            shape,
            proving_key,
            verifying_key,
            predicate,
            opening,
            statement,
            proof,
        }
    })
}
