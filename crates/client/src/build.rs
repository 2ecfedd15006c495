//! Builders for every transaction payload. They check locally what would make the chain
//! refuse the transaction outright (so the user hears it before paying a round trip) and make
//! the embedded signatures some payloads carry; signing the transaction itself is
//! [`crate::Signer`]'s job.

use chrono::{DateTime, NaiveDate, NaiveTime};
use commonware_codec::{Copying, DecodeExt as _, Encode as _};
use medchain_med::aggregate::sign_entry;
use medchain_types::med::{EntryMr, MAX_MED_ENTRY_BYTES, SignedEntry};
use medchain_types::{
    AccessGrounds, BlsSignature, EmergencyPayload, EntryBytes, Hash32, IdentityName,
    IdentityPayload, LicencePayload, RevocationPayload, emergency,
};
use medchain_types::{
    AccessPayload, Address, CandidateEndorsement, ChainId, ConsentId, ConsentPayload, ContentHash,
    EscrowId, Expiry, JoinEndorsement, OrgKind, OrgName, OrgState, Payload, PeerAddress,
    PrivateKey, Purpose, RecordAttestation, RecordId, RecordPayload, RegistryPayload, Signature,
    StakePayload, TokenPayload, Uri, limits,
    token::{Cosignature, LockTime, OutPoint, TransferAuthorization, TxOutput},
};
use std::{collections::BTreeSet, time::Duration};

/// Why a payload could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// A consent must name 1 to `MAX_CONSENT_RECORDS` records (S1-sharing).
    #[error("a consent names 1 to {max} records, got {0}", max = limits::MAX_CONSENT_RECORDS)]
    RecordCount(usize),
    /// A record listed twice in one consent.
    #[error("record {0} is listed twice")]
    DuplicateRecord(RecordId),
    /// A patient needs no consent to its own records.
    #[error("a patient cannot grant consent to itself")]
    SelfGrant,
    /// Not the hex of one ed25519 signature.
    #[error("{0:?} is not a signature (128 hex characters, e.g. from `medchain org endorse`)")]
    Signature(String),
    /// An expiry that cannot be parsed or lies in the past.
    #[error("invalid expiry: {0}")]
    Expiry(String),
    /// An EMR entry must be 1 to `MAX_ENTRY_BYTES` bytes (S3-entry).
    #[error("an EMR entry is 1 to {max} bytes, got {0}", max = limits::MAX_ENTRY_BYTES)]
    EntrySize(usize),
    /// An EMR entry on MED must be 1 to `MAX_MED_ENTRY_BYTES` bytes (S3-entry).
    #[error("an EMR entry on MED is 1 to {MAX_MED_ENTRY_BYTES} bytes, got {0}")]
    MedEntrySize(usize),
    /// A vouching signature that is not a BLS12-381 G2 point (e.g. corrupted in transit).
    #[error("the {0} vouching signature is not a valid BLS signature")]
    Vouch(&'static str),
    /// A transfer spends nothing, creates nothing, or more inputs or outputs than one
    /// transaction may carry (S1-utxo: validity by a finite scan).
    #[error(
        "a transfer spends 1 to {max_in} outputs (or some balance) into 1 to {max_out} outputs; got {inputs} inputs and {outputs} outputs",
        max_in = limits::MAX_TRANSFER_INPUTS,
        max_out = limits::MAX_TRANSFER_OUTPUTS
    )]
    TransferShape {
        /// Outputs spent.
        inputs: usize,
        /// Outputs created.
        outputs: usize,
    },
    /// An output spent twice in one transfer.
    #[error("output {0} is spent twice")]
    DuplicateInput(OutPoint),
    /// Tokens are moved in positive amounts.
    #[error("an amount of 0 tokens moves nothing: name a positive amount")]
    ZeroAmount,
    /// Cosigning something that is not a transfer.
    #[error("only a token transfer is cosigned")]
    NotATransfer,
    /// More cosignatures than a transfer may carry.
    #[error("a transfer carries at most {max} cosignatures, got {0}", max = limits::MAX_COSIGNERS)]
    TooManyCosignatures(usize),
    /// A field of a research payload has a length the chain does not accept.
    #[error("the {field} has {len} bytes; the chain accepts {min} to {max}")]
    FieldLength {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Fewest accepted.
        min: usize,
        /// Most accepted.
        max: usize,
    },
    /// A study is published for research only (S4-flow).
    #[error("a study's purpose is research, not {0:?}")]
    StudyPurpose(Purpose),
    /// A study takes at least one participant.
    #[error("a study takes at least one participant")]
    NoParticipants,
    /// A proxy named twice in one study.
    #[error("proxy {0} is named twice")]
    DuplicateProxy(Address),
    /// The threshold is not between 1 and the number of proxies.
    #[error("a threshold of {threshold} proxies is not between 1 and the {proxies} proxies named")]
    Threshold {
        /// The threshold asked for.
        threshold: u8,
        /// Proxies named.
        proxies: usize,
    },
    /// A study's dispute window is longer than the chain allows.
    #[error(
        "a dispute window of {window_ms} ms is longer than the {max} ms (30 days) the chain allows",
        max = limits::MAX_DISPUTE_WINDOW_MS
    )]
    DisputeWindowTooLong {
        /// The window asked for.
        window_ms: u64,
    },
}

mod research;
pub use research::{
    Enrolment, StudyContract, acknowledge_enrolment, attest, claim_reward, dispute_enrolment,
    enrol, fund_study, log_reencryption, nullifier_key, publish_study, refund_study,
    register_circuit, register_proxy, resolve_dispute,
};

/// S2-register: register `name` with the sender as its first member; it starts `ToAudit`.
pub fn register_org(name: OrgName, kind: OrgKind) -> Payload {
    Payload::Registry(RegistryPayload::Register { name, kind })
}

/// S2-state: the regulator sets an organisation's state (approve and reinstate are
/// `Audited`, suspend is `Suspended`).
pub fn set_org_state(name: OrgName, state: OrgState) -> Payload {
    Payload::Registry(RegistryPayload::SetState { name, state })
}

/// S2-register: an audited member of `org` consents to `member` joining it. The chain accepts
/// the join only with this signature, made under its own namespace over (chain, org, member),
/// so it cannot be replayed on another chain, for another organisation or another address.
pub fn endorse_join(
    chain_id: &ChainId,
    org: &OrgName,
    member: &Address,
    endorser: &PrivateKey,
) -> Signature {
    JoinEndorsement {
        chain_id: chain_id.clone(),
        org: org.clone(),
        member: *member,
    }
    .sign(endorser)
}

/// A signature (e.g. an endorsement) as the hex a user copies between commands.
pub fn signature_hex(signature: &Signature) -> String {
    hex::encode(signature.encode())
}

/// Parses [`signature_hex`]'s output, refusing anything that is not one canonical signature.
pub fn parse_signature(text: &str) -> Result<Signature, BuildError> {
    let invalid = || BuildError::Signature(text.chars().take(140).collect());
    let bytes = hex::decode(text.trim()).map_err(|_| invalid())?;
    Signature::decode(Copying(&bytes)).map_err(|_| invalid())
}

/// S2-register: the sender joins `name` with `endorser`'s endorsement (see [`endorse_join`]).
pub fn join_org(name: OrgName, endorser: Address, endorsement: Signature) -> Payload {
    Payload::Registry(RegistryPayload::Join {
        name,
        endorser,
        endorsement,
    })
}

/// A record release and the hash it commits to.
#[derive(Clone, Debug)]
pub struct Release {
    /// The payload to sign with the doctor's key.
    pub payload: Payload,
    /// hEMR: SHA-256 of the record's bytes.
    pub record_hash: ContentHash,
    /// The doctor's attestation, which the patient keeps with the record.
    pub attestation: Signature,
}

/// S1-release: doctor B releases record D_A about patient A: hEMR = SHA-256(D_A), and B's
/// signature over (chain, A, hEMR). Only the hash goes on chain; the record stays off chain.
/// The transaction must be signed with the same `doctor` key (the chain checks the
/// attestation against the sender).
pub fn release_record(
    chain_id: &ChainId,
    doctor: &PrivateKey,
    patient: Address,
    record: &[u8],
) -> Release {
    let record_hash = ContentHash::of(record);
    let attestation = RecordAttestation {
        chain_id: chain_id.clone(),
        patient,
        record_hash,
    }
    .sign(doctor);
    Release {
        payload: Payload::Record(RecordPayload::Release {
            patient,
            record_hash,
            attestation: attestation.clone(),
        }),
        record_hash,
        attestation,
    }
}

/// S1-storage: the patient files where the encrypted copy of `record` is kept. The pointer
/// holds hash pointers to the release transaction (`record`) and to the blob (its SHA-256).
pub fn store_pointer(record: RecordId, encrypted_blob: &[u8], location: Uri) -> Payload {
    Payload::Record(RecordPayload::Store {
        record,
        blob_hash: ContentHash::of(encrypted_blob),
        location,
    })
}

/// S1-sharing: `patient` grants `grantee` access to `records` for `purpose` until `expiry`.
/// Checks what the chain would refuse regardless of state: the record count, duplicates, and
/// a grant to oneself.
pub fn grant_consent(
    patient: &Address,
    grantee: Address,
    records: Vec<RecordId>,
    purpose: Purpose,
    expiry: Expiry,
) -> Result<Payload, BuildError> {
    if records.is_empty() || records.len() > limits::MAX_CONSENT_RECORDS {
        return Err(BuildError::RecordCount(records.len()));
    }
    let mut seen = BTreeSet::new();
    if let Some(duplicate) = records.iter().find(|id| !seen.insert(**id)) {
        return Err(BuildError::DuplicateRecord(*duplicate));
    }
    if &grantee == patient {
        return Err(BuildError::SelfGrant);
    }
    Ok(Payload::Consent(ConsentPayload::Grant {
        grantee,
        records,
        purpose,
        expiry,
        reward: None,
    }))
}

/// S1-sharing: the patient withdraws a consent it granted.
pub fn revoke_consent(consent: ConsentId) -> Payload {
    Payload::Consent(ConsentPayload::Revoke { consent })
}

/// S1-rights: ask the chain for access to `record` for `purpose`; allowed or denied, the
/// decision is logged in the patient's access log. If it is allowed under a consent, the
/// sender pays the patient the consent's reward, but never more than `max_reward` (S1-tokens):
/// a consent re-priced above it refuses the request instead.
pub fn request_access(record: RecordId, purpose: Purpose, max_reward: u64) -> Payload {
    Payload::Access(AccessPayload::Request {
        record,
        purpose,
        max_reward,
    })
}

// EMR entries, vouching keys, emergencies and served access (issue 9).

/// S3-entry: the patient files its encrypted EMR entry EEE (opaque bytes to the chain).
pub fn file_entry(entry: &[u8]) -> Result<Payload, BuildError> {
    if entry.is_empty() || entry.len() > limits::MAX_ENTRY_BYTES {
        return Err(BuildError::EntrySize(entry.len()));
    }
    Ok(Payload::Record(RecordPayload::Entry {
        entry: EntryBytes(entry.to_vec()),
    }))
}

/// S3-entry on a chain with MED: the patient's entry EEE for its hospital's gateway (`POST
/// /v1/entries`), signed with `vouching`, the patient's BLS key (`Client::ensure_vouching_key`
/// registers it on SUP first). The hospital seals it into a MED batch; SUP files it as
/// `entry/<id>` once it checkpoints the Mblock.
pub fn med_entry(
    chain_id: &ChainId,
    vouching: &emergency::BlsVouchingKey,
    patient: Address,
    entry: &[u8],
    issued_at_ms: u64,
) -> Result<SignedEntry, BuildError> {
    if entry.is_empty() || entry.len() > MAX_MED_ENTRY_BYTES {
        return Err(BuildError::MedEntrySize(entry.len()));
    }
    let entry = EntryMr {
        patient,
        entry: EntryBytes(entry.to_vec()),
        issued_at_ms,
    };
    Ok(SignedEntry {
        signature: sign_entry(chain_id, vouching, &entry),
        entry,
    })
}

/// S3-emergency: the holder of `chain_key` (a doctor or hospital identity) registers the
/// vouching key derived from it, with its proof of possession for this chain. Must be signed
/// with the same `chain_key`.
pub fn set_vouching_key(chain_id: &ChainId, chain_key: &PrivateKey) -> Payload {
    use commonware_cryptography::Signer as _;
    let vouching = emergency::vouching_key_from(chain_key);
    let address = Address::from(chain_key.public_key());
    Payload::Identity(IdentityPayload::SetVouchingKey {
        key: vouching.public(),
        proof: vouching.proof_of_possession(chain_id, &address),
    })
}

/// What an emergency request tx_ur states (S3-emergency): both the doctor and its hospital
/// sign exactly this, each with its vouching key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyTerms {
    /// The treating doctor's identity.
    pub doctor: IdentityName,
    /// The hospital identity that files the request (the doctor's licensing organisation).
    pub hospital: IdentityName,
    /// The record needed.
    pub record: RecordId,
    /// h_ur, binding the request to the patient's opened EMR entry.
    pub hur: Hash32,
    /// When the doctor issued the request, unix milliseconds (the chain accepts it within
    /// `EMERGENCY_CLOCK_SKEW_MS` of the block's time).
    pub issued_at_ms: u64,
}

impl EmergencyTerms {
    /// One party's vouching signature: `chain_key`'s vouching key over htxu.
    pub fn vouch(&self, chain_id: &ChainId, chain_key: &PrivateKey) -> BlsSignature {
        emergency::vouching_key_from(chain_key).sign(&self.message(chain_id))
    }

    /// htxu, the message both parties sign.
    pub fn message(&self, chain_id: &ChainId) -> Vec<u8> {
        emergency::emergency_message(
            chain_id,
            &self.doctor,
            &self.hospital,
            &self.record,
            &self.hur,
            self.issued_at_ms,
        )
    }

    /// The request the hospital files, vouched by the sum of both signatures. Refuses a
    /// signature that is not a curve point; whether it is the right one is the chain's check.
    pub fn request(
        &self,
        doctor_vouch: &BlsSignature,
        hospital_vouch: &BlsSignature,
    ) -> Result<Payload, BuildError> {
        let vouch = emergency::aggregate(doctor_vouch, hospital_vouch)
            .ok_or(BuildError::Vouch("doctor's or hospital's"))?;
        Ok(Payload::Emergency(EmergencyPayload::Request {
            doctor: self.doctor.clone(),
            record: self.record,
            hur: self.hur,
            issued_at_ms: self.issued_at_ms,
            vouch,
        }))
    }
}

/// S1-rights, S3-share, S3-emergency: the gateway of the hospital holding `record` files the
/// decision on `requester`'s request it served, on `grounds`; the chain decides and logs it,
/// and the gateway pays a consent's reward up to `max_reward`.
pub fn serve_access(
    requester: Address,
    record: RecordId,
    purpose: Purpose,
    grounds: AccessGrounds,
    max_reward: u64,
) -> Payload {
    Payload::Access(AccessPayload::Serve {
        requester,
        record,
        purpose,
        grounds,
        max_reward,
    })
}

// Licences and the revocation list (issue 8).

/// S3-register: the sender, a hospital identity, licenses a doctor of its own organisation
/// until `expires_at_ms` (unix ms, compared with block timestamps).
pub fn issue_licence(doctor: IdentityName, expires_at_ms: u64) -> Payload {
    Payload::Licence(LicencePayload::Issue {
        doctor,
        expires_at_ms,
    })
}

/// S3-register: the sender, a hospital identity of the licence's organisation, moves a
/// licence's expiry (later or earlier).
pub fn renew_licence(doctor: IdentityName, expires_at_ms: u64) -> Payload {
    Payload::Licence(LicencePayload::Renew {
        doctor,
        expires_at_ms,
    })
}

/// S3-revoke: the doctor's licensing hospital or the regulator puts the doctor on the
/// revocation list.
pub fn revoke_doctor(doctor: IdentityName) -> Payload {
    Payload::Revocation(RevocationPayload::Add { doctor })
}

/// S3-revoke: whoever revoked the doctor, or the regulator, takes it off the list.
pub fn lift_revocation(doctor: IdentityName) -> Payload {
    Payload::Revocation(RevocationPayload::Remove { doctor })
}

// Tokens and staking (issue 11).

/// S1-utxo: spend `inputs` (whole outputs) and `from_balance` of the sender's balance into
/// `outputs`. What is spent beyond the outputs is the fee, and must equal the fee the
/// transaction names exactly ([`crate::Signer::fee_for`]): add a change output for the rest.
/// Checks what the chain refuses regardless of state: no inputs and no balance, no outputs, too
/// many of either, an output spent twice, and a zero-value output.
pub fn transfer(
    inputs: Vec<OutPoint>,
    from_balance: u64,
    outputs: Vec<TxOutput>,
) -> Result<Payload, BuildError> {
    let shape = BuildError::TransferShape {
        inputs: inputs.len(),
        outputs: outputs.len(),
    };
    let spends_nothing = inputs.is_empty() && from_balance == 0;
    if spends_nothing
        || inputs.len() > limits::MAX_TRANSFER_INPUTS
        || outputs.is_empty()
        || outputs.len() > limits::MAX_TRANSFER_OUTPUTS
    {
        return Err(shape);
    }
    let mut seen = BTreeSet::new();
    if let Some(twice) = inputs.iter().find(|input| !seen.insert(**input)) {
        return Err(BuildError::DuplicateInput(*twice));
    }
    if outputs.iter().any(|output| output.value == 0) {
        return Err(BuildError::ZeroAmount);
    }
    Ok(Payload::Token(TokenPayload::Transfer {
        inputs,
        from_balance,
        outputs,
        cosignatures: Vec::new(),
    }))
}

/// S1-utxo, joint payment: a co-owner of some of `transfer`'s inputs signs it as `sender`'s
/// transaction `nonce` naming `fee` and the deadline `valid_until_ms` on `chain_id`. The
/// cosignature authorises exactly that transaction and dies with its deadline; attach every
/// co-owner's with [`with_cosignatures`].
pub fn cosign_transfer(
    chain_id: &ChainId,
    sender: Address,
    nonce: u64,
    fee: u64,
    valid_until_ms: u64,
    transfer: &Payload,
    cosigner: &PrivateKey,
) -> Result<Cosignature, BuildError> {
    let Payload::Token(TokenPayload::Transfer {
        inputs,
        from_balance,
        outputs,
        ..
    }) = transfer
    else {
        return Err(BuildError::NotATransfer);
    };
    Ok(TransferAuthorization {
        chain_id: chain_id.clone(),
        sender,
        nonce,
        fee,
        valid_until_ms,
        inputs: inputs.clone(),
        from_balance: *from_balance,
        outputs: outputs.clone(),
    }
    .sign(cosigner))
}

/// `transfer` carrying `cosignatures` (replacing any it had).
pub fn with_cosignatures(
    transfer: Payload,
    cosignatures: Vec<Cosignature>,
) -> Result<Payload, BuildError> {
    if cosignatures.len() > limits::MAX_COSIGNERS {
        return Err(BuildError::TooManyCosignatures(cosignatures.len()));
    }
    match transfer {
        Payload::Token(TokenPayload::Transfer {
            inputs,
            from_balance,
            outputs,
            ..
        }) => Ok(Payload::Token(TokenPayload::Transfer {
            inputs,
            from_balance,
            outputs,
            cosignatures,
        })),
        _ => Err(BuildError::NotATransfer),
    }
}

/// S1-utxo, contract lock: the sender locks `amount` of its balance for `payee`; the sender
/// or `arbiter` releases it to the payee, or it goes back to the sender (the payee or arbiter
/// at any time, the sender from `refund_after`).
pub fn escrow_open(
    payee: Address,
    arbiter: Address,
    amount: u64,
    refund_after: LockTime,
) -> Result<Payload, BuildError> {
    if amount == 0 {
        return Err(BuildError::ZeroAmount);
    }
    Ok(Payload::Token(TokenPayload::EscrowOpen {
        payee,
        arbiter,
        amount,
        refund_after,
    }))
}

/// The payer or arbiter pays an escrow to its payee.
pub fn escrow_release(escrow: EscrowId) -> Payload {
    Payload::Token(TokenPayload::EscrowRelease { escrow })
}

/// An escrow goes back to its payer.
pub fn escrow_refund(escrow: EscrowId) -> Payload {
    Payload::Token(TokenPayload::EscrowRefund { escrow })
}

/// S1-dpos: an audited member of hospital `org` vouches for `candidate` (a node key) running
/// as a validator candidate for it. Bound to the chain, the organisation and the candidate.
pub fn endorse_candidate(
    chain_id: &ChainId,
    org: &OrgName,
    candidate: &Address,
    endorser: &PrivateKey,
) -> Signature {
    CandidateEndorsement {
        chain_id: chain_id.clone(),
        org: org.clone(),
        candidate: *candidate,
    }
    .sign(endorser)
}

/// S1-dpos: the sender (a node key) registers as a validator candidate for `org`, dialled at
/// `p2p`, with `endorser`'s endorsement (see [`endorse_candidate`]).
pub fn register_candidate(
    org: OrgName,
    p2p: PeerAddress,
    endorser: Address,
    endorsement: Signature,
) -> Payload {
    Payload::Stake(StakePayload::Register {
        org,
        p2p,
        endorser,
        endorsement,
    })
}

/// S1-dpos: the sender bonds `amount` of its balance to `candidate`'s staking pool.
pub fn delegate(candidate: Address, amount: u64) -> Result<Payload, BuildError> {
    if amount == 0 {
        return Err(BuildError::ZeroAmount);
    }
    Ok(Payload::Stake(StakePayload::Delegate { candidate, amount }))
}

/// S1-dpos: the sender starts unbonding `amount` tokens' worth of its delegation to
/// `candidate`; it can withdraw them once the unbonding delay has passed.
pub fn undelegate(candidate: Address, amount: u64) -> Result<Payload, BuildError> {
    if amount == 0 {
        return Err(BuildError::ZeroAmount);
    }
    Ok(Payload::Stake(StakePayload::Undelegate {
        candidate,
        amount,
    }))
}

/// S1-dpos: the sender takes back what it unbonded from `candidate`.
pub fn withdraw(candidate: Address) -> Payload {
    Payload::Stake(StakePayload::Withdraw { candidate })
}

/// How a user states a consent's expiry; resolved against the chain's height and the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpirySpec {
    /// Valid below this block height.
    AtHeight(u64),
    /// Valid for this many blocks after the current height.
    InBlocks(u64),
    /// Valid until this unix time in milliseconds.
    AtTimeMs(u64),
    /// Valid for this long from now.
    For(Duration),
}

impl ExpirySpec {
    /// The on-chain expiry, given the chain's current height and the time now (unix ms).
    pub fn resolve(self, current_height: u64, now_ms: u64) -> Result<Expiry, BuildError> {
        let past = |what: String| Err(BuildError::Expiry(format!("{what} is not in the future")));
        match self {
            Self::AtHeight(height) if height <= current_height => {
                past(format!("height {height} (chain is at {current_height})"))
            }
            Self::AtHeight(height) => Ok(Expiry::AtHeight(height)),
            Self::InBlocks(0) => past("0 blocks from now".into()),
            Self::InBlocks(blocks) => Ok(Expiry::AtHeight(current_height.saturating_add(blocks))),
            Self::AtTimeMs(millis) if millis <= now_ms => past(format!("time {millis} ms")),
            Self::AtTimeMs(millis) => Ok(Expiry::AtTime(millis)),
            Self::For(duration) if duration.is_zero() => past("a zero duration".into()),
            Self::For(duration) => {
                let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
                Ok(Expiry::AtTime(now_ms.saturating_add(millis)))
            }
        }
    }
}

/// Parses a duration such as `90s`, `45m`, `12h`, `30d` or `2w`.
pub fn parse_duration(text: &str) -> Result<Duration, BuildError> {
    let text = text.trim();
    let invalid = || {
        BuildError::Expiry(format!(
            "{text:?} is not a duration like 30m, 12h, 30d or 2w"
        ))
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(invalid()),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(invalid)
}

/// Parses a date as people type one: RFC 3339 (`2026-12-31T18:00:00Z`, any offset) or a
/// calendar day (`2026-12-31`, meaning its start, 00:00 UTC). Returns unix milliseconds.
pub fn parse_date(text: &str) -> Result<u64, BuildError> {
    let text = text.trim();
    let millis = DateTime::parse_from_rfc3339(text)
        .map(|time| time.timestamp_millis())
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|day| day.and_time(NaiveTime::MIN).and_utc().timestamp_millis())
        })
        .map_err(|_| {
            BuildError::Expiry(format!(
                "{} is not a date like 2026-12-31 or 2026-12-31T18:00:00Z",
                medchain_api::echo(text)
            ))
        })?;
    u64::try_from(millis)
        .map_err(|_| BuildError::Expiry("dates before 1970 are not accepted".to_string()))
}

/// Parses a deadline (a consent's or a licence's expiry) as people type one: a duration from
/// now (`30d`, see [`parse_duration`]) or a date as [`parse_date`] reads it.
pub fn parse_deadline(text: &str) -> Result<ExpirySpec, BuildError> {
    if let Ok(duration) = parse_duration(text) {
        return Ok(ExpirySpec::For(duration));
    }
    parse_date(text).map(ExpirySpec::AtTimeMs).map_err(|_| {
        BuildError::Expiry(format!(
            "{} is neither a duration like 30d nor a date like 2026-12-31",
            medchain_api::echo(text)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_med::aggregate::{SignerKeys, SignerRefusal, verify_entry};
    use medchain_state::testkit::{address, chain_id, key, record_id};
    use medchain_types::{BlsPublicKey, Transaction, TxBody, TxError};

    fn signed(payload: Payload, sender: u64) -> Transaction {
        TxBody {
            chain_id: chain_id(),
            sender: address(sender),
            nonce: 0,
            valid_until_ms: u64::MAX,
            fee: 0,
            payload,
        }
        .sign(&key(sender))
        .unwrap()
    }

    #[test]
    fn dates_parse_to_unix_milliseconds() {
        assert_eq!(
            parse_date("2026-12-22T01:09:15.558Z").unwrap(),
            1_797_901_755_558
        );
        assert_eq!(
            parse_date("2026-12-22T02:09:15.558+01:00").unwrap(),
            1_797_901_755_558
        );
        assert_eq!(parse_date("1970-01-02").unwrap(), 86_400_000);
        for bad in ["", "30d", "2026-13-01", "tomorrow", "1969-12-31"] {
            assert!(parse_date(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn deadlines_are_durations_or_dates() {
        assert_eq!(
            parse_deadline("30d").unwrap(),
            ExpirySpec::For(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            parse_deadline("1970-01-02").unwrap(),
            ExpirySpec::AtTimeMs(86_400_000)
        );
        for bad in ["", "soon", "30x", "2026-13-01"] {
            let error = parse_deadline(bad).unwrap_err().to_string();
            assert!(error.contains("neither a duration"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn every_builder_yields_a_payload_that_round_trips_and_verifies() {
        let name = OrgName::new("Seoul General").unwrap();
        let release = release_record(&chain_id(), &key(1), address(2), b"EMR");
        let payloads = vec![
            (register_org(name.clone(), OrgKind::Hospital), 1),
            (set_org_state(name.clone(), OrgState::Suspended), 0),
            (
                join_org(
                    name.clone(),
                    address(1),
                    endorse_join(&chain_id(), &name, &address(3), &key(1)),
                ),
                3,
            ),
            (release.payload.clone(), 1),
            (
                store_pointer(
                    record_id(1),
                    b"ciphertext",
                    Uri::new("file:///b/1").unwrap(),
                ),
                2,
            ),
            (
                grant_consent(
                    &address(2),
                    address(3),
                    vec![record_id(1)],
                    Purpose::Treatment,
                    Expiry::AtHeight(9),
                )
                .unwrap(),
                2,
            ),
            (revoke_consent(ConsentId(record_id(4).0)), 2),
            (request_access(record_id(1), Purpose::Research, 5), 3),
            (file_entry(b"EEE").unwrap(), 2),
            (set_vouching_key(&chain_id(), &key(1)), 1),
            (
                serve_access(
                    address(3),
                    record_id(1),
                    Purpose::Treatment,
                    AccessGrounds::Consent,
                    5,
                ),
                4,
            ),
        ];
        for (payload, sender) in payloads {
            assert_eq!(Payload::decode(payload.encode()).unwrap(), payload);
            let tx = signed(payload, sender);
            let decoded = Transaction::from_bytes(&tx.encode()).unwrap();
            decoded
                .verify(&chain_id())
                .unwrap_or_else(|e| panic!("{}: {e}", tx.body.payload.kind()));
        }
        assert_eq!(release.record_hash, ContentHash::of(b"EMR"));
    }

    fn outpoint(tag: u8) -> OutPoint {
        OutPoint {
            tx: medchain_types::TxId::of_encoded(&[tag]),
            index: u16::from(tag),
        }
    }

    #[test]
    fn token_and_staking_builders_yield_payloads_that_round_trip_and_verify() {
        let hospital = OrgName::new("Seoul General").unwrap();
        let endorsement = endorse_candidate(&chain_id(), &hospital, &address(5), &key(1));
        let payloads = vec![
            (
                transfer(
                    vec![outpoint(1), outpoint(2)],
                    0,
                    vec![TxOutput::to_key(10, address(2))],
                )
                .unwrap(),
                1,
            ),
            (
                escrow_open(address(2), address(3), 40, LockTime::Height(90)).unwrap(),
                1,
            ),
            (escrow_release(EscrowId(record_id(1).0)), 1),
            (escrow_refund(EscrowId(record_id(1).0)), 2),
            (
                register_candidate(
                    hospital.clone(),
                    PeerAddress::new("127.0.0.1:9004").unwrap(),
                    address(1),
                    endorsement.clone(),
                ),
                5,
            ),
            (delegate(address(5), 100).unwrap(), 2),
            (undelegate(address(5), 50).unwrap(), 2),
            (withdraw(address(5)), 2),
        ];
        for (payload, sender) in payloads {
            assert_eq!(Payload::decode(payload.encode()).unwrap(), payload);
            let tx = signed(payload, sender);
            Transaction::from_bytes(&tx.encode())
                .unwrap()
                .verify(&chain_id())
                .unwrap_or_else(|e| panic!("{}: {e}", tx.body.payload.kind()));
        }
        // The endorsement names the candidate: another key cannot register with it.
        let stolen = register_candidate(
            hospital,
            PeerAddress::new("127.0.0.1:9004").unwrap(),
            address(1),
            endorsement,
        );
        assert!(matches!(
            signed(stolen, 6).verify(&chain_id()),
            Err(TxError::BadCandidateEndorsement(_))
        ));
    }

    #[test]
    fn transfers_refuse_what_the_chain_would_refuse_regardless_of_state() {
        let pay = |value| vec![TxOutput::to_key(value, address(2))];
        assert!(matches!(
            transfer(vec![], 0, pay(1)),
            Err(BuildError::TransferShape {
                inputs: 0,
                outputs: 1
            })
        ));
        assert!(transfer(vec![], 5, pay(1)).is_ok(), "balance alone may pay");
        assert!(matches!(
            transfer(vec![outpoint(1)], 0, vec![]),
            Err(BuildError::TransferShape { outputs: 0, .. })
        ));
        let many: Vec<_> = (0..=limits::MAX_TRANSFER_INPUTS as u8)
            .map(outpoint)
            .collect();
        assert!(matches!(
            transfer(many, 0, pay(1)),
            Err(BuildError::TransferShape { .. })
        ));
        let outputs = vec![TxOutput::to_key(1, address(2)); limits::MAX_TRANSFER_OUTPUTS + 1];
        assert!(matches!(
            transfer(vec![outpoint(1)], 0, outputs),
            Err(BuildError::TransferShape { .. })
        ));
        assert!(matches!(
            transfer(vec![outpoint(1), outpoint(1)], 0, pay(1)),
            Err(BuildError::DuplicateInput(o)) if o == outpoint(1)
        ));
        assert!(matches!(
            transfer(vec![outpoint(1)], 0, pay(0)),
            Err(BuildError::ZeroAmount)
        ));
        for zero in [
            escrow_open(address(2), address(3), 0, LockTime::Height(1)),
            delegate(address(5), 0),
            undelegate(address(5), 0),
        ] {
            assert!(matches!(zero, Err(BuildError::ZeroAmount)));
        }
    }

    #[test]
    fn a_joint_payment_verifies_only_with_every_cosignature_for_this_very_transaction() {
        let joint = transfer(vec![outpoint(1)], 0, vec![TxOutput::to_key(90, address(3))]).unwrap();
        let (sender, nonce, fee, deadline) = (address(1), 0, 10, 1_800_000_000_000);
        let cosignature =
            cosign_transfer(&chain_id(), sender, nonce, fee, deadline, &joint, &key(2)).unwrap();
        let body = |payload: Payload, fee: u64, valid_until_ms: u64| TxBody {
            chain_id: chain_id(),
            sender,
            nonce,
            valid_until_ms,
            fee,
            payload,
        };
        let cosigned = with_cosignatures(joint.clone(), vec![cosignature.clone()]).unwrap();
        assert!(
            body(cosigned.clone(), fee, deadline)
                .sign(&key(1))
                .unwrap()
                .verify(&chain_id())
                .is_ok()
        );
        // The same cosignature on a transaction naming another fee or a later deadline is
        // refused.
        for (fee, deadline) in [(fee + 1, deadline), (fee, deadline + 1)] {
            assert!(matches!(
                body(cosigned.clone(), fee, deadline)
                    .sign(&key(1))
                    .unwrap()
                    .verify(&chain_id()),
                Err(TxError::BadCosignature(_))
            ));
        }
        assert!(matches!(
            cosign_transfer(
                &chain_id(),
                sender,
                nonce,
                fee,
                deadline,
                &withdraw(address(5)),
                &key(2)
            ),
            Err(BuildError::NotATransfer)
        ));
        assert!(matches!(
            with_cosignatures(joint, vec![cosignature; limits::MAX_COSIGNERS + 1]),
            Err(BuildError::TooManyCosignatures(_))
        ));
    }

    #[test]
    fn a_release_signed_by_another_key_than_the_attesting_doctor_fails_verification() {
        // S1-release: the attestation must be the sender's signature.
        let release = release_record(&chain_id(), &key(1), address(2), b"EMR");
        let tx = signed(release.payload, 5);
        assert!(matches!(
            tx.verify(&chain_id()),
            Err(TxError::BadAttestation)
        ));
    }

    #[test]
    fn an_endorsement_does_not_transfer_to_another_member_or_chain() {
        // S2-register: the endorsement names the member and the chain.
        let name = OrgName::new("Seoul General").unwrap();
        let endorsement = endorse_join(&chain_id(), &name, &address(3), &key(1));
        let stolen = signed(join_org(name.clone(), address(1), endorsement), 4);
        assert!(matches!(
            stolen.verify(&chain_id()),
            Err(TxError::BadEndorsement(_))
        ));

        let other_chain = ChainId::new("medchain-other").unwrap();
        let foreign = endorse_join(&other_chain, &name, &address(3), &key(1));
        let replayed = signed(join_org(name, address(1), foreign), 3);
        assert!(matches!(
            replayed.verify(&chain_id()),
            Err(TxError::BadEndorsement(_))
        ));
    }

    #[test]
    fn signatures_round_trip_through_hex_and_garbage_is_refused() {
        let name = OrgName::new("Seoul General").unwrap();
        let endorsement = endorse_join(&chain_id(), &name, &address(3), &key(1));
        let text = signature_hex(&endorsement);
        assert_eq!(text.len(), 128);
        assert_eq!(parse_signature(&text).unwrap(), endorsement);
        for bad in ["", "zz", &text[..126], &format!("{text}00")] {
            assert!(
                matches!(parse_signature(bad), Err(BuildError::Signature(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn storage_pointers_hash_the_encrypted_blob() {
        let payload = store_pointer(record_id(1), b"blob", Uri::new("s3://b/k").unwrap());
        let Payload::Record(RecordPayload::Store { blob_hash, .. }) = payload else {
            panic!("not a store payload");
        };
        assert_eq!(blob_hash, ContentHash::of(b"blob"));
        assert_ne!(blob_hash, ContentHash::of(b"blob2"));
    }

    #[test]
    fn consent_grants_refuse_bad_record_lists_and_self_grants() {
        let grant = |records: Vec<RecordId>, grantee: u64| {
            grant_consent(
                &address(2),
                address(grantee),
                records,
                Purpose::Treatment,
                Expiry::AtHeight(5),
            )
        };
        assert!(matches!(grant(vec![], 3), Err(BuildError::RecordCount(0))));
        let too_many: Vec<_> = (0..=limits::MAX_CONSENT_RECORDS as u64)
            .map(record_id)
            .collect();
        assert!(matches!(
            grant(too_many, 3),
            Err(BuildError::RecordCount(_))
        ));
        assert!(matches!(
            grant(vec![record_id(1), record_id(2), record_id(1)], 3),
            Err(BuildError::DuplicateRecord(id)) if id == record_id(1)
        ));
        assert!(matches!(
            grant(vec![record_id(1)], 2),
            Err(BuildError::SelfGrant)
        ));
        let most: Vec<_> = (0..limits::MAX_CONSENT_RECORDS as u64)
            .map(record_id)
            .collect();
        assert!(grant(most, 3).is_ok());
    }

    #[test]
    fn expiries_resolve_relative_to_the_chain_and_refuse_the_past() {
        let (height, now) = (100, 1_000_000);
        assert_eq!(
            ExpirySpec::AtHeight(150).resolve(height, now).unwrap(),
            Expiry::AtHeight(150)
        );
        assert_eq!(
            ExpirySpec::InBlocks(20).resolve(height, now).unwrap(),
            Expiry::AtHeight(120)
        );
        assert_eq!(
            ExpirySpec::AtTimeMs(now + 1).resolve(height, now).unwrap(),
            Expiry::AtTime(now + 1)
        );
        assert_eq!(
            ExpirySpec::For(Duration::from_secs(60))
                .resolve(height, now)
                .unwrap(),
            Expiry::AtTime(now + 60_000)
        );
        for past in [
            ExpirySpec::AtHeight(100),
            ExpirySpec::InBlocks(0),
            ExpirySpec::AtTimeMs(now),
            ExpirySpec::For(Duration::ZERO),
        ] {
            assert!(
                matches!(past.resolve(height, now), Err(BuildError::Expiry(_))),
                "{past:?}"
            );
        }
    }

    #[test]
    fn entries_are_bounded() {
        assert!(file_entry(&[1; limits::MAX_ENTRY_BYTES]).is_ok());
        for len in [0, limits::MAX_ENTRY_BYTES + 1] {
            assert!(matches!(
                file_entry(&vec![1; len]),
                Err(BuildError::EntrySize(got)) if got == len
            ));
        }
    }

    #[test]
    fn med_entries_are_bounded_and_signed_by_the_patients_key() {
        let vouching = emergency::vouching_key_from(&key(7));
        let patient = address(7);
        let signed = med_entry(
            &chain_id(),
            &vouching,
            patient,
            &[1; MAX_MED_ENTRY_BYTES],
            5,
        )
        .expect("the largest entry MED takes");
        assert_eq!(signed.entry.patient, patient);
        assert_eq!(signed.entry.issued_at_ms, 5);
        let keys = PatientOnly(patient, vouching.public());
        assert!(verify_entry(&chain_id(), &signed, &keys).is_ok());
        // Another key (here another party's) does not sign for this patient.
        let other = emergency::vouching_key_from(&key(8));
        let forged = med_entry(&chain_id(), &other, patient, b"EEE", 5).unwrap();
        assert!(verify_entry(&chain_id(), &forged, &keys).is_err());
        for len in [0, MAX_MED_ENTRY_BYTES + 1] {
            assert_eq!(
                med_entry(&chain_id(), &vouching, patient, &vec![1; len], 5),
                Err(BuildError::MedEntrySize(len))
            );
        }
    }

    /// Signer keys that know one patient only.
    struct PatientOnly(Address, BlsPublicKey);

    impl SignerKeys for PatientOnly {
        fn doctor(&self, doctor: &Address, _: &Address) -> Result<BlsPublicKey, SignerRefusal> {
            Err(SignerRefusal(format!("{doctor} is no doctor")))
        }

        fn hospital(&self, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal> {
            Err(SignerRefusal(format!("{hospital} is no hospital")))
        }

        fn patient(&self, patient: &Address) -> Result<BlsPublicKey, SignerRefusal> {
            if *patient == self.0 {
                Ok(self.1)
            } else {
                Err(SignerRefusal(format!("{patient} is unknown")))
            }
        }
    }

    #[test]
    fn an_emergency_built_from_both_halves_is_accepted_on_chain() {
        use medchain_state::testkit::{Sharing, doctor_identity};
        let mut s = Sharing::new();
        let (doctor, desk) = (s.doctor.clone(), s.desk.actor.clone());
        for party in [&doctor, &desk] {
            s.world
                .run(party, set_vouching_key(&chain_id(), &party.key))
                .unwrap();
        }
        let terms = EmergencyTerms {
            doctor: doctor_identity(&doctor),
            hospital: s.desk.identity.clone(),
            record: s.record,
            hur: ContentHash::of(b"h_ur").0,
            issued_at_ms: s.world.next_env().timestamp_ms,
        };
        let doctor_half = terms.vouch(&chain_id(), &doctor.key);
        let hospital_half = terms.vouch(&chain_id(), &desk.key);
        // One half twice is not both parties.
        let forged = terms.request(&doctor_half, &doctor_half).unwrap();
        assert!(s.world.run(&desk, forged).is_err());
        let request = terms.request(&doctor_half, &hospital_half).unwrap();
        assert!(s.world.run(&desk, request).is_ok());
        let garbage = BlsSignature([0xff; BlsSignature::LEN]);
        assert!(matches!(
            terms.request(&garbage, &hospital_half),
            Err(BuildError::Vouch(_))
        ));
    }

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("12h").unwrap(),
            Duration::from_secs(12 * 3600)
        );
        assert_eq!(
            parse_duration(" 30d ").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        for bad in [
            "",
            "d",
            "30",
            "30y",
            "-3d",
            "3.5h",
            "99999999999999999999d",
            "18446744073709551615w",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
