//! Signed transactions.
//!
//! A transaction is `(chain id, sender, nonce, payload)` signed by the sender's ed25519 key
//! under [`namespace::TX`]. The chain id is inside the signed bytes, so a transaction signed
//! for one chain fails on every other; the nonce must equal the sender's account nonce when it
//! executes, so a transaction can run at most once (replay protection within a chain).
//!
//! Some payloads carry a second signature (a doctor's [`RecordAttestation`], a member's
//! [`JoinEndorsement`]). [`Transaction::verify`] and [`verify_batch`] check *every* signature
//! a transaction carries; only then do they hand out a [`VerifiedTransaction`], the only form
//! the state machine accepts. The state machine therefore never sees an unverified signature
//! and never has to verify one itself (it stays free of randomness, which batch verification
//! needs).

use crate::{
    Address, ChainId, ContentHash, OrgName, Payload, RecordPayload, RegistryPayload, StakePayload,
    TokenPayload, TxId, limits, namespace,
    token::{Lock, Payee, TransferAuthorization},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, Copying, Decode, Encode, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write,
};
use commonware_cryptography::{
    BatchEntry, BatchVerifier, Signer, Verifier,
    ed25519::{PrivateKey, PublicKey, Signature},
};
use commonware_parallel::Sequential;
use rand_core::CryptoRng;

/// Why a transaction was refused before execution.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// The transaction names another chain.
    #[error("transaction is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The transaction's chain.
        got: ChainId,
    },
    /// The sender's signature does not verify.
    #[error("invalid transaction signature for sender {0}")]
    BadSignature(Address),
    /// The record attestation is not the sender's signature over (chain, patient, hEMR).
    #[error("invalid record attestation: it must be the releasing doctor's signature")]
    BadAttestation,
    /// The join endorsement is not the endorser's signature over (chain, org, new member).
    #[error("invalid join endorsement from {0}")]
    BadEndorsement(Address),
    /// A transfer's cosignature is not that key's signature over this transfer's
    /// [`TransferAuthorization`].
    #[error(
        "invalid cosignature from {0}: it must sign this very transfer (chain, sender, nonce, fee, inputs and outputs)"
    )]
    BadCosignature(Address),
    /// A candidate endorsement is not the endorser's signature over (chain, org, candidate).
    #[error("invalid candidate endorsement from {0}")]
    BadCandidateEndorsement(Address),
    /// An address the payload names (a patient, a grantee) is not an ed25519 public key: no
    /// one could ever sign as it, and every API path refuses it (issue 7 §4).
    #[error("the {role} address {address} is not a valid ed25519 public key")]
    NotAKey {
        /// Which party the address stands for.
        role: &'static str,
        /// The address.
        address: Address,
    },
    /// The key given to sign is not the sender's.
    #[error("signing key does not match the transaction sender")]
    WrongSigner,
    /// The bytes are too long to be a transaction.
    #[error("transaction is {0} bytes; the limit is {max}", max = limits::MAX_TX_BYTES)]
    TooLarge(usize),
    /// The bytes are not a canonical transaction encoding.
    #[error("malformed transaction: {}", describe_codec_error(.0))]
    Malformed(#[from] CodecError),
}

/// A decoding error in words: the codec's own rendering of a wrapped error shows only its
/// context ("Wrapped Error: Context(organisation name)"), not what was wrong.
fn describe_codec_error(error: &CodecError) -> String {
    match error {
        CodecError::Wrapped(context, source) => format!("{context}: {source}"),
        CodecError::Invalid(context, message) => format!("{context}: {message}"),
        other => other.to_string(),
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxBody {
    /// Chain the transaction is valid on.
    pub chain_id: ChainId,
    /// Signer and account.
    pub sender: Address,
    /// Must equal the sender's account nonce at execution.
    pub nonce: u64,
    /// The last block time (unix milliseconds, the header's `timestamp_ms`) at which the
    /// transaction may execute. A signed transaction that was forgotten — dropped from the
    /// mempool, or never sent — cannot take effect after it, even if its nonce is still
    /// unused (issue 7: parked transactions). `u64::MAX` means no deadline.
    pub valid_until_ms: u64,
    /// What the sender pays the chain for this transaction (S1-tokens), in tokens: from its
    /// account balance, or for a transfer from the transfer's surplus. It must be at least the
    /// genesis fee schedule's minimum for the transaction's size.
    pub fee: u64,
    /// What to do.
    pub payload: Payload,
}

impl TxBody {
    /// Signs the body with the sender's key.
    pub fn sign(self, key: &PrivateKey) -> Result<Transaction, TxError> {
        if Address::from(key.public_key()) != self.sender {
            return Err(TxError::WrongSigner);
        }
        let signature = key.sign(namespace::TX, &self.encode());
        Ok(Transaction {
            body: self,
            signature,
        })
    }
}

impl Write for TxBody {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.sender.write(buf);
        self.nonce.write(buf);
        self.valid_until_ms.write(buf);
        self.fee.write(buf);
        self.payload.write(buf);
    }
}

impl EncodeSize for TxBody {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size() + Address::SIZE + 3 * u64::SIZE + self.payload.encode_size()
    }
}

impl Read for TxBody {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            chain_id: ChainId::read(buf)?,
            sender: Address::read(buf)?,
            nonce: u64::read(buf)?,
            valid_until_ms: u64::read(buf)?,
            fee: u64::read(buf)?,
            payload: Payload::read(buf)?,
        })
    }
}

/// A signed transaction as it travels and as blocks carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// The signed content.
    pub body: TxBody,
    /// The sender's signature over the encoded body under [`namespace::TX`].
    pub signature: Signature,
}

impl Transaction {
    /// The transaction id: SHA-256 of the canonical signed encoding.
    pub fn id(&self) -> TxId {
        TxId::of_encoded(&self.encode())
    }

    /// Decodes untrusted bytes, enforcing the size limit and canonical form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TxError> {
        if bytes.len() > limits::MAX_TX_BYTES {
            return Err(TxError::TooLarge(bytes.len()));
        }
        Ok(Self::decode_cfg(Copying(bytes), &())?)
    }

    /// Checks the chain id and every signature the transaction carries (S1-release: the
    /// doctor's attestation; S2-register: the member's endorsement).
    pub fn verify(&self, chain_id: &ChainId) -> Result<VerifiedTransaction, TxError> {
        self.verify_with(chain_id, self.id(), &Decompress)
    }

    /// [`Self::verify`] with the id already computed and signers' keys from `keys`.
    pub(crate) fn verify_with(
        &self,
        chain_id: &ChainId,
        id: TxId,
        keys: &impl KeySource,
    ) -> Result<VerifiedTransaction, TxError> {
        self.check_chain(chain_id)?;
        for check in self.signature_checks(keys)? {
            if !check
                .public_key
                .verify(check.namespace, &check.message, check.signature)
            {
                return Err(check.error);
            }
        }
        Ok(VerifiedTransaction {
            id,
            tx: self.clone(),
        })
    }

    pub(crate) fn check_chain(&self, chain_id: &ChainId) -> Result<(), TxError> {
        if &self.body.chain_id != chain_id {
            return Err(TxError::WrongChain {
                expected: chain_id.clone(),
                got: self.body.chain_id.clone(),
            });
        }
        Ok(())
    }

    /// Every signature the transaction carries, with the key and message it must verify
    /// against: the sender's over the body, and the embedded attestation or endorsement.
    /// Fails if a signer's address, or any other address the payload names, is not a valid
    /// public key: the chain accepts exactly the addresses the API's text form accepts
    /// ([`Address`]'s `FromStr`), so nothing finalized is unreadable through the API.
    fn signature_checks(&self, keys: &impl KeySource) -> Result<Vec<SignatureCheck<'_>>, TxError> {
        self.check_named_addresses(keys)?;
        let sender = &self.body.sender;
        let sender_key = keys.key(sender).ok_or(TxError::BadSignature(*sender))?;
        let mut checks = vec![SignatureCheck {
            namespace: namespace::TX,
            message: self.body.encode().to_vec(),
            public_key: sender_key.clone(),
            signature: &self.signature,
            error: TxError::BadSignature(*sender),
        }];
        let chain_id = self.body.chain_id.clone();
        match &self.body.payload {
            Payload::Record(RecordPayload::Release {
                patient,
                record_hash,
                attestation,
            }) => checks.push(SignatureCheck {
                namespace: namespace::RECORD_ATTESTATION,
                message: RecordAttestation {
                    chain_id,
                    patient: *patient,
                    record_hash: *record_hash,
                }
                .encode()
                .to_vec(),
                public_key: sender_key,
                signature: attestation,
                error: TxError::BadAttestation,
            }),
            Payload::Registry(RegistryPayload::Join {
                name,
                endorser,
                endorsement,
            }) => checks.push(SignatureCheck {
                namespace: namespace::JOIN_ENDORSEMENT,
                message: JoinEndorsement {
                    chain_id,
                    org: name.clone(),
                    member: *sender,
                }
                .encode()
                .to_vec(),
                public_key: keys
                    .key(endorser)
                    .ok_or(TxError::BadEndorsement(*endorser))?,
                signature: endorsement,
                error: TxError::BadEndorsement(*endorser),
            }),
            Payload::Stake(StakePayload::Register {
                org,
                endorser,
                endorsement,
                ..
            }) => checks.push(SignatureCheck {
                namespace: namespace::CANDIDATE_ENDORSEMENT,
                message: CandidateEndorsement {
                    chain_id,
                    org: org.clone(),
                    candidate: *sender,
                }
                .encode()
                .to_vec(),
                public_key: keys
                    .key(endorser)
                    .ok_or(TxError::BadCandidateEndorsement(*endorser))?,
                signature: endorsement,
                error: TxError::BadCandidateEndorsement(*endorser),
            }),
            Payload::Token(TokenPayload::Transfer {
                inputs,
                from_balance,
                outputs,
                cosignatures,
            }) if !cosignatures.is_empty() => {
                // Every cosigner signs the same authorisation: encode it once.
                let message = TransferAuthorization {
                    chain_id,
                    sender: *sender,
                    nonce: self.body.nonce,
                    fee: self.body.fee,
                    valid_until_ms: self.body.valid_until_ms,
                    inputs: inputs.clone(),
                    from_balance: *from_balance,
                    outputs: outputs.clone(),
                }
                .encode()
                .to_vec();
                for cosignature in cosignatures {
                    let signer = cosignature.signer;
                    checks.push(SignatureCheck {
                        namespace: namespace::TOKEN_COSIGN,
                        message: message.clone(),
                        public_key: keys.key(&signer).ok_or(TxError::BadCosignature(signer))?,
                        signature: &cosignature.signature,
                        error: TxError::BadCosignature(signer),
                    });
                }
            }
            _ => {}
        }
        Ok(checks)
    }
}

impl Transaction {
    /// Checks the addresses the payload names that no signature check decompresses: coins
    /// or rights given to 32 bytes that are not a key could never be used.
    fn check_named_addresses(&self, keys: &impl KeySource) -> Result<(), TxError> {
        let named: Vec<(&'static str, &Address)> = match &self.body.payload {
            Payload::Record(RecordPayload::Release { patient, .. }) => vec![("patient", patient)],
            Payload::Consent(crate::ConsentPayload::Grant { grantee, .. }) => {
                vec![("grantee", grantee)]
            }
            Payload::Token(TokenPayload::Transfer { outputs, .. }) => outputs
                .iter()
                .flat_map(|output| match &output.to {
                    Payee::Balance(owner)
                    | Payee::Output {
                        lock: Lock::Key(owner),
                        ..
                    } => vec![("recipient", owner)],
                    Payee::Output {
                        lock: Lock::Multi { keys, .. },
                        ..
                    } => keys.iter().map(|key| ("multisig key", key)).collect(),
                    Payee::Output {
                        lock: Lock::Escrow(_),
                        ..
                    } => vec![],
                })
                .collect(),
            Payload::Token(TokenPayload::EscrowOpen { payee, arbiter, .. }) => {
                vec![("payee", payee), ("arbiter", arbiter)]
            }
            Payload::Stake(
                StakePayload::Delegate { candidate, .. }
                | StakePayload::Undelegate { candidate, .. }
                | StakePayload::Withdraw { candidate },
            ) => vec![("candidate", candidate)],
            _ => return Ok(()),
        };
        for (role, address) in named {
            keys.key(address).ok_or(TxError::NotAKey {
                role,
                address: *address,
            })?;
        }
        Ok(())
    }
}

/// One signature to check.
struct SignatureCheck<'a> {
    namespace: &'static [u8],
    message: Vec<u8>,
    public_key: PublicKey,
    signature: &'a Signature,
    error: TxError,
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.body.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        self.body.encode_size() + Signature::SIZE
    }
}

impl Read for Transaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self {
            body: TxBody::read(buf)?,
            signature: Signature::read(buf)?,
        })
    }
}

/// A transaction whose chain id and signatures have been checked. Only [`Transaction::verify`]
/// and [`verify_batch`] create one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTransaction {
    id: TxId,
    tx: Transaction,
}

impl VerifiedTransaction {
    /// `tx`, whose id is `id`, verified before (see [`crate::SignatureCache`]).
    pub(crate) fn trusted(id: TxId, tx: Transaction) -> Self {
        Self { id, tx }
    }

    /// The transaction id.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// The verified transaction.
    pub fn tx(&self) -> &Transaction {
        &self.tx
    }

    /// Shorthand for the signed body.
    pub fn body(&self) -> &TxBody {
        &self.tx.body
    }
}

/// Where signature checks take signers' public keys from: an address is a compressed ed25519
/// point, and decompressing it costs about as much as the signature check itself.
pub(crate) trait KeySource {
    /// The decompressed key, or `None` if the address is not a valid key.
    fn key(&self, address: &Address) -> Option<PublicKey>;
}

/// Decompresses every key anew.
pub(crate) struct Decompress;

impl KeySource for Decompress {
    fn key(&self, address: &Address) -> Option<PublicKey> {
        address.public_key().ok()
    }
}

/// Verifies many transactions with one ed25519 batch check, falling back to one-by-one checks
/// only when the batch fails, to name the bad transactions. Results are in input order.
///
/// `rng` randomises the batch equation (so crafted signature pairs cannot cancel out); it does
/// not influence the outcome for honest input. A validator verifying the same transactions
/// more than once uses [`crate::SignatureCache::verify_batch`] instead.
pub fn verify_batch(
    rng: &mut impl CryptoRng,
    chain_id: &ChainId,
    txs: &[Transaction],
) -> Vec<Result<VerifiedTransaction, TxError>> {
    let ids: Vec<TxId> = txs.iter().map(Transaction::id).collect();
    verify_batch_with(rng, chain_id, txs, &ids, &Decompress)
}

/// [`verify_batch`] with the transactions' ids (`ids[i]` is `txs[i].id()`) and signers' keys
/// from `keys`.
pub(crate) fn verify_batch_with(
    rng: &mut impl CryptoRng,
    chain_id: &ChainId,
    txs: &[Transaction],
    ids: &[TxId],
    keys: &impl KeySource,
) -> Vec<Result<VerifiedTransaction, TxError>> {
    if txs.iter().any(|tx| tx.check_chain(chain_id).is_err()) || !batch_ok(rng, txs, keys) {
        return txs
            .iter()
            .zip(ids)
            .map(|(tx, id)| tx.verify_with(chain_id, *id, keys))
            .collect();
    }
    txs.iter()
        .zip(ids)
        .map(|(tx, id)| {
            Ok(VerifiedTransaction {
                id: *id,
                tx: tx.clone(),
            })
        })
        .collect()
}

/// One batch equation over every signature in `txs` (transaction and embedded signatures).
/// False if any signer's address is not a key (the one-by-one pass then names it).
fn batch_ok(rng: &mut impl CryptoRng, txs: &[Transaction], keys: &impl KeySource) -> bool {
    if txs.is_empty() {
        return true;
    }
    let Ok(checks) = txs
        .iter()
        .map(|tx| tx.signature_checks(keys))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    let entries: Vec<BatchEntry<'_, PublicKey>> = checks
        .iter()
        .flatten()
        .map(|check| BatchEntry {
            namespace: check.namespace,
            message: &check.message,
            public_key: &check.public_key,
            signature: check.signature,
        })
        .collect();
    PublicKey::verify_batch(rng, &entries, |_, entry| *entry, &Sequential)
}

/// What a doctor signs when releasing a record (S1-release: "B signs H(D_A) with S_B").
/// The patient keeps this signature with the record as portable proof of its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordAttestation {
    /// Chain the release is for.
    pub chain_id: ChainId,
    /// The patient the record is about.
    pub patient: Address,
    /// hEMR.
    pub record_hash: ContentHash,
}

impl RecordAttestation {
    /// The doctor signs the attestation.
    pub fn sign(&self, doctor: &PrivateKey) -> Signature {
        doctor.sign(namespace::RECORD_ATTESTATION, &self.encode())
    }
}

impl Write for RecordAttestation {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.patient.write(buf);
        self.record_hash.write(buf);
    }
}

impl EncodeSize for RecordAttestation {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size() + Address::SIZE + ContentHash::SIZE
    }
}

/// What an audited member signs to let `member` join its organisation (S2-register: an address
/// joins an existing organisation only with that organisation's consent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinEndorsement {
    /// Chain the endorsement is for.
    pub chain_id: ChainId,
    /// The organisation.
    pub org: OrgName,
    /// The address allowed to join.
    pub member: Address,
}

impl JoinEndorsement {
    /// The endorsing member signs.
    pub fn sign(&self, endorser: &PrivateKey) -> Signature {
        endorser.sign(namespace::JOIN_ENDORSEMENT, &self.encode())
    }
}

impl Write for JoinEndorsement {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.org.write(buf);
        self.member.write(buf);
    }
}

impl EncodeSize for JoinEndorsement {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size() + self.org.encode_size() + Address::SIZE
    }
}

/// What an audited hospital member signs to let `candidate` (a node key) stand as a validator
/// candidate for its organisation (S1-dpos: candidates are audited hospital organisations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateEndorsement {
    /// Chain the endorsement is for.
    pub chain_id: ChainId,
    /// The organisation.
    pub org: OrgName,
    /// The candidate's node key.
    pub candidate: Address,
}

impl CandidateEndorsement {
    /// The endorsing member signs.
    pub fn sign(&self, endorser: &PrivateKey) -> Signature {
        endorser.sign(namespace::CANDIDATE_ENDORSEMENT, &self.encode())
    }
}

impl Write for CandidateEndorsement {
    fn write(&self, buf: &mut impl BufMut) {
        self.chain_id.write(buf);
        self.org.write(buf);
        self.candidate.write(buf);
    }
}

impl EncodeSize for CandidateEndorsement {
    fn encode_size(&self) -> usize {
        self.chain_id.encode_size() + self.org.encode_size() + Address::SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConsentPayload, Expiry, Purpose, fixtures::*};
    use commonware_codec::DecodeExt;
    use commonware_utils::test_rng;
    use proptest::prelude::*;

    /// Issue 7 §4: the chain accepts exactly the addresses the API accepts. A correctly signed
    /// release to (or grant for) 32 bytes that are not a public key is refused by both the
    /// single and the batch verifier, as the API's text parser refuses them.
    #[test]
    fn addresses_that_are_not_keys_are_refused_on_chain_as_in_the_api() {
        let mut bytes = [0u8; 32];
        bytes[0] = 2; // y = 2 is not on the curve
        let not_a_key = Address::from_bytes(bytes);
        assert!(hex::encode(bytes).parse::<Address>().is_err());
        let release = Payload::Record(RecordPayload::Release {
            patient: not_a_key,
            record_hash: crate::ContentHash::of(b"emr"),
            attestation: key(1).sign(namespace::RECORD_ATTESTATION, b"anything"),
        });
        let grant = Payload::Consent(ConsentPayload::Grant {
            grantee: not_a_key,
            records: vec![record_id(1)],
            purpose: Purpose::Research,
            expiry: Expiry::AtHeight(100),
            reward: None,
        });
        for (payload, role) in [(release, "patient"), (grant, "grantee")] {
            let tx = TxBody {
                chain_id: chain(),
                sender: address(1),
                nonce: 0,
                valid_until_ms: u64::MAX,
                fee: 0,
                payload,
            }
            .sign(&key(1))
            .unwrap();
            let refused = |result: Result<VerifiedTransaction, TxError>| matches!(result, Err(TxError::NotAKey { role: r, address }) if r == role && address == not_a_key);
            assert!(refused(tx.verify(&chain())), "{role}: single");
            let batch = verify_batch(&mut test_rng(), &chain(), std::slice::from_ref(&tx));
            assert!(refused(batch.into_iter().next().unwrap()), "{role}: batch");
        }
    }

    #[test]
    fn every_payload_round_trips_and_verifies() {
        for tx in signed_txs() {
            let bytes = tx.encode();
            let decoded = Transaction::from_bytes(&bytes).unwrap();
            assert_eq!(decoded, tx, "{}", tx.body.payload.kind());
            assert_eq!(
                decoded.encode(),
                bytes,
                "canonical: {}",
                tx.body.payload.kind()
            );
            let verified = decoded.verify(&chain()).unwrap();
            assert_eq!(verified.id(), tx.id());
        }
    }

    #[test]
    fn a_transaction_for_another_chain_is_rejected() {
        let tx = signed_txs().remove(0);
        let other = ChainId::new("medchain-other").unwrap();
        assert!(matches!(tx.verify(&other), Err(TxError::WrongChain { .. })));
    }

    #[test]
    fn tampering_with_any_signed_field_breaks_the_signature() {
        let tx = signed_txs().remove(0);
        let mut bumped_nonce = tx.clone();
        bumped_nonce.body.nonce += 1;
        assert!(matches!(
            bumped_nonce.verify(&chain()),
            Err(TxError::BadSignature(_))
        ));

        let mut other_sender = tx.clone();
        other_sender.body.sender = address(9);
        assert!(matches!(
            other_sender.verify(&chain()),
            Err(TxError::BadSignature(_))
        ));

        // Re-signing the body under another chain id gives a different signature.
        let mut moved = tx.clone();
        moved.body.chain_id = ChainId::new("medchain-other").unwrap();
        assert!(moved.verify(&moved.body.chain_id.clone()).is_err());
    }

    #[test]
    fn signing_with_someone_elses_key_is_refused() {
        let body = signed_txs().remove(0).body;
        assert!(matches!(body.sign(&key(9)), Err(TxError::WrongSigner)));
    }

    #[test]
    fn a_forged_attestation_is_rejected_even_when_the_tx_signature_is_valid() {
        let mut body = signed_txs().remove(3).body;
        let Payload::Record(RecordPayload::Release { attestation, .. }) = &mut body.payload else {
            panic!("fixture 3 is a release");
        };
        // Another doctor's attestation of the same record.
        *attestation = key(9).sign(namespace::RECORD_ATTESTATION, b"anything");
        let tx = body.sign(&key(1)).unwrap();
        assert!(matches!(tx.verify(&chain()), Err(TxError::BadAttestation)));
    }

    #[test]
    fn an_endorsement_for_another_member_is_rejected() {
        let mut body = signed_txs().remove(2).body;
        body.sender = address(5);
        let tx = body.sign(&key(5)).unwrap();
        assert!(matches!(
            tx.verify(&chain()),
            Err(TxError::BadEndorsement(_))
        ));
    }

    #[test]
    fn batch_verification_names_exactly_the_bad_transactions() {
        let mut txs = signed_txs();
        assert!(
            verify_batch(&mut test_rng(), &chain(), &txs)
                .iter()
                .all(Result::is_ok)
        );
        txs[4].body.nonce = 99;
        let results = verify_batch(&mut test_rng(), &chain(), &txs);
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result.is_err(), i == 4, "tx {i}");
        }
    }

    #[test]
    fn consent_grants_are_bounded_and_non_empty() {
        let grant = |count: usize| {
            Payload::Consent(ConsentPayload::Grant {
                grantee: address(4),
                records: (0..count)
                    .map(|i| crate::RecordId(TxId::of_encoded(&i.to_be_bytes()).0))
                    .collect(),
                purpose: Purpose::Treatment,
                expiry: Expiry::AtTime(1),
                reward: Some(5),
            })
        };
        assert!(Payload::decode(grant(crate::limits::MAX_CONSENT_RECORDS).encode()).is_ok());
        assert!(Payload::decode(grant(crate::limits::MAX_CONSENT_RECORDS + 1).encode()).is_err());
        assert!(Payload::decode(grant(0).encode()).is_err());
    }

    #[test]
    fn oversized_bytes_are_refused_before_decoding() {
        let bytes = vec![0u8; crate::limits::MAX_TX_BYTES + 1];
        assert!(matches!(
            Transaction::from_bytes(&bytes),
            Err(TxError::TooLarge(_))
        ));
    }

    /// The deadline the cosigner of [`joint_transfer`] agreed to.
    const JOINT_DEADLINE_MS: u64 = 1_800_000_000_000;

    /// A joint payment: sender `key(1)` spends its own output and one of `key(2)`'s, so
    /// `key(2)` cosigns the authorisation of this very transaction.
    fn joint_transfer(cosigner: u64, authorised_nonce: u64) -> Transaction {
        use crate::token::{OutPoint, TransferAuthorization, TxOutput};
        let inputs = vec![
            OutPoint {
                tx: TxId::of_encoded(b"a"),
                index: 0,
            },
            OutPoint {
                tx: TxId::of_encoded(b"b"),
                index: 1,
            },
        ];
        let outputs = vec![TxOutput::to_key(90, address(3))];
        let cosignature = TransferAuthorization {
            chain_id: chain(),
            sender: address(1),
            nonce: authorised_nonce,
            fee: 10,
            valid_until_ms: JOINT_DEADLINE_MS,
            inputs: inputs.clone(),
            from_balance: 0,
            outputs: outputs.clone(),
        }
        .sign(&key(cosigner));
        let mut cosignature = cosignature;
        cosignature.signer = address(2);
        TxBody {
            chain_id: chain(),
            sender: address(1),
            nonce: 4,
            valid_until_ms: JOINT_DEADLINE_MS,
            fee: 10,
            payload: Payload::Token(TokenPayload::Transfer {
                inputs,
                from_balance: 0,
                outputs,
                cosignatures: vec![cosignature],
            }),
        }
        .sign(&key(1))
        .unwrap()
    }

    #[test]
    fn a_joint_payment_verifies_singly_and_in_a_batch() {
        let tx = joint_transfer(2, 4);
        assert_eq!(
            tx.signature_checks(&Decompress).unwrap().len(),
            2,
            "sender + cosigner"
        );
        tx.verify(&chain()).unwrap();
        let mut txs = signed_txs();
        txs.push(tx);
        assert!(
            verify_batch(&mut test_rng(), &chain(), &txs)
                .iter()
                .all(Result::is_ok)
        );
        let decoded = Transaction::from_bytes(&txs[txs.len() - 1].encode()).unwrap();
        assert_eq!(decoded, txs[txs.len() - 1]);
    }

    #[test]
    fn a_cosignature_from_the_wrong_key_or_for_another_tx_is_refused() {
        let bad_cosignature = |result: Result<VerifiedTransaction, TxError>| matches!(result, Err(TxError::BadCosignature(a)) if a == address(2));
        // key(9) signed, claiming to be key(2).
        let wrong_key = joint_transfer(9, 4);
        // key(2) signed the authorisation of the sender's transaction with another nonce.
        let other_tx = joint_transfer(2, 5);
        for tx in [wrong_key, other_tx] {
            assert!(bad_cosignature(tx.verify(&chain())));
            let batch = verify_batch(&mut test_rng(), &chain(), std::slice::from_ref(&tx));
            assert!(bad_cosignature(batch.into_iter().next().unwrap()));
        }
        // Raising the fee after the cosigner signed breaks the cosignature (and the sender's).
        let mut body = joint_transfer(2, 4).body;
        body.fee = 11;
        let resigned = body.sign(&key(1)).unwrap();
        assert!(bad_cosignature(resigned.verify(&chain())));
        // Extending the deadline after the cosigner signed breaks the cosignature: it dies
        // with the deadline it was given.
        let mut body = joint_transfer(2, 4).body;
        body.valid_until_ms = JOINT_DEADLINE_MS + 1;
        let resigned = body.sign(&key(1)).unwrap();
        assert!(bad_cosignature(resigned.verify(&chain())));
        // A missing cosignature is not a signature error: whether the inputs needed it is the
        // state machine's rule (MissingSignature).
        let mut body = joint_transfer(2, 4).body;
        let Payload::Token(TokenPayload::Transfer { cosignatures, .. }) = &mut body.payload else {
            unreachable!()
        };
        cosignatures.clear();
        body.sign(&key(1)).unwrap().verify(&chain()).unwrap();
    }

    #[test]
    fn candidate_endorsements_must_name_this_candidate_org_and_chain() {
        let register = crate::fixtures::stake_payloads().remove(0);
        let sign_as = |seed: u64, payload: Payload| {
            TxBody {
                chain_id: chain(),
                sender: address(seed),
                nonce: 0,
                valid_until_ms: u64::MAX,
                fee: 0,
                payload,
            }
            .sign(&key(seed))
            .unwrap()
        };
        sign_as(1, register.clone()).verify(&chain()).unwrap();
        let refused = |tx: Transaction| matches!(tx.verify(&chain()), Err(TxError::BadCandidateEndorsement(a)) if a == address(3));
        // Another node key presents key(1)'s endorsement.
        assert!(refused(sign_as(5, register.clone())));
        // The endorsement is moved to another organisation.
        let mut other_org = register.clone();
        if let Payload::Stake(StakePayload::Register { org, .. }) = &mut other_org {
            *org = crate::fixtures::org_name("Busan Clinic");
        }
        assert!(refused(sign_as(1, other_org)));
        // Someone else claims to be the endorser.
        let mut other_endorser = register.clone();
        if let Payload::Stake(StakePayload::Register { endorsement, .. }) = &mut other_endorser {
            *endorsement = CandidateEndorsement {
                chain_id: ChainId::new("medchain-other").unwrap(),
                org: crate::fixtures::org_name("Seoul General"),
                candidate: address(1),
            }
            .sign(&key(3));
        }
        assert!(refused(sign_as(1, other_endorser)));
    }

    #[test]
    fn token_recipients_that_are_not_keys_are_refused() {
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let not_a_key = Address::from_bytes(bytes);
        let transfer = Payload::Token(TokenPayload::Transfer {
            inputs: vec![],
            from_balance: 5,
            outputs: vec![crate::token::TxOutput::to_key(5, not_a_key)],
            cosignatures: vec![],
        });
        let delegate = Payload::Stake(StakePayload::Delegate {
            candidate: not_a_key,
            amount: 1,
        });
        for (payload, role) in [(transfer, "recipient"), (delegate, "candidate")] {
            let tx = TxBody {
                chain_id: chain(),
                sender: address(1),
                nonce: 0,
                valid_until_ms: u64::MAX,
                fee: 0,
                payload,
            }
            .sign(&key(1))
            .unwrap();
            assert!(
                matches!(tx.verify(&chain()), Err(TxError::NotAKey { role: r, .. }) if r == role),
                "{role}"
            );
        }
    }

    #[test]
    fn transfers_are_bounded_when_decoding() {
        use crate::token::{OutPoint, TxOutput};
        let transfer = |inputs: usize, outputs: usize| {
            Payload::Token(TokenPayload::Transfer {
                inputs: (0..inputs)
                    .map(|i| OutPoint {
                        tx: TxId::of_encoded(b"x"),
                        index: i as u16,
                    })
                    .collect(),
                from_balance: 0,
                outputs: (0..outputs)
                    .map(|_| TxOutput::to_key(1, address(2)))
                    .collect(),
                cosignatures: vec![],
            })
        };
        let max_in = limits::MAX_TRANSFER_INPUTS;
        let max_out = limits::MAX_TRANSFER_OUTPUTS;
        assert!(Payload::decode(transfer(max_in, max_out).encode()).is_ok());
        assert!(Payload::decode(transfer(max_in + 1, 1).encode()).is_err());
        assert!(Payload::decode(transfer(1, max_out + 1).encode()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Transaction::from_bytes(&bytes);
            let _ = crate::Block::decode(bytes.as_slice().to_vec());
        }

        #[test]
        fn flipping_any_byte_of_a_valid_tx_never_yields_a_different_valid_tx(
            which in 0usize..signed_txs().len(), position in any::<prop::sample::Index>(), flip in 1u8..=255,
        ) {
            let tx = &signed_txs()[which];
            let mut bytes = tx.encode().to_vec();
            let at = position.index(bytes.len());
            bytes[at] ^= flip;
            if let Ok(mutated) = Transaction::from_bytes(&bytes) {
                prop_assert!(mutated.verify(&chain()).is_err());
            }
        }
    }
}
