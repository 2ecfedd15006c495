//! Typed errors: [`ExecError`] for transactions the rules reject, [`StateError`] for a state
//! that cannot be read or a block that cannot run on it, [`ProofError`] for proofs that fail.

use crate::values::Settlement;
use medchain_types::Address;
use medchain_types::IdentityName;
use medchain_types::token::{LockTime, OutPoint};
use medchain_types::{
    ChainId, ConsentId, EmergencyId, EnrolmentId, OrgName, OrgState, Purpose, RecordId, StudyId,
};

/// Why the state could not be read, or a block cannot be executed on it.
///
/// These are never the fault of a transaction: a node that meets one must stop executing
/// (and not, say, drop the transaction that happened to trigger it).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The backing store failed (I/O, a broken database).
    #[error("state backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored value does not decode as the type its key promises.
    #[error("corrupt value under key {key}: {reason}")]
    Corrupt {
        /// The key, hex.
        key: String,
        /// What the decoder said.
        reason: commonware_codec::Error,
    },
    /// The Jellyfish Merkle tree failed (usually a node missing from the reader).
    #[error("authenticated tree: {0}")]
    Tree(String),
    /// Entries that must agree do not (e.g. an index pointing at nothing).
    #[error("inconsistent state: {0}")]
    Inconsistent(String),
    /// The state holds no genesis (no `cfg/chain`, `cfg/block`).
    #[error("the state has no genesis")]
    NoGenesis,
    /// The genesis document is unusable.
    #[error("invalid genesis: {0}")]
    Genesis(Box<medchain_types::GenesisError>),
    /// The block's height does not follow the state's.
    #[error("block height {got} does not follow state height {state}")]
    HeightMismatch {
        /// The height the state is at.
        state: u64,
        /// The block's height.
        got: u64,
    },
    /// The block's timestamp is before its parent's.
    #[error("block timestamp {got} ms is before the parent's {parent} ms")]
    TimeWentBackwards {
        /// The parent's timestamp.
        parent: u64,
        /// The block's timestamp.
        got: u64,
    },
    /// Overlay layers must be consecutive heights, oldest first.
    #[error("overlay layers are not consecutive: height {next} after {previous}")]
    LayersNotConsecutive {
        /// A layer's height.
        previous: u64,
        /// The next layer's height.
        next: u64,
    },
}

impl From<medchain_types::GenesisError> for StateError {
    fn from(error: medchain_types::GenesisError) -> Self {
        Self::Genesis(Box::new(error))
    }
}

impl StateError {
    /// Wraps a backend failure.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }

    pub(crate) fn tree(error: anyhow::Error) -> Self {
        Self::Tree(format!("{error:#}"))
    }
}

/// Why a transaction was rejected. A rejected transaction changes nothing, not even the
/// sender's nonce, and the proposer leaves it out of the block.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The state could not be read: not the transaction's fault, see [`ExecError::is_fatal`].
    #[error(transparent)]
    State(#[from] StateError),
    /// Signed for another chain (the types already refuse to verify one; checked again here).
    #[error("transaction is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The transaction's.
        got: ChainId,
    },
    /// The block's time is past the transaction's deadline.
    #[error(
        "transaction expired: valid until {valid_until_ms} ms, the block's time is {block_time_ms} ms; sign it again"
    )]
    TxExpired {
        /// The transaction's deadline, unix milliseconds.
        valid_until_ms: u64,
        /// The block's timestamp, unix milliseconds.
        block_time_ms: u64,
    },
    /// Replay protection: the nonce must equal the sender's account nonce.
    #[error("bad nonce: expected {expected}, got {got}")]
    BadNonce {
        /// The account's nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The account has used every nonce.
    #[error("account nonce is exhausted")]
    NonceExhausted,
    /// S1-tokens: token and staking transactions need a chain whose genesis has tokens.
    #[error("this chain's genesis has no tokens: token and staking transactions are refused")]
    NoTokens,

    // Registry (S2-register, S2-state).
    /// S2-register: the regulator may not register an organisation.
    #[error("the regulator cannot register an organisation")]
    RegulatorCannotRegister,
    /// The regulator may not join an organisation either: it must stay independent.
    #[error("the regulator cannot join an organisation")]
    RegulatorCannotJoin,
    /// S2-register: the name is taken.
    #[error("organisation {0} already exists")]
    OrgExists(OrgName),
    /// S2-register: an address belongs to at most one organisation.
    #[error("sender is already a member of {0}")]
    AlreadyMember(OrgName),
    /// S2-state: only the regulator changes states; it alone registers circuits (S4-flow).
    #[error("only the regulator may change an organisation's state or register a circuit")]
    NotRegulator,
    /// No organisation has this name.
    #[error("unknown organisation {0}")]
    UnknownOrg(OrgName),
    /// S2-state: the organisation is already in that state.
    #[error("organisation is already {0:?}")]
    StateUnchanged(OrgState),
    /// An address joins only an audited organisation.
    #[error("organisation {0} is not audited")]
    OrgNotAudited(OrgName),
    /// The join endorsement must come from a member of the organisation being joined.
    #[error("endorser {0} is not a member of the organisation")]
    EndorserNotMember(Address),

    // Records (S1-release, S1-storage).
    /// Only a member of an audited hospital enrols a doctor or hospital identity.
    #[error("sender is not a member of an audited hospital")]
    NotAuditedHospitalMember,
    /// S1-release: this record hash was already released for this patient.
    #[error("record already released as {0}")]
    RecordAlreadyReleased(RecordId),
    /// S3-dual, S3-release, S3-entry: this chain has a MED chain (its genesis names MED
    /// parameters), which keeps record releases and EMR entries; SUP files them only from
    /// MED checkpoints, never from a transaction.
    #[error(
        "this chain keeps {0} on its MED chain: file it through the hospital gateway, it goes on MED"
    )]
    FiledOnMed(&'static str),
    /// No record has this id.
    #[error("unknown record {0}")]
    UnknownRecord(RecordId),
    /// Only the patient a record (or consent) is about may act on it.
    #[error("sender is not the patient of {0}")]
    NotPatient(RecordId),

    // Consent (S1-rights, S1-sharing).
    /// S1-sharing: a grant covers at least one record.
    #[error("a grant must name at least one record")]
    EmptyGrant,
    /// S1-sharing: a grant covers at most `limits::MAX_CONSENT_RECORDS` records.
    #[error("a grant names {0} records; the limit is {max}", max = medchain_types::limits::MAX_CONSENT_RECORDS)]
    TooManyRecords(usize),
    /// S1-sharing: a record listed twice in one grant.
    #[error("record {0} is listed twice")]
    DuplicateRecord(RecordId),
    /// A patient needs no consent to read its own records.
    #[error("a patient cannot grant consent to itself")]
    SelfGrant,
    /// S1-sharing: the expiry must lie after the executing block.
    #[error("consent expiry is not after the current block")]
    ExpiryInPast,
    /// No consent has this id.
    #[error("unknown consent {0}")]
    UnknownConsent(ConsentId),
    /// Only the granting patient revokes a consent.
    #[error("sender is not the patient who granted {0}")]
    NotGrantor(ConsentId),
    /// The consent was already revoked.
    #[error("consent {0} is already revoked")]
    AlreadyRevoked(ConsentId),

    // Identity (S3-register, S4-ca), licences (S3-register) and the revocation list (S3-revoke).
    /// The identity is bound to another address: it is bound once, to one address.
    #[error("identity {identity} is already bound to address {address}")]
    IdentityTaken {
        /// The identity.
        identity: IdentityName,
        /// The address it is bound to.
        address: Address,
    },
    /// An address holds at most one identity.
    #[error("sender is already enrolled as {0}")]
    AddressAlreadyEnrolled(IdentityName),
    /// S4-ca: a patient enrols only under the pseudonym derived from its address.
    #[error("a patient enrols under its pseudonym {expected}")]
    PseudonymMismatch {
        /// The sender's pseudonym.
        expected: IdentityName,
    },
    /// A doctor or hospital name may not start with the patients' reserved prefix.
    #[error("{0} is in the patients' reserved namespace (`patient:`)")]
    ReservedIdentity(IdentityName),
    /// The key part is not a valid, non-identity compressed BLS12-381 G1 point.
    #[error("key part is not a valid non-identity BLS12-381 G1 point")]
    InvalidKeyPart,
    /// The sender has no enrolled identity.
    #[error("sender has no enrolled identity")]
    NotEnrolled,
    /// Licences are issued and renewed by hospital identities only.
    #[error("{0} is not a hospital identity")]
    NotAHospital(IdentityName),
    /// No identity has this name.
    #[error("no identity {0} is enrolled")]
    UnknownIdentity(IdentityName),
    /// The identity is not a doctor's: only doctors are licensed, revoked, or release records.
    #[error("{0} is not a doctor identity")]
    NotADoctor(IdentityName),
    /// A hospital licenses (and renews) only doctors of its own organisation.
    #[error("{doctor} is not a doctor of {org}")]
    DoctorOfAnotherOrg {
        /// The doctor.
        doctor: IdentityName,
        /// The sender's organisation.
        org: OrgName,
    },
    /// A licence's expiry must lie after the executing block's time.
    #[error("licence expiry is not after the current block's time")]
    LicenceExpiryInPast,
    /// The doctor is licensed already: renew instead.
    #[error("{0} is already licensed")]
    LicenceExists(IdentityName),
    /// The doctor holds no licence (release, renew).
    #[error("{0} holds no licence")]
    Unlicensed(IdentityName),
    /// The doctor's licence expired before the executing block.
    #[error("the licence of {doctor} expired at {expired_at_ms} ms")]
    LicenceExpired {
        /// The doctor.
        doctor: IdentityName,
        /// Its end of validity, unix milliseconds.
        expired_at_ms: u64,
    },
    /// S3-revoke: the doctor is on the revocation list.
    #[error("{0} is on the revocation list")]
    DoctorRevoked(IdentityName),
    /// S3-revoke: only the licensing hospital (or whoever revoked, to lift) and the regulator
    /// change a doctor's revocation.
    #[error("sender may not change the revocation of {0}")]
    NotRevoker(IdentityName),
    /// S3-revoke: the doctor is on the list already.
    #[error("{0} is already revoked")]
    DoctorAlreadyRevoked(IdentityName),
    /// S3-revoke: the doctor is not on the list.
    #[error("{0} is not revoked")]
    NotRevoked(IdentityName),
    // Threshold PKG (S3-setup).
    /// Only a genesis validator deals in the threshold PKG's key generation.
    #[error("sender is not a genesis validator, so it cannot deal in the PKG key generation")]
    NotValidator,
    /// The threshold PKG already has its key; no more dealer logs are taken.
    #[error("the threshold PKG is already set up (DKG round {round})")]
    PkgAlreadyReady {
        /// The round that produced the key.
        round: u64,
    },
    /// The log is for another DKG round than the one running.
    #[error("dealer log is for DKG round {got}; the running round is {expected}")]
    WrongDkgRound {
        /// The running round.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// One log per validator and round.
    #[error("validator {0} already published its dealer log for this round")]
    DuplicateDealerLog(Address),
    /// The log bytes do not decode as a signed dealer log.
    #[error("malformed dealer log: {0}")]
    MalformedDealerLog(String),
    /// The log's signature does not verify for this chain's DKG round.
    #[error("dealer log signature does not verify for this chain's DKG round")]
    DealerLogSignature,
    /// The log is signed by another validator than the transaction's sender.
    #[error("dealer log is signed by {signer}, not by the sender")]
    DealerLogSigner {
        /// The validator that signed the log.
        signer: Address,
    },
    /// The log is well signed but cannot be used: it proves a fault (a bad acknowledgement
    /// or reveal, a commitment of the wrong degree) or reveals too many shares.
    #[error("dealer log is unusable: {0}")]
    UnusableDealerLog(String),

    // Staking, election and slashing (issue 11, S1-dpos).
    /// No candidate has this node key.
    #[error("not a candidate validator; register it first (stake.register)")]
    NotACandidate,
    /// A node key registers as a candidate once.
    #[error("this node key is a candidate already")]
    CandidateExists,
    /// A candidate is endorsed by a member of an audited organisation of kind hospital.
    #[error("the endorsing organisation is not a hospital; only hospitals run validators")]
    EndorserNotHospital,
    /// The hospital has registered as many candidates as it may
    /// ([`crate::staking::MAX_CANDIDATES_PER_ORG`]).
    #[error(
        "{0} already has {max} candidate validators, the most one organisation may register",
        max = crate::staking::MAX_CANDIDATES_PER_ORG
    )]
    TooManyCandidates(OrgName),
    /// A jailed (slashed) candidate takes no new delegations and is never elected again.
    #[error("the candidate is jailed for equivocation and takes no delegations")]
    CandidateJailed,
    /// The amount buys no share of the pool (zero, or less than one share is worth).
    #[error("the amount is too low to buy a share of the candidate's pool")]
    StakeTooLow,
    /// Undelegating more than the delegation is worth (or with no delegation at all).
    #[error("the delegation is worth less than the amount asked for")]
    InsufficientStake,
    /// Nothing is unbonding from this candidate for the sender.
    #[error("nothing is unbonding from this candidate for the sender")]
    NothingToWithdraw,
    /// The unbonding delay has not passed.
    #[error("still unbonding: withdrawable from epoch {release_epoch}")]
    StillUnbonding {
        /// The first epoch in which the tokens can be withdrawn.
        release_epoch: u64,
    },
    /// The equivocation evidence does not verify against its epoch's validator set and this
    /// chain's consensus namespace.
    #[error("equivocation evidence does not verify: {0}")]
    BadEvidence(String),
    /// The evidence is older than the unbonding window: the stake it would slash may be gone.
    #[error("the evidence is older than the unbonding window")]
    EvidenceTooOld,
    /// The offender was slashed for this epoch already.
    #[error("the offender is already slashed for this epoch")]
    AlreadySlashed,
    /// No validator set is known for the evidence's epoch (it has not started).
    #[error("no validator set is known for epoch {0}")]
    UnknownEpoch(u64),

    // EMR entries, vouching keys, emergencies and served access (issue 9).
    /// S1-storage: only the record's patient, or the hospital identity of the organisation
    /// that released it (its gateway's key, not its doctors' or staff's), files where the
    /// record's blob is stored.
    #[error(
        "sender is neither the patient of {0} nor the hospital identity of the organisation that released it"
    )]
    NotRecordCustodian(RecordId),
    /// S3-emergency: the vouching key's proof of possession does not verify for the sender.
    #[error("the vouching key's proof of possession does not verify for the sender on this chain")]
    BadVouchingProof,
    /// S3-emergency: a vouching party has registered no vouching key.
    #[error("{0} has no vouching key on chain")]
    NoVouchingKey(Address),
    /// S3-emergency: the request's issue time is too far from the block's time.
    #[error(
        "the emergency request was issued at {issued_at_ms} ms, too far from the block's time {block_time_ms} ms"
    )]
    StaleEmergency {
        /// The request's issue time, unix milliseconds.
        issued_at_ms: u64,
        /// The block's timestamp, unix milliseconds.
        block_time_ms: u64,
    },
    /// S3-emergency: the vouch is not the doctor's and the hospital's aggregate signature over
    /// this request.
    #[error(
        "the vouch is not the doctor's and the hospital's aggregate signature over this request"
    )]
    BadVouch,
    /// S1-rights: only the hospital identity of the organisation that released a record (its
    /// gateway's key, not its doctors' or staff's) files the decisions on requests it served
    /// for it.
    #[error("sender is not the hospital identity of the organisation holding {0}")]
    NotRecordHolder(RecordId),
    /// S3-emergency: this vouched request (the same htxu) was filed already; filing it again
    /// would notify the patient again and open a fresh window.
    #[error("this vouched emergency request was filed already as {0}")]
    DuplicateEmergency(EmergencyId),

    // Fees and balances (issue 11, S1-tokens).
    /// The fee is below the genesis schedule's minimum for the transaction's size.
    #[error("fee {fee} is below the minimum {minimum} for this transaction's size")]
    FeeTooLow {
        /// The transaction's fee.
        fee: u64,
        /// The least it must pay.
        minimum: u64,
    },
    /// The account's balance does not cover what the transaction takes from it.
    #[error("balance {balance} does not cover the {needed} needed")]
    InsufficientBalance {
        /// The account's balance.
        balance: u64,
        /// What the transaction takes from it.
        needed: u64,
    },
    /// A sum of amounts does not fit in 64 bits.
    #[error("the amounts add up to more than a 64-bit integer holds")]
    AmountOverflow,
    /// S1-tokens: the consent asks a larger access reward than the most the signer agreed to
    /// pay (`max_reward`): the patient priced or re-priced it above what the requester or the
    /// serving gateway signed for.
    #[error("the consent asks a reward of {reward}, above the {limit} this request agrees to pay")]
    RewardAboveLimit {
        /// What the consent asks.
        reward: u64,
        /// The request's `max_reward`.
        limit: u64,
    },

    // Transfers (S1-utxo).
    /// An input names an output that does not exist or is spent.
    #[error("output {0} does not exist or is spent")]
    UnknownOutput(OutPoint),
    /// The same output is spent twice in one transfer.
    #[error("a transfer lists the same input twice")]
    DuplicateInput,
    /// A transfer that spends nothing or creates nothing.
    #[error("a transfer must spend something (inputs or balance) and create at least one output")]
    EmptyTransfer,
    /// More inputs, outputs or cosignatures than a transfer may carry.
    #[error("a transfer carries at most {max_inputs} inputs and {max_outputs} outputs")]
    TransferTooLarge {
        /// The input limit.
        max_inputs: usize,
        /// The output limit.
        max_outputs: usize,
    },
    /// The outputs are worth more than the inputs and the balance spent.
    #[error("the outputs ({outputs}) are worth more than the inputs and balance spent ({inputs})")]
    OutputsExceedInputs {
        /// Inputs plus balance spent.
        inputs: u64,
        /// Outputs.
        outputs: u64,
    },
    /// A transfer's surplus (inputs + balance − outputs) must equal its fee: anything else
    /// is a forgotten change output or a wrong fee.
    #[error(
        "the transfer's surplus {surplus} is not its fee {fee}: add a change output or fix the fee"
    )]
    FeeMismatch {
        /// Inputs plus balance minus outputs.
        surplus: u64,
        /// The fee the transaction names.
        fee: u64,
    },
    /// An input's owner did not sign (neither the sender nor a cosigner).
    #[error("output {output} needs the signature of {owner}")]
    MissingSignature {
        /// The input.
        output: OutPoint,
        /// A key whose signature is missing.
        owner: Address,
    },
    /// An input's lock time has not come.
    #[error("output {output} cannot be spent before {until:?}")]
    OutputLocked {
        /// The input.
        output: OutPoint,
        /// From when it can be spent.
        until: LockTime,
    },
    /// A transfer may not spend a contract-locked output; only its contract releases it.
    #[error("an escrow-locked output is released by its escrow, not spent by a transfer")]
    ContractLocked,
    /// A transfer may not create a contract-locked output; only the contract does.
    #[error("a transfer cannot lock an output to a contract; open an escrow instead")]
    ContractOutput,
    /// Every output carries a positive value.
    #[error("an output of value 0 is refused")]
    ZeroValueOutput,
    /// A k-of-m lock needs 1 ≤ k ≤ m distinct keys.
    #[error("a k-of-m lock needs a threshold from 1 to the number of its keys, and distinct keys")]
    InvalidMultisig,

    // Escrow (S1-utxo contract lock).
    /// An escrow whose arbiter is its payer: the payer could refund itself at any time, so
    /// the escrow would promise the payee nothing.
    #[error("the arbiter of an escrow must be someone other than its payer")]
    ArbiterIsPayer,
    /// No such escrow.
    #[error("no such escrow")]
    UnknownEscrow,
    /// The escrow was released or refunded already.
    #[error("the escrow was settled already")]
    EscrowAlreadySettled,
    /// The sender may not settle this escrow this way.
    #[error(
        "the sender may not settle this escrow (release: payer or arbiter; refund: payee, arbiter, or the payer after the refund time)"
    )]
    NotEscrowParty,
    /// The payer refunds only once the refund time has come.
    #[error("the payer may refund only after the escrow's refund time")]
    RefundNotYet,

    // Research market (issue 12, S4-flow, S4-exclusive).
    /// A circuit with this verifying key is registered already.
    #[error("a circuit with this verifying key is registered already")]
    CircuitExists,
    /// The verifying key does not decode, or is degenerate (it would accept forged proofs).
    #[error("unusable verifying key: {0}")]
    BadVerifyingKey(String),
    /// No circuit is registered under this verifying key digest.
    #[error("no circuit is registered under verifying key digest {0}; the regulator registers it")]
    UnknownCircuit(String),
    /// Only a patient identity files a nullifier key.
    #[error("only a patient identity files a nullifier key; enrol as a patient first")]
    NotAPatient,
    /// A value that must be a BN254 scalar field element is not one (canonical, below the
    /// modulus).
    #[error("the {0} is not a canonical field element")]
    NotAFieldElement(&'static str),
    /// The patient has filed its nullifier key already (it is set once).
    #[error("this patient's nullifier key is set already")]
    NullifierKeyExists,
    /// The record's patient has filed no nullifier key, so no commitment can bind it.
    #[error(
        "patient {0} has filed no nullifier key; the patient files research.nullifier_key first"
    )]
    NoNullifierKey(Address),
    /// The record's commitment is attested already (one attestation per record).
    #[error("record {0} is attested already")]
    AlreadyAttested(RecordId),
    /// Only the hospital identity of the organisation that released a record attests it.
    #[error("sender is not the hospital identity of the organisation that released {0}")]
    NotRecordHospital(RecordId),
    /// The accumulator of attested commitments holds 2^24 leaves: it is full.
    #[error("the accumulator of attested commitments is full")]
    AccumulatorFull,
    /// Only a member of an audited cloud organisation registers as a proxy.
    #[error("only a member of an audited cloud organisation registers as a re-encryption proxy")]
    NotCloudMember,
    /// The sender is a registered proxy already.
    #[error("the sender is a registered proxy already")]
    ProxyExists,
    /// Only a member of an audited research organisation publishes a study.
    #[error("only a member of an audited research organisation publishes a study")]
    NotResearchMember,
    /// A study's purpose must be research.
    #[error("a study's purpose must be research, not {0:?}")]
    NotResearchPurpose(Purpose),
    /// The study's predicate does not decode.
    #[error("unusable predicate: {0}")]
    BadPredicate(String),
    /// The predicate does not fit the circuit (too many clauses, or attributes beyond it).
    #[error("the predicate does not fit the study's circuit: {0}")]
    PredicateTooLarge(String),
    /// The threshold must be between 1 and the number of proxies.
    #[error("threshold {threshold} must be between 1 and the {proxies} proxies named")]
    BadThreshold {
        /// The threshold asked.
        threshold: u8,
        /// Proxies named.
        proxies: usize,
    },
    /// A proxy is named twice.
    #[error("proxy {0} is named twice")]
    DuplicateProxy(Address),
    /// A named proxy is not registered.
    #[error("{0} is not a registered re-encryption proxy")]
    UnknownProxy(Address),
    /// A study must accept at least one participant.
    #[error("a study must accept at least one participant")]
    NoParticipants,
    /// The study's deadline is not after the block's time.
    #[error("the study's deadline must be after the block's time")]
    DeadlineInPast,
    /// Only the study's researcher funds and refunds it.
    #[error("only the study's researcher may do this")]
    NotResearcher,
    /// No study has this id.
    #[error("unknown study {0}")]
    UnknownStudy(StudyId),
    /// The study's deadline has passed: no more funding or enrolment.
    #[error("the study closed at {deadline_ms} ms")]
    StudyClosed {
        /// Its deadline, unix milliseconds.
        deadline_ms: u64,
    },
    /// The study has its maximum number of participants.
    #[error("the study is full ({max} participants)")]
    StudyFull {
        /// Its maximum.
        max: u32,
    },
    /// The study's pool cannot pay the reward.
    #[error(
        "the study's pool ({pooled}) cannot pay its reward ({reward}); its researcher funds it"
    )]
    StudyUnfunded {
        /// Tokens in the pool.
        pooled: u64,
        /// The reward per enrolment.
        reward: u64,
    },
    /// Funding must add tokens.
    #[error("funding must add at least one token")]
    ZeroFunding,
    /// The proof's accumulator root was never the chain's: the commitment is not attested.
    #[error(
        "the proof's accumulator root is unknown: its commitment was not attested on this chain"
    )]
    UnknownRoot,
    /// The proof or its public inputs do not decode.
    #[error("malformed enrolment proof: {0}")]
    MalformedProof(String),
    /// The proof does not verify against the study's statement.
    #[error(
        "the enrolment proof does not verify for this study, predicate, root and sender's keys"
    )]
    ProofRejected,
    /// The nullifier was used in this study: the patient is enrolled already.
    #[error("this patient is enrolled in the study already")]
    AlreadyEnrolled,
    /// The record is licensed exclusively to another study (S4-exclusive).
    #[error("the record is licensed exclusively to study {study}")]
    ExclusivelyLicensed {
        /// The study holding the licence.
        study: StudyId,
    },
    /// An exclusive study refuses a record shared before with another study (S4-exclusive).
    #[error("the record was shared with a study before, so it cannot be licensed exclusively")]
    SharedBefore,
    /// No enrolment has this id.
    #[error("unknown enrolment {0}")]
    UnknownEnrolment(EnrolmentId),
    /// Only one of the study's proxies logs re-encryptions of its records.
    #[error("sender is not one of the study's proxies")]
    NotStudyProxy,
    /// The proxy has logged this enrolment's re-encryption already.
    #[error("this proxy has logged re-encrypting the enrolment already")]
    AlreadyLogged,
    /// The study is still open: its pool returns only after the deadline.
    #[error("the study is open until {deadline_ms} ms; refund after its deadline")]
    StudyStillOpen {
        /// Its deadline, unix milliseconds.
        deadline_ms: u64,
    },
    /// The study's pool is empty.
    #[error("the study's pool is empty")]
    NothingToRefund,
    /// Only a schema the proving system knows (`clinical_v1`) names a circuit.
    #[error("unknown record schema `{0}`; the known schema is clinical_v1")]
    UnknownSchema(String),
    /// The verifying key's record length is not the schema's.
    #[error("the verifying key proves over {key} attributes, the schema has {schema}")]
    SchemaShapeMismatch {
        /// The schema's attribute count `N`.
        schema: u32,
        /// The key's.
        key: u32,
    },
    /// On a chain with tokens, a study's reward must pay an enrolment's fee (the one-time
    /// enrolling address holds nothing else).
    #[error(
        "the reward ({reward}) is below an enrolment's fee ({fee}); raise it to at least {fee}"
    )]
    RewardBelowFee {
        /// The reward asked.
        reward: u64,
        /// The fee of an enrolment transaction.
        fee: u64,
    },
    /// The dispute window is longer than allowed.
    #[error(
        "the dispute window ({window_ms} ms) is longer than {max} ms",
        max = medchain_types::limits::MAX_DISPUTE_WINDOW_MS
    )]
    DisputeWindowTooLong {
        /// The window asked.
        window_ms: u64,
    },
    /// The enrolment was acknowledged, disputed or settled already.
    #[error("the enrolment is {settlement:?}, not pending")]
    NotPending {
        /// Where it stands.
        settlement: Settlement,
    },
    /// The dispute window has passed: the owed reward is the payee's.
    #[error("the dispute window closed at {closed_at_ms} ms")]
    DisputeWindowClosed {
        /// Deadline plus dispute window, unix milliseconds.
        closed_at_ms: u64,
    },
    /// Only a disputed enrolment is resolved.
    #[error("the enrolment is {settlement:?}, not disputed")]
    NotDisputed {
        /// Where it stands.
        settlement: Settlement,
    },
    /// Only an enrolment's payee claims its owed reward.
    #[error("only the enrolment's payee claims its reward")]
    NotPayee,
    /// The owed reward is pending and the dispute window is still open.
    #[error(
        "the reward is claimable at {claimable_at_ms} ms, or earlier if the researcher acknowledges"
    )]
    ClaimTooEarly {
        /// Deadline plus dispute window, unix milliseconds.
        claimable_at_ms: u64,
    },
    /// The owed reward is disputed, returned to the pool or claimed already.
    #[error("the reward cannot be claimed: the enrolment is {settlement:?}")]
    NotClaimable {
        /// Where it stands.
        settlement: Settlement,
    },
    /// Nothing is owed to the enrolment (its advance was its whole reward).
    #[error("nothing is owed to this enrolment")]
    NothingOwed,
}

impl ExecError {
    /// Whether the error is the node's problem rather than the transaction's: the node must
    /// stop, not drop the transaction and carry on with a state it cannot read.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::State(_))
    }

    /// A stable machine-readable code for the error (snake case of its variant), for APIs and
    /// scripts that must branch on why a transaction was refused.
    pub fn code(&self) -> &'static str {
        match self {
            Self::State(_) => "state",
            Self::WrongChain { .. } => "wrong_chain",
            Self::TxExpired { .. } => "tx_expired",
            Self::BadNonce { .. } => "bad_nonce",
            Self::NonceExhausted => "nonce_exhausted",
            Self::NoTokens => "no_tokens",
            Self::RegulatorCannotRegister => "regulator_cannot_register",
            Self::RegulatorCannotJoin => "regulator_cannot_join",
            Self::OrgExists(_) => "org_exists",
            Self::AlreadyMember(_) => "already_member",
            Self::NotRegulator => "not_regulator",
            Self::UnknownOrg(_) => "unknown_org",
            Self::StateUnchanged(_) => "state_unchanged",
            Self::OrgNotAudited(_) => "org_not_audited",
            Self::EndorserNotMember(_) => "endorser_not_member",
            Self::NotAuditedHospitalMember => "not_audited_hospital_member",
            Self::RecordAlreadyReleased(_) => "record_already_released",
            Self::FiledOnMed(_) => "filed_on_med",
            Self::UnknownRecord(_) => "unknown_record",
            Self::NotPatient(_) => "not_patient",
            Self::EmptyGrant => "empty_grant",
            Self::TooManyRecords(_) => "too_many_records",
            Self::DuplicateRecord(_) => "duplicate_record",
            Self::SelfGrant => "self_grant",
            Self::ExpiryInPast => "expiry_in_past",
            Self::UnknownConsent(_) => "unknown_consent",
            Self::NotGrantor(_) => "not_grantor",
            Self::AlreadyRevoked(_) => "already_revoked",
            Self::IdentityTaken { .. } => "identity_taken",
            Self::AddressAlreadyEnrolled(_) => "address_already_enrolled",
            Self::PseudonymMismatch { .. } => "pseudonym_mismatch",
            Self::ReservedIdentity(_) => "reserved_identity",
            Self::InvalidKeyPart => "invalid_key_part",
            Self::NotEnrolled => "not_enrolled",
            Self::NotAHospital(_) => "not_a_hospital",
            Self::UnknownIdentity(_) => "unknown_identity",
            Self::NotADoctor(_) => "not_a_doctor",
            Self::DoctorOfAnotherOrg { .. } => "doctor_of_another_org",
            Self::LicenceExpiryInPast => "licence_expiry_in_past",
            Self::LicenceExists(_) => "licence_exists",
            Self::Unlicensed(_) => "unlicensed",
            Self::LicenceExpired { .. } => "licence_expired",
            Self::DoctorRevoked(_) => "doctor_revoked",
            Self::NotRevoker(_) => "not_revoker",
            Self::DoctorAlreadyRevoked(_) => "doctor_already_revoked",
            Self::NotRevoked(_) => "not_revoked",
            Self::NotValidator => "not_validator",
            Self::PkgAlreadyReady { .. } => "pkg_already_ready",
            Self::WrongDkgRound { .. } => "wrong_dkg_round",
            Self::DuplicateDealerLog(_) => "duplicate_dealer_log",
            Self::MalformedDealerLog(_) => "malformed_dealer_log",
            Self::DealerLogSignature => "dealer_log_signature",
            Self::DealerLogSigner { .. } => "dealer_log_signer",
            Self::UnusableDealerLog(_) => "unusable_dealer_log",
            Self::NotACandidate => "not_a_candidate",
            Self::CandidateExists => "candidate_exists",
            Self::EndorserNotHospital => "endorser_not_hospital",
            Self::TooManyCandidates(_) => "too_many_candidates",
            Self::CandidateJailed => "candidate_jailed",
            Self::StakeTooLow => "stake_too_low",
            Self::InsufficientStake => "insufficient_stake",
            Self::NothingToWithdraw => "nothing_to_withdraw",
            Self::StillUnbonding { .. } => "still_unbonding",
            Self::BadEvidence(_) => "bad_evidence",
            Self::EvidenceTooOld => "evidence_too_old",
            Self::AlreadySlashed => "already_slashed",
            Self::UnknownEpoch(_) => "unknown_epoch",
            Self::NotRecordCustodian(_) => "not_record_custodian",
            Self::BadVouchingProof => "bad_vouching_proof",
            Self::NoVouchingKey(_) => "no_vouching_key",
            Self::StaleEmergency { .. } => "stale_emergency",
            Self::BadVouch => "bad_vouch",
            Self::NotRecordHolder(_) => "not_record_holder",
            Self::DuplicateEmergency(_) => "duplicate_emergency",
            Self::FeeTooLow { .. } => "fee_too_low",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::AmountOverflow => "amount_overflow",
            Self::RewardAboveLimit { .. } => "reward_above_limit",
            Self::UnknownOutput(_) => "unknown_output",
            Self::DuplicateInput => "duplicate_input",
            Self::EmptyTransfer => "empty_transfer",
            Self::TransferTooLarge { .. } => "transfer_too_large",
            Self::OutputsExceedInputs { .. } => "outputs_exceed_inputs",
            Self::FeeMismatch { .. } => "fee_mismatch",
            Self::MissingSignature { .. } => "missing_signature",
            Self::OutputLocked { .. } => "output_locked",
            Self::ContractLocked => "contract_locked",
            Self::ContractOutput => "contract_output",
            Self::ZeroValueOutput => "zero_value_output",
            Self::InvalidMultisig => "invalid_multisig",
            Self::UnknownEscrow => "unknown_escrow",
            Self::ArbiterIsPayer => "arbiter_is_payer",
            Self::EscrowAlreadySettled => "escrow_already_settled",
            Self::NotEscrowParty => "not_escrow_party",
            Self::RefundNotYet => "refund_not_yet",
            Self::CircuitExists => "circuit_exists",
            Self::BadVerifyingKey(_) => "bad_verifying_key",
            Self::UnknownCircuit(_) => "unknown_circuit",
            Self::NotAPatient => "not_a_patient",
            Self::NotAFieldElement(_) => "not_a_field_element",
            Self::NullifierKeyExists => "nullifier_key_exists",
            Self::NoNullifierKey(_) => "no_nullifier_key",
            Self::AlreadyAttested(_) => "already_attested",
            Self::NotRecordHospital(_) => "not_record_hospital",
            Self::AccumulatorFull => "accumulator_full",
            Self::NotCloudMember => "not_cloud_member",
            Self::ProxyExists => "proxy_exists",
            Self::NotResearchMember => "not_research_member",
            Self::NotResearchPurpose(_) => "not_research_purpose",
            Self::BadPredicate(_) => "bad_predicate",
            Self::PredicateTooLarge(_) => "predicate_too_large",
            Self::BadThreshold { .. } => "bad_threshold",
            Self::DuplicateProxy(_) => "duplicate_proxy",
            Self::UnknownProxy(_) => "unknown_proxy",
            Self::NoParticipants => "no_participants",
            Self::DeadlineInPast => "deadline_in_past",
            Self::NotResearcher => "not_researcher",
            Self::UnknownStudy(_) => "unknown_study",
            Self::StudyClosed { .. } => "study_closed",
            Self::StudyFull { .. } => "study_full",
            Self::StudyUnfunded { .. } => "study_unfunded",
            Self::ZeroFunding => "zero_funding",
            Self::UnknownRoot => "unknown_root",
            Self::MalformedProof(_) => "malformed_proof",
            Self::ProofRejected => "proof_rejected",
            Self::AlreadyEnrolled => "already_enrolled",
            Self::ExclusivelyLicensed { .. } => "exclusively_licensed",
            Self::SharedBefore => "shared_before",
            Self::UnknownEnrolment(_) => "unknown_enrolment",
            Self::NotStudyProxy => "not_study_proxy",
            Self::AlreadyLogged => "already_logged",
            Self::StudyStillOpen { .. } => "study_still_open",
            Self::NothingToRefund => "nothing_to_refund",
            Self::UnknownSchema(_) => "unknown_schema",
            Self::SchemaShapeMismatch { .. } => "schema_shape_mismatch",
            Self::RewardBelowFee { .. } => "reward_below_fee",
            Self::DisputeWindowTooLong { .. } => "dispute_window_too_long",
            Self::NotPending { .. } => "not_pending",
            Self::DisputeWindowClosed { .. } => "dispute_window_closed",
            Self::NotDisputed { .. } => "not_disputed",
            Self::NotPayee => "not_payee",
            Self::ClaimTooEarly { .. } => "claim_too_early",
            Self::NotClaimable { .. } => "not_claimable",
            Self::NothingOwed => "nothing_owed",
        }
    }
}

/// Why a state proof does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The proof bytes are too long to be a proof.
    #[error("proof is {0} bytes; the limit is {max}", max = crate::proof::MAX_PROOF_BYTES)]
    TooLarge(usize),
    /// The proof bytes are not a canonical encoding.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// The proof does not bind (key, value) to the root.
    #[error("proof does not verify: {0}")]
    Invalid(String),
    /// The proven value was taken at another root than the one trusted.
    #[error("proof is for state root {proven}, the trusted root is {trusted}")]
    RootMismatch {
        /// The root the proof claims.
        proven: String,
        /// The root the verifier trusts (from a finalized header).
        trusted: String,
    },
}
