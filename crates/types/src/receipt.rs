//! Receipts: what executing a transaction did, for clients and auditors.
//!
//! Events have one canonical binary encoding (a count, then per event a tag byte and its fields
//! in declaration order): the store keeps it, and every block header commits to its receipts
//! through [`receipts_root`], a binary Merkle root over [`receipt_leaf`]s in transaction order,
//! so a client can check a node's receipt instead of trusting it (issue 7 §2). Decoding is
//! bounded and rejects trailing bytes.

use crate::{
    Address, ConsentId, ContentHash, EmergencyId, EnrolmentId, EntryId, EscrowId, G1Point, Hash32,
    IdentityName, OrgKind, OrgName, OrgState, Purpose, RecordId, RefusalReason, Role, StudyId,
    TxId, serde_hex,
};
use bytes::{Buf as _, BufMut};
use commonware_codec::{
    Buf, Copying, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use commonware_cryptography::{Hasher, Sha256};
use commonware_storage::bmt;
use serde::{Deserialize, Serialize};

/// Most events one transaction may have in a receipt.
pub const MAX_EVENTS_PER_TX: usize = 1_024;

/// The outcome of one executed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    /// The transaction.
    pub tx: TxId,
    /// Height of the block that executed it.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// What happened.
    pub events: Vec<Event>,
}

/// A state change (or decision) caused by a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Event {
    /// S2-register.
    OrgRegistered {
        /// Name.
        name: OrgName,
        /// Kind.
        kind: OrgKind,
        /// First member.
        founder: Address,
    },
    /// S2-state.
    OrgStateChanged {
        /// Name.
        name: OrgName,
        /// Previous state.
        from: OrgState,
        /// New state.
        to: OrgState,
    },
    /// An endorsed address joined an organisation.
    MemberJoined {
        /// Organisation.
        name: OrgName,
        /// New member.
        member: Address,
        /// Member who endorsed it.
        endorser: Address,
    },
    /// S1-release.
    RecordReleased {
        /// The record.
        record: RecordId,
        /// Patient pseudonym.
        patient: Address,
        /// Releasing doctor.
        doctor: Address,
        /// Doctor's organisation.
        hospital: OrgName,
    },
    /// S1-storage.
    RecordStored {
        /// The record.
        record: RecordId,
        /// Hash of the encrypted blob.
        blob_hash: ContentHash,
    },
    /// S1-sharing.
    ConsentGranted {
        /// The consent.
        consent: ConsentId,
        /// Granting patient.
        patient: Address,
        /// Grantee.
        grantee: Address,
    },
    /// S1-sharing.
    ConsentRevoked {
        /// The consent.
        consent: ConsentId,
    },
    /// S1-rights: a logged access decision.
    AccessDecided {
        /// The record.
        record: RecordId,
        /// Who asked.
        requester: Address,
        /// Why.
        purpose: Purpose,
        /// The answer.
        decision: AccessDecision,
    },
    /// S3-register, S4-ca: an identity is bound to an address.
    IdentityEnrolled {
        /// The identity.
        identity: IdentityName,
        /// The address it is bound to.
        address: Address,
        /// Its role.
        role: Role,
    },
    /// S3-register: a hospital licensed a doctor of its organisation.
    LicenceIssued {
        /// The doctor.
        doctor: IdentityName,
        /// The issuing hospital identity.
        hospital: IdentityName,
        /// End of validity, unix milliseconds.
        expires_at_ms: u64,
    },
    /// S3-register: a licence's validity changed.
    LicenceRenewed {
        /// The doctor.
        doctor: IdentityName,
        /// New end of validity, unix milliseconds.
        expires_at_ms: u64,
    },
    /// S3-revoke: a doctor was added to the revocation list.
    DoctorRevoked {
        /// The doctor.
        doctor: IdentityName,
        /// Who revoked (the licensing hospital's address or the regulator).
        by: Address,
    },
    /// S3-revoke: a doctor was removed from the revocation list.
    RevocationLifted {
        /// The doctor.
        doctor: IdentityName,
        /// Who lifted it.
        by: Address,
    },
    /// S3-setup: a validator's dealer log was accepted.
    DealerLogRecorded {
        /// The dealing validator.
        dealer: Address,
        /// The DKG round.
        round: u64,
    },
    /// S3-setup: the DKG completed; the threshold PKG's master public key is P_pub.
    PkgReady {
        /// The DKG round.
        round: u64,
        /// Partial keys needed to extract an identity key.
        threshold: u32,
        /// P_pub = s·P.
        master_public_key: G1Point,
    },
    /// S3-entry: a patient filed an encrypted EMR entry.
    EntryFiled {
        /// The entry.
        entry: EntryId,
        /// The patient who filed it.
        patient: Address,
    },
    /// S3-emergency: a doctor or hospital registered (or replaced) its vouching key.
    VouchingKeySet {
        /// The key's owner.
        address: Address,
    },
    /// S3-emergency: a vouched emergency request (tx_ur) was filed; the patient is notified.
    EmergencyFiled {
        /// The request.
        emergency: EmergencyId,
        /// The patient whose record is needed.
        patient: Address,
        /// The record.
        record: RecordId,
        /// The treating doctor's address.
        doctor: Address,
    },
    /// S1-utxo: a transfer spent `inputs` outputs into `outputs` outputs and paid `fee`.
    Transferred {
        /// Outputs spent.
        inputs: u16,
        /// Outputs (and balance credits) created.
        outputs: u16,
        /// The fee, the transfer's surplus.
        fee: u64,
    },
    /// S1-tokens: an access under consent paid the patient.
    RewardPaid {
        /// The consent the access relied on.
        consent: ConsentId,
        /// Who was paid.
        patient: Address,
        /// Who paid (the requester, or the gateway serving a request).
        payer: Address,
        /// How much.
        amount: u64,
    },
    /// S1-utxo: tokens were locked in an escrow.
    EscrowOpened {
        /// The escrow.
        escrow: EscrowId,
        /// Who locked them.
        payer: Address,
        /// Who is paid on release.
        payee: Address,
        /// How much.
        amount: u64,
    },
    /// S1-utxo: an escrow was released to the payee or refunded to the payer.
    EscrowSettled {
        /// The escrow.
        escrow: EscrowId,
        /// Who received the coins.
        to: Address,
        /// How much.
        amount: u64,
    },
    /// S1-dpos: a node key became a validator candidate.
    CandidateRegistered {
        /// The node key.
        candidate: Address,
        /// The organisation it runs for.
        org: OrgName,
    },
    /// S1-dpos: stake was delegated to a candidate.
    Delegated {
        /// The candidate.
        candidate: Address,
        /// Who delegated.
        delegator: Address,
        /// Tokens bonded.
        amount: u64,
    },
    /// S1-dpos: a delegation started unbonding.
    Undelegated {
        /// The candidate.
        candidate: Address,
        /// Who undelegated.
        delegator: Address,
        /// Tokens unbonded.
        amount: u64,
        /// The epoch from which they can be withdrawn.
        release_epoch: u64,
    },
    /// S1-dpos: unbonded tokens returned to the delegator's balance.
    Withdrawn {
        /// The candidate.
        candidate: Address,
        /// Who withdrew.
        delegator: Address,
        /// Tokens returned.
        amount: u64,
    },
    /// S1-dpos: a validator convicted of equivocation lost part of its pools' stake.
    Slashed {
        /// The validator.
        offender: Address,
        /// The epoch the conflicting votes were cast in.
        epoch: u64,
        /// Tokens burned.
        amount: u64,
    },
    /// S4-flow: the regulator registered a circuit's verifying key.
    CircuitRegistered {
        /// The verifying key's digest, the circuit's id.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        circuit: Hash32,
    },
    /// S4-flow: a patient filed its nullifier key.
    NullifierKeySet {
        /// The patient.
        patient: Address,
    },
    /// S4-flow: a hospital attested a record's commitment; it joined the accumulator.
    RecordAttested {
        /// The record.
        record: RecordId,
        /// The commitment's leaf index in the accumulator.
        leaf: u64,
        /// The accumulator's root after it.
        #[serde(with = "serde_hex")]
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        root: Hash32,
    },
    /// S4-flow: a cloud member became a re-encryption proxy.
    ProxyRegistered {
        /// The proxy.
        proxy: Address,
    },
    /// S4-flow: a research study was published.
    StudyPublished {
        /// The study.
        study: StudyId,
    },
    /// S4-flow: tokens were added to a study's pool.
    StudyFunded {
        /// The study.
        study: StudyId,
        /// Tokens added.
        amount: u64,
        /// The pool after it.
        pool: u64,
    },
    /// S4-flow: an enrolment was accepted; its advance was paid.
    Enrolled {
        /// The study.
        study: StudyId,
        /// The enrolment.
        enrolment: EnrolmentId,
        /// Tokens paid at once to the enrolment's one-time address (the advance that pays its
        /// fee).
        reward: u64,
        /// Tokens owed to it, kept in the study's pool until acknowledged, resolved or the
        /// dispute window passes.
        owed: u64,
    },
    /// S4-flow: a proxy re-encrypted an enrolment's record for the researcher.
    Reencrypted {
        /// The enrolment.
        enrolment: EnrolmentId,
        /// The proxy.
        proxy: Address,
    },
    /// S4-flow: a study's unspent pool went back to its researcher.
    StudyRefunded {
        /// The study.
        study: StudyId,
        /// Tokens returned.
        amount: u64,
    },
    /// S4-flow: the researcher confirmed an enrolment's delivered record; its owed reward is
    /// claimable.
    EnrolmentAcknowledged {
        /// The enrolment.
        enrolment: EnrolmentId,
    },
    /// S4-flow: the researcher disputed an enrolment's delivery; its owed reward is frozen.
    EnrolmentDisputed {
        /// The enrolment.
        enrolment: EnrolmentId,
    },
    /// S4-flow: the regulator settled a disputed enrolment.
    DisputeResolved {
        /// The enrolment.
        enrolment: EnrolmentId,
        /// Whether the payee is paid (else the owed reward returned to the study's pool).
        pay: bool,
    },
    /// S4-flow: an enrolment's payee took its owed reward.
    RewardClaimed {
        /// The enrolment.
        enrolment: EnrolmentId,
        /// The payee.
        payee: Address,
        /// Tokens paid.
        amount: u64,
    },
    /// S3-supervise: a tx_mr of a checkpointed Mblock that SUP's release rules refuse; it is
    /// skipped (no record), the rest of the checkpoint is imported.
    MedReleaseRefused {
        /// The record the release would have created (its htxM).
        record: RecordId,
        /// Why.
        reason: MedRefusal,
    },
    /// S3-entry, S3-supervise: an entry EEE of a checkpointed Mblock that SUP does not file;
    /// it is skipped (no `entry/<id>`), the rest of the checkpoint is imported.
    MedEntryRefused {
        /// The entry's id (its hentry).
        entry: EntryId,
        /// Why.
        reason: MedEntryRefusal,
    },
}

tag_enum!(
    /// Why SUP refused to import a checkpointed tx_mr as a record (S3-supervise): the release
    /// rules of `record.release`. The discriminant is the wire tag; new reasons are appended.
    MedRefusal {
        /// The doctor has no enrolled identity.
        NotEnrolled = 0,
        /// The address's identity is not a doctor's.
        NotADoctor = 1,
        /// The doctor is on the revocation list.
        DoctorRevoked = 2,
        /// The doctor holds no licence.
        Unlicensed = 3,
        /// The doctor's licence had expired at the SUP block's time.
        LicenceExpired = 4,
        /// The doctor's organisation is not audited.
        OrgNotAudited = 5,
        /// The record (patient, hEMR) was already released.
        AlreadyReleased = 6,
        /// The release was issued more than `RELEASE_VALIDITY_MS` away from its Mblock's
        /// timestamp.
        OutsideValidity = 7,
    }
);

tag_enum!(
    /// Why SUP refused to file a checkpointed entry EEE (S3-entry). The discriminant is the
    /// wire tag; new reasons are appended.
    MedEntryRefusal {
        /// The patient has no enrolled identity at the SUP block.
        NotEnrolled = 0,
        /// The address's identity is not a patient's.
        NotAPatient = 1,
        /// The patient has registered no BLS key.
        NoPatientKey = 2,
        /// An entry with this id was filed already.
        AlreadyFiled = 3,
    }
);

impl MedEntryRefusal {
    /// The reason in words, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotEnrolled => "the patient has no enrolled identity",
            Self::NotAPatient => "the filing identity is not a patient",
            Self::NoPatientKey => "the patient has registered no BLS key",
            Self::AlreadyFiled => "this entry was filed already",
        }
    }
}

impl MedRefusal {
    /// The reason in words, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotEnrolled => "the doctor has no enrolled identity",
            Self::NotADoctor => "the releasing identity is not a doctor",
            Self::DoctorRevoked => "the doctor is on the revocation list",
            Self::Unlicensed => "the doctor holds no licence",
            Self::LicenceExpired => "the doctor's licence had expired",
            Self::OrgNotAudited => "the doctor's organisation is not audited",
            Self::AlreadyReleased => "this record was already released for the patient",
            Self::OutsideValidity => {
                "the release was issued more than an hour away from its Mblock's timestamp"
            }
        }
    }
}

/// The chain's answer to an access request (deny by default, S1-rights).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AccessDecision {
    /// Allowed under this consent (or because the requester is the patient).
    Allowed {
        /// The consent relied on; `None` when the patient reads its own record.
        consent: Option<ConsentId>,
    },
    /// Denied.
    Denied {
        /// Why.
        reason: DenyReason,
    },
    /// Allowed without consent, under a vouched emergency request (break-glass); the patient
    /// is notified (S3-emergency).
    BreakGlass {
        /// The emergency request relied on.
        emergency: EmergencyId,
    },
}

impl AccessDecision {
    const ALLOWED: u8 = 0;
    const DENIED: u8 = 1;
    const BREAK_GLASS: u8 = 2;

    /// Whether access was granted (with consent, by the patient, or break-glass).
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Self::Denied { .. })
    }

    /// The kind of decision as the API spells it: `allowed`, `denied` or `break_glass`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Allowed { .. } => "allowed",
            Self::Denied { .. } => "denied",
            Self::BreakGlass { .. } => "break_glass",
        }
    }
}

// Decision wire form: 0 = allowed (+ optional consent id), 1 = denied (+ reason tag),
// 2 = break-glass (+ emergency id).
impl Write for AccessDecision {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Allowed { consent } => {
                Self::ALLOWED.write(buf);
                consent.write(buf);
            }
            Self::Denied { reason } => {
                Self::DENIED.write(buf);
                reason.tag().write(buf);
            }
            Self::BreakGlass { emergency } => {
                Self::BREAK_GLASS.write(buf);
                emergency.write(buf);
            }
        }
    }
}

impl EncodeSize for AccessDecision {
    fn encode_size(&self) -> usize {
        match self {
            Self::Allowed { consent } => 1 + consent.encode_size(),
            Self::Denied { .. } => 2,
            Self::BreakGlass { emergency } => 1 + emergency.encode_size(),
        }
    }
}

impl Read for AccessDecision {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            Self::ALLOWED => Ok(Self::Allowed {
                consent: Option::<ConsentId>::read(buf)?,
            }),
            Self::DENIED => {
                let tag = u8::read(buf)?;
                let reason = DenyReason::ALL
                    .get(usize::from(tag))
                    .copied()
                    .ok_or(CodecError::InvalidEnum(tag))?;
                Ok(Self::Denied { reason })
            }
            Self::BREAK_GLASS => Ok(Self::BreakGlass {
                emergency: EmergencyId::read(buf)?,
            }),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

/// Why access was denied. The discriminant is the wire tag; new reasons are appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DenyReason {
    /// No live consent covers this requester, record and purpose.
    NoConsent = 0,
    /// A consent existed but has expired.
    ConsentExpired = 1,
    /// A consent existed but the patient revoked it.
    ConsentRevoked = 2,
    /// The requester is not a member of an audited organisation (e.g. suspended).
    RequesterNotAudited = 3,
    /// The requester has no enrolled doctor identity.
    NotADoctor = 4,
    /// The requesting doctor holds no licence.
    Unlicensed = 5,
    /// The requesting doctor's licence has expired.
    LicenceExpired = 6,
    /// The requesting doctor is on the revocation list.
    DoctorRevoked = 7,
    /// The emergency request relied on does not exist.
    NoEmergency = 8,
    /// The emergency request names another record or doctor.
    EmergencyMismatch = 9,
    /// The emergency request is too old to rely on.
    EmergencyExpired = 10,
    /// Refused by the gateway: the patient's authorisation did not verify.
    BadAuthorisation = 11,
    /// Refused by the gateway: the request was already served.
    Replayed = 12,
    /// Refused by the gateway: the authorisation covers another record.
    WrongRecord = 13,
    /// Refused by the gateway: the licence presented is not the requester's.
    LicenceMismatch = 14,
    /// Refused by the gateway: the authorisation has expired.
    AuthorisationExpired = 15,
}

impl DenyReason {
    /// Every reason, in wire-tag order.
    pub const ALL: [Self; 16] = [
        Self::NoConsent,
        Self::ConsentExpired,
        Self::ConsentRevoked,
        Self::RequesterNotAudited,
        Self::NotADoctor,
        Self::Unlicensed,
        Self::LicenceExpired,
        Self::DoctorRevoked,
        Self::NoEmergency,
        Self::EmergencyMismatch,
        Self::EmergencyExpired,
        Self::BadAuthorisation,
        Self::Replayed,
        Self::WrongRecord,
        Self::LicenceMismatch,
        Self::AuthorisationExpired,
    ];

    fn tag(self) -> u8 {
        self as u8
    }

    /// The reason in words, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoConsent => "no consent covers this requester, record and purpose",
            Self::ConsentExpired => "the consent has expired",
            Self::ConsentRevoked => "the patient revoked the consent",
            Self::RequesterNotAudited => "the requester is not a member of an audited organisation",
            Self::NotADoctor => "the requester is not an enrolled doctor",
            Self::Unlicensed => "the requesting doctor holds no licence",
            Self::LicenceExpired => "the requesting doctor's licence has expired",
            Self::DoctorRevoked => "the requesting doctor is on the revocation list",
            Self::NoEmergency => "no such emergency request is on chain",
            Self::EmergencyMismatch => "the emergency request names another record or doctor",
            Self::EmergencyExpired => "the emergency request is too old to rely on",
            Self::BadAuthorisation => "the patient's authorisation did not verify",
            Self::Replayed => "the request was already served once (replay)",
            Self::WrongRecord => "the authorisation covers another record",
            Self::LicenceMismatch => "the licence presented is not the requester's",
            Self::AuthorisationExpired => "the patient's authorisation has expired",
        }
    }
}

impl From<RefusalReason> for DenyReason {
    fn from(reason: RefusalReason) -> Self {
        match reason {
            RefusalReason::BadAuthorisation => Self::BadAuthorisation,
            RefusalReason::Replayed => Self::Replayed,
            RefusalReason::WrongRecord => Self::WrongRecord,
            RefusalReason::LicenceMismatch => Self::LicenceMismatch,
            RefusalReason::AuthorisationExpired => Self::AuthorisationExpired,
        }
    }
}

/// Writes each value in order.
macro_rules! put {
    ($buf:expr; $($value:expr),+ $(,)?) => {{ $(($value).write($buf);)+ }};
}

/// Encodes a transaction's events canonically.
pub fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(8 + 160 * events.len());
    events.len().write(&mut buf);
    for event in events {
        write_event(event, &mut buf);
    }
    buf
}

/// Decodes [`encode_events`] output; anything else is an error.
pub fn decode_events(bytes: &[u8]) -> Result<Vec<Event>, CodecError> {
    let mut buf = Copying(bytes);
    let count = usize::read_cfg(&mut buf, &RangeCfg::from(0..=MAX_EVENTS_PER_TX))?;
    let events = (0..count)
        .map(|_| read_event(&mut buf))
        .collect::<Result<Vec<_>, _>>()?;
    match buf.remaining() {
        0 => Ok(events),
        extra => Err(CodecError::ExtraData(extra)),
    }
}

/// The leaf a receipt contributes to its block's [`receipts_root`]: SHA-256 of the
/// transaction id and its canonically encoded events. Height and position are implied by the
/// header and the leaf's position in the tree.
pub fn receipt_leaf(tx: &TxId, events: &[Event]) -> Hash32 {
    Sha256::hash(&[tx.as_bytes(), &encode_events(events)])
}

/// The binary Merkle tree over a block's receipt leaves, in transaction order (commonware's
/// BMT, whose root also commits to the leaf count).
pub fn receipts_tree(leaves: &[Hash32]) -> bmt::Tree<Hash32> {
    let mut builder = bmt::Builder::<Sha256>::new(leaves.len());
    for leaf in leaves {
        builder.add(leaf);
    }
    builder.build()
}

/// A proof that one receipt leaf is in a block's receipts tree.
pub type ReceiptProof = bmt::Proof<Hash32>;

/// Most receipts one proof may prove (it proves one; the bound sizes the decoder).
pub const RECEIPT_PROOF_ITEMS: usize = 1;

/// The receipts root a header carries for these leaves.
pub fn receipts_root(leaves: &[Hash32]) -> Hash32 {
    receipts_tree(leaves).root()
}

impl Receipt {
    /// This receipt's leaf in its block's receipts tree.
    pub fn leaf(&self) -> Hash32 {
        receipt_leaf(&self.tx, &self.events)
    }
}

fn write_event(event: &Event, buf: &mut impl BufMut) {
    match event {
        Event::OrgRegistered {
            name,
            kind,
            founder,
        } => put!(buf; 0u8, name, *kind, founder),
        Event::OrgStateChanged { name, from, to } => put!(buf; 1u8, name, *from, *to),
        Event::MemberJoined {
            name,
            member,
            endorser,
        } => put!(buf; 2u8, name, member, endorser),
        Event::RecordReleased {
            record,
            patient,
            doctor,
            hospital,
        } => put!(buf; 3u8, *record, patient, doctor, hospital),
        Event::RecordStored { record, blob_hash } => put!(buf; 4u8, *record, *blob_hash),
        Event::ConsentGranted {
            consent,
            patient,
            grantee,
        } => put!(buf; 5u8, *consent, patient, grantee),
        Event::ConsentRevoked { consent } => put!(buf; 6u8, *consent),
        Event::AccessDecided {
            record,
            requester,
            purpose,
            decision,
        } => {
            put!(buf; 7u8, *record, requester, *purpose, decision);
        }
        Event::IdentityEnrolled {
            identity,
            address,
            role,
        } => put!(buf; 8u8, identity, address, *role),
        Event::LicenceIssued {
            doctor,
            hospital,
            expires_at_ms,
        } => put!(buf; 9u8, doctor, hospital, *expires_at_ms),
        Event::LicenceRenewed {
            doctor,
            expires_at_ms,
        } => put!(buf; 10u8, doctor, *expires_at_ms),
        Event::DoctorRevoked { doctor, by } => put!(buf; 11u8, doctor, by),
        Event::RevocationLifted { doctor, by } => put!(buf; 12u8, doctor, by),
        Event::DealerLogRecorded { dealer, round } => put!(buf; 13u8, dealer, *round),
        Event::PkgReady {
            round,
            threshold,
            master_public_key,
        } => put!(buf; 14u8, *round, *threshold, master_public_key),
        Event::EntryFiled { entry, patient } => put!(buf; 15u8, *entry, patient),
        Event::VouchingKeySet { address } => put!(buf; 16u8, address),
        Event::EmergencyFiled {
            emergency,
            patient,
            record,
            doctor,
        } => put!(buf; 17u8, *emergency, patient, *record, doctor),
        Event::Transferred {
            inputs,
            outputs,
            fee,
        } => put!(buf; 18u8, *inputs, *outputs, *fee),
        Event::RewardPaid {
            consent,
            patient,
            payer,
            amount,
        } => put!(buf; 19u8, *consent, patient, payer, *amount),
        Event::EscrowOpened {
            escrow,
            payer,
            payee,
            amount,
        } => put!(buf; 20u8, *escrow, payer, payee, *amount),
        Event::EscrowSettled { escrow, to, amount } => put!(buf; 21u8, *escrow, to, *amount),
        Event::CandidateRegistered { candidate, org } => put!(buf; 22u8, candidate, org),
        Event::Delegated {
            candidate,
            delegator,
            amount,
        } => put!(buf; 23u8, candidate, delegator, *amount),
        Event::Undelegated {
            candidate,
            delegator,
            amount,
            release_epoch,
        } => put!(buf; 24u8, candidate, delegator, *amount, *release_epoch),
        Event::Withdrawn {
            candidate,
            delegator,
            amount,
        } => put!(buf; 25u8, candidate, delegator, *amount),
        Event::Slashed {
            offender,
            epoch,
            amount,
        } => put!(buf; 26u8, offender, *epoch, *amount),
        Event::CircuitRegistered { circuit } => put!(buf; 27u8, *circuit),
        Event::NullifierKeySet { patient } => put!(buf; 28u8, patient),
        Event::RecordAttested { record, leaf, root } => put!(buf; 29u8, *record, *leaf, *root),
        Event::ProxyRegistered { proxy } => put!(buf; 30u8, proxy),
        Event::StudyPublished { study } => put!(buf; 31u8, *study),
        Event::StudyFunded {
            study,
            amount,
            pool,
        } => put!(buf; 32u8, *study, *amount, *pool),
        Event::Enrolled {
            study,
            enrolment,
            reward,
            owed,
        } => put!(buf; 33u8, *study, *enrolment, *reward, *owed),
        Event::Reencrypted { enrolment, proxy } => put!(buf; 34u8, *enrolment, proxy),
        Event::StudyRefunded { study, amount } => put!(buf; 35u8, *study, *amount),
        Event::EnrolmentAcknowledged { enrolment } => put!(buf; 36u8, *enrolment),
        Event::EnrolmentDisputed { enrolment } => put!(buf; 37u8, *enrolment),
        Event::DisputeResolved { enrolment, pay } => put!(buf; 38u8, *enrolment, *pay),
        Event::RewardClaimed {
            enrolment,
            payee,
            amount,
        } => put!(buf; 39u8, *enrolment, payee, *amount),
        Event::MedReleaseRefused { record, reason } => put!(buf; 40u8, *record, *reason),
        Event::MedEntryRefused { entry, reason } => put!(buf; 41u8, *entry, *reason),
    }
}

fn read_event(buf: &mut impl Buf) -> Result<Event, CodecError> {
    Ok(match u8::read(buf)? {
        0 => Event::OrgRegistered {
            name: OrgName::read(buf)?,
            kind: OrgKind::read(buf)?,
            founder: Address::read(buf)?,
        },
        1 => Event::OrgStateChanged {
            name: OrgName::read(buf)?,
            from: OrgState::read(buf)?,
            to: OrgState::read(buf)?,
        },
        2 => Event::MemberJoined {
            name: OrgName::read(buf)?,
            member: Address::read(buf)?,
            endorser: Address::read(buf)?,
        },
        3 => Event::RecordReleased {
            record: RecordId::read(buf)?,
            patient: Address::read(buf)?,
            doctor: Address::read(buf)?,
            hospital: OrgName::read(buf)?,
        },
        4 => Event::RecordStored {
            record: RecordId::read(buf)?,
            blob_hash: ContentHash::read(buf)?,
        },
        5 => Event::ConsentGranted {
            consent: ConsentId::read(buf)?,
            patient: Address::read(buf)?,
            grantee: Address::read(buf)?,
        },
        6 => Event::ConsentRevoked {
            consent: ConsentId::read(buf)?,
        },
        7 => Event::AccessDecided {
            record: RecordId::read(buf)?,
            requester: Address::read(buf)?,
            purpose: Purpose::read(buf)?,
            decision: AccessDecision::read(buf)?,
        },
        8 => Event::IdentityEnrolled {
            identity: IdentityName::read(buf)?,
            address: Address::read(buf)?,
            role: Role::read(buf)?,
        },
        9 => Event::LicenceIssued {
            doctor: IdentityName::read(buf)?,
            hospital: IdentityName::read(buf)?,
            expires_at_ms: u64::read(buf)?,
        },
        10 => Event::LicenceRenewed {
            doctor: IdentityName::read(buf)?,
            expires_at_ms: u64::read(buf)?,
        },
        11 => Event::DoctorRevoked {
            doctor: IdentityName::read(buf)?,
            by: Address::read(buf)?,
        },
        12 => Event::RevocationLifted {
            doctor: IdentityName::read(buf)?,
            by: Address::read(buf)?,
        },
        13 => Event::DealerLogRecorded {
            dealer: Address::read(buf)?,
            round: u64::read(buf)?,
        },
        14 => Event::PkgReady {
            round: u64::read(buf)?,
            threshold: u32::read(buf)?,
            master_public_key: G1Point::read(buf)?,
        },
        15 => Event::EntryFiled {
            entry: EntryId::read(buf)?,
            patient: Address::read(buf)?,
        },
        16 => Event::VouchingKeySet {
            address: Address::read(buf)?,
        },
        17 => Event::EmergencyFiled {
            emergency: EmergencyId::read(buf)?,
            patient: Address::read(buf)?,
            record: RecordId::read(buf)?,
            doctor: Address::read(buf)?,
        },
        18 => Event::Transferred {
            inputs: u16::read(buf)?,
            outputs: u16::read(buf)?,
            fee: u64::read(buf)?,
        },
        19 => Event::RewardPaid {
            consent: ConsentId::read(buf)?,
            patient: Address::read(buf)?,
            payer: Address::read(buf)?,
            amount: u64::read(buf)?,
        },
        20 => Event::EscrowOpened {
            escrow: EscrowId::read(buf)?,
            payer: Address::read(buf)?,
            payee: Address::read(buf)?,
            amount: u64::read(buf)?,
        },
        21 => Event::EscrowSettled {
            escrow: EscrowId::read(buf)?,
            to: Address::read(buf)?,
            amount: u64::read(buf)?,
        },
        22 => Event::CandidateRegistered {
            candidate: Address::read(buf)?,
            org: OrgName::read(buf)?,
        },
        23 => Event::Delegated {
            candidate: Address::read(buf)?,
            delegator: Address::read(buf)?,
            amount: u64::read(buf)?,
        },
        24 => Event::Undelegated {
            candidate: Address::read(buf)?,
            delegator: Address::read(buf)?,
            amount: u64::read(buf)?,
            release_epoch: u64::read(buf)?,
        },
        25 => Event::Withdrawn {
            candidate: Address::read(buf)?,
            delegator: Address::read(buf)?,
            amount: u64::read(buf)?,
        },
        26 => Event::Slashed {
            offender: Address::read(buf)?,
            epoch: u64::read(buf)?,
            amount: u64::read(buf)?,
        },
        27 => Event::CircuitRegistered {
            circuit: Hash32::read(buf)?,
        },
        28 => Event::NullifierKeySet {
            patient: Address::read(buf)?,
        },
        29 => Event::RecordAttested {
            record: RecordId::read(buf)?,
            leaf: u64::read(buf)?,
            root: Hash32::read(buf)?,
        },
        30 => Event::ProxyRegistered {
            proxy: Address::read(buf)?,
        },
        31 => Event::StudyPublished {
            study: StudyId::read(buf)?,
        },
        32 => Event::StudyFunded {
            study: StudyId::read(buf)?,
            amount: u64::read(buf)?,
            pool: u64::read(buf)?,
        },
        33 => Event::Enrolled {
            study: StudyId::read(buf)?,
            enrolment: EnrolmentId::read(buf)?,
            reward: u64::read(buf)?,
            owed: u64::read(buf)?,
        },
        34 => Event::Reencrypted {
            enrolment: EnrolmentId::read(buf)?,
            proxy: Address::read(buf)?,
        },
        35 => Event::StudyRefunded {
            study: StudyId::read(buf)?,
            amount: u64::read(buf)?,
        },
        36 => Event::EnrolmentAcknowledged {
            enrolment: EnrolmentId::read(buf)?,
        },
        37 => Event::EnrolmentDisputed {
            enrolment: EnrolmentId::read(buf)?,
        },
        38 => Event::DisputeResolved {
            enrolment: EnrolmentId::read(buf)?,
            pay: bool::read(buf)?,
        },
        39 => Event::RewardClaimed {
            enrolment: EnrolmentId::read(buf)?,
            payee: Address::read(buf)?,
            amount: u64::read(buf)?,
        },
        40 => Event::MedReleaseRefused {
            record: RecordId::read(buf)?,
            reason: MedRefusal::read(buf)?,
        },
        41 => Event::MedEntryRefused {
            entry: EntryId::read(buf)?,
            reason: MedEntryRefusal::read(buf)?,
        },
        other => return Err(CodecError::InvalidEnum(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{address, org_name, record_id};

    fn every_event() -> Vec<Event> {
        let name = org_name("Seoul General");
        vec![
            Event::OrgRegistered {
                name: name.clone(),
                kind: OrgKind::Cloud,
                founder: address(1),
            },
            Event::OrgStateChanged {
                name: name.clone(),
                from: OrgState::ToAudit,
                to: OrgState::Audited,
            },
            Event::MemberJoined {
                name: name.clone(),
                member: address(2),
                endorser: address(1),
            },
            Event::RecordReleased {
                record: record_id(1),
                patient: address(3),
                doctor: address(2),
                hospital: name,
            },
            Event::RecordStored {
                record: record_id(1),
                blob_hash: ContentHash::of(b"blob"),
            },
            Event::ConsentGranted {
                consent: ConsentId(record_id(2).0),
                patient: address(3),
                grantee: address(4),
            },
            Event::ConsentRevoked {
                consent: ConsentId(record_id(2).0),
            },
            Event::AccessDecided {
                record: record_id(1),
                requester: address(4),
                purpose: Purpose::Billing,
                decision: AccessDecision::Allowed {
                    consent: Some(ConsentId(record_id(2).0)),
                },
            },
            Event::AccessDecided {
                record: record_id(1),
                requester: address(5),
                purpose: Purpose::PublicHealth,
                decision: AccessDecision::Denied {
                    reason: DenyReason::ConsentExpired,
                },
            },
            Event::IdentityEnrolled {
                identity: IdentityName::patient_pseudonym(&address(6)),
                address: address(6),
                role: Role::Patient,
            },
            Event::LicenceIssued {
                doctor: doctor(),
                hospital: IdentityName::new("seoul-general").unwrap(),
                expires_at_ms: 1_800_000_000_000,
            },
            Event::LicenceRenewed {
                doctor: doctor(),
                expires_at_ms: 1_900_000_000_000,
            },
            Event::DoctorRevoked {
                doctor: doctor(),
                by: address(7),
            },
            Event::RevocationLifted {
                doctor: doctor(),
                by: address(8),
            },
            Event::DealerLogRecorded {
                dealer: address(9),
                round: 0,
            },
            Event::PkgReady {
                round: 0,
                threshold: 3,
                master_public_key: G1Point([7; G1Point::LEN]),
            },
            Event::EntryFiled {
                entry: EntryId(record_id(3).0),
                patient: address(3),
            },
            Event::VouchingKeySet {
                address: address(2),
            },
            Event::EmergencyFiled {
                emergency: EmergencyId(record_id(4).0),
                patient: address(3),
                record: record_id(1),
                doctor: address(2),
            },
            Event::AccessDecided {
                record: record_id(1),
                requester: address(2),
                purpose: Purpose::Treatment,
                decision: AccessDecision::BreakGlass {
                    emergency: EmergencyId(record_id(4).0),
                },
            },
            Event::Transferred {
                inputs: 16,
                outputs: 2,
                fee: 300,
            },
            Event::RewardPaid {
                consent: ConsentId(record_id(2).0),
                patient: address(3),
                payer: address(4),
                amount: 50,
            },
            Event::EscrowOpened {
                escrow: EscrowId(record_id(5).0),
                payer: address(4),
                payee: address(3),
                amount: 70,
            },
            Event::EscrowSettled {
                escrow: EscrowId(record_id(5).0),
                to: address(3),
                amount: 70,
            },
            Event::CandidateRegistered {
                candidate: address(9),
                org: org_name("Seoul General"),
            },
            Event::Delegated {
                candidate: address(9),
                delegator: address(4),
                amount: 1_000,
            },
            Event::Undelegated {
                candidate: address(9),
                delegator: address(4),
                amount: 400,
                release_epoch: 7,
            },
            Event::Withdrawn {
                candidate: address(9),
                delegator: address(4),
                amount: 400,
            },
            Event::Slashed {
                offender: address(9),
                epoch: 6,
                amount: 60,
            },
            Event::CircuitRegistered {
                circuit: record_id(6).0,
            },
            Event::NullifierKeySet {
                patient: address(3),
            },
            Event::RecordAttested {
                record: record_id(1),
                leaf: 41,
                root: record_id(7).0,
            },
            Event::ProxyRegistered { proxy: address(10) },
            Event::StudyPublished {
                study: StudyId(record_id(8).0),
            },
            Event::StudyFunded {
                study: StudyId(record_id(8).0),
                amount: 500,
                pool: 900,
            },
            Event::Enrolled {
                study: StudyId(record_id(8).0),
                enrolment: EnrolmentId(record_id(9).0),
                reward: 10,
                owed: 90,
            },
            Event::Reencrypted {
                enrolment: EnrolmentId(record_id(9).0),
                proxy: address(10),
            },
            Event::StudyRefunded {
                study: StudyId(record_id(8).0),
                amount: 800,
            },
            Event::EnrolmentAcknowledged {
                enrolment: EnrolmentId(record_id(9).0),
            },
            Event::EnrolmentDisputed {
                enrolment: EnrolmentId(record_id(9).0),
            },
            Event::DisputeResolved {
                enrolment: EnrolmentId(record_id(9).0),
                pay: false,
            },
            Event::RewardClaimed {
                enrolment: EnrolmentId(record_id(9).0),
                payee: address(11),
                amount: 90,
            },
        ]
        .into_iter()
        .chain(DenyReason::ALL.iter().map(|&reason| Event::AccessDecided {
            record: record_id(1),
            requester: address(5),
            purpose: Purpose::Audit,
            decision: AccessDecision::Denied { reason },
        }))
        .chain(
            MedRefusal::ALL
                .iter()
                .map(|&reason| Event::MedReleaseRefused {
                    record: record_id(2),
                    reason,
                }),
        )
        .chain(
            MedEntryRefusal::ALL
                .iter()
                .map(|&reason| Event::MedEntryRefused {
                    entry: EntryId(record_id(3).0),
                    reason,
                }),
        )
        .collect()
    }

    fn doctor() -> IdentityName {
        IdentityName::new("dr-kim@seoul-general").unwrap()
    }

    #[test]
    fn every_event_round_trips_canonically() {
        let events = every_event();
        let bytes = encode_events(&events);
        assert_eq!(decode_events(&bytes).unwrap(), events);
        for event in &events {
            let one = encode_events(std::slice::from_ref(event));
            assert_eq!(decode_events(&one).unwrap(), vec![event.clone()]);
            let json = serde_json::to_string(event).unwrap();
            assert_eq!(
                &serde_json::from_str::<Event>(&json).unwrap(),
                event,
                "{json}"
            );
        }
        assert_eq!(decode_events(&encode_events(&[])).unwrap(), vec![]);
    }

    #[test]
    fn deny_reason_tags_are_stable_and_appended() {
        // Tags already on chain never change meaning.
        let first = [
            DenyReason::NoConsent,
            DenyReason::ConsentExpired,
            DenyReason::ConsentRevoked,
            DenyReason::RequesterNotAudited,
        ];
        assert_eq!(DenyReason::ALL[..4], first);
        for (tag, reason) in DenyReason::ALL.iter().enumerate() {
            assert_eq!(usize::from(reason.tag()), tag);
        }
        for refusal in RefusalReason::ALL {
            let reason = DenyReason::from(*refusal);
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                serde_json::to_value(refusal).unwrap(),
                "a refusal keeps its name as a deny reason"
            );
        }
        // Unknown decision and reason tags.
        let mut bytes = Vec::new();
        AccessDecision::Denied {
            reason: DenyReason::AuthorisationExpired,
        }
        .write(&mut bytes);
        assert_eq!(bytes, [1, 15]);
        assert!(AccessDecision::read(&mut Copying(&[1, 16])).is_err());
        assert!(AccessDecision::read(&mut Copying(&[3])).is_err());
        assert!(
            AccessDecision::BreakGlass {
                emergency: EmergencyId(record_id(1).0)
            }
            .is_allowed()
        );
    }

    #[test]
    fn malformed_event_bytes_are_refused() {
        let bytes = encode_events(&every_event());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode_events(&trailing),
            Err(CodecError::ExtraData(1))
        ));
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_events(&bytes[..cut]).is_err());
        }
        // An unknown event tag (41, MedEntryRefused, is the last one).
        assert!(matches!(
            decode_events(&[1, 42]),
            Err(CodecError::InvalidEnum(42))
        ));
        // An unknown MED refusal reason.
        let mut unknown_reason = vec![1, 40];
        unknown_reason.extend_from_slice(&[0; 32]);
        let unknown_tag = u8::try_from(MedRefusal::ALL.len()).unwrap();
        unknown_reason.push(unknown_tag);
        assert!(matches!(
            decode_events(&unknown_reason),
            Err(CodecError::InvalidEnum(tag)) if tag == unknown_tag
        ));
        // An unknown MED entry refusal reason.
        let mut unknown_entry_reason = vec![1, 41];
        unknown_entry_reason.extend_from_slice(&[0; 32]);
        unknown_entry_reason.push(u8::try_from(MedEntryRefusal::ALL.len()).unwrap());
        assert!(matches!(
            decode_events(&unknown_entry_reason),
            Err(CodecError::InvalidEnum(4))
        ));
        // A count above the bound.
        let mut too_many = Vec::new();
        (MAX_EVENTS_PER_TX + 1).write(&mut too_many);
        assert!(decode_events(&too_many).is_err());
    }
}
