//! Transaction payloads, one sub-enum per state-machine module (docs/architecture.md
//! § State machine modules).
//!
//! Wire form: a module tag byte, an action tag byte, then the action's fields. New modules and
//! actions append tags; existing tags never change meaning.

use crate::{
    Address, ConsentId, ContentHash, IdentityName, OrgName, RecordId, Uri, limits, serde_hex,
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
    },
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

/// A compressed BLS12-381 G1 point of the identity-based cryptography (48 bytes), e.g. an
/// entity's own key part L_U1 = x_U·P (S3-register). This crate only carries the bytes; the
/// state machine checks they are a valid, non-identity point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct G1Point(pub [u8; G1Point::LEN]);

impl G1Point {
    /// Encoded length.
    pub const LEN: usize = 48;
}

impl Write for G1Point {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
}

impl FixedSize for G1Point {
    const SIZE: usize = Self::LEN;
}

impl Read for G1Point {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(<[u8; Self::LEN]>::read(buf)?))
    }
}

impl fmt::Debug for G1Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for G1Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for G1Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut bytes = [0u8; Self::LEN];
        hex::decode_to_slice(<&str>::deserialize(d)?, &mut bytes).map_err(D::Error::custom)?;
        Ok(Self(bytes))
    }
}

/// A validator's signed dealer log from the threshold PKG's distributed key generation
/// (S3-setup), in the DKG library's own encoding; the state machine decodes and checks it.
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct DealerLogBytes(pub Vec<u8>);

impl DealerLogBytes {
    /// Longest accepted log: what fits in a transaction next to its envelope. A log grows with
    /// the validator count (one commitment point per 3 validators, one ack per validator), so
    /// this caps an on-chain DKG at about 25 validators.
    pub const MAX_LEN: usize = limits::MAX_TX_BYTES - 256;
}

impl Write for DealerLogBytes {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl EncodeSize for DealerLogBytes {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}

impl Read for DealerLogBytes {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(Vec::<u8>::read_range(buf, 1..=Self::MAX_LEN)?))
    }
}

impl fmt::Debug for DealerLogBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DealerLogBytes({} bytes)", self.0.len())
    }
}

impl Serialize for DealerLogBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for DealerLogBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = hex::decode(<&str>::deserialize(d)?).map_err(D::Error::custom)?;
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(D::Error::custom(format!(
                "a dealer log is 1 to {} bytes, got {}",
                Self::MAX_LEN,
                bytes.len()
            )));
        }
        Ok(Self(bytes))
    }
}

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
            Self::Access(AccessPayload::Request { .. }) => "access.request",
            Self::Identity(IdentityPayload::Enrol { .. }) => "identity.enrol",
            Self::Licence(LicencePayload::Issue { .. }) => "licence.issue",
            Self::Licence(LicencePayload::Renew { .. }) => "licence.renew",
            Self::Revocation(RevocationPayload::Add { .. }) => "revocation.add",
            Self::Revocation(RevocationPayload::Remove { .. }) => "revocation.remove",
            Self::Pkg(PkgPayload::Deal { .. }) => "pkg.deal",
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

impl Write for Payload {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Registry(p) => write_registry(p, buf),
            Self::Record(p) => write_record(p, buf),
            Self::Consent(p) => write_consent(p, buf),
            Self::Access(AccessPayload::Request { record, purpose }) => {
                put!(buf; ACCESS, 0u8, *record, *purpose)
            }
            Self::Identity(IdentityPayload::Enrol {
                identity,
                role,
                key_part,
            }) => put!(buf; IDENTITY, 0u8, identity, *role, key_part),
            Self::Licence(p) => write_licence(p, buf),
            Self::Revocation(RevocationPayload::Add { doctor }) => {
                put!(buf; REVOCATION, 0u8, doctor)
            }
            Self::Revocation(RevocationPayload::Remove { doctor }) => {
                put!(buf; REVOCATION, 1u8, doctor)
            }
            Self::Pkg(PkgPayload::Deal { round, log }) => put!(buf; PKG, 0u8, *round, log),
        }
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
    }
}

fn write_consent(payload: &ConsentPayload, buf: &mut impl BufMut) {
    match payload {
        ConsentPayload::Grant {
            grantee,
            records,
            purpose,
            expiry,
        } => put!(buf; CONSENT, 0u8, grantee, records, *purpose, *expiry),
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
            (CONSENT, 0) => Ok(Self::Consent(ConsentPayload::Grant {
                grantee: Address::read(buf)?,
                records: Vec::<RecordId>::read_range(buf, 1..=limits::MAX_CONSENT_RECORDS)?,
                purpose: Purpose::read(buf)?,
                expiry: Expiry::read(buf)?,
            })),
            (CONSENT, 1) => Ok(Self::Consent(ConsentPayload::Revoke {
                consent: ConsentId::read(buf)?,
            })),
            (ACCESS, 0) => Ok(Self::Access(AccessPayload::Request {
                record: RecordId::read(buf)?,
                purpose: Purpose::read(buf)?,
            })),
            (IDENTITY, 0) => Ok(Self::Identity(IdentityPayload::Enrol {
                identity: IdentityName::read(buf)?,
                role: Role::read(buf)?,
                key_part: G1Point::read(buf)?,
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
            (module, _) if module > PKG => Err(CodecError::InvalidEnum(module)),
            (_, action) => Err(CodecError::InvalidEnum(action)),
        }
    }
}
