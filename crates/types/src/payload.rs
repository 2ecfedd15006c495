//! Transaction payloads, one sub-enum per state-machine module (docs/architecture.md
//! § State machine modules).
//!
//! Wire form: a module tag byte, an action tag byte, then the action's fields. New modules and
//! actions append tags; existing tags never change meaning.

use crate::{Address, ConsentId, ContentHash, OrgName, RecordId, Uri, limits, serde_hex};
use bytes::BufMut;
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, ReadRangeExt, Write,
};
use commonware_cryptography::ed25519::Signature;
use serde::{Deserialize, Serialize};

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
        }
    }
}

// Module tags.
const REGISTRY: u8 = 0;
const RECORD: u8 = 1;
const CONSENT: u8 = 2;
const ACCESS: u8 = 3;

impl Write for Payload {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Registry(p) => write_registry(p, buf),
            Self::Record(p) => write_record(p, buf),
            Self::Consent(p) => write_consent(p, buf),
            Self::Access(AccessPayload::Request { record, purpose }) => {
                put!(buf; ACCESS, 0u8, *record, *purpose)
            }
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
            (module, _) if module > ACCESS => Err(CodecError::InvalidEnum(module)),
            (_, action) => Err(CodecError::InvalidEnum(action)),
        }
    }
}
