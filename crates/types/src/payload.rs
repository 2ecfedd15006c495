//! Transaction payloads, one sub-enum per state-machine module (docs/architecture.md
//! § State machine modules).
//!
//! Wire form: a module tag byte, an action tag byte, then the action's fields. New modules and
//! actions append tags; existing tags never change meaning.

use crate::{
    Address, ConsentId, ContentHash, EmergencyId, EscrowId, Hash32, IdentityName, OrgName,
    PeerAddress, RecordId, Uri,
    evidence::Equivocation,
    limits,
    research::{ResearchPayload, read_research, write_research},
    serde_hex,
    token::{Cosignature, LockTime, OutPoint, TxOutput},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, ReadRangeExt, Write,
};
use commonware_cryptography::ed25519::Signature;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use std::fmt;

/// Writes each value in order.
macro_rules! put {
    ($buf:expr; $($value:expr),+ $(,)?) => {{ $(($value).write($buf);)+ }};
}

/// Defines a field-less enum encoded as one tag byte.
macro_rules! tag_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $tag:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name { $($(#[$vdoc])* $variant = $tag),+ }

        impl $name {
            /// Every variant, in tag order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
        }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                put!(buf; *self as u8);
            }
        }

        impl FixedSize for $name {
            const SIZE: usize = 1;
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                match u8::read(buf)? {
                    $($tag => Ok(Self::$variant),)+
                    other => Err(CodecError::InvalidEnum(other)),
                }
            }
        }
    };
}

tag_enum!(
    /// What kind of institution an organisation is (S2-register, S1-nodes).
    OrgKind {
        /// Releases records and runs a node.
        Hospital = 0,
        /// Publishes research contracts (S4-flow).
        Research = 1,
        /// Shares enterprise data through the catalogue (seed 002).
        Enterprise = 2,
        /// Stores encrypted blobs and re-encrypts them (S4-flow).
        Cloud = 3,
    }
);

tag_enum!(
    /// An organisation's audit state, changed only by the regulator (S2-state).
    OrgState {
        /// Registered, waiting for the regulator's off-chain review.
        ToAudit = 0,
        /// Reviewed and approved: its members may act on chain.
        Audited = 1,
        /// Suspended by the regulator for a violation: its members may not act.
        Suspended = 2,
    }
);

tag_enum!(
    /// Why data is accessed; a consent covers one purpose and access must name the same one.
    Purpose {
        /// Diagnosis and care of the patient.
        Treatment = 0,
        /// A research study.
        Research = 1,
        /// Billing and insurance.
        Billing = 2,
        /// Public-health reporting.
        PublicHealth = 3,
        /// Regulatory audit.
        Audit = 4,
    }
);

/// When a consent stops granting access (S1-sharing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Expiry {
    /// Valid in blocks of height strictly below this one.
    AtHeight(u64),
    /// Valid in blocks whose timestamp (unix milliseconds) is strictly below this one.
    AtTime(u64),
}

impl Write for Expiry {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::AtHeight(height) => put!(buf; 0u8, *height),
            Self::AtTime(millis) => put!(buf; 1u8, *millis),
        }
    }
}

impl FixedSize for Expiry {
    const SIZE: usize = 1 + u64::SIZE;
}

impl Read for Expiry {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::AtHeight(u64::read(buf)?)),
            1 => Ok(Self::AtTime(u64::read(buf)?)),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// Registry actions (S2-register, S2-state, S2-flow step 4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RegistryPayload {
    /// Register a new organisation with the sender as its first member; it starts `ToAudit`.
    Register {
        /// Unique organisation name.
        name: OrgName,
        /// Kind of institution.
        kind: OrgKind,
    },
    /// The regulator changes an organisation's state.
    SetState {
        /// Organisation to change.
        name: OrgName,
        /// New state.
        state: OrgState,
    },
    /// The sender joins an organisation, endorsed by one of its audited members.
    Join {
        /// Organisation to join.
        name: OrgName,
        /// The audited member vouching for the sender.
        endorser: Address,
        /// The endorser's signature over a [`crate::JoinEndorsement`].
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        endorsement: Signature,
    },
}

/// Record actions (S1-release, S1-storage).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RecordPayload {
    /// A doctor (the sender) releases a record about a patient.
    Release {
        /// The patient's pseudonymous address.
        patient: Address,
        /// hEMR: hash of the record's plaintext.
        record_hash: ContentHash,
        /// The doctor's signature over a [`crate::RecordAttestation`], kept with the record.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        attestation: Signature,
    },
    /// The patient (the sender) records where the encrypted record is stored.
    Store {
        /// The record (hash pointer to its release transaction).
        record: RecordId,
        /// Hash of the encrypted blob (hash pointer to the stored ciphertext).
        blob_hash: ContentHash,
        /// Where the blob is.
        location: Uri,
    },
    /// The patient (the sender) files its encrypted EMR entry EEE (S3-entry).
    Entry {
        /// The encrypted entry.
        entry: EntryBytes,
    },
}

/// Consent actions (S1-rights, S1-sharing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConsentPayload {
    /// The patient (the sender) grants `grantee` access to some of its records.
    Grant {
        /// Who may access.
        grantee: Address,
        /// Which records (1 to [`limits::MAX_CONSENT_RECORDS`], no duplicates).
        records: Vec<RecordId>,
        /// For what.
        purpose: Purpose,
        /// Until when.
        expiry: Expiry,
        /// What each access allowed under this consent pays the patient (S1-tokens), in
        /// tokens; absent means the chain's default access reward.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reward: Option<u64>,
    },
    /// The patient (the sender) withdraws a consent it granted.
    Revoke {
        /// The consent to withdraw.
        consent: ConsentId,
    },
}

/// Access actions: a request the chain decides and records (S1-rights).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AccessPayload {
    /// The sender asks to access a record for a purpose; allowed or denied, it is logged.
    Request {
        /// The record asked for.
        record: RecordId,
        /// Why.
        purpose: Purpose,
        /// The most the sender pays the patient for an access allowed under a consent
        /// (S1-tokens): a consent asking more is refused, so a patient who re-prices a consent
        /// after the sender read it cannot take more than the sender signed for.
        max_reward: u64,
    },
    /// The gateway of the hospital holding a record (the sender) asks the chain to decide, and
    /// log, a request it received off chain from `requester` (S3-share, S3-emergency).
    Serve {
        /// Who asked the gateway.
        requester: Address,
        /// The record asked for.
        record: RecordId,
        /// Why.
        purpose: Purpose,
        /// What the request rests on.
        grounds: AccessGrounds,
        /// The most the gateway pays the patient if the access is allowed under a consent
        /// (as for a request).
        max_reward: u64,
    },
}

tag_enum!(
    /// Why a hospital's gateway refused a request before the chain's rules were reached: the
    /// off-chain protocol (TAKA) failed. The chain logs it as a denial.
    RefusalReason {
        /// The patient's authorisation did not verify.
        BadAuthorisation = 0,
        /// The request was already served once.
        Replayed = 1,
        /// The authorisation covers another record.
        WrongRecord = 2,
        /// The licence presented is not the requester's, or not issued by its hospital.
        LicenceMismatch = 3,
        /// The authorisation has expired.
        AuthorisationExpired = 4,
    }
);

/// What a served request rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AccessGrounds {
    /// The patient's on-chain consent (S3-share).
    Consent,
    /// An emergency request filed on chain (S3-emergency, break-glass).
    Emergency(EmergencyId),
    /// The gateway refused it already; the chain only logs the refusal.
    Refused(RefusalReason),
}

impl Write for AccessGrounds {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Consent => put!(buf; 0u8),
            Self::Emergency(id) => put!(buf; 1u8, *id),
            Self::Refused(reason) => put!(buf; 2u8, *reason),
        }
    }
}

impl EncodeSize for AccessGrounds {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Consent => 0,
            Self::Emergency(_) => EmergencyId::SIZE,
            Self::Refused(_) => RefusalReason::SIZE,
        }
    }
}

impl Read for AccessGrounds {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Consent),
            1 => Ok(Self::Emergency(EmergencyId::read(buf)?)),
            2 => Ok(Self::Refused(RefusalReason::read(buf)?)),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

tag_enum!(
    /// What an enrolled identity is (S3-register, S4-ca).
    Role {
        /// Owns records; enrols under a pseudonym derived from its address.
        Patient = 0,
        /// Releases records; must be a member of an audited hospital organisation and licensed.
        Doctor = 1,
        /// Licenses its doctors and answers record requests for its organisation.
        Hospital = 2,
    }
);

/// Defines a fixed-length byte string carried as-is (hex in JSON). Curve points stay
/// compressed bytes here: decoding a transaction never decompresses them; the state machine
/// checks them where it uses them.
macro_rules! fixed_bytes {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        pub struct $name(pub [u8; $name::LEN]);

        impl $name {
            /// Encoded length.
            pub const LEN: usize = $len;
        }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                buf.put_slice(&self.0);
            }
        }

        impl FixedSize for $name {
            const SIZE: usize = Self::LEN;
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                Ok(Self(<[u8; Self::LEN]>::read(buf)?))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                let mut bytes = [0u8; Self::LEN];
                hex::decode_to_slice(text.as_ref(), &mut bytes).map_err(D::Error::custom)?;
                Ok(Self(bytes))
            }
        }
    };
}

fixed_bytes!(
    /// A compressed BLS12-381 G1 point of the identity-based cryptography (48 bytes), e.g. an
    /// entity's own key part L_U1 = x_U·P (S3-register). The state machine checks it is a
    /// valid, non-identity point.
    G1Point,
    48
);

fixed_bytes!(
    /// A doctor's or hospital's BLS12-381 vouching key (MinPk: a compressed G1 point, 48
    /// bytes), registered with a proof of possession and used to verify the aggregate vouch of
    /// an emergency request (S3-emergency). See [`crate::emergency`].
    BlsPublicKey,
    48
);

fixed_bytes!(
    /// A BLS12-381 signature (MinPk: a compressed G2 point, 96 bytes), single or aggregate.
    BlsSignature,
    96
);

/// Defines a length-bounded byte string (1 to `MAX_LEN` bytes, hex in JSON), refused outside
/// the bounds when decoded from either form.
macro_rules! bounded_bytes {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max_doc:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        pub struct $name(pub Vec<u8>);

        impl $name {
            #[doc = $max_doc]
            pub const MAX_LEN: usize = $max;
        }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                self.0.write(buf);
            }
        }

        impl EncodeSize for $name {
            fn encode_size(&self) -> usize {
                self.0.encode_size()
            }
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                Ok(Self(Vec::<u8>::read_range(buf, 1..=Self::MAX_LEN)?))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({} bytes)", stringify!($name), self.0.len())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(&self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                let bytes = hex::decode(text.as_ref()).map_err(D::Error::custom)?;
                if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
                    return Err(D::Error::custom(format!(
                        "{} is 1 to {} bytes, got {}",
                        $what,
                        Self::MAX_LEN,
                        bytes.len()
                    )));
                }
                Ok(Self(bytes))
            }
        }
    };
}

bounded_bytes!(
    /// A validator's signed dealer log from the threshold PKG's distributed key generation
    /// (S3-setup), in the DKG library's own encoding; the state machine decodes and checks it.
    DealerLogBytes,
    "a dealer log",
    "Longest accepted log: what fits in a transaction next to its envelope. A log grows with \
     the validator count (one commitment point per 3 validators, one ack per validator), so \
     this caps an on-chain DKG at about 25 validators.",
    limits::MAX_TX_BYTES - 256
);

bounded_bytes!(
    /// A patient's encrypted EMR entry EEE (S3-entry): opaque to the chain, opened only with
    /// the patient's biometric template by whoever treats them in an emergency.
    EntryBytes,
    "an EMR entry",
    "Longest accepted entry.",
    limits::MAX_ENTRY_BYTES
);

/// Identity actions (S3-register, S4-ca).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IdentityPayload {
    /// Binds `identity` to the sender's address. It comes before any key extraction: the
    /// PKG's nodes only answer for an identity bound to the address that signs the request,
    /// so no two addresses can obtain the same identity's key.
    Enrol {
        /// The identity (a patient's must be its [`IdentityName::patient_pseudonym`]).
        identity: IdentityName,
        /// Patient, doctor or hospital; doctors and hospitals must be members of an audited
        /// hospital organisation.
        role: Role,
        /// L_U1 = x_U·P, the entity's own key part (S3-register).
        key_part: G1Point,
    },
    /// A doctor or hospital identity (the sender) registers (or replaces) its BLS vouching key
    /// for emergency requests (S3-emergency).
    SetVouchingKey {
        /// The key.
        key: BlsPublicKey,
        /// Proof of possession: `key`'s signature over
        /// [`crate::emergency::vouching_pop_message`] for the sender.
        proof: BlsSignature,
    },
}

/// Doctor licences ρ = (ID_HN, ID_DN, EXP) (S3-register).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LicencePayload {
    /// A hospital identity (the sender) licenses a doctor of its own organisation.
    Issue {
        /// The doctor's identity.
        doctor: IdentityName,
        /// End of validity, unix milliseconds (compared with block timestamps).
        expires_at_ms: u64,
    },
    /// The issuing organisation's hospital identity extends (or shortens) a licence.
    Renew {
        /// The doctor's identity.
        doctor: IdentityName,
        /// New end of validity, unix milliseconds.
        expires_at_ms: u64,
    },
}

/// The doctor revocation list, tx_qr with AoD add/remove (S3-revoke).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RevocationPayload {
    /// The licensing hospital or the regulator revokes a doctor.
    Add {
        /// The doctor's identity.
        doctor: IdentityName,
    },
    /// The licensing hospital or the regulator lifts a revocation.
    Remove {
        /// The doctor's identity.
        doctor: IdentityName,
    },
}

/// The threshold PKG's key generation among the validators (S3-setup).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PkgPayload {
    /// A validator (the sender) publishes its signed dealer log for DKG round `round`.
    Deal {
        /// The DKG round (0 for the first key generation).
        round: u64,
        /// The signed log.
        log: DealerLogBytes,
    },
}

/// Emergency access, break-glass (S3-emergency).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EmergencyPayload {
    /// tx_ur: a hospital (the sender) files, vouched by itself and its doctor, that the doctor
    /// needs a patient's record in an emergency.
    Request {
        /// The treating doctor's identity, licensed by the sender's organisation.
        doctor: IdentityName,
        /// The record needed.
        record: RecordId,
        /// h_ur, the hash binding the request to the patient's opened EMR entry.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        hur: Hash32,
        /// When the doctor issued the request, unix milliseconds.
        issued_at_ms: u64,
        /// The doctor's and the hospital's BLS signatures over
        /// [`crate::emergency::emergency_message`], aggregated.
        vouch: BlsSignature,
    },
}

/// Token actions (S1-tokens, S1-utxo).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TokenPayload {
    /// Spends whole outputs (and part of the sender's balance) into new outputs or balance
    /// credits. `inputs + from_balance - outputs` must equal the transaction's fee.
    Transfer {
        /// The outputs spent (at most [`limits::MAX_TRANSFER_INPUTS`]).
        inputs: Vec<OutPoint>,
        /// Taken from the sender's account balance.
        from_balance: u64,
        /// The outputs created (at most [`limits::MAX_TRANSFER_OUTPUTS`]).
        outputs: Vec<TxOutput>,
        /// Co-owners' signatures over the [`crate::token::TransferAuthorization`] (at most
        /// [`limits::MAX_COSIGNERS`]), for inputs the sender alone cannot unlock.
        cosignatures: Vec<Cosignature>,
    },
    /// The sender (payer) locks `amount` of its balance in an escrow for `payee`, which the
    /// payer or `arbiter` may release to the payee, or which returns to the payer.
    EscrowOpen {
        /// Who is paid on release.
        payee: Address,
        /// Who may release or refund besides the payer and payee.
        arbiter: Address,
        /// Amount locked.
        amount: u64,
        /// From when the payer may take it back.
        refund_after: LockTime,
    },
    /// The payer or arbiter pays the escrow to the payee.
    EscrowRelease {
        /// The escrow.
        escrow: EscrowId,
    },
    /// The escrow goes back to the payer: at any time by the payee or arbiter, by the payer
    /// once its refund time has come.
    EscrowRefund {
        /// The escrow.
        escrow: EscrowId,
    },
}

/// Staking actions: delegated proof of stake (S1-dpos).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StakePayload {
    /// The sender (a node key) becomes a validator candidate for an audited hospital
    /// organisation, endorsed by one of its members.
    Register {
        /// The organisation the candidate runs for.
        org: OrgName,
        /// Where peers dial it (`host:port`).
        p2p: PeerAddress,
        /// The member vouching for the candidate.
        endorser: Address,
        /// The endorser's signature over a [`crate::CandidateEndorsement`].
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        endorsement: Signature,
    },
    /// The sender bonds `amount` of its balance to a candidate's staking pool.
    Delegate {
        /// The candidate.
        candidate: Address,
        /// Tokens bonded.
        amount: u64,
    },
    /// The sender starts unbonding `amount` tokens' worth of its delegation.
    Undelegate {
        /// The candidate.
        candidate: Address,
        /// Tokens unbonded.
        amount: u64,
    },
    /// The sender takes back its unbonded tokens once the unbonding delay has passed.
    Withdraw {
        /// The candidate.
        candidate: Address,
    },
    /// Anyone reports a validator that signed conflicting consensus votes.
    Report {
        /// The two votes.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        evidence: Equivocation,
    },
}

/// What a transaction asks the state machine to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "module", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Payload {
    /// Organisations and membership.
    Registry(RegistryPayload),
    /// Record release and storage pointers.
    Record(RecordPayload),
    /// Patient consent.
    Consent(ConsentPayload),
    /// Access decisions.
    Access(AccessPayload),
    /// Identities bound to addresses.
    Identity(IdentityPayload),
    /// Doctor licences.
    Licence(LicencePayload),
    /// The doctor revocation list.
    Revocation(RevocationPayload),
    /// The threshold PKG's key generation.
    Pkg(PkgPayload),
    /// Emergency requests.
    Emergency(EmergencyPayload),
    /// Tokens: transfers and escrow.
    Token(TokenPayload),
    /// Staking: candidates, delegation, evidence.
    Stake(StakePayload),
    /// The research market: circuits, attestations, studies, enrolments (S4-flow).
    Research(ResearchPayload),
}

impl Payload {
    /// A short stable name for metrics and logs, e.g. `registry.register`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Registry(RegistryPayload::Register { .. }) => "registry.register",
            Self::Registry(RegistryPayload::SetState { .. }) => "registry.set_state",
            Self::Registry(RegistryPayload::Join { .. }) => "registry.join",
            Self::Record(RecordPayload::Release { .. }) => "record.release",
            Self::Record(RecordPayload::Store { .. }) => "record.store",
            Self::Consent(ConsentPayload::Grant { .. }) => "consent.grant",
            Self::Consent(ConsentPayload::Revoke { .. }) => "consent.revoke",
            Self::Record(RecordPayload::Entry { .. }) => "record.entry",
            Self::Access(AccessPayload::Request { .. }) => "access.request",
            Self::Access(AccessPayload::Serve { .. }) => "access.serve",
            Self::Identity(IdentityPayload::Enrol { .. }) => "identity.enrol",
            Self::Identity(IdentityPayload::SetVouchingKey { .. }) => "identity.vouching_key",
            Self::Licence(LicencePayload::Issue { .. }) => "licence.issue",
            Self::Licence(LicencePayload::Renew { .. }) => "licence.renew",
            Self::Revocation(RevocationPayload::Add { .. }) => "revocation.add",
            Self::Revocation(RevocationPayload::Remove { .. }) => "revocation.remove",
            Self::Pkg(PkgPayload::Deal { .. }) => "pkg.deal",
            Self::Emergency(EmergencyPayload::Request { .. }) => "emergency.request",
            Self::Token(TokenPayload::Transfer { .. }) => "token.transfer",
            Self::Token(TokenPayload::EscrowOpen { .. }) => "token.escrow_open",
            Self::Token(TokenPayload::EscrowRelease { .. }) => "token.escrow_release",
            Self::Token(TokenPayload::EscrowRefund { .. }) => "token.escrow_refund",
            Self::Stake(StakePayload::Register { .. }) => "stake.register",
            Self::Stake(StakePayload::Delegate { .. }) => "stake.delegate",
            Self::Stake(StakePayload::Undelegate { .. }) => "stake.undelegate",
            Self::Stake(StakePayload::Withdraw { .. }) => "stake.withdraw",
            Self::Stake(StakePayload::Report { .. }) => "stake.report",
            Self::Research(p) => p.kind(),
        }
    }
}

// Module tags.
const REGISTRY: u8 = 0;
const RECORD: u8 = 1;
const CONSENT: u8 = 2;
const ACCESS: u8 = 3;
const IDENTITY: u8 = 4;
const LICENCE: u8 = 5;
const REVOCATION: u8 = 6;
const PKG: u8 = 7;
const EMERGENCY: u8 = 8;
const TOKEN: u8 = 9;
const STAKE: u8 = 10;
pub(crate) const RESEARCH: u8 = 11;

impl Write for Payload {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Registry(p) => write_registry(p, buf),
            Self::Record(p) => write_record(p, buf),
            Self::Consent(p) => write_consent(p, buf),
            Self::Access(p) => write_access(p, buf),
            Self::Identity(p) => write_identity(p, buf),
            Self::Licence(p) => write_licence(p, buf),
            Self::Revocation(RevocationPayload::Add { doctor }) => {
                put!(buf; REVOCATION, 0u8, doctor)
            }
            Self::Revocation(RevocationPayload::Remove { doctor }) => {
                put!(buf; REVOCATION, 1u8, doctor)
            }
            Self::Pkg(PkgPayload::Deal { round, log }) => put!(buf; PKG, 0u8, *round, log),
            Self::Emergency(EmergencyPayload::Request {
                doctor,
                record,
                hur,
                issued_at_ms,
                vouch,
            }) => put!(buf; EMERGENCY, 0u8, doctor, *record, *hur, *issued_at_ms, vouch),
            Self::Token(p) => write_token(p, buf),
            Self::Stake(p) => write_stake(p, buf),
            Self::Research(p) => {
                put!(buf; RESEARCH);
                write_research(p, buf);
            }
        }
    }
}

fn write_token(payload: &TokenPayload, buf: &mut impl BufMut) {
    match payload {
        TokenPayload::Transfer {
            inputs,
            from_balance,
            outputs,
            cosignatures,
        } => put!(buf; TOKEN, 0u8, inputs, *from_balance, outputs, cosignatures),
        TokenPayload::EscrowOpen {
            payee,
            arbiter,
            amount,
            refund_after,
        } => put!(buf; TOKEN, 1u8, payee, arbiter, *amount, *refund_after),
        TokenPayload::EscrowRelease { escrow } => put!(buf; TOKEN, 2u8, *escrow),
        TokenPayload::EscrowRefund { escrow } => put!(buf; TOKEN, 3u8, *escrow),
    }
}

fn write_stake(payload: &StakePayload, buf: &mut impl BufMut) {
    match payload {
        StakePayload::Register {
            org,
            p2p,
            endorser,
            endorsement,
        } => put!(buf; STAKE, 0u8, org, p2p, endorser, endorsement),
        StakePayload::Delegate { candidate, amount } => put!(buf; STAKE, 1u8, candidate, *amount),
        StakePayload::Undelegate { candidate, amount } => {
            put!(buf; STAKE, 2u8, candidate, *amount)
        }
        StakePayload::Withdraw { candidate } => put!(buf; STAKE, 3u8, candidate),
        StakePayload::Report { evidence } => put!(buf; STAKE, 4u8, evidence),
    }
}

fn write_access(payload: &AccessPayload, buf: &mut impl BufMut) {
    match payload {
        AccessPayload::Request {
            record,
            purpose,
            max_reward,
        } => put!(buf; ACCESS, 0u8, *record, *purpose, *max_reward),
        AccessPayload::Serve {
            requester,
            record,
            purpose,
            grounds,
            max_reward,
        } => put!(buf; ACCESS, 1u8, requester, *record, *purpose, grounds, *max_reward),
    }
}

fn write_identity(payload: &IdentityPayload, buf: &mut impl BufMut) {
    match payload {
        IdentityPayload::Enrol {
            identity,
            role,
            key_part,
        } => put!(buf; IDENTITY, 0u8, identity, *role, key_part),
        IdentityPayload::SetVouchingKey { key, proof } => put!(buf; IDENTITY, 1u8, key, proof),
    }
}

fn write_registry(payload: &RegistryPayload, buf: &mut impl BufMut) {
    match payload {
        RegistryPayload::Register { name, kind } => put!(buf; REGISTRY, 0u8, name, *kind),
        RegistryPayload::SetState { name, state } => put!(buf; REGISTRY, 1u8, name, *state),
        RegistryPayload::Join {
            name,
            endorser,
            endorsement,
        } => put!(buf; REGISTRY, 2u8, name, endorser, endorsement),
    }
}

fn write_record(payload: &RecordPayload, buf: &mut impl BufMut) {
    match payload {
        RecordPayload::Release {
            patient,
            record_hash,
            attestation,
        } => put!(buf; RECORD, 0u8, patient, *record_hash, attestation),
        RecordPayload::Store {
            record,
            blob_hash,
            location,
        } => put!(buf; RECORD, 1u8, *record, *blob_hash, location),
        RecordPayload::Entry { entry } => put!(buf; RECORD, 2u8, entry),
    }
}

fn write_consent(payload: &ConsentPayload, buf: &mut impl BufMut) {
    match payload {
        ConsentPayload::Grant {
            grantee,
            records,
            purpose,
            expiry,
            reward,
        } => put!(buf; CONSENT, 0u8, grantee, records, *purpose, *expiry, *reward),
        ConsentPayload::Revoke { consent } => put!(buf; CONSENT, 1u8, *consent),
    }
}

fn write_licence(payload: &LicencePayload, buf: &mut impl BufMut) {
    match payload {
        LicencePayload::Issue {
            doctor,
            expires_at_ms,
        } => put!(buf; LICENCE, 0u8, doctor, *expires_at_ms),
        LicencePayload::Renew {
            doctor,
            expires_at_ms,
        } => put!(buf; LICENCE, 1u8, doctor, *expires_at_ms),
    }
}

impl EncodeSize for Payload {
    fn encode_size(&self) -> usize {
        // Encoding is cheap and payloads are small; sizing by encoding keeps one source of truth.
        let mut buf = Vec::new();
        self.write(&mut buf);
        buf.len()
    }
}

impl Read for Payload {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let module = u8::read(buf)?;
        let action = u8::read(buf)?;
        match (module, action) {
            (REGISTRY, 0) => Ok(Self::Registry(RegistryPayload::Register {
                name: OrgName::read(buf)?,
                kind: OrgKind::read(buf)?,
            })),
            (REGISTRY, 1) => Ok(Self::Registry(RegistryPayload::SetState {
                name: OrgName::read(buf)?,
                state: OrgState::read(buf)?,
            })),
            (REGISTRY, 2) => Ok(Self::Registry(RegistryPayload::Join {
                name: OrgName::read(buf)?,
                endorser: Address::read(buf)?,
                endorsement: Signature::read(buf)?,
            })),
            (RECORD, 0) => Ok(Self::Record(RecordPayload::Release {
                patient: Address::read(buf)?,
                record_hash: ContentHash::read(buf)?,
                attestation: Signature::read(buf)?,
            })),
            (RECORD, 1) => Ok(Self::Record(RecordPayload::Store {
                record: RecordId::read(buf)?,
                blob_hash: ContentHash::read(buf)?,
                location: Uri::read(buf)?,
            })),
            (RECORD, 2) => Ok(Self::Record(RecordPayload::Entry {
                entry: EntryBytes::read(buf)?,
            })),
            (CONSENT, 0) => Ok(Self::Consent(ConsentPayload::Grant {
                grantee: Address::read(buf)?,
                records: Vec::<RecordId>::read_range(buf, 1..=limits::MAX_CONSENT_RECORDS)?,
                purpose: Purpose::read(buf)?,
                expiry: Expiry::read(buf)?,
                reward: Option::<u64>::read(buf)?,
            })),
            (CONSENT, 1) => Ok(Self::Consent(ConsentPayload::Revoke {
                consent: ConsentId::read(buf)?,
            })),
            (ACCESS, 0) => Ok(Self::Access(AccessPayload::Request {
                record: RecordId::read(buf)?,
                purpose: Purpose::read(buf)?,
                max_reward: u64::read(buf)?,
            })),
            (ACCESS, 1) => Ok(Self::Access(AccessPayload::Serve {
                requester: Address::read(buf)?,
                record: RecordId::read(buf)?,
                purpose: Purpose::read(buf)?,
                grounds: AccessGrounds::read(buf)?,
                max_reward: u64::read(buf)?,
            })),
            (IDENTITY, 0) => Ok(Self::Identity(IdentityPayload::Enrol {
                identity: IdentityName::read(buf)?,
                role: Role::read(buf)?,
                key_part: G1Point::read(buf)?,
            })),
            (IDENTITY, 1) => Ok(Self::Identity(IdentityPayload::SetVouchingKey {
                key: BlsPublicKey::read(buf)?,
                proof: BlsSignature::read(buf)?,
            })),
            (LICENCE, 0) => Ok(Self::Licence(LicencePayload::Issue {
                doctor: IdentityName::read(buf)?,
                expires_at_ms: u64::read(buf)?,
            })),
            (LICENCE, 1) => Ok(Self::Licence(LicencePayload::Renew {
                doctor: IdentityName::read(buf)?,
                expires_at_ms: u64::read(buf)?,
            })),
            (REVOCATION, 0) => Ok(Self::Revocation(RevocationPayload::Add {
                doctor: IdentityName::read(buf)?,
            })),
            (REVOCATION, 1) => Ok(Self::Revocation(RevocationPayload::Remove {
                doctor: IdentityName::read(buf)?,
            })),
            (PKG, 0) => Ok(Self::Pkg(PkgPayload::Deal {
                round: u64::read(buf)?,
                log: DealerLogBytes::read(buf)?,
            })),
            (EMERGENCY, 0) => Ok(Self::Emergency(EmergencyPayload::Request {
                doctor: IdentityName::read(buf)?,
                record: RecordId::read(buf)?,
                hur: Hash32::read(buf)?,
                issued_at_ms: u64::read(buf)?,
                vouch: BlsSignature::read(buf)?,
            })),
            (TOKEN, 0) => Ok(Self::Token(TokenPayload::Transfer {
                inputs: Vec::<OutPoint>::read_range(buf, 0..=limits::MAX_TRANSFER_INPUTS)?,
                from_balance: u64::read(buf)?,
                outputs: Vec::<TxOutput>::read_range(buf, 0..=limits::MAX_TRANSFER_OUTPUTS)?,
                cosignatures: Vec::<Cosignature>::read_range(buf, 0..=limits::MAX_COSIGNERS)?,
            })),
            (TOKEN, 1) => Ok(Self::Token(TokenPayload::EscrowOpen {
                payee: Address::read(buf)?,
                arbiter: Address::read(buf)?,
                amount: u64::read(buf)?,
                refund_after: LockTime::read(buf)?,
            })),
            (TOKEN, 2) => Ok(Self::Token(TokenPayload::EscrowRelease {
                escrow: EscrowId::read(buf)?,
            })),
            (TOKEN, 3) => Ok(Self::Token(TokenPayload::EscrowRefund {
                escrow: EscrowId::read(buf)?,
            })),
            (STAKE, 0) => Ok(Self::Stake(StakePayload::Register {
                org: OrgName::read(buf)?,
                p2p: PeerAddress::read(buf)?,
                endorser: Address::read(buf)?,
                endorsement: Signature::read(buf)?,
            })),
            (STAKE, 1) => Ok(Self::Stake(StakePayload::Delegate {
                candidate: Address::read(buf)?,
                amount: u64::read(buf)?,
            })),
            (STAKE, 2) => Ok(Self::Stake(StakePayload::Undelegate {
                candidate: Address::read(buf)?,
                amount: u64::read(buf)?,
            })),
            (STAKE, 3) => Ok(Self::Stake(StakePayload::Withdraw {
                candidate: Address::read(buf)?,
            })),
            (STAKE, 4) => Ok(Self::Stake(StakePayload::Report {
                evidence: Equivocation::read(buf)?,
            })),
            (RESEARCH, action) => read_research(action, buf).map(Self::Research),
            (module, _) if module > RESEARCH => Err(CodecError::InvalidEnum(module)),
            (_, action) => Err(CodecError::InvalidEnum(action)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::payloads;
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn every_payload_round_trips_through_json() {
        for payload in payloads() {
            let json = serde_json::to_string(&payload).unwrap();
            let back: Payload = serde_json::from_str(&json).unwrap();
            assert_eq!(back, payload, "{json}");
        }
    }

    #[test]
    fn payload_kinds_are_named_module_dot_action() {
        let names: Vec<_> = payloads().iter().map(Payload::kind).collect();
        for name in [
            "record.entry",
            "identity.vouching_key",
            "emergency.request",
            "access.serve",
        ] {
            assert!(names.contains(&name), "{name}");
        }
        assert!(names.iter().all(|name| name.split('.').count() == 2));
    }

    #[test]
    fn entries_are_bounded_in_both_encodings() {
        let entry = |len: usize| {
            Payload::Record(RecordPayload::Entry {
                entry: EntryBytes(vec![7; len]),
            })
        };
        assert!(Payload::decode(entry(limits::MAX_ENTRY_BYTES).encode()).is_ok());
        assert!(Payload::decode(entry(limits::MAX_ENTRY_BYTES + 1).encode()).is_err());
        assert!(Payload::decode(entry(0).encode()).is_err());
        let json = |len: usize| {
            format!(
                r#"{{"module":"record","action":"entry","entry":"{}"}}"#,
                "07".repeat(len)
            )
        };
        assert!(serde_json::from_str::<Payload>(&json(1)).is_ok());
        assert!(serde_json::from_str::<Payload>(&json(0)).is_err());
        assert!(serde_json::from_str::<Payload>(&json(limits::MAX_ENTRY_BYTES + 1)).is_err());
    }

    #[test]
    fn unknown_grounds_and_refusal_tags_are_refused() {
        let serve = |grounds_bytes: &[u8]| {
            let mut bytes = vec![ACCESS, 1];
            bytes.extend_from_slice(&[1; 32 + 32]);
            Purpose::Treatment.write(&mut bytes);
            bytes.extend_from_slice(grounds_bytes);
            bytes.extend_from_slice(&5u64.to_be_bytes()); // max_reward
            Payload::decode(bytes.as_slice().to_vec())
        };
        assert!(serve(&[0]).is_ok());
        assert!(serve(&[2, 4]).is_ok());
        assert!(matches!(serve(&[2, 5]), Err(CodecError::InvalidEnum(5))));
        assert!(matches!(serve(&[3]), Err(CodecError::InvalidEnum(3))));
        assert!(serve(&[1; 32]).is_err(), "emergency id cut short");
        // The emergency module's only action is 0; module 12 does not exist.
        assert!(Payload::decode(vec![EMERGENCY, 1]).is_err());
        assert!(matches!(
            Payload::decode(vec![RESEARCH + 1, 0]),
            Err(CodecError::InvalidEnum(12))
        ));
        assert!(matches!(
            Payload::decode(vec![TOKEN, 4]),
            Err(CodecError::InvalidEnum(4))
        ));
        assert!(matches!(
            Payload::decode(vec![STAKE, 5]),
            Err(CodecError::InvalidEnum(5))
        ));
    }

    #[test]
    fn bls_bytes_are_hex_of_the_right_length_in_json() {
        let key = BlsPublicKey([0xab; BlsPublicKey::LEN]);
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(48)));
        assert_eq!(serde_json::from_str::<BlsPublicKey>(&json).unwrap(), key);
        assert!(serde_json::from_str::<BlsPublicKey>(&format!("\"{}\"", "ab".repeat(47))).is_err());
        assert!(serde_json::from_str::<BlsSignature>(&format!("\"{}\"", "ab".repeat(48))).is_err());
    }
}
