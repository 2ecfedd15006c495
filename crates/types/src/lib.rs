//! medchain's wire types and their canonical encoding.
//!
//! Everything that crosses a process boundary or is hashed into the chain lives here:
//! identifiers, [`Transaction`]s and their [`Payload`]s, [`Block`]s and [`Header`]s,
//! [`Receipt`]s and the [`Genesis`] document. Encodings use `commonware-codec` and are
//! canonical: `encode(decode(b)) == b`, and every variable-length field is bounded when
//! decoding untrusted bytes, so malformed input is rejected with an error, never a panic.
//!
//! This crate does no I/O and holds no business rules; the state machine (`medchain-state`)
//! decides what a valid transaction *does*.

mod block;
pub mod emergency;
pub mod enrolment;
pub mod evidence;
mod genesis;
mod ids;
pub mod keyfile;
pub mod med;
#[macro_use]
mod payload;
mod receipt;
pub mod research;
mod serde_hex;
mod sigcache;
mod text;
pub mod token;
mod tx;

#[cfg(test)]
mod fixtures;

pub use block::{Block, BlockDecodeConfig, ConsensusScheme, Header, tx_root};
pub use genesis::{
    Allocation, FeeSchedule, Genesis, GenesisError, StakingParams, TokenGenesis, ValidatorInfo,
};
pub use ids::{
    Address, ConsentId, ContentHash, EmergencyId, EnrolmentId, EntryId, EscrowId, Hash32,
    ParseAddressError, ParseIdError, RecordId, StudyId, TxId,
};
pub use payload::{
    AccessGrounds, AccessPayload, BlsPublicKey, BlsSignature, ConsentPayload, DealerLogBytes,
    EmergencyPayload, EntryBytes, Expiry, G1Point, IdentityPayload, LicencePayload, OrgKind,
    OrgState, Payload, PkgPayload, Purpose, RecordPayload, RefusalReason, RegistryPayload,
    RevocationPayload, Role, StakePayload, TokenPayload,
};
pub use receipt::{
    AccessDecision, DenyReason, Event, MAX_EVENTS_PER_TX, MedEntryRefusal, MedRefusal,
    RECEIPT_PROOF_ITEMS, Receipt, ReceiptProof, decode_events, encode_events, receipt_leaf,
    receipts_root, receipts_tree,
};
pub use sigcache::{SignatureCache, SignatureCacheLimits};
pub use text::{ChainId, IdentityName, OrgName, PeerAddress, TextError, Uri};
pub use tx::{
    CandidateEndorsement, JoinEndorsement, RecordAttestation, Transaction, TxBody, TxError,
    VerifiedTransaction, verify_batch,
};

/// Re-exported so dependants name one ed25519 implementation (the one consensus uses).
pub use commonware_cryptography::ed25519::{PrivateKey, PublicKey, Signature};

/// Domain-separation namespaces. Every signature in medchain is made over
/// `namespace || message`, so a signature made for one purpose can never be replayed as another.
pub mod namespace {
    /// Transaction signatures (S1-release, S1-storage, S1-sharing, S2-register, S2-state).
    pub const TX: &[u8] = b"_MEDCHAIN_TX_V1";
    /// A doctor's attestation of a record hash, kept by the patient with the record (S1-release).
    pub const RECORD_ATTESTATION: &[u8] = b"_MEDCHAIN_RECORD_ATTESTATION_V1";
    /// An audited member's consent to a new address joining its organisation (S2-register).
    pub const JOIN_ENDORSEMENT: &[u8] = b"_MEDCHAIN_JOIN_ENDORSEMENT_V1";
    /// Requests to the enrolment service (node API `/v1/pkg/…`), signed by the enrollee's
    /// chain key over chain id ‖ route ‖ request (S3-register).
    pub const ENROLMENT: &[u8] = b"_MEDCHAIN_ENROLMENT_V1";
    /// A doctor's request to a hospital gateway holding a record (`POST /v1/shares`,
    /// `POST /v1/emergency-access`), signed by the doctor's chain key (S3-share, S3-emergency).
    pub const GATEWAY_REQUEST: &[u8] = b"_MEDCHAIN_GATEWAY_REQUEST_V1";
    /// A vouching key's proof of possession (S3-emergency), see [`crate::emergency`].
    pub const VOUCH_POP: &[u8] = b"_MEDCHAIN_VOUCH_POP_V1";
    /// The doctor's and hospital's vouch for an emergency request tx_ur (S3-emergency).
    pub const EMERGENCY: &[u8] = b"_MEDCHAIN_EMERGENCY_V1";
    /// A doctor's BLS signature over a release tx_mr and a hospital's over its batch root
    /// TX_mr, aggregated into one signature per Mblock on the MED chain (S3-release, S3-dual).
    pub const MED: &[u8] = b"_MEDCHAIN_MED_V1";
    /// A co-owner's signature joining a token transfer (S1-utxo: joint payments), over a
    /// [`crate::token::TransferAuthorization`].
    pub const TOKEN_COSIGN: &[u8] = b"_MEDCHAIN_TOKEN_COSIGN_V1";
    /// An audited hospital member's endorsement of a validator candidate (S1-dpos), over a
    /// [`crate::CandidateEndorsement`].
    pub const CANDIDATE_ENDORSEMENT: &[u8] = b"_MEDCHAIN_CANDIDATE_ENDORSEMENT_V1";
    /// Consensus votes (simplex ed25519 scheme).
    pub const CONSENSUS: &[u8] = b"_MEDCHAIN_CONSENSUS_V1";
    /// Authenticated p2p handshake.
    pub const P2P: &[u8] = b"_MEDCHAIN_P2P_V1";
}

/// Limits enforced when decoding untrusted bytes and when admitting transactions.
pub mod limits {
    /// Largest encoded transaction accepted anywhere.
    pub const MAX_TX_BYTES: usize = 4 * 1024;
    /// Most records one consent grant may cover (S1-sharing).
    pub const MAX_CONSENT_RECORDS: usize = 64;
    /// Most transactions in one block.
    pub const MAX_BLOCK_TXS: usize = 32_768;
    /// Largest encoded block body (sum of encoded transactions).
    pub const MAX_BLOCK_BODY_BYTES: usize = 8 * 1024 * 1024;
    /// Largest encoded MED checkpoint one SUP block carries (S3-supervise): about 10,000
    /// tx_mr. A proposer checkpoints a shorter prefix of its branch rather than exceed it.
    pub const MAX_CHECKPOINT_BYTES: usize = 1024 * 1024;
    /// Most validators a genesis may name.
    pub const MAX_VALIDATORS: usize = 128;
    /// Largest encrypted EMR entry EEE (S3-entry): what fits in a transaction next to its
    /// envelope.
    pub const MAX_ENTRY_BYTES: usize = MAX_TX_BYTES - 256;
    /// How long after it is filed an emergency request still opens a record (S3-emergency).
    pub const EMERGENCY_WINDOW_MS: u64 = 3_600_000;
    /// How far an emergency request's issue time may be from the block time, either way.
    pub const EMERGENCY_CLOCK_SKEW_MS: u64 = 600_000;
    /// Most outputs one transfer spends (S1-utxo: validity is a finite scan of the tx).
    pub const MAX_TRANSFER_INPUTS: usize = 16;
    /// Most outputs one transfer creates.
    pub const MAX_TRANSFER_OUTPUTS: usize = 16;
    /// Most co-owner signatures one transfer carries.
    pub const MAX_COSIGNERS: usize = 8;
    /// Most keys a k-of-m output lock names.
    pub const MAX_MULTISIG_KEYS: usize = 5;
    /// Longest validator candidate p2p address (`host:port`).
    pub const MAX_PEER_ADDRESS_LEN: usize = 64;
    /// Longest study title (S4-flow).
    pub const MAX_STUDY_TITLE_BYTES: usize = 128;
    /// Most re-encryption proxies one study names.
    pub const MAX_STUDY_PROXIES: usize = 8;
    /// Longest record schema id of a registered circuit (e.g. `clinical_v1`).
    pub const MAX_SCHEMA_ID_BYTES: usize = 32;
    /// Longest encoded zero-knowledge verifying key: about 500 bytes for today's circuit
    /// (one compressed G1 point per public input), with room for more inputs.
    pub const MAX_VERIFYING_KEY_BYTES: usize = 2_048;
    /// Longest encoded eligibility predicate: 64 clauses of about 25 bytes, with room to spare.
    /// A study of this size with 8 proxies and a full title still fits in [`MAX_TX_BYTES`].
    pub const MAX_PREDICATE_BYTES: usize = 2_560;
    /// A Groth16 proof on BN254, compressed.
    pub const ZK_PROOF_BYTES: usize = 128;
    /// A compressed secp256k1 point: an Umbral public key.
    pub const UMBRAL_PUBLIC_KEY_BYTES: usize = 33;
    /// Longest dispute window a study may set after its deadline (30 days): a patient's owed
    /// reward becomes claimable at the latest this long after the study closes.
    pub const MAX_DISPUTE_WINDOW_MS: u64 = 30 * 24 * 60 * 60 * 1_000;
}
