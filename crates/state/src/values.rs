//! What the state stores under each key (see [`crate::keys`]): typed values with canonical
//! `commonware-codec` encodings. `from_bytes(to_bytes(v)) == v`, `to_bytes(from_bytes(b)) == b`,
//! and malformed or trailing bytes are an error, never a panic.
//!
//! Clients decode a proven value with [`StateValue::from_bytes`] (or
//! [`crate::keys::StateKey::decode`], which names the right type for the key).

use crate::serde_hex;
use bytes::BufMut;
use commonware_codec::{
    Buf, Copying, Decode, Encode, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write,
};
use medchain_types::{
    AccessDecision, Address, ChainId, ContentHash, Expiry, G1Point, Hash32, OrgKind, OrgName,
    OrgState, PeerAddress, Purpose, RecordId, Signature, TxId, Uri, limits,
};
use medchain_types::{
    BlsPublicKey, EntryBytes, IdentityName, Role,
    med::{MblockHeader, MedParams},
};
use medchain_types::{
    FeeSchedule, StakingParams, TokenGenesis,
    research::{StudyId, ZkBytes},
    token::{Lock, LockTime, OutPoint},
};
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// A value stored in the state, with its canonical encoding.
pub trait StateValue: Sized {
    /// The canonical encoding.
    fn to_bytes(&self) -> Vec<u8>;
    /// Decodes the canonical encoding, refusing anything else.
    fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError>;
}

impl<T: Encode + Decode<Cfg = ()>> StateValue for T {
    fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encode_size());
        self.write(&mut buf);
        buf
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        Self::decode_cfg(Copying(bytes), &())
    }
}

/// Defines a value struct whose encoding is its fields in order. A field may name the decoder
/// config it needs (`=> cfg`), e.g. the length bounds of a list.
macro_rules! value_struct {
    (
        $(#[$doc:meta])*
        $name:ident { $($(#[$fattr:meta])* $field:ident : $ty:ty $(=> $cfg:expr)?),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name { $($(#[$fattr])* pub $field: $ty),+ }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                $(self.$field.write(buf);)+
            }
        }

        impl EncodeSize for $name {
            fn encode_size(&self) -> usize {
                0 $(+ self.$field.encode_size())+
            }
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                Ok(Self { $($field: value_struct!(@read buf, $ty $(, $cfg)?)),+ })
            }
        }
    };
    (@read $buf:ident, $ty:ty) => { <$ty>::read($buf)? };
    (@read $buf:ident, $ty:ty, $cfg:expr) => { <$ty>::read_cfg($buf, &$cfg)? };
}

value_struct!(
    /// The chain's identity, fixed at genesis (`cfg/chain`): its id, the regulator (S2-flow
    /// step 1: the supervision department is named when the chain starts), and what the
    /// threshold PKG's key generation (S3-setup, [`crate::pkg`]) binds to: the genesis digest
    /// and the validators who deal and hold the master-key shares.
    ChainConfig {
        /// Chain id, inside every signed transaction.
        chain_id: ChainId,
        /// The only account that changes organisation states (S2-state).
        regulator: Address,
        /// [`medchain_types::Genesis::digest`]: the DKG's namespace ends with it, so dealer
        /// logs of another chain never verify here.
        #[serde(with = "serde_hex::codec")]
        genesis_digest: Hash32,
        /// The genesis validators, in genesis order: the DKG's dealers and players.
        validators: Vec<Address> => (RangeCfg::from(1..=limits::MAX_VALIDATORS), ()),
    }
);

value_struct!(
    /// The threshold PKG (`cfg/pkg`, S3-setup): present once the validators' distributed key
    /// generation completed. The master secret s exists only as Shamir shares held by the
    /// validators; `public_polynomial[0]` is P_pub = s·P, and coefficient commitment `j` lets
    /// anyone compute validator `i`'s public share (evaluation point `i + 1`, `i` its index in
    /// the sorted validator set) to check a partial key against.
    PkgState {
        /// The DKG round that produced the key (0 for the first key generation).
        round: u64,
        /// Partial keys needed to extract an identity key: the quorum n − f.
        threshold: u32,
        /// Compressed G1 coefficient commitments of the shared polynomial, `[0]` = P_pub.
        public_polynomial: Vec<G1Point> => (RangeCfg::from(1..=limits::MAX_VALIDATORS), ()),
        /// The validators whose dealings were combined, in key order.
        dealers: Vec<Address> => (RangeCfg::from(1..=limits::MAX_VALIDATORS), ()),
    }
);

value_struct!(
    /// The last executed block (`cfg/block`). Written by every block, so every block moves the
    /// state root and a proof names the height it was taken at.
    BlockInfo {
        /// Height.
        height: u64,
        /// Block timestamp, unix milliseconds.
        timestamp_ms: u64,
    }
);

value_struct!(
    /// An account (`acct/<address>`). Absent means nonce 0 and no balance.
    #[derive(Default)]
    Account {
        /// The nonce the account's next transaction must carry.
        nonce: u64,
        /// Tokens held as a balance (S1-tokens): fees are paid from it, access rewards and
        /// staking move it, and transfers move coins into and out of it.
        balance: u64,
    }
);

value_struct!(
    /// A registered organisation (`org/<name>`, S2-register, S2-state).
    Org {
        /// Registered name.
        name: OrgName,
        /// Kind of institution.
        kind: OrgKind,
        /// Audit state, changed only by the regulator.
        state: OrgState,
        /// The address that registered it.
        founder: Address,
        /// Number of member addresses.
        members: u64,
        /// Height of the registering block.
        registered_at: u64,
    }
);

value_struct!(
    /// An address's organisation (`member/<address>`): at most one per address.
    Membership {
        /// The organisation.
        org: OrgName,
        /// Height at which the address joined (or registered the organisation).
        joined_at: u64,
        /// The audited member who endorsed the join; `None` for the founder.
        endorser: Option<Address>,
    }
);

value_struct!(
    /// A released record (`rec/<record id>`, S1-release): a doctor's hEMR for a patient,
    /// released on SUP with the doctor's signature or mined on MED and imported from a SUP
    /// checkpoint (S3-supervise).
    Record {
        /// Patient pseudonym.
        patient: Address,
        /// Releasing doctor.
        doctor: Address,
        /// The doctor's audited hospital at release time.
        hospital: OrgName,
        /// hEMR: hash of the record's plaintext.
        record_hash: ContentHash,
        /// How the release reached the chain, and what proves the doctor made it.
        origin: RecordOrigin,
        /// Height of the releasing block (for a mined record: of the SUP block that
        /// checkpointed its Mblock).
        released_at: u64,
        /// Timestamp of the releasing block, unix milliseconds.
        timestamp_ms: u64,
    }
);

/// How a [`Record`] was released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordOrigin {
    /// A `record.release` transaction on SUP, carrying the doctor's own signature.
    Signed {
        /// The doctor's signature over the [`medchain_types::RecordAttestation`].
        #[serde(with = "serde_hex::codec")]
        attestation: Signature,
    },
    /// A tx_mr mined on MED, imported when a SUP block checkpointed its Mblock
    /// (S3-supervise). The doctor's signature is inside that Mblock's one aggregate, which
    /// the SUP validators verified before voting; the record id is its htxM.
    Mined {
        /// The Mblock's hash.
        #[serde(with = "serde_hex::codec")]
        mblock: Hash32,
        /// The tx_mr's position among the Mblock's releases, in body order (its leaf in the
        /// Mblock's `tx_root`).
        index: u32,
    },
}

impl RecordOrigin {
    const SIGNED: u8 = 0;
    const MINED: u8 = 1;
}

impl Write for RecordOrigin {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Signed { attestation } => {
                Self::SIGNED.write(buf);
                attestation.write(buf);
            }
            Self::Mined { mblock, index } => {
                Self::MINED.write(buf);
                mblock.write(buf);
                index.write(buf);
            }
        }
    }
}

impl EncodeSize for RecordOrigin {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Signed { attestation } => attestation.encode_size(),
            Self::Mined { mblock, index } => mblock.encode_size() + index.encode_size(),
        }
    }
}

impl Read for RecordOrigin {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            Self::SIGNED => Ok(Self::Signed {
                attestation: Signature::read(buf)?,
            }),
            Self::MINED => Ok(Self::Mined {
                mblock: Hash32::read(buf)?,
                index: u32::read(buf)?,
            }),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

value_struct!(
    /// Where a record's encrypted blob is (`store/<record id>`, S1-storage); the newest wins.
    StoragePointer {
        /// Hash pointer to the release transaction.
        record: RecordId,
        /// Hash pointer to the encrypted blob.
        blob_hash: ContentHash,
        /// Where the blob is kept.
        location: Uri,
        /// Height of the storing block.
        stored_at: u64,
    }
);

value_struct!(
    /// A patient's consent (`consent/<consent id>`, S1-sharing).
    Consent {
        /// The granting patient.
        patient: Address,
        /// Who may access.
        grantee: Address,
        /// Which records.
        records: Vec<RecordId> => (RangeCfg::from(1..=limits::MAX_CONSENT_RECORDS), ()),
        /// For what.
        purpose: Purpose,
        /// Until when.
        expiry: Expiry,
        /// Height of the granting block.
        granted_at: u64,
        /// Height of the revoking block, if revoked.
        revoked_at: Option<u64>,
        /// What each access allowed under it pays the patient (S1-tokens), fixed at grant
        /// time: the grant's reward, or the chain's default.
        reward: u64,
    }
);

value_struct!(
    /// One logged access decision (`log/<patient><seq>`, S1-rights): who asked for what, when,
    /// and the answer.
    AccessLogEntry {
        /// Who asked.
        requester: Address,
        /// For which record.
        record: RecordId,
        /// Why.
        purpose: Purpose,
        /// The answer.
        decision: AccessDecision,
        /// Height of the deciding block.
        height: u64,
        /// Timestamp of the deciding block, unix milliseconds.
        timestamp_ms: u64,
        /// The request transaction.
        tx: TxId,
        /// The hospital gateway that served the request off chain and filed it
        /// (`access.serve`); `None` for a request filed by the requester (`access.request`).
        served_by: Option<Address>,
    }
);

// Identity, licence and revocation list (issue 8).

value_struct!(
    /// An enrolled identity (`ident/<SHA-256(identity)>`, S3-register, S4-ca): the name the
    /// identity-based keys are extracted for, bound once and for good to one address.
    IdentityRecord {
        /// The identity.
        identity: IdentityName,
        /// The chain address it is bound to (the only one that may obtain its keys).
        address: Address,
        /// Patient, doctor or hospital.
        role: Role,
        /// The audited hospital organisation of a doctor or hospital; `None` for a patient.
        org: Option<OrgName>,
        /// L_U1 = x_U·P, the entity's own key part (a valid, non-identity G1 point).
        key_part: G1Point,
        /// Height of the enrolling block.
        enrolled_at: u64,
    }
);

value_struct!(
    /// A doctor's licence ρ = (ID_HN, ID_DN, EXP) (`lic/<SHA-256(doctor)>`, S3-register).
    Licence {
        /// The licensed doctor.
        doctor: IdentityName,
        /// The hospital identity that issued (or last renewed) it.
        hospital: IdentityName,
        /// The organisation both belong to.
        org: OrgName,
        /// End of validity, unix milliseconds (compared with block timestamps).
        expires_at_ms: u64,
        /// Height of the issuing (or last renewing) block.
        issued_at: u64,
    }
);

value_struct!(
    /// A doctor on the revocation list (`revoked/<SHA-256(doctor)>`, S3-revoke). Lifting the
    /// revocation deletes the entry.
    Revocation {
        /// The revoked doctor.
        doctor: IdentityName,
        /// Who revoked: the licensing hospital's address or the regulator.
        by: Address,
        /// Height of the revoking block.
        at: u64,
    }
);

// EMR entries, vouching keys and emergencies (issue 9).

value_struct!(
    /// An encrypted EMR entry EEE a patient filed (`entry/<id>`, S3-entry): opaque to the
    /// chain; whoever holds the patient's biometric template can open it in an emergency.
    EmrEntryRecord {
        /// The patient who filed it.
        patient: Address,
        /// The encrypted entry.
        entry: EntryBytes,
        /// Height of the filing block.
        filed_at: u64,
        /// Timestamp of the filing block, unix milliseconds.
        timestamp_ms: u64,
    }
);

value_struct!(
    /// A doctor's or hospital's BLS vouching key (`vouch/<address>`, S3-emergency), registered
    /// with a verified proof of possession.
    VouchingKey {
        /// The key.
        key: BlsPublicKey,
        /// Height of the block that set (or last replaced) it.
        set_at: u64,
    }
);

value_struct!(
    /// A vouched emergency request tx_ur (`emerg/<id>`, S3-emergency): the treating doctor and
    /// its hospital both signed for this record; the record's holder may serve it
    /// (break-glass) within [`medchain_types::limits::EMERGENCY_WINDOW_MS`] of filing.
    EmergencyRecord {
        /// The treating doctor's identity.
        doctor: IdentityName,
        /// Its address (the requester the holder serves).
        doctor_address: Address,
        /// The filing hospital identity.
        hospital: IdentityName,
        /// The organisation of both.
        org: OrgName,
        /// The record needed.
        record: RecordId,
        /// The record's patient (notified).
        patient: Address,
        /// h_ur, binding the request to the opened EMR entry.
        #[serde(with = "serde_hex::codec")]
        hur: Hash32,
        /// When the doctor issued the request, unix milliseconds.
        issued_at_ms: u64,
        /// Height of the filing block.
        filed_at: u64,
        /// Timestamp of the filing block, unix milliseconds.
        timestamp_ms: u64,
    }
);

// The MED chain's checkpoints (issue 13, S3-supervise).

value_struct!(
    /// The MED chain's configuration (`cfg/med`, S3-dual), from the genesis: what SUP needs
    /// to recompute the MED genesis Mblock and the difficulty rule. Absent on a chain without
    /// MED, which checkpoints nothing.
    #[derive(Copy)]
    MedConfig {
        /// The genesis parameters.
        params: MedParams,
        /// The genesis time, unix milliseconds (the MED genesis Mblock's timestamp).
        genesis_time_ms: u64,
    }
);

value_struct!(
    /// The newest Mblock SUP has checkpointed (`med/tip`): the next checkpoint's branch must
    /// start at its child. Absent before the first checkpoint, when the tip is the MED genesis
    /// Mblock.
    MedTip {
        /// Its hash.
        #[serde(with = "serde_hex::codec")]
        hash: Hash32,
        /// Its MED height.
        height: u64,
        /// Height of the SUP block that checkpointed it.
        checkpointed_at: u64,
    }
);

value_struct!(
    /// A checkpointed Mblock's header (`med/header/<hash>`): what light clients check records
    /// against, and what the next checkpoint's retarget window is computed from.
    CheckpointedHeader {
        /// The header.
        header: MblockHeader,
        /// Height of the SUP block that checkpointed it.
        checkpointed_at: u64,
    }
);

// Tokens (issue 11, S1-tokens, S1-utxo).

value_struct!(
    /// An unspent output (`utxo/<tx id><index>`, S1-utxo). Spending deletes it, so "spent" and
    /// "never existed" are the same exclusion proof.
    Output {
        /// Amount.
        value: u64,
        /// Who may spend it.
        lock: Lock,
        /// From when it may be spent.
        unlock: Option<LockTime>,
        /// Height of the block that created it.
        created_at: u64,
    }
);

value_struct!(
    /// The token economy's parameters (`cfg/tokens`): the genesis
    /// [`medchain_types::TokenGenesis`] without its allocations. Absent on a chain without
    /// tokens.
    #[derive(Copy)]
    TokenConfig {
        /// What a transaction must pay.
        fees: FeeSchedule,
        /// Minted for each block's proposer until `max_supply`.
        block_reward: u64,
        /// The most tokens that may exist.
        max_supply: u64,
        /// The proposer's share of its block's fees, basis points.
        proposer_share_bps: u16,
        /// The access reward of a consent that names none.
        access_reward_default: u64,
        /// Delegated proof of stake.
        staking: StakingParams,
    }
);

impl From<&TokenGenesis> for TokenConfig {
    fn from(tokens: &TokenGenesis) -> Self {
        Self {
            fees: tokens.fees,
            block_reward: tokens.block_reward,
            max_supply: tokens.max_supply,
            proposer_share_bps: tokens.proposer_share_bps,
            access_reward_default: tokens.access_reward_default,
            staking: tokens.staking,
        }
    }
}

value_struct!(
    /// Where every token is accounted for (`cfg/supply`): the tokens in existence are
    /// `genesis + minted - burned`, and equal every balance, output, bonded or unbonding stake
    /// and the epoch's fee pool together.
    Supply {
        /// Allocated at genesis.
        genesis: u64,
        /// Minted since, as block rewards (never past `max_supply`).
        minted: u64,
        /// Burned since (slashes).
        burned: u64,
    }
);

impl Supply {
    /// The tokens in existence.
    pub fn circulating(&self) -> u64 {
        self.genesis
            .saturating_add(self.minted)
            .saturating_sub(self.burned)
    }
}

value_struct!(
    /// The epoch the next block runs in and the fees pooled for its validators (`cfg/epoch`).
    EpochState {
        /// The epoch.
        epoch: u64,
        /// The part of the epoch's fees not paid to proposers; shared at the epoch's end.
        fee_pool: u64,
    }
);

/// What a token history entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Tokens received by a transfer.
    Received = 0,
    /// Tokens sent by a transfer.
    Sent = 1,
    /// A patient was paid for an access under its consent (S1-tokens).
    AccessReward = 2,
    /// A requester (or gateway) paid a patient for an access.
    AccessPaid = 3,
    /// A validator's share of an epoch's fee pool.
    EpochReward = 4,
    /// Tokens locked in an escrow.
    EscrowLocked = 5,
    /// An escrow paid out to this account.
    EscrowSettled = 6,
    /// Tokens bonded to a candidate.
    Staked = 7,
    /// Unbonded tokens returned.
    Unstaked = 8,
    /// Stake burned for equivocation.
    Slashed = 9,
    /// Tokens locked in a study's pool by its researcher (S4-flow).
    StudyFunded = 10,
    /// An enrolment's advance (the part of its reward that pays its fee), paid from a
    /// study's pool.
    StudyReward = 11,
    /// A study's unspent pool, returned to its researcher.
    StudyRefund = 12,
    /// The rest of an enrolment's reward, claimed from a study's pool by its payee.
    StudyRewardClaimed = 13,
}

impl LedgerKind {
    /// Every kind, in tag order.
    pub const ALL: [Self; 14] = [
        Self::Received,
        Self::Sent,
        Self::AccessReward,
        Self::AccessPaid,
        Self::EpochReward,
        Self::EscrowLocked,
        Self::EscrowSettled,
        Self::Staked,
        Self::Unstaked,
        Self::Slashed,
        Self::StudyFunded,
        Self::StudyReward,
        Self::StudyRefund,
        Self::StudyRewardClaimed,
    ];
}

impl Write for LedgerKind {
    fn write(&self, buf: &mut impl BufMut) {
        (*self as u8).write(buf);
    }
}

impl EncodeSize for LedgerKind {
    fn encode_size(&self) -> usize {
        1
    }
}

impl Read for LedgerKind {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let tag = u8::read(buf)?;
        Self::ALL
            .get(usize::from(tag))
            .copied()
            .ok_or(CodecError::InvalidEnum(tag))
    }
}

value_struct!(
    /// One entry of an account's token history (`tokhist/<address><seq>`): what `medchain token
    /// history` shows. Fees and per-block proposer rewards are not listed (one entry per
    /// transaction or block would double the writes); the balance and `cfg/supply` show them.
    LedgerEntry {
        /// The transaction (for an epoch reward: none, all zeroes).
        tx: TxId,
        /// Height of the block.
        height: u64,
        /// What happened.
        kind: LedgerKind,
        /// How many tokens.
        amount: u64,
        /// The other party, when there is one.
        counterparty: Option<Address>,
    }
);

value_struct!(
    /// An escrow (`escrow/<id>`, S1-utxo's contract lock): `amount` locked in the output
    /// `output`, released to `payee` by the payer or the arbiter, or refunded to the payer.
    Escrow {
        /// Who locked the tokens.
        payer: Address,
        /// Who is paid on release.
        payee: Address,
        /// Who may release or refund besides the parties.
        arbiter: Address,
        /// Amount locked.
        amount: u64,
        /// From when the payer may refund.
        refund_after: LockTime,
        /// The escrow-locked output.
        output: OutPoint,
        /// When and to whom it was paid out (height, recipient), once settled.
        settled: Option<(u64, Address)> => ((), ()),
    }
);

// Staking, election and slashing (issue 11, S1-dpos).

value_struct!(
    /// A candidate validator and its staking pool (`cand/<node key>`, S1-dpos). Delegators
    /// own shares of the pool: slashing scales the pool's tokens, not every delegation, so it
    /// costs the same whatever the number of delegators.
    Candidate {
        /// The audited hospital organisation that endorsed it; `None` for a genesis validator.
        org: Option<OrgName>,
        /// Where peers dial it (`host:port`); `None` for a genesis validator, whose address is
        /// in every node's configuration.
        p2p: Option<PeerAddress>,
        /// Tokens bonded to it: what the election ranks by.
        bonded_tokens: u64,
        /// Shares outstanding over `bonded_tokens`.
        bonded_shares: u64,
        /// Tokens leaving it, still slashable until withdrawn.
        unbonding_tokens: u64,
        /// Shares outstanding over `unbonding_tokens`.
        unbonding_shares: u64,
        /// Slashed for equivocation: never elected again.
        jailed: bool,
        /// Height of the registering block (0 for a genesis validator).
        registered_at: u64,
    }
);

value_struct!(
    /// A delegator's shares of a candidate's bonded pool (`deleg/<candidate><delegator>`).
    Delegation {
        /// Shares of [`Candidate::bonded_shares`].
        shares: u64,
    }
);

value_struct!(
    /// A delegator's shares of a candidate's unbonding pool (`unbond/<candidate><delegator>`),
    /// withdrawable from `release_epoch` on.
    Unbonding {
        /// Shares of [`Candidate::unbonding_shares`].
        shares: u64,
        /// The first epoch in which `stake.withdraw` pays them out.
        release_epoch: u64,
    }
);

value_struct!(
    /// One elected validator: its key, its bonded stake at the election, and where to dial it.
    ValidatorEntry {
        /// Consensus (node) key.
        key: Address,
        /// Bonded tokens when elected.
        stake: u64,
        /// Where peers dial it; `None` for a genesis validator.
        p2p: Option<PeerAddress>,
    }
);

value_struct!(
    /// The validator set of an epoch (`vset/<epoch>`), sorted by key: the order consensus
    /// numbers signers in.
    ValidatorSet {
        /// The epoch it signs.
        epoch: u64,
        /// The validators, sorted by key, no key twice.
        validators: Vec<ValidatorEntry> => (RangeCfg::from(1..=limits::MAX_VALIDATORS), ()),
    }
);

value_struct!(
    /// A slash for equivocation (`slashed/<epoch><offender>`): at most one per offender and
    /// epoch.
    SlashRecord {
        /// Tokens burned from both of the offender's pools.
        amount: u64,
        /// Who reported the evidence.
        reporter: Address,
        /// Height of the reporting block.
        height: u64,
    }
);

// Research market (issue 12, S4-flow, S4-exclusive).

/// Short UTF-8 text in a state value (a study's title, a circuit's schema id), bounded by the
/// decoder's range; plain text in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShortText(pub String);

impl Write for ShortText {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.as_bytes().write(buf);
    }
}

impl EncodeSize for ShortText {
    fn encode_size(&self) -> usize {
        self.0.as_bytes().encode_size()
    }
}

impl Read for ShortText {
    type Cfg = RangeInclusive<usize>;
    fn read_cfg(buf: &mut impl Buf, range: &Self::Cfg) -> Result<Self, CodecError> {
        let bytes = Vec::<u8>::read_cfg(buf, &(RangeCfg::from(range.clone()), ()))?;
        String::from_utf8(bytes)
            .map(Self)
            .map_err(|_| CodecError::Invalid("text", "not UTF-8"))
    }
}

value_struct!(
    /// A registered circuit (`zkcircuit/<verifying key digest>`): the verifying key enrolment
    /// proofs of studies naming it are checked against, registered by the regulator.
    Circuit {
        /// The record schema it proves over (e.g. `clinical_v1`).
        schema: ShortText => (1..=limits::MAX_SCHEMA_ID_BYTES),
        /// The verifying key, in the `zk` crate's encoding (validated when registered).
        verifying_key: ZkBytes => (1..=limits::MAX_VERIFYING_KEY_BYTES),
        /// SHA-256 of the proving key file provers load.
        #[serde(with = "serde_hex::codec")]
        proving_key_digest: Hash32,
        /// Height of the registering block.
        registered_at: u64,
    }
);

value_struct!(
    /// A hospital's attestation of a record's commitment (`attested/<record>`): one per record.
    Attestation {
        /// The commitment to the record's attributes (a field element).
        #[serde(with = "serde_hex::codec")]
        commitment: Hash32,
        /// The hospital identity's address that attested it.
        hospital: Address,
        /// Its leaf index in the accumulator.
        leaf: u64,
        /// Height of the attesting block.
        height: u64,
    }
);

value_struct!(
    /// The accumulator of attested commitments (`cfg/accumulator`): an incremental Poseidon
    /// Merkle tree, stored as its frontier.
    AccumulatorState {
        /// `zk::Accumulator::to_bytes`.
        accumulator: ZkBytes => (1..=ZkBytes::MAX_LEN),
        /// Its root.
        #[serde(with = "serde_hex::codec")]
        root: Hash32,
        /// Commitments appended so far.
        leaves: u64,
    }
);

value_struct!(
    /// A re-encryption proxy (`proxy/<address>`), a member of an audited cloud organisation.
    Proxy {
        /// Its organisation.
        org: OrgName,
        /// X25519 public key patients seal key fragments to.
        #[serde(with = "serde_hex::codec")]
        encryption_key: Hash32,
        /// Where it serves.
        url: Uri,
        /// Height of the registering block.
        registered_at: u64,
    }
);

value_struct!(
    /// A study contract (`study/<id>`, S4-flow step 1) and its pool.
    Study {
        /// Who published it: the only one who funds and refunds it, and reads its records.
        researcher: Address,
        /// The researcher's audited research organisation.
        org: OrgName,
        /// Title.
        title: ShortText => (1..=limits::MAX_STUDY_TITLE_BYTES),
        /// Always [`Purpose::Research`].
        purpose: Purpose,
        /// The registered circuit's id (its verifying key's digest).
        #[serde(with = "serde_hex::codec")]
        circuit: Hash32,
        /// The eligibility predicate, in the `zk` crate's encoding.
        predicate: ZkBytes => (1..=limits::MAX_PREDICATE_BYTES),
        /// Earned by each accepted enrolment: an advance paid at once, the rest owed.
        reward: u64,
        /// Most enrolments accepted.
        max_participants: u32,
        /// Enrolment is open in blocks whose time is before it (unix milliseconds).
        deadline_ms: u64,
        /// How long after the deadline the researcher may dispute a pending enrolment; after
        /// it an undisputed owed reward is claimable.
        dispute_window_ms: u64,
        /// Whether records are licensed to it exclusively (S4-exclusive).
        exclusive: bool,
        /// The researcher's Umbral public key.
        researcher_key: ZkBytes => (limits::UMBRAL_PUBLIC_KEY_BYTES..=limits::UMBRAL_PUBLIC_KEY_BYTES),
        /// The proxies patients hand key fragments to.
        proxies: Vec<Address> => (RangeCfg::from(1..=limits::MAX_STUDY_PROXIES), ()),
        /// Proxies needed to re-encrypt.
        threshold: u8,
        /// The pool's contract-locked output, while it holds tokens (chains with tokens).
        pool: Option<OutPoint>,
        /// Tokens in the pool free for new rewards and the refund (on a chain without tokens,
        /// the amount funded and not yet spent).
        pooled: u64,
        /// Tokens in the pool owed to enrolments (pending, disputed or claimable): the pool's
        /// output holds `pooled + owed`, and a refund never takes them.
        owed: u64,
        /// Enrolments accepted.
        enrolled: u32,
        /// Height of the publishing block.
        published_at: u64,
    }
);

value_struct!(
    /// How a record's exclusivity nullifier was used (`exclnull/<exclusivity>`, S4-exclusive).
    Exclusivity {
        /// The exclusive study the record is licensed to, if any.
        exclusive_study: Option<StudyId>,
        /// Enrolments that used it, in any study.
        uses: u32,
    }
);

value_struct!(
    /// An accepted enrolment (`enrol/<id>`, S4-flow step 5).
    Enrolment {
        /// The study.
        study: StudyId,
        /// The one-time address that enrolled and was paid.
        payee: Address,
        /// The per (patient, study) nullifier.
        #[serde(with = "serde_hex::codec")]
        nullifier: Hash32,
        /// The per record exclusivity nullifier.
        #[serde(with = "serde_hex::codec")]
        exclusivity: Hash32,
        /// The patient's per-study Umbral delegating public key.
        delegating_key: ZkBytes => (limits::UMBRAL_PUBLIC_KEY_BYTES..=limits::UMBRAL_PUBLIC_KEY_BYTES),
        /// The patient's per-study Umbral verifying public key.
        verifying_key: ZkBytes => (limits::UMBRAL_PUBLIC_KEY_BYTES..=limits::UMBRAL_PUBLIC_KEY_BYTES),
        /// Hash of the encrypted record the proxies serve.
        ciphertext_hash: ContentHash,
        /// The delivery tag the researcher checks the decrypted record against.
        #[serde(with = "serde_hex::codec")]
        delivery: Hash32,
        /// Tokens paid at enrolment: `min(fee, reward)` (0 on a chain without tokens).
        advance: u64,
        /// The rest of the reward, kept in the study's pool until claimed or returned.
        owed: u64,
        /// Where the owed reward stands.
        settlement: Settlement,
        /// Height of the enrolling block.
        height: u64,
    }
);

/// Where an enrolment's owed reward stands (accountable payment: the researcher confirms
/// the delivered record, or disputes it before the dispute window ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// Neither acknowledged nor disputed: claimable once the dispute window has passed.
    Pending,
    /// The researcher confirmed the record: claimable.
    Acknowledged,
    /// The researcher disputed the delivery: frozen until the regulator resolves it.
    Disputed,
    /// The regulator resolved the dispute: `pay` made it claimable, otherwise the owed reward
    /// returned to the study's pool.
    Resolved {
        /// Whether the payee is paid.
        pay: bool,
    },
    /// The payee took the owed reward.
    Claimed,
}

impl Write for Settlement {
    fn write(&self, buf: &mut impl BufMut) {
        let tag: u8 = match self {
            Self::Pending => 0,
            Self::Acknowledged => 1,
            Self::Disputed => 2,
            Self::Resolved { pay: false } => 3,
            Self::Resolved { pay: true } => 4,
            Self::Claimed => 5,
        };
        tag.write(buf);
    }
}

impl EncodeSize for Settlement {
    fn encode_size(&self) -> usize {
        1
    }
}

impl Read for Settlement {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(match u8::read(buf)? {
            0 => Self::Pending,
            1 => Self::Acknowledged,
            2 => Self::Disputed,
            3 => Self::Resolved { pay: false },
            4 => Self::Resolved { pay: true },
            5 => Self::Claimed,
            other => return Err(CodecError::InvalidEnum(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{address, record_id};
    use commonware_cryptography::Signer;
    use medchain_types::{ConsentId, DenyReason, PrivateKey};
    use proptest::prelude::*;

    fn raw(seed: u64) -> Address {
        address(seed)
    }

    fn round_trips<V: StateValue + PartialEq + std::fmt::Debug>(value: &V) {
        let bytes = value.to_bytes();
        let decoded = V::from_bytes(&bytes).expect("decodes");
        assert_eq!(&decoded, value);
        assert_eq!(decoded.to_bytes(), bytes, "canonical");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(V::from_bytes(&longer).is_err(), "trailing bytes refused");
        for cut in 0..bytes.len() {
            assert!(
                V::from_bytes(&bytes[..cut]).is_err(),
                "truncated at {cut} refused"
            );
        }
    }

    fn consent(records: Vec<RecordId>, revoked_at: Option<u64>) -> Consent {
        Consent {
            patient: raw(1),
            grantee: raw(2),
            records,
            purpose: Purpose::Research,
            expiry: Expiry::AtTime(9),
            granted_at: 3,
            revoked_at,
            reward: 5,
        }
    }

    #[test]
    fn every_value_round_trips_canonically() {
        let name = OrgName::new("Seoul General").unwrap();
        round_trips(&ChainConfig {
            chain_id: ChainId::new("medchain-test").unwrap(),
            regulator: address(0),
            genesis_digest: ContentHash::of(b"genesis").0,
            validators: vec![raw(1), raw(2)],
        });
        round_trips(&PkgState {
            round: 0,
            threshold: 3,
            public_polynomial: vec![G1Point([1; G1Point::LEN]); 3],
            dealers: vec![raw(1), raw(2), raw(3)],
        });
        round_trips(&BlockInfo {
            height: 7,
            timestamp_ms: 8,
        });
        round_trips(&Account {
            nonce: u64::MAX,
            balance: 7,
        });
        round_trips(&Output {
            value: 9,
            lock: Lock::Multi {
                threshold: 2,
                keys: vec![raw(1), raw(2)],
            },
            unlock: Some(LockTime::Height(4)),
            created_at: 3,
        });
        round_trips(&Supply {
            genesis: 1,
            minted: 2,
            burned: 3,
        });
        round_trips(&EpochState {
            epoch: 1,
            fee_pool: 2,
        });
        for kind in LedgerKind::ALL {
            round_trips(&LedgerEntry {
                tx: TxId::of_encoded(b"tx"),
                height: 3,
                kind,
                amount: 4,
                counterparty: Some(raw(1)),
            });
        }
        let escrow = Escrow {
            payer: raw(1),
            payee: raw(2),
            arbiter: raw(3),
            amount: 7,
            refund_after: LockTime::TimeMs(9),
            output: OutPoint {
                tx: TxId::of_encoded(b"open"),
                index: 0,
            },
            settled: Some((5, raw(2))),
        };
        round_trips(&escrow);
        round_trips(&Escrow {
            settled: None,
            ..escrow
        });
        round_trips(&TokenConfig {
            fees: FeeSchedule {
                base: 1,
                per_byte: 2,
            },
            block_reward: 3,
            max_supply: 4,
            proposer_share_bps: 5,
            access_reward_default: 6,
            staking: StakingParams {
                epoch_length: 7,
                max_validators: 8,
                min_validators: 9,
                min_stake: 10,
                unbonding_epochs: 11,
                slash_bps: 12,
            },
        });
        round_trips(&Org {
            name: name.clone(),
            kind: OrgKind::Research,
            state: OrgState::Suspended,
            founder: raw(1),
            members: 3,
            registered_at: 4,
        });
        round_trips(&Membership {
            org: name.clone(),
            joined_at: 2,
            endorser: None,
        });
        round_trips(&Membership {
            org: name.clone(),
            joined_at: 2,
            endorser: Some(raw(5)),
        });
        round_trips(&Record {
            patient: raw(1),
            doctor: raw(2),
            hospital: name.clone(),
            record_hash: ContentHash::of(b"emr"),
            origin: RecordOrigin::Signed {
                attestation: PrivateKey::from_seed(2).sign(b"ns", b"msg"),
            },
            released_at: 5,
            timestamp_ms: 6,
        });
        round_trips(&Record {
            patient: raw(1),
            doctor: raw(2),
            hospital: name.clone(),
            record_hash: ContentHash::of(b"emr"),
            origin: RecordOrigin::Mined {
                mblock: ContentHash::of(b"mblock").0,
                index: 7,
            },
            released_at: 5,
            timestamp_ms: 6,
        });
        round_trips(&MedConfig {
            params: MedParams {
                target_interval_ms: 1,
                initial_difficulty: 2,
                min_difficulty: 3,
                retarget_window: 4,
            },
            genesis_time_ms: 5,
        });
        round_trips(&MedTip {
            hash: ContentHash::of(b"mblock").0,
            height: 4,
            checkpointed_at: 9,
        });
        round_trips(&CheckpointedHeader {
            header: MblockHeader {
                height: 4,
                parent: ContentHash::of(b"parent").0,
                tx_root: ContentHash::of(b"txs").0,
                body_hash: ContentHash::of(b"body").0,
                timestamp_ms: 5,
                difficulty: 6,
                miner: raw(3),
                nonce: 7,
            },
            checkpointed_at: 9,
        });
        round_trips(&StoragePointer {
            record: record_id(1),
            blob_hash: ContentHash::of(b"blob"),
            location: Uri::new("s3://bucket/key").unwrap(),
            stored_at: 9,
        });
        round_trips(&consent(vec![record_id(1), record_id(2)], None));
        round_trips(&consent(vec![record_id(1)], Some(12)));
        round_trips(&record_id(3));
        round_trips(&7u64);
    }

    #[test]
    fn identity_licence_and_revocation_values_round_trip_canonically() {
        let doctor = IdentityName::new("dr-kim@seoul-general").unwrap();
        let org = OrgName::new("Seoul General").unwrap();
        for (role, org) in [(Role::Doctor, Some(org.clone())), (Role::Patient, None)] {
            round_trips(&IdentityRecord {
                identity: doctor.clone(),
                address: raw(1),
                role,
                org,
                key_part: crate::testkit::key_part(1),
                enrolled_at: 3,
            });
        }
        round_trips(&Licence {
            doctor: doctor.clone(),
            hospital: IdentityName::new("seoul-general").unwrap(),
            org,
            expires_at_ms: u64::MAX,
            issued_at: 4,
        });
        round_trips(&Revocation {
            doctor: doctor.clone(),
            by: raw(2),
            at: 5,
        });
        round_trips(&EmrEntryRecord {
            patient: raw(1),
            entry: EntryBytes(vec![9; 200]),
            filed_at: 3,
            timestamp_ms: 4,
        });
        round_trips(&VouchingKey {
            key: BlsPublicKey([5; BlsPublicKey::LEN]),
            set_at: 6,
        });
        round_trips(&EmergencyRecord {
            doctor,
            doctor_address: raw(2),
            hospital: IdentityName::new("seoul-general").unwrap(),
            org: OrgName::new("Seoul General").unwrap(),
            record: record_id(1),
            patient: raw(3),
            hur: ContentHash::of(b"hur").0,
            issued_at_ms: 7,
            filed_at: 8,
            timestamp_ms: 9,
        });
    }

    #[test]
    fn staking_values_round_trip_canonically() {
        for (org, p2p) in [
            (None, None),
            (
                Some(OrgName::new("Seoul General").unwrap()),
                Some(PeerAddress::new("10.0.0.4:9000").unwrap()),
            ),
        ] {
            round_trips(&Candidate {
                org,
                p2p,
                bonded_tokens: 1,
                bonded_shares: 2,
                unbonding_tokens: 3,
                unbonding_shares: 4,
                jailed: true,
                registered_at: 5,
            });
        }
        round_trips(&Delegation { shares: 7 });
        round_trips(&Unbonding {
            shares: 7,
            release_epoch: 9,
        });
        let entry = |seed, p2p: Option<&str>| ValidatorEntry {
            key: raw(seed),
            stake: seed,
            p2p: p2p.map(|p| PeerAddress::new(p).unwrap()),
        };
        round_trips(&ValidatorSet {
            epoch: 1,
            validators: vec![entry(1, None), entry(2, Some("[::1]:9000"))],
        });
        round_trips(&SlashRecord {
            amount: 10,
            reporter: raw(3),
            height: 11,
        });
        // A validator set is never empty.
        let empty = ValidatorSet {
            epoch: 1,
            validators: Vec::new(),
        };
        assert!(ValidatorSet::from_bytes(&empty.to_bytes()).is_err());
    }

    #[test]
    fn every_decision_round_trips_in_a_log_entry() {
        let mut decisions = vec![
            AccessDecision::Allowed { consent: None },
            AccessDecision::Allowed {
                consent: Some(ConsentId(record_id(4).0)),
            },
            AccessDecision::BreakGlass {
                emergency: medchain_types::EmergencyId(record_id(5).0),
            },
        ];
        decisions.extend(DenyReason::ALL.map(|reason| AccessDecision::Denied { reason }));
        let served_by = [None, Some(raw(7))].into_iter().cycle();
        for (decision, served_by) in decisions.into_iter().zip(served_by) {
            round_trips(&AccessLogEntry {
                requester: raw(3),
                record: record_id(1),
                purpose: Purpose::Treatment,
                decision,
                height: 10,
                timestamp_ms: 11,
                tx: TxId(record_id(9).0),
                served_by,
            });
        }
    }

    fn study(proxies: usize, title: &str) -> Study {
        Study {
            researcher: raw(1),
            org: OrgName::new("Yonsei Research").unwrap(),
            title: ShortText(title.into()),
            purpose: Purpose::Research,
            circuit: record_id(1).0,
            predicate: ZkBytes(vec![7; 60]),
            reward: 1_000,
            max_participants: 10,
            deadline_ms: 9,
            dispute_window_ms: 86_400_000,
            exclusive: true,
            researcher_key: ZkBytes(vec![2; limits::UMBRAL_PUBLIC_KEY_BYTES]),
            proxies: (0..proxies as u64).map(raw).collect(),
            threshold: 2,
            pool: Some(OutPoint {
                tx: TxId::of_encoded(b"fund"),
                index: 0,
            }),
            pooled: 4_000,
            owed: 900,
            enrolled: 1,
            published_at: 3,
        }
    }

    #[test]
    fn research_values_round_trip_and_bound_their_fields() {
        round_trips(&Circuit {
            schema: ShortText("clinical_v1".into()),
            verifying_key: ZkBytes(vec![1; 480]),
            proving_key_digest: record_id(2).0,
            registered_at: 4,
        });
        round_trips(&Attestation {
            commitment: record_id(3).0,
            hospital: raw(2),
            leaf: 41,
            height: 5,
        });
        round_trips(&AccumulatorState {
            accumulator: ZkBytes(vec![3; 800]),
            root: record_id(4).0,
            leaves: 42,
        });
        round_trips(&Proxy {
            org: OrgName::new("Cloud One").unwrap(),
            encryption_key: record_id(5).0,
            url: Uri::new("http://127.0.0.1:9100").unwrap(),
            registered_at: 6,
        });
        round_trips(&study(limits::MAX_STUDY_PROXIES, "HbA1c outcomes"));
        round_trips(&Exclusivity {
            exclusive_study: Some(StudyId(record_id(6).0)),
            uses: 1,
        });
        round_trips(&Enrolment {
            study: StudyId(record_id(6).0),
            payee: raw(3),
            nullifier: record_id(7).0,
            exclusivity: record_id(8).0,
            delegating_key: ZkBytes(vec![2; limits::UMBRAL_PUBLIC_KEY_BYTES]),
            verifying_key: ZkBytes(vec![3; limits::UMBRAL_PUBLIC_KEY_BYTES]),
            ciphertext_hash: ContentHash::of(b"ciphertext"),
            delivery: record_id(9).0,
            advance: 100,
            owed: 900,
            settlement: Settlement::Resolved { pay: true },
            height: 7,
        });
        for settlement in [
            Settlement::Pending,
            Settlement::Acknowledged,
            Settlement::Disputed,
            Settlement::Resolved { pay: false },
            Settlement::Resolved { pay: true },
            Settlement::Claimed,
        ] {
            let mut bytes = Vec::new();
            settlement.write(&mut bytes);
            assert_eq!(
                Settlement::read_cfg(&mut Copying(&bytes), &()).unwrap(),
                settlement
            );
        }
        assert!(Settlement::read_cfg(&mut Copying(&[6]), &()).is_err());
        // Out of bounds: no proxy or too many, an empty or overlong title, text not UTF-8.
        assert!(Study::from_bytes(&study(0, "t").to_bytes()).is_err());
        let nine = study(limits::MAX_STUDY_PROXIES + 1, "t");
        assert!(Study::from_bytes(&nine.to_bytes()).is_err());
        assert!(Study::from_bytes(&study(3, "").to_bytes()).is_err());
        let long = "t".repeat(limits::MAX_STUDY_TITLE_BYTES + 1);
        assert!(Study::from_bytes(&study(3, &long).to_bytes()).is_err());
        let mut not_utf8 = Vec::new();
        vec![0xff_u8, 0xfe].write(&mut not_utf8);
        assert!(ShortText::read_cfg(&mut Copying(&not_utf8), &(1..=8)).is_err());
        // JSON shows the title as text, not bytes.
        let json = serde_json::to_value(study(3, "HbA1c outcomes")).unwrap();
        assert_eq!(json["title"], "HbA1c outcomes");
    }

    #[test]
    fn out_of_range_tags_and_counts_are_refused() {
        let mut bytes = consent(vec![record_id(1)], None).to_bytes();
        // The record count follows the two addresses; zero records is not a consent.
        bytes[64] = 0;
        assert!(Consent::from_bytes(&bytes).is_err());
        let too_many: Vec<RecordId> = (0..=limits::MAX_CONSENT_RECORDS as u64)
            .map(record_id)
            .collect();
        assert!(Consent::from_bytes(&consent(too_many, None).to_bytes()).is_err());

        let entry_bytes = |decision_tag: u8, reason_tag: u8| {
            let mut bytes = Vec::new();
            address(1).write(&mut bytes);
            record_id(1).write(&mut bytes);
            Purpose::Audit.write(&mut bytes);
            bytes.extend([decision_tag, reason_tag]);
            bytes.extend([0u8; 16 + 32 + 1]);
            bytes
        };
        // Decision tags: 0 allowed, 1 denied, 2 break-glass (medchain_types::AccessDecision's
        // codec); deny reasons 0..=15.
        assert!(AccessLogEntry::from_bytes(&entry_bytes(1, 15)).is_ok());
        assert!(AccessLogEntry::from_bytes(&entry_bytes(1, 16)).is_err());
        assert!(AccessLogEntry::from_bytes(&entry_bytes(3, 0)).is_err());
        // An optional consent id's presence flag must be 0 or 1.
        assert!(AccessLogEntry::from_bytes(&entry_bytes(0, 2)).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic_any_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ChainConfig::from_bytes(&bytes);
            let _ = PkgState::from_bytes(&bytes);
            let _ = Org::from_bytes(&bytes);
            let _ = Membership::from_bytes(&bytes);
            let _ = Record::from_bytes(&bytes);
            let _ = MedTip::from_bytes(&bytes);
            let _ = CheckpointedHeader::from_bytes(&bytes);
            let _ = StoragePointer::from_bytes(&bytes);
            let _ = Consent::from_bytes(&bytes);
            let _ = AccessLogEntry::from_bytes(&bytes);
            let _ = IdentityRecord::from_bytes(&bytes);
            let _ = Licence::from_bytes(&bytes);
            let _ = Revocation::from_bytes(&bytes);
            let _ = EmrEntryRecord::from_bytes(&bytes);
            let _ = VouchingKey::from_bytes(&bytes);
            let _ = EmergencyRecord::from_bytes(&bytes);
            let _ = Candidate::from_bytes(&bytes);
            let _ = ValidatorSet::from_bytes(&bytes);
            let _ = SlashRecord::from_bytes(&bytes);
            let _ = Unbonding::from_bytes(&bytes);
        }

        #[test]
        fn consents_round_trip(count in 1usize..=limits::MAX_CONSENT_RECORDS, revoked in any::<Option<u64>>()) {
            let records = (0..count as u64).map(record_id).collect();
            let value = consent(records, revoked);
            prop_assert_eq!(Consent::from_bytes(&value.to_bytes()).unwrap(), value);
        }
    }
}
