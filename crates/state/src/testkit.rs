//! Test helpers (feature `testkit`): deterministic keys, payload builders, and a [`World`]
//! that executes and commits blocks on a [`MemoryStore`]. Test code only: helpers panic on
//! unexpected failures.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::{
    BlockEnv, BlockExecutor, ExecError, ExecutedBlock, MemoryStore, StateRead, StateReadExt,
    StateValue, genesis,
    keys::{self, StateKey, StateList},
    root_at,
};
use ark_std::rand::{SeedableRng, rngs::StdRng};
use commonware_cryptography::Signer;
use group::{Curve as _, Group as _};
use medchain_types::{
    AccessGrounds, BlsSignature, EmergencyId, EmergencyPayload, EntryBytes, G1Point, IdentityName,
    IdentityPayload, LicencePayload, RevocationPayload, Role, emergency,
};
use medchain_types::{
    AccessPayload, Address, ChainId, ConsentId, ConsentPayload, ContentHash, Event, Expiry,
    Genesis, Hash32, JoinEndorsement, OrgKind, OrgName, OrgState, Payload, PrivateKey, Purpose,
    RecordAttestation, RecordId, RecordPayload, RegistryPayload, TxBody, TxId, Uri, ValidatorInfo,
    VerifiedTransaction,
};
use medchain_types::{
    Allocation, FeeSchedule, StakingParams, TokenGenesis, TokenPayload,
    token::{Cosignature, LockTime, OutPoint, Payee, TransferAuthorization, TxOutput},
};
use medchain_types::{CandidateEndorsement, PeerAddress, StakePayload, evidence::Equivocation};
use medchain_types::{
    EnrolmentId, StudyId,
    research::{ResearchPayload, ZkBytes, enrolment_binding},
};

/// Seed of the regulator's key in [`genesis_document`].
pub const REGULATOR_SEED: u64 = 0;
/// Genesis time of [`genesis_document`].
pub const GENESIS_TIME_MS: u64 = 1_700_000_000_000;
/// Time between blocks in a [`World`].
pub const BLOCK_INTERVAL_MS: u64 = 1_000;

pub fn chain_id() -> ChainId {
    ChainId::new("medchain-test").unwrap()
}

pub fn key(seed: u64) -> PrivateKey {
    PrivateKey::from_seed(seed)
}

pub fn address(seed: u64) -> Address {
    Address::from(key(seed).public_key())
}

/// An arbitrary record id (not necessarily released).
pub fn record_id(n: u64) -> RecordId {
    RecordId(TxId::of_encoded(&n.to_be_bytes()).0)
}

pub fn org_name(name: &str) -> OrgName {
    OrgName::new(name).unwrap()
}

/// A genesis with the regulator `address(REGULATOR_SEED)` and one validator.
pub fn genesis_document() -> Genesis {
    Genesis {
        chain_id: chain_id(),
        genesis_time_ms: GENESIS_TIME_MS,
        regulator: address(REGULATOR_SEED),
        validators: vec![ValidatorInfo {
            name: "validator-0".into(),
            public_key: address(validator_seed(0)),
        }],
        tokens: None,
        med: None,
    }
}

/// Seed of the key [`token_genesis`] gives most of the supply, to fund others with
/// ([`World::fund`]).
pub const TREASURY_SEED: u64 = 900;
/// The treasury's balance in [`token_genesis`].
pub const TREASURY_BALANCE: u64 = 1_000_000_000_000;

/// [`genesis_document`] with tokens: a fee of 10 plus 1 per byte, a block reward of 100, half
/// the fees to the proposer, an access reward of 5 by default, epochs of 20 blocks; the
/// treasury ([`TREASURY_SEED`]) holds a large balance and two outputs, the regulator and the
/// validator a balance for fees. Tests change fields as they need (e.g. the epoch length).
pub fn token_genesis() -> Genesis {
    let funded = |address: Address, balance: u64, outputs: Vec<u64>| Allocation {
        address,
        balance,
        outputs,
        stake: 0,
    };
    Genesis {
        tokens: Some(TokenGenesis {
            fees: FeeSchedule {
                base: 10,
                per_byte: 1,
            },
            block_reward: 100,
            max_supply: 10_000_000_000_000,
            proposer_share_bps: 5_000,
            access_reward_default: ACCESS_REWARD_DEFAULT,
            staking: StakingParams {
                epoch_length: 20,
                max_validators: 4,
                min_validators: 1,
                min_stake: 100,
                unbonding_epochs: 2,
                slash_bps: 1_000,
            },
            allocations: vec![
                funded(
                    address(TREASURY_SEED),
                    TREASURY_BALANCE,
                    vec![500_000, 250_000],
                ),
                funded(address(REGULATOR_SEED), 1_000_000, vec![]),
                funded(address(validator_seed(0)), 1_000_000, vec![]),
            ],
        }),
        med: None,
        ..genesis_document()
    }
}

/// A transfer payload (see [`World::transfer`] to sign one with cosigners).
pub fn transfer(inputs: &[OutPoint], from_balance: u64, outputs: &[TxOutput]) -> Payload {
    Payload::Token(TokenPayload::Transfer {
        inputs: inputs.to_vec(),
        from_balance,
        outputs: outputs.to_vec(),
        cosignatures: vec![],
    })
}

/// A payment of `value` to `to`'s balance.
pub fn to_balance(value: u64, to: &Address) -> TxOutput {
    TxOutput {
        value,
        to: Payee::Balance(*to),
    }
}

/// `escrow.open` for `payee`, refereed by `arbiter`.
pub fn escrow_open(
    payee: &Address,
    arbiter: &Address,
    amount: u64,
    refund_after: LockTime,
) -> Payload {
    Payload::Token(TokenPayload::EscrowOpen {
        payee: *payee,
        arbiter: *arbiter,
        amount,
        refund_after,
    })
}

/// Seed of validator `i`'s key in [`genesis_with_validators`] (validator 0 is
/// [`genesis_document`]'s only validator).
pub fn validator_seed(i: u64) -> u64 {
    1_000 + i
}

/// What each validator of [`staked_genesis`] holds for its fees.
pub const VALIDATOR_FUNDS: u64 = 1_000_000;

/// [`token_genesis`] with one genesis validator per entry of `stakes` (keys from
/// [`validator_seed`]), each self-bonding its stake and holding [`VALIDATOR_FUNDS`] for fees
/// (e.g. reporting equivocation). Override `staking` (epoch length, seats) as needed.
pub fn staked_genesis(stakes: &[u64]) -> Genesis {
    let mut document = token_genesis();
    document.validators = genesis_with_validators(stakes.len() as u64).validators;
    let tokens = document.tokens.as_mut().unwrap();
    tokens
        .allocations
        .retain(|allocation| allocation.address != address(validator_seed(0)));
    tokens
        .allocations
        .extend(stakes.iter().enumerate().map(|(i, stake)| Allocation {
            address: address(validator_seed(i as u64)),
            balance: VALIDATOR_FUNDS,
            outputs: Vec::new(),
            stake: *stake,
        }));
    document
}

/// [`genesis_document`] with `count` validators, keys from [`validator_seed`].
pub fn genesis_with_validators(count: u64) -> Genesis {
    Genesis {
        validators: (0..count)
            .map(|i| ValidatorInfo {
                name: format!("validator-{i}"),
                public_key: address(validator_seed(i)),
            })
            .collect(),
        ..genesis_document()
    }
}

/// Someone with a key.
#[derive(Clone)]
pub struct Actor {
    pub key: PrivateKey,
    pub address: Address,
}

impl Actor {
    pub fn new(seed: u64) -> Self {
        let key = key(seed);
        let address = Address::from(key.public_key());
        Self { key, address }
    }

    /// Signs `payload` with `nonce` for `chain` and verifies it.
    pub fn sign_for(&self, chain: &ChainId, nonce: u64, payload: Payload) -> VerifiedTransaction {
        self.sign_with_fee_for(chain, nonce, 0, payload)
    }

    /// Signs `payload` with `nonce` and `fee` for `chain` and verifies it.
    pub fn sign_with_fee_for(
        &self,
        chain: &ChainId,
        nonce: u64,
        fee: u64,
        payload: Payload,
    ) -> VerifiedTransaction {
        TxBody {
            chain_id: chain.clone(),
            sender: self.address,
            nonce,
            valid_until_ms: u64::MAX,
            fee,
            payload,
        }
        .sign(&self.key)
        .unwrap()
        .verify(chain)
        .unwrap()
    }

    /// Signs `payload` with `nonce` and `fee` for the test chain.
    pub fn sign_with_fee(&self, nonce: u64, fee: u64, payload: Payload) -> VerifiedTransaction {
        self.sign_with_fee_for(&chain_id(), nonce, fee, payload)
    }

    /// Signs `payload` with `nonce` for the test chain.
    pub fn sign(&self, nonce: u64, payload: Payload) -> VerifiedTransaction {
        self.sign_for(&chain_id(), nonce, payload)
    }
}

pub fn register(name: &OrgName, kind: OrgKind) -> Payload {
    Payload::Registry(RegistryPayload::Register {
        name: name.clone(),
        kind,
    })
}

pub fn set_state(name: &OrgName, state: OrgState) -> Payload {
    Payload::Registry(RegistryPayload::SetState {
        name: name.clone(),
        state,
    })
}

/// `member` joins `name`, endorsed (signed) by `endorser`.
pub fn join(name: &OrgName, endorser: &Actor, member: &Actor) -> Payload {
    let endorsement = JoinEndorsement {
        chain_id: chain_id(),
        org: name.clone(),
        member: member.address,
    }
    .sign(&endorser.key);
    Payload::Registry(RegistryPayload::Join {
        name: name.clone(),
        endorser: endorser.address,
        endorsement,
    })
}

/// `doctor` releases `record_hash` about `patient`, with its attestation.
pub fn release(doctor: &Actor, patient: &Address, record_hash: &ContentHash) -> Payload {
    let attestation = RecordAttestation {
        chain_id: chain_id(),
        patient: *patient,
        record_hash: *record_hash,
    }
    .sign(&doctor.key);
    Payload::Record(RecordPayload::Release {
        patient: *patient,
        record_hash: *record_hash,
        attestation,
    })
}

pub fn store(record: &RecordId, blob_hash: &ContentHash, location: &str) -> Payload {
    Payload::Record(RecordPayload::Store {
        record: *record,
        blob_hash: *blob_hash,
        location: Uri::new(location).unwrap(),
    })
}

/// `patient` files the encrypted EMR entry `bytes` (S3-entry).
pub fn entry(bytes: &[u8]) -> Payload {
    Payload::Record(RecordPayload::Entry {
        entry: EntryBytes(bytes.to_vec()),
    })
}

pub fn grant(grantee: &Address, records: &[RecordId], purpose: Purpose, expiry: Expiry) -> Payload {
    Payload::Consent(ConsentPayload::Grant {
        grantee: *grantee,
        records: records.to_vec(),
        purpose,
        expiry,
        reward: None,
    })
}

pub fn revoke(consent: &ConsentId) -> Payload {
    Payload::Consent(ConsentPayload::Revoke { consent: *consent })
}

/// The access reward of [`token_genesis`]: what a consent asks unless the patient names
/// another, and the most [`request`] and [`serve`] agree to pay.
pub const ACCESS_REWARD_DEFAULT: u64 = 5;

/// A request paying at most the default reward ([`ACCESS_REWARD_DEFAULT`]).
pub fn request(record: &RecordId, purpose: Purpose) -> Payload {
    request_paying(record, purpose, ACCESS_REWARD_DEFAULT)
}

/// A request paying at most `max_reward`.
pub fn request_paying(record: &RecordId, purpose: Purpose, max_reward: u64) -> Payload {
    Payload::Access(AccessPayload::Request {
        record: *record,
        purpose,
        max_reward,
    })
}

// Staking (issue 11, S1-dpos).

/// `candidate` registers for the audited hospital `org`, endorsed by its member `endorser`,
/// dialled at `p2p`.
pub fn register_candidate(
    org: &OrgName,
    endorser: &Actor,
    candidate: &Actor,
    p2p: &str,
) -> Payload {
    let endorsement = CandidateEndorsement {
        chain_id: chain_id(),
        org: org.clone(),
        candidate: candidate.address,
    }
    .sign(&endorser.key);
    Payload::Stake(StakePayload::Register {
        org: org.clone(),
        p2p: PeerAddress::new(p2p).unwrap(),
        endorser: endorser.address,
        endorsement,
    })
}

pub fn delegate(candidate: &Address, amount: u64) -> Payload {
    Payload::Stake(StakePayload::Delegate {
        candidate: *candidate,
        amount,
    })
}

pub fn undelegate(candidate: &Address, amount: u64) -> Payload {
    Payload::Stake(StakePayload::Undelegate {
        candidate: *candidate,
        amount,
    })
}

pub fn withdraw(candidate: &Address) -> Payload {
    Payload::Stake(StakePayload::Withdraw {
        candidate: *candidate,
    })
}

pub fn report(evidence: Equivocation) -> Payload {
    Payload::Stake(StakePayload::Report { evidence })
}

/// Real equivocation evidence: `signer`, a member of `set` (the epoch's validator keys),
/// signs notarize votes for two different blocks in one round of `epoch`, under `namespace`
/// (a chain's consensus namespace, [`World::consensus_namespace`]).
pub fn double_notarize(
    namespace: &[u8],
    set: &[Address],
    signer: &PrivateKey,
    epoch: u64,
) -> Equivocation {
    use commonware_consensus::{
        simplex::types::{ConflictingNotarize, Notarize, Proposal},
        types::{Epoch, Round, View},
    };
    use commonware_cryptography::{Hasher as _, Sha256};
    let participants = commonware_utils::ordered::Set::from_iter_dedup(
        set.iter().map(|address| address.public_key().unwrap()),
    );
    let scheme = medchain_types::ConsensusScheme::signer(namespace, participants, signer.clone())
        .expect("the signer is in the set");
    let vote = |block: &[u8]| {
        let proposal = Proposal::new(
            Round::new(Epoch::new(epoch), View::new(7)),
            View::new(6),
            Sha256::hash(&[block]),
        );
        Notarize::sign(&scheme, proposal).unwrap()
    };
    Equivocation::Notarize(ConflictingNotarize::new(vote(b"block a"), vote(b"block b")))
}

// Identity, licences and the revocation list (issue 8).

/// A valid key part L_U1 for tests: (seed + 1)·G on BLS12-381 G1, never the identity. Real
/// key parts come from the threshold enrolment; the chain only checks the point.
pub fn key_part(seed: u64) -> G1Point {
    let scalar = blstrs::Scalar::from(seed) + blstrs::Scalar::from(1u64);
    G1Point(
        (blstrs::G1Projective::generator() * scalar)
            .to_affine()
            .to_compressed(),
    )
}

/// A key part derived from an address (for actors made without a seed at hand).
pub fn key_part_of(address: &Address) -> G1Point {
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&address.as_bytes()[..8]);
    key_part(u64::from_be_bytes(seed))
}

/// The doctor identity tests give an actor: `dr-` and the first 16 hex digits of its address.
pub fn doctor_identity(doctor: &Actor) -> IdentityName {
    IdentityName::new(format!(
        "dr-{}",
        &hex::encode(doctor.address.as_bytes())[..16]
    ))
    .unwrap()
}

pub fn enrol(identity: &IdentityName, role: Role, key_part: G1Point) -> Payload {
    Payload::Identity(IdentityPayload::Enrol {
        identity: identity.clone(),
        role,
        key_part,
    })
}

/// `patient` enrols as a patient under its pseudonym with the key part [`key_part_of`] it.
pub fn enrol_patient(patient: &Actor) -> Payload {
    enrol(
        &IdentityName::patient_pseudonym(&patient.address),
        Role::Patient,
        key_part_of(&patient.address),
    )
}

/// `actor` enrols as the doctor [`doctor_identity`] with the key part [`key_part_of`] it.
pub fn enrol_doctor(doctor: &Actor) -> Payload {
    enrol(
        &doctor_identity(doctor),
        Role::Doctor,
        key_part_of(&doctor.address),
    )
}

pub fn issue_licence(doctor: &IdentityName, expires_at_ms: u64) -> Payload {
    Payload::Licence(LicencePayload::Issue {
        doctor: doctor.clone(),
        expires_at_ms,
    })
}

pub fn renew_licence(doctor: &IdentityName, expires_at_ms: u64) -> Payload {
    Payload::Licence(LicencePayload::Renew {
        doctor: doctor.clone(),
        expires_at_ms,
    })
}

pub fn revoke_doctor(doctor: &IdentityName) -> Payload {
    Payload::Revocation(RevocationPayload::Add {
        doctor: doctor.clone(),
    })
}

pub fn lift_revocation(doctor: &IdentityName) -> Payload {
    Payload::Revocation(RevocationPayload::Remove {
        doctor: doctor.clone(),
    })
}

// EMR entries, vouching keys, emergencies and served access (issue 9).

/// `actor` registers the vouching key derived from its chain key, with its proof of
/// possession for the test chain.
pub fn set_vouching_key(actor: &Actor) -> Payload {
    let vouching = emergency::vouching_key_from(&actor.key);
    Payload::Identity(IdentityPayload::SetVouchingKey {
        key: vouching.public(),
        proof: vouching.proof_of_possession(&chain_id(), &actor.address),
    })
}

/// What an emergency request asks for; [`EmergencyAsk::signed_by`] vouches for it.
#[derive(Clone)]
pub struct EmergencyAsk {
    pub doctor: IdentityName,
    pub hospital: IdentityName,
    pub record: RecordId,
    pub hur: Hash32,
    pub issued_at_ms: u64,
}

impl EmergencyAsk {
    /// htxu for this request on the test chain.
    pub fn message(&self) -> Vec<u8> {
        emergency::emergency_message(
            &chain_id(),
            &self.doctor,
            &self.hospital,
            &self.record,
            &self.hur,
            self.issued_at_ms,
        )
    }

    /// The aggregate of `signers`' vouching signatures over [`Self::message`].
    pub fn vouch(&self, signers: &[&Actor]) -> BlsSignature {
        let message = self.message();
        let mut signatures = signers
            .iter()
            .map(|signer| emergency::vouching_key_from(&signer.key).sign(&message));
        let first = signatures.next().expect("at least one signer");
        signatures.fold(first, |sum, next| {
            emergency::aggregate(&sum, &next).expect("valid signatures")
        })
    }

    /// The request with `vouch`.
    pub fn with_vouch(&self, vouch: BlsSignature) -> Payload {
        Payload::Emergency(EmergencyPayload::Request {
            doctor: self.doctor.clone(),
            record: self.record,
            hur: self.hur,
            issued_at_ms: self.issued_at_ms,
            vouch,
        })
    }

    /// The request vouched by `signers`.
    pub fn signed_by(&self, signers: &[&Actor]) -> Payload {
        self.with_vouch(self.vouch(signers))
    }
}

/// A gateway serves `requester`'s request for `record` on `grounds`, paying at most the
/// default reward ([`ACCESS_REWARD_DEFAULT`]).
pub fn serve(
    requester: &Address,
    record: &RecordId,
    purpose: Purpose,
    grounds: AccessGrounds,
) -> Payload {
    Payload::Access(AccessPayload::Serve {
        requester: *requester,
        record: *record,
        purpose,
        grounds,
        max_reward: ACCESS_REWARD_DEFAULT,
    })
}

/// The hospital identity of an organisation in tests: an actor with a key derived from the
/// organisation's name, who joins it and enrols as its hospital, then licenses its doctors.
#[derive(Clone)]
pub struct HospitalDesk {
    pub actor: Actor,
    pub identity: IdentityName,
}

impl HospitalDesk {
    pub fn of(org: &OrgName) -> Self {
        let digest = ContentHash::of(format!("hospital desk {org}").as_bytes());
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest.as_bytes()[..8]);
        let identity = format!("hospital@{}", org.as_str().to_lowercase().replace(' ', "-"));
        Self {
            actor: Actor::new(u64::from_be_bytes(seed)),
            identity: IdentityName::new(identity).unwrap(),
        }
    }

    /// The desk's own transactions, in order: join `org` endorsed by its `member`, enrol as
    /// its hospital.
    pub fn opening(&self, org: &OrgName, member: &Actor) -> [Payload; 2] {
        [
            join(org, member, &self.actor),
            enrol(
                &self.identity,
                Role::Hospital,
                key_part_of(&self.actor.address),
            ),
        ]
    }

    /// Everything that makes `doctor`, a member of the audited hospital `org`, a licensed
    /// doctor when the desk is not open yet: [`Self::opening`] (endorsed by `doctor`), then
    /// [`Self::licensing`], each with its signer, in order.
    pub fn steps(&self, org: &OrgName, doctor: &Actor) -> Vec<(Actor, Payload)> {
        self.opening(org, doctor)
            .into_iter()
            .map(|payload| (self.actor.clone(), payload))
            .chain(self.licensing(doctor))
            .collect()
    }

    /// Licensing `doctor`, a member of the desk's organisation, in order: the doctor enrols
    /// (signed by the doctor), the desk licenses it with no practical expiry (signed by the
    /// desk).
    pub fn licensing(&self, doctor: &Actor) -> [(Actor, Payload); 2] {
        [
            (doctor.clone(), enrol_doctor(doctor)),
            (
                self.actor.clone(),
                issue_licence(&doctor_identity(doctor), u64::MAX),
            ),
        ]
    }
}

/// A hospital with its desk and one enrolled doctor (see [`World::staffed_hospital`]).
pub struct Staff {
    pub hospital: Actor,
    pub hospital_name: IdentityName,
    pub doctor: Actor,
    pub doctor_name: IdentityName,
}

/// A chain in memory: genesis committed, then one committed block per `run`/`commit_block`.
pub struct World {
    pub store: MemoryStore,
    pub regulator: Actor,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> Self {
        Self::with_genesis(&genesis_document())
    }

    /// A world started from `document`.
    pub fn with_genesis(document: &Genesis) -> Self {
        let mut store = MemoryStore::new();
        store.commit(&genesis(document).unwrap()).unwrap();
        Self {
            store,
            regulator: Actor::new(REGULATOR_SEED),
        }
    }

    /// Height of the last committed block.
    pub fn height(&self) -> u64 {
        self.store.height().unwrap()
    }

    /// Timestamp of the last committed block.
    pub fn timestamp_ms(&self) -> u64 {
        self.store
            .value(&keys::block_info())
            .unwrap()
            .unwrap()
            .timestamp_ms
    }

    /// The block the next `run` executes in.
    pub fn next_env(&self) -> BlockEnv {
        BlockEnv {
            height: self.height() + 1,
            timestamp_ms: self.timestamp_ms() + BLOCK_INTERVAL_MS,
        }
    }

    pub fn root(&self) -> Hash32 {
        root_at(&self.store, self.height()).unwrap()
    }

    pub fn value<V: StateValue>(&self, key: &StateKey<V>) -> Option<V> {
        self.store.value(key).unwrap()
    }

    /// Every entry of `list`, in order.
    pub fn list<E: StateValue>(&self, list: &StateList<E>) -> Vec<E> {
        let length = list
            .find_length(|seq| {
                self.store
                    .get(list.entry(seq).as_bytes())
                    .map(|v| v.is_some())
            })
            .unwrap();
        (0..length)
            .map(|seq| self.value(&list.entry(seq)).expect("listed entry exists"))
            .collect()
    }

    /// The committed nonce of `actor`.
    pub fn nonce(&self, actor: &Actor) -> u64 {
        self.value(&keys::account(&actor.address))
            .map_or(0, |a| a.nonce)
    }

    /// `payload` signed by `actor` with its committed nonce (and, on a chain with tokens, the
    /// least fee it may pay).
    pub fn tx(&self, actor: &Actor, payload: Payload) -> VerifiedTransaction {
        self.tx_at(actor, 0, payload)
    }

    /// `payload` signed by `actor` with its committed nonce plus `offset` (for several
    /// transactions of one sender in a block), paying the least fee.
    pub fn tx_at(&self, actor: &Actor, offset: u64, payload: Payload) -> VerifiedTransaction {
        let nonce = self.nonce(actor) + offset;
        let fee = self.min_fee(&actor.sign(nonce, payload.clone()));
        actor.sign_with_fee(nonce, fee, payload)
    }

    /// The fee schedule (free without tokens).
    pub fn fees(&self) -> FeeSchedule {
        self.value(&keys::token_config())
            .map_or(FeeSchedule::FREE, |config| config.fees)
    }

    /// The least fee `tx` may pay. A transaction's size does not depend on its fee, its
    /// amounts or its signatures' contents, so a draft signed with any of them gives it.
    pub fn min_fee(&self, tx: &VerifiedTransaction) -> u64 {
        crate::token::min_fee(&self.fees(), tx.tx())
    }

    /// A transfer by `sender` paying `fee`, cosigned by `cosigners` (each signs the
    /// authorisation of exactly this transaction).
    pub fn transfer_with_fee(
        &self,
        sender: &Actor,
        (inputs, from_balance, outputs): (&[OutPoint], u64, &[TxOutput]),
        cosigners: &[&Actor],
        fee: u64,
    ) -> VerifiedTransaction {
        let nonce = self.nonce(sender);
        let authorization = TransferAuthorization {
            chain_id: chain_id(),
            sender: sender.address,
            nonce,
            fee,
            // The deadline `sign_with_fee` gives the transaction.
            valid_until_ms: u64::MAX,
            inputs: inputs.to_vec(),
            from_balance,
            outputs: outputs.to_vec(),
        };
        let cosignatures: Vec<Cosignature> = cosigners
            .iter()
            .map(|cosigner| authorization.sign(&cosigner.key))
            .collect();
        let payload = Payload::Token(TokenPayload::Transfer {
            inputs: inputs.to_vec(),
            from_balance,
            outputs: outputs.to_vec(),
            cosignatures,
        });
        sender.sign_with_fee(nonce, fee, payload)
    }

    /// The least fee of a transfer of this shape (amounts do not change its size).
    pub fn transfer_fee(
        &self,
        sender: &Actor,
        transfer: (&[OutPoint], u64, &[TxOutput]),
        cosigners: &[&Actor],
    ) -> u64 {
        self.min_fee(&self.transfer_with_fee(sender, transfer, cosigners, 0))
    }

    /// The balance of `address`.
    pub fn balance(&self, address: &Address) -> u64 {
        self.value(&keys::account(address))
            .map_or(0, |account| account.balance)
    }

    /// The treasury of [`token_genesis`].
    pub fn treasury(&self) -> Actor {
        Actor::new(TREASURY_SEED)
    }

    /// The treasury pays `amount` into `to`'s balance (its own block); on a [`token_genesis`]
    /// chain.
    pub fn fund(&mut self, to: &Address, amount: u64) {
        let treasury = self.treasury();
        let outputs = [to_balance(amount, to)];
        let fee = self.transfer_fee(&treasury, (&[], amount, &outputs), &[]);
        let tx = self.transfer_with_fee(&treasury, (&[], amount + fee, &outputs), &[], fee);
        self.run_tx(&tx).unwrap();
    }

    /// The proposer of the blocks this world builds: the genesis validator.
    pub fn proposer(&self) -> Address {
        address(validator_seed(0))
    }

    /// Executes `txs` as the next block without committing; returns each result and the block.
    pub fn execute(
        &self,
        txs: &[VerifiedTransaction],
    ) -> (Vec<Result<Vec<Event>, ExecError>>, ExecutedBlock) {
        self.execute_by(&self.proposer(), txs)
    }

    /// Executes `txs` as the next block proposed by `proposer`, without committing.
    pub fn execute_by(
        &self,
        proposer: &Address,
        txs: &[VerifiedTransaction],
    ) -> (Vec<Result<Vec<Event>, ExecError>>, ExecutedBlock) {
        let mut executor = BlockExecutor::new(&self.store, self.next_env()).unwrap();
        let results = txs.iter().map(|tx| executor.apply(tx)).collect();
        (results, executor.finish(*proposer).unwrap())
    }

    /// Executes and commits `txs` as the next block; every transaction must succeed.
    pub fn commit_block(&mut self, txs: &[VerifiedTransaction]) -> ExecutedBlock {
        let (results, block) = self.execute(txs);
        for (tx, result) in txs.iter().zip(results) {
            if let Err(e) = result {
                panic!("{} failed: {e}", tx.body().payload.kind());
            }
        }
        self.store.commit(&block).unwrap();
        block
    }

    /// Commits an empty block `ms` milliseconds after the last one (for rules that count time).
    pub fn advance_time(&mut self, ms: u64) {
        let env = BlockEnv {
            height: self.height() + 1,
            timestamp_ms: self.timestamp_ms() + ms,
        };
        let block = BlockExecutor::new(&self.store, env)
            .unwrap()
            .finish(self.proposer())
            .unwrap();
        self.store.commit(&block).unwrap();
    }

    /// Runs one transaction in its own block and commits it (the block is empty if it fails).
    pub fn run_tx(&mut self, tx: &VerifiedTransaction) -> Result<Vec<Event>, ExecError> {
        let (mut results, block) = self.execute(std::slice::from_ref(tx));
        self.store.commit(&block).unwrap();
        results.remove(0)
    }

    /// Runs `payload` from `actor` (committed nonce) in its own block.
    pub fn run(&mut self, actor: &Actor, payload: Payload) -> Result<Vec<Event>, ExecError> {
        let tx = self.tx(actor, payload);
        self.run_tx(&tx)
    }

    /// Asserts that `payload` from `actor` is rejected with an error `expected` accepts, and
    /// that the block carrying it writes exactly what an empty block writes (same root, same
    /// values: not even the nonce moved). Nothing is committed.
    pub fn assert_rejected(
        &mut self,
        actor: &Actor,
        payload: Payload,
        expected: impl Fn(&ExecError) -> bool,
    ) {
        let tx = self.tx(actor, payload);
        self.assert_tx_rejected(&tx, expected);
    }

    /// [`Self::assert_rejected`] for a transaction signed already.
    pub fn assert_tx_rejected(
        &mut self,
        tx: &VerifiedTransaction,
        expected: impl Fn(&ExecError) -> bool,
    ) {
        let kind = tx.body().payload.kind();
        let (results, with_tx) = self.execute(std::slice::from_ref(tx));
        match &results[0] {
            Err(error) => assert!(expected(error), "{kind}: unexpected error {error:?}"),
            Ok(events) => panic!("{kind} succeeded: {events:?}"),
        }
        let (_, empty) = self.execute(&[]);
        assert_eq!(
            with_tx.writes, empty.writes,
            "{kind}: a rejected tx wrote state"
        );
        assert_eq!(
            with_tx.state_root, empty.state_root,
            "{kind}: a rejected tx moved the root"
        );
        assert!(with_tx.events.is_empty());
    }

    /// Registers `name` with `founder` and has the regulator audit it.
    pub fn audited_org(&mut self, founder: &Actor, name: &OrgName, kind: OrgKind) {
        self.run(founder, register(name, kind)).unwrap();
        let regulator = self.regulator.clone();
        self.run(&regulator, set_state(name, OrgState::Audited))
            .unwrap();
    }

    /// Makes `doctor`, a member of the audited hospital `org`, a licensed doctor: the org's
    /// [`HospitalDesk`] joins (endorsed by `doctor`) and enrols unless it did already, the
    /// doctor enrols, the desk licenses it. One block per transaction.
    pub fn license(&mut self, org: &OrgName, doctor: &Actor) {
        let desk = HospitalDesk::of(org);
        let opened = self
            .value(&keys::identity_of(&desk.actor.address))
            .is_some();
        let steps = if opened {
            desk.licensing(doctor).to_vec()
        } else {
            desk.steps(org, doctor)
        };
        for (actor, payload) in steps {
            self.run(&actor, payload).unwrap();
        }
    }

    /// The audited hospital `org` founded by `doctor`, who is licensed there ([`Self::license`]):
    /// what releasing a record needs.
    pub fn licensed_hospital(&mut self, doctor: &Actor, org: &OrgName) {
        self.audited_org(doctor, org, OrgKind::Hospital);
        self.license(org, doctor);
    }

    /// The audited hospital `org` founded by `Actor::new(seed)`, who enrols as a doctor (not
    /// licensed), with its [`HospitalDesk`] enrolled.
    pub fn staffed_hospital(&mut self, org: &OrgName, seed: u64) -> Staff {
        let doctor = Actor::new(seed);
        self.audited_org(&doctor, org, OrgKind::Hospital);
        let desk = HospitalDesk::of(org);
        for payload in desk.opening(org, &doctor) {
            self.run(&desk.actor, payload).unwrap();
        }
        self.run(&doctor, enrol_doctor(&doctor)).unwrap();
        Staff {
            hospital: desk.actor,
            hospital_name: desk.identity,
            doctor_name: doctor_identity(&doctor),
            doctor,
        }
    }

    /// `doctor` releases a record with content `content` about `patient`; returns its id.
    pub fn released(&mut self, doctor: &Actor, patient: &Actor, content: &[u8]) -> RecordId {
        let tx = self.tx(
            doctor,
            release(doctor, &patient.address, &ContentHash::of(content)),
        );
        self.run_tx(&tx).unwrap();
        RecordId::from(tx.id())
    }

    /// `patient` grants `grantee` treatment access to `record` until `expiry`; returns the
    /// consent id.
    pub fn granted(
        &mut self,
        patient: &Actor,
        grantee: &Actor,
        record: RecordId,
        expiry: Expiry,
    ) -> ConsentId {
        let tx = self.tx(
            patient,
            grant(&grantee.address, &[record], Purpose::Treatment, expiry),
        );
        self.run_tx(&tx).unwrap();
        ConsentId::from(tx.id())
    }
}

/// Staking helpers (issue 11).
impl World {
    /// The namespace this chain's consensus votes are signed under (for evidence).
    pub fn consensus_namespace(&self) -> Vec<u8> {
        let chain = self.value(&keys::chain_config()).unwrap();
        commonware_utils::union(
            medchain_types::namespace::CONSENSUS,
            chain.genesis_digest.as_ref(),
        )
    }

    /// The keys of `vset/<epoch>`, sorted.
    pub fn validator_keys(&self, epoch: u64) -> Vec<Address> {
        self.value(&keys::validator_set(epoch))
            .expect("the epoch has a set")
            .validators
            .iter()
            .map(|entry| entry.key)
            .collect()
    }

    /// Commits empty blocks until the last committed height is `height`.
    pub fn advance_to(&mut self, height: u64) {
        while self.height() < height {
            self.advance_time(BLOCK_INTERVAL_MS);
        }
    }
}

/// What [`Cast::with_genesis`] gives each party on a chain with tokens.
pub const CAST_FUNDS: u64 = 1_000_000;

/// The cast of a sharing scenario (S1-sharing): `doctor`, licensed at the audited hospital
/// "Seoul General" (whose [`HospitalDesk`] is a member too), `grantee` at the audited hospital
/// "Busan Clinic", and a `patient` with no organisation.
pub struct Cast {
    pub world: World,
    pub doctor: Actor,
    pub grantee: Actor,
    pub patient: Actor,
}

impl Cast {
    pub fn new() -> Self {
        Self::with_genesis(&genesis_document())
    }

    /// The cast on a chain started from `document`; with tokens, the treasury first funds
    /// everyone who will send a transaction (the cast and both hospitals' desks).
    pub fn with_genesis(document: &Genesis) -> Self {
        let mut world = World::with_genesis(document);
        if document.tokens.is_some() {
            let desks = ["Seoul General", "Busan Clinic"]
                .map(|org| HospitalDesk::of(&org_name(org)).actor.address);
            for seed in [1, 2, 50] {
                world.fund(&address(seed), CAST_FUNDS);
            }
            for desk in desks {
                world.fund(&desk, CAST_FUNDS);
            }
        }
        let doctor = Actor::new(1);
        world.licensed_hospital(&doctor, &org_name("Seoul General"));
        let grantee = Actor::new(2);
        world.audited_org(&grantee, &org_name("Busan Clinic"), OrgKind::Hospital);
        Self {
            world,
            doctor,
            grantee,
            patient: Actor::new(50),
        }
    }
}

impl Default for Cast {
    fn default() -> Self {
        Self::new()
    }
}

/// The cast of a sharing or emergency scenario (S3-share, S3-emergency): a [`Cast`] whose
/// `seoul_doctor` released a `record` of `patient` at Seoul General (whose desk, `holder`, is
/// the gateway that serves it), and whose grantee, licensed at Busan Clinic, is the treating
/// `doctor`, with Busan's `desk` filing its emergencies.
pub struct Sharing {
    pub world: World,
    pub patient: Actor,
    pub record: RecordId,
    pub seoul_doctor: Actor,
    pub holder: HospitalDesk,
    pub doctor: Actor,
    pub desk: HospitalDesk,
}

impl Sharing {
    pub fn new() -> Self {
        Self::with_genesis(&genesis_document())
    }

    /// The scenario on a chain started from `document` (see [`Cast::with_genesis`]).
    pub fn with_genesis(document: &Genesis) -> Self {
        let Cast {
            mut world,
            doctor: seoul_doctor,
            grantee: doctor,
            patient,
        } = Cast::with_genesis(document);
        let record = world.released(&seoul_doctor, &patient, b"EMR");
        let busan = org_name("Busan Clinic");
        world.license(&busan, &doctor);
        Self {
            world,
            patient,
            record,
            seoul_doctor,
            holder: HospitalDesk::of(&org_name("Seoul General")),
            doctor,
            desk: HospitalDesk::of(&busan),
        }
    }

    /// The patient consents to `grantee`'s treatment access to the record (until height
    /// 1,000); returns the consent id.
    pub fn consent_for(&mut self, grantee: &Actor) -> ConsentId {
        let patient = self.patient.clone();
        self.world
            .granted(&patient, grantee, self.record, Expiry::AtHeight(1_000))
    }

    /// Registers the vouching keys of `parties` that have none yet.
    pub fn vouching_keys(&mut self, parties: &[&Actor]) {
        for party in parties {
            if self
                .world
                .value(&keys::vouching_key(&party.address))
                .is_none()
            {
                self.world.run(party, set_vouching_key(party)).unwrap();
            }
        }
    }

    /// `doctor`'s emergency request for `record`, filed by Busan, issued at the next block's
    /// time.
    pub fn ask(&self, doctor: &Actor, record: RecordId) -> EmergencyAsk {
        EmergencyAsk {
            doctor: doctor_identity(doctor),
            hospital: self.desk.identity.clone(),
            record,
            hur: ContentHash::of(b"h_ur").0,
            issued_at_ms: self.world.next_env().timestamp_ms,
        }
    }

    /// Busan files `doctor`'s emergency request for `record`, vouched by both (registering
    /// their vouching keys first if needed); returns its id.
    pub fn file_emergency(&mut self, doctor: &Actor, record: RecordId) -> EmergencyId {
        let desk = self.desk.actor.clone();
        self.vouching_keys(&[doctor, &desk]);
        let payload = self.ask(doctor, record).signed_by(&[doctor, &desk]);
        let tx = self.world.tx(&desk, payload);
        self.world.run_tx(&tx).unwrap();
        EmergencyId::from(tx.id())
    }
}

impl Default for Sharing {
    fn default() -> Self {
        Self::new()
    }
}

// Research market (issue 12, S4-flow, S4-exclusive).

/// The regulator registers a circuit's verifying key (bytes of `zk::VerifyingKey::to_bytes`).
pub fn register_circuit(verifying_key: &[u8]) -> Payload {
    Payload::Research(ResearchPayload::RegisterCircuit {
        schema: "clinical_v1".into(),
        verifying_key: ZkBytes(verifying_key.to_vec()),
        proving_key_digest: ContentHash::of(b"proving key file").0,
    })
}

/// A patient files its nullifier key.
pub fn nullifier_key(key: [u8; 32]) -> Payload {
    Payload::Research(ResearchPayload::NullifierKey {
        key: Hash32::from(key),
    })
}

/// A hospital attests `commitment` for `record`.
pub fn attest(record: &RecordId, commitment: [u8; 32]) -> Payload {
    Payload::Research(ResearchPayload::Attest {
        record: *record,
        commitment: Hash32::from(commitment),
    })
}

/// A cloud member registers as a proxy (an arbitrary encryption key: the chain only keeps it).
pub fn register_proxy(proxy: &Actor) -> Payload {
    Payload::Research(ResearchPayload::RegisterProxy {
        encryption_key: ContentHash::of(proxy.address.as_bytes()).0,
        url: Uri::new("http://127.0.0.1:9100").unwrap(),
    })
}

/// The terms of a study to publish; [`StudyDraft::new`] fills the rest with workable values.
#[derive(Clone, Debug)]
pub struct StudyDraft {
    pub title: String,
    pub purpose: Purpose,
    pub circuit: Hash32,
    pub predicate: Vec<u8>,
    pub reward: u64,
    pub max_participants: u32,
    pub deadline_ms: u64,
    pub dispute_window_ms: u64,
    pub exclusive: bool,
    pub proxies: Vec<Address>,
    pub threshold: u8,
}

/// A valid-looking compressed secp256k1 point (the chain only keeps Umbral keys).
pub fn umbral_key(tag: u8) -> ZkBytes {
    let mut key = vec![0x02];
    key.extend_from_slice(ContentHash::of(&[tag]).as_bytes());
    ZkBytes(key)
}

impl StudyDraft {
    /// A non-exclusive research study on `circuit` with `predicate`, 2-of-`proxies`, a reward
    /// of 1 000 for up to 10 participants, closing `deadline_ms`, with a dispute window of
    /// [`DISPUTE_WINDOW_MS`].
    pub fn new(circuit: Hash32, predicate: Vec<u8>, proxies: &[Address], deadline_ms: u64) -> Self {
        Self {
            title: "HbA1c outcomes".into(),
            purpose: Purpose::Research,
            circuit,
            predicate,
            reward: 1_000,
            max_participants: 10,
            deadline_ms,
            dispute_window_ms: DISPUTE_WINDOW_MS,
            exclusive: false,
            proxies: proxies.to_vec(),
            threshold: 2.min(proxies.len() as u8),
        }
    }

    pub fn payload(&self) -> Payload {
        Payload::Research(ResearchPayload::Publish {
            title: self.title.clone(),
            purpose: self.purpose,
            circuit: self.circuit,
            predicate: ZkBytes(self.predicate.clone()),
            reward: self.reward,
            max_participants: self.max_participants,
            deadline_ms: self.deadline_ms,
            dispute_window_ms: self.dispute_window_ms,
            exclusive: self.exclusive,
            researcher_key: umbral_key(0),
            proxies: self.proxies.clone(),
            threshold: self.threshold,
        })
    }
}

pub fn fund_study(study: &StudyId, amount: u64) -> Payload {
    Payload::Research(ResearchPayload::Fund {
        study: *study,
        amount,
    })
}

pub fn reencrypted(enrolment: &EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Reencrypted {
        enrolment: *enrolment,
    })
}

pub fn refund_study(study: &StudyId) -> Payload {
    Payload::Research(ResearchPayload::Refund { study: *study })
}

/// [`StudyDraft::new`]'s dispute window: one minute after the deadline.
pub const DISPUTE_WINDOW_MS: u64 = 60_000;

pub fn acknowledge(enrolment: &EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Acknowledge {
        enrolment: *enrolment,
    })
}

pub fn dispute(enrolment: &EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Dispute {
        enrolment: *enrolment,
    })
}

pub fn resolve(enrolment: &EnrolmentId, pay: bool) -> Payload {
    Payload::Research(ResearchPayload::Resolve {
        enrolment: *enrolment,
        pay,
    })
}

pub fn claim(enrolment: &EnrolmentId) -> Payload {
    Payload::Research(ResearchPayload::Claim {
        enrolment: *enrolment,
    })
}

/// What tests give the research parties on a chain with tokens.
pub const MARKET_FUNDS: u64 = 10_000_000;

/// A research market on top of a [`Cast`]: its licensed `doctor` at Seoul General (whose
/// [`HospitalDesk`] attests), its `patient` enrolled as a patient identity, a `researcher`
/// founding the audited research organisation "Yonsei Research", and three `proxies` of the
/// audited cloud organisation "Cloud One", registered as proxies. No circuit yet.
pub struct Market {
    pub world: World,
    pub doctor: Actor,
    pub desk: HospitalDesk,
    pub patient: Actor,
    pub researcher: Actor,
    pub proxies: Vec<Actor>,
}

impl Market {
    /// The market on a chain started from `document`; with tokens, everyone who sends is funded.
    pub fn with_genesis(document: &Genesis) -> Self {
        let Cast {
            world,
            doctor,
            patient,
            ..
        } = Cast::with_genesis(document);
        Self::open(world, doctor, patient)
    }

    /// The market on `world`, where `doctor` is licensed at the audited Seoul General (its desk
    /// enrolled) and `patient` is not enrolled yet; on a chain with tokens, the doctor, the
    /// desk and the patient hold funds already and the new parties are funded here.
    pub fn open(mut world: World, doctor: Actor, patient: Actor) -> Self {
        let researcher = Actor::new(600);
        let proxies: Vec<Actor> = (601..604).map(Actor::new).collect();
        if world.value(&keys::token_config()).is_some() {
            for party in std::iter::once(&researcher).chain(&proxies) {
                world.fund(&party.address, MARKET_FUNDS);
            }
        }
        world.run(&patient, enrol_patient(&patient)).unwrap();
        world.audited_org(&researcher, &org_name("Yonsei Research"), OrgKind::Research);
        let cloud = org_name("Cloud One");
        world.audited_org(&proxies[0], &cloud, OrgKind::Cloud);
        for proxy in &proxies[1..] {
            world.run(proxy, join(&cloud, &proxies[0], proxy)).unwrap();
        }
        for proxy in &proxies {
            world.run(proxy, register_proxy(proxy)).unwrap();
        }
        Self {
            world,
            doctor,
            desk: HospitalDesk::of(&org_name("Seoul General")),
            patient,
            researcher,
            proxies,
        }
    }

    /// [`Self::with_genesis`] with the circuit of [`zk_keys`] registered; returns its id too.
    pub fn with_circuit(document: &Genesis) -> (Self, Hash32) {
        let mut market = Self::with_genesis(document);
        let circuit = market.register_circuit(&zk_keys().vk.to_bytes());
        (market, circuit)
    }

    /// A study on `circuit` asking `text` (parsed against [`zk_keys`]' schema), closing in an
    /// hour.
    pub fn draft(&self, circuit: Hash32, text: &str) -> StudyDraft {
        StudyDraft::new(
            circuit,
            predicate(text).to_bytes(),
            &self.proxy_addresses(),
            self.world.timestamp_ms() + 3_600_000,
        )
    }

    /// Publishes a study asking [`ELIGIBLE`], exclusive or not, and funds it with 5 000.
    pub fn funded_study(&mut self, circuit: Hash32, exclusive: bool) -> StudyId {
        let mut terms = self.draft(circuit, ELIGIBLE);
        terms.exclusive = exclusive;
        let study = self.publish(&terms);
        self.fund(&study, 5_000);
        study
    }

    /// The proxies' addresses.
    pub fn proxy_addresses(&self) -> Vec<Address> {
        self.proxies.iter().map(|proxy| proxy.address).collect()
    }

    /// The regulator registers `verifying_key`; returns the circuit id (its digest, from the
    /// event).
    pub fn register_circuit(&mut self, verifying_key: &[u8]) -> Hash32 {
        let regulator = self.world.regulator.clone();
        match self
            .world
            .run(&regulator, register_circuit(verifying_key))
            .unwrap()
            .as_slice()
        {
            [Event::CircuitRegistered { circuit }] => *circuit,
            other => panic!("unexpected events {other:?}"),
        }
    }

    /// The researcher publishes `draft`; returns the study id.
    pub fn publish(&mut self, draft: &StudyDraft) -> StudyId {
        let researcher = self.researcher.clone();
        let tx = self.world.tx(&researcher, draft.payload());
        self.world.run_tx(&tx).unwrap();
        StudyId::from(tx.id())
    }

    /// The researcher adds `amount` to the study's pool.
    pub fn fund(&mut self, study: &StudyId, amount: u64) {
        let researcher = self.researcher.clone();
        self.world
            .run(&researcher, fund_study(study, amount))
            .unwrap();
    }

    /// The doctor releases a record of the patient with content `content`.
    pub fn release(&mut self, content: &[u8]) -> RecordId {
        let (doctor, patient) = (self.doctor.clone(), self.patient.clone());
        self.world.released(&doctor, &patient, content)
    }

    /// The hospital desk attests `commitment` for `record`; returns the leaf index.
    pub fn attest(&mut self, record: &RecordId, commitment: [u8; 32]) -> u64 {
        let desk = self.desk.actor.clone();
        match self
            .world
            .run(&desk, attest(record, commitment))
            .unwrap()
            .as_slice()
        {
            [Event::RecordAttested { leaf, .. }] => *leaf,
            other => panic!("unexpected events {other:?}"),
        }
    }

    /// Every attested commitment, in leaf order.
    pub fn attested_commitments(&self) -> Vec<[u8; 32]> {
        self.world
            .list(&keys::attested_commitments())
            .into_iter()
            .map(|commitment| {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(commitment.as_ref());
                bytes
            })
            .collect()
    }
}

/// One key pair per test binary for the research tests: `clinical_v1` records, 2 clause slots,
/// 1 exclusion slot, from a fixed seed (set up on first use: seconds).
pub struct ZkKeys {
    pub schema: zk::Schema,
    pub pk: zk::ProvingKey,
    pub vk: zk::VerifyingKey,
}

pub fn zk_keys() -> &'static ZkKeys {
    static KEYS: std::sync::OnceLock<ZkKeys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let schema = zk::Schema::clinical_v1();
        let shape = zk::CircuitShape::new(schema.num_attributes(), 2, 1).unwrap();
        let mut rng = StdRng::seed_from_u64(12);
        let (pk, vk) = zk::setup(&shape, &mut rng, &mut |_, _| {}).unwrap();
        ZkKeys { schema, pk, vk }
    })
}

/// `text` parsed against [`zk_keys`]' schema.
pub fn predicate(text: &str) -> zk::Predicate {
    zk::Predicate::parse(text, &zk_keys().schema).unwrap()
}

/// The predicate [`Market::funded_study`] asks: the records of [`ResearchPatient::another`]
/// satisfy it.
pub const ELIGIBLE: &str = "age >= 40 and hba1c >= 6.5";

/// A patient with one record released at Seoul General, its commitment attested, and the
/// secret and opening it proves with.
pub struct ResearchPatient {
    pub actor: Actor,
    pub secret: zk::PatientSecret,
    pub opening: zk::RecordOpening,
    pub record: RecordId,
    pub leaf: u64,
}

impl ResearchPatient {
    /// The market's patient (enrolled already) with a record of `age` and `hba1c`.
    pub fn first(market: &mut Market, age: &str, hba1c: &str) -> Self {
        let actor = market.patient.clone();
        Self::with_record(market, actor, age, hba1c)
    }

    /// Another patient (`seed`), enrolled as a patient identity and funded if the chain has
    /// tokens, with a record of age 55 and HbA1c 7.1.
    pub fn another(market: &mut Market, seed: u64) -> Self {
        let actor = Actor::new(seed);
        if market.world.value(&keys::token_config()).is_some() {
            market.world.fund(&actor.address, MARKET_FUNDS);
        }
        market.world.run(&actor, enrol_patient(&actor)).unwrap();
        Self::with_record(market, actor, "55", "7.1")
    }

    /// Files the patient's nullifier key unless filed, has a record released and attested.
    pub fn with_record(market: &mut Market, actor: Actor, age: &str, hba1c: &str) -> Self {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(actor.address.as_bytes());
        let secret = zk::PatientSecret::from_seed(&seed);
        let nk = secret.nullifier_key();
        if market
            .world
            .value(&keys::nullifier_key(&actor.address))
            .is_none()
        {
            market
                .world
                .run(&actor, nullifier_key(nk.to_bytes()))
                .unwrap();
        }
        let values = zk_keys()
            .schema
            .encode(&[("age", age), ("hba1c", hba1c)])
            .unwrap();
        let mut rng = StdRng::seed_from_u64(u64::from(actor.address.as_bytes()[0]) + 1);
        let content = format!("EMR {age} {hba1c} of {}", actor.address);
        // hEMR: what the researcher will hash the delivered record to.
        let mut record_hash = [0u8; 32];
        record_hash.copy_from_slice(ContentHash::of(content.as_bytes()).as_bytes());
        let opening =
            zk::RecordOpening::random(&zk_keys().schema, values, nk, record_hash, &mut rng)
                .unwrap();
        let doctor = market.doctor.clone();
        let record = market.world.released(&doctor, &actor, content.as_bytes());
        let leaf = market.attest(&record, opening.commit().unwrap().to_bytes());
        Self {
            actor,
            secret,
            opening,
            record,
            leaf,
        }
    }

    /// An enrolment in `study` (whose predicate is `text`) filed by `sender`, proven against
    /// the accumulator as the chain holds it now.
    pub fn enrolment(
        &self,
        market: &Market,
        study: &StudyId,
        text: &str,
        sender: &Actor,
    ) -> Payload {
        let leaves: Vec<zk::Commitment> = market
            .attested_commitments()
            .iter()
            .map(|bytes| zk::Commitment::from_bytes(bytes).unwrap())
            .collect();
        let path = zk::membership_path(&leaves, self.leaf).unwrap();
        self.prove(study, text, sender, &path)
    }

    /// An enrolment proven with membership `path` (the chain's, or a made-up tree's).
    pub fn prove(
        &self,
        study: &StudyId,
        text: &str,
        sender: &Actor,
        path: &zk::MembershipPath,
    ) -> Payload {
        let (delegating_key, verifying_key) = (umbral_key(1), umbral_key(2));
        let ciphertext_hash = ContentHash::of(b"the record, encrypted under the study's key");
        let binding = enrolment_binding(
            &sender.address,
            delegating_key.as_slice(),
            verifying_key.as_slice(),
            &ciphertext_hash,
        );
        let witness = zk::EnrolmentWitness {
            opening: &self.opening,
            secret: &self.secret,
            path,
        };
        let mut study_id = [0u8; 32];
        study_id.copy_from_slice(study.as_bytes());
        let (statement, proof) = zk::prove(
            &zk_keys().pk,
            &witness,
            &predicate(text),
            zk::study_tag(&study_id),
            zk::binding_of(&binding),
            &mut StdRng::seed_from_u64(3),
        )
        .unwrap();
        Payload::Research(ResearchPayload::Enrol {
            study: *study,
            root: Hash32::from(statement.root.to_bytes()),
            nullifier: Hash32::from(statement.nullifier.to_bytes()),
            exclusivity: Hash32::from(statement.exclusivity.to_bytes()),
            delivery: Hash32::from(statement.delivery.to_bytes()),
            proof: ZkBytes(proof.to_bytes().to_vec()),
            delegating_key,
            verifying_key,
            ciphertext_hash,
        })
    }
}
