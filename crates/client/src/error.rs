//! Typed errors. Every message says what went wrong and, where the user can act, what to do.

use crate::{build::BuildError, keys::KeyError};
use medchain_api::{DroppedView, ErrorBody, IdKind, IdPrefix, TxState};
use medchain_state::ProofError;
use medchain_types::{ChainId, TxError, TxId};
use std::time::Duration;

/// Why a node's answer was not accepted as true (docs/architecture.md § Light-client trust
/// model: light clients verify).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The genesis document cannot seed a light client.
    #[error("unusable genesis: {0}")]
    Genesis(String),
    /// `header_hex` is not hex of a canonical header.
    #[error("the node sent a header that does not decode: {0}")]
    HeaderEncoding(String),
    /// The header does not hash to the digest the node claims.
    #[error("header digest mismatch: the node claims {claimed}, the header hashes to {computed}")]
    HeaderDigest {
        /// What the node claimed.
        claimed: String,
        /// SHA-256 of the header it sent.
        computed: String,
    },
    /// A block other than genesis came without a finalization certificate.
    #[error("block {height} has no finalization certificate")]
    MissingCertificate {
        /// Height of the block.
        height: u64,
    },
    /// The certificate is not hex of a canonical finalization for this validator set.
    #[error("the finalization certificate does not decode: {0}")]
    CertificateEncoding(String),
    /// Fewer validators signed than a quorum (2f + 1 of n).
    #[error(
        "the certificate has {signers} signatures; a quorum of this validator set is {required}"
    )]
    TooFewSigners {
        /// Signatures in the certificate.
        signers: usize,
        /// Quorum size.
        required: usize,
    },
    /// The signatures do not verify under the keys of the validator set of the header's epoch.
    #[error(
        "the finalization certificate's signatures do not verify against the validators of the header's epoch"
    )]
    BadCertificate,
    /// The header belongs to an epoch whose validator set this client has not learned yet
    /// (S1-dpos): learn the epoch transitions up to it ([`crate::Client::learn_epochs`]).
    #[error(
        "the header is in epoch {epoch}, whose validator set this client has not verified yet; learn the epoch transitions first"
    )]
    UnknownEpoch {
        /// The header's epoch.
        epoch: u64,
    },
    /// The certificate was made in a round of another epoch than the header's: an old
    /// validator set finalizing a block of a later epoch is no proof.
    #[error("the certificate was made in epoch {certificate}, but the header is in epoch {header}")]
    CertificateEpoch {
        /// The epoch of the certificate's round.
        certificate: u64,
        /// The epoch of the header's height.
        header: u64,
    },
    /// An epoch transition that is not at the epoch's last height.
    #[error("epoch {epoch} ends at height {expected}; the transition is at height {got}")]
    WrongBoundary {
        /// The epoch that ends.
        epoch: u64,
        /// Its last height.
        expected: u64,
        /// The height the answer is at.
        got: u64,
    },
    /// An epoch transition that does not prove the next epoch's validator set.
    #[error(
        "the transition of epoch {epoch} does not prove the validator set of epoch {epoch} + 1: {reason}"
    )]
    NoNextSet {
        /// The epoch that ends.
        epoch: u64,
        /// What is wrong.
        reason: String,
    },
    /// The certificate finalizes another block.
    #[error("the certificate finalizes block {certified}, not {header}")]
    CertifiesOtherBlock {
        /// Digest in the certificate.
        certified: String,
        /// Digest of the header it came with.
        header: String,
    },
    /// A height-0 header that is not this genesis's block 0.
    #[error("the node's genesis block does not match the local genesis document (another chain?)")]
    GenesisMismatch,
    /// The proof was taken at another height than the header.
    #[error("the proof is for height {proof}, the header is height {header}")]
    HeightMismatch {
        /// Height in the proof.
        proof: u64,
        /// Height of the header.
        header: u64,
    },
    /// A question pinned to a height was answered at another one.
    #[error("asked about height {asked}, but the answer is proven at height {answered}")]
    OtherHeight {
        /// The height asked about.
        asked: u64,
        /// The height of the answer's header.
        answered: u64,
    },
    /// The Merkle proof does not bind the value to the header's state root.
    #[error("the state proof does not verify: {0}")]
    Proof(#[from] ProofError),
    /// A list page or id lookup is not an answer to what was asked.
    #[error("the list does not verify: {0}")]
    List(#[from] crate::ListError),
    /// The block's transaction list does not hash to its header's `tx_root`.
    #[error("the block's transaction ids do not match its header's tx_root")]
    TxRoot,
    /// A transaction answer without a finalized receipt: nothing proves it final.
    #[error("transaction {tx} is not finalized in this answer: there is no inclusion to verify")]
    NotFinalized {
        /// The transaction.
        tx: TxId,
    },
    /// A saved answer from another chain than the genesis document's.
    #[error("the answer is from chain {answer}, but your genesis document is for chain {genesis}")]
    OtherChain {
        /// The answer's chain.
        answer: ChainId,
        /// The genesis document's.
        genesis: ChainId,
    },
    /// A saved answer in a layout this version does not read.
    #[error("unknown saved-answer format {0:?} (this version reads medchain-answer/1)")]
    SavedFormat(String),
    /// A saved answer is not for the question it says it answers.
    #[error("the saved answer is for {answered}, but it says it answers {asked}")]
    OtherQuestion {
        /// What the answer is for.
        answered: String,
        /// What the file says was asked.
        asked: String,
    },
    /// A receipt names a block and position that do not hold the transaction.
    #[error("transaction {tx} is not at position {index} of finalized block {height}")]
    NotIncluded {
        /// The transaction.
        tx: TxId,
        /// Block the receipt names.
        height: u64,
        /// Position the receipt names.
        index: u32,
    },
    /// A finalized transaction's status came without the receipt's Merkle proof.
    #[error("the node sent no receipt proof for transaction {0}; ask another node")]
    MissingReceiptProof(TxId),
    /// The receipt is not the one the block's header commits to: a node (or anything between
    /// it and this client) changed what the transaction did.
    #[error(
        "the receipt of transaction {tx} does not match the receipts root of finalized block {height}: {reason}"
    )]
    ReceiptMismatch {
        /// The transaction.
        tx: TxId,
        /// Its block.
        height: u64,
        /// What failed.
        reason: String,
    },
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL given for the node is unusable.
    #[error("invalid node URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No HTTP answer (connection refused, timeout, …).
    #[error(
        "cannot reach the node at {url}: {reason}. Is the node running? Start one with `medchain devnet`, or pass --node URL"
    )]
    Unreachable {
        /// The URL requested.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The node runs another chain than the genesis document describes.
    #[error(
        "the node at {node} serves another chain: {theirs}; your genesis document is for {ours}. Pass the --genesis of the node's network, or the --node of yours"
    )]
    OtherChain {
        /// The node URL.
        node: String,
        /// The node's chain id and block-0 digest.
        theirs: String,
        /// The genesis document's chain id and block-0 digest.
        ours: String,
    },
    /// The node answered with its JSON error body.
    #[error("the node refused ({status} {}): {}. Hint: {}", body.error, body.message, body.hint)]
    Api {
        /// HTTP status.
        status: u16,
        /// The node's error: stable code, message and hint.
        body: ErrorBody,
    },
    /// The node answered something that is not the expected JSON.
    #[error("unexpected answer from {url} (HTTP {status}): {detail}")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// HTTP status.
        status: u16,
        /// What could not be parsed.
        detail: String,
    },
    /// The node's answer failed verification: it is not to be trusted.
    #[error("verification failed, the answer is not trusted: {0}")]
    Verify(#[from] VerifyError),
    /// A key file could not be read or written.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A transaction could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A transaction could not be signed (boxed: it can hold a whole public key).
    #[error(transparent)]
    Tx(Box<TxError>),
    /// The node returned another id than the transaction's own.
    #[error("the node acknowledged {got}, but the transaction's id is {expected}")]
    WrongId {
        /// The transaction's id.
        expected: TxId,
        /// What the node returned.
        got: TxId,
    },
    /// The patient's access log, as this node serves it, holds no verified entry for the
    /// request (the node is withholding it, or the request was not an access request).
    #[error(
        "no verified access-log entry for {tx}: the decision cannot be proven by this node; ask another node"
    )]
    DecisionNotProven {
        /// The access request.
        tx: TxId,
    },
    /// The transaction left the mempool without a block and will never execute.
    #[error("transaction {id} was dropped and will never execute: {}", reason.message)]
    Dropped {
        /// The transaction.
        id: TxId,
        /// Why, as the node recorded it.
        reason: DroppedView,
    },
    /// No finalized id of this kind starts with the prefix.
    #[error("no {kind} id starts with {prefix}; {}", where_ids_are(*kind))]
    NoSuchId {
        /// What was looked among.
        kind: IdKind,
        /// The prefix.
        prefix: IdPrefix,
    },
    /// Several ids start with the prefix (or too many to tell).
    #[error("{}", ambiguous_message(*kind, prefix, candidates, *complete))]
    AmbiguousId {
        /// What was looked among.
        kind: IdKind,
        /// The prefix.
        prefix: IdPrefix,
        /// Ids that start with it (all of them when `complete`).
        candidates: Vec<TxId>,
        /// Whether `candidates` are all the matches.
        complete: bool,
    },
    /// The transaction did not reach a finalized block in time.
    #[error(
        "transaction {id} is not finalized after {waited:?} (last status: {status:?}). Check it later with `medchain query tx {id}`"
    )]
    Timeout {
        /// The transaction.
        id: TxId,
        /// How long we waited.
        waited: Duration,
        /// Its last status.
        status: TxState,
    },
}

/// Where a user finds the ids of a kind.
fn where_ids_are(kind: IdKind) -> &'static str {
    match kind {
        IdKind::Record => "`medchain record list --patient ADDRESS` lists a patient's records",
        IdKind::Consent => "`medchain consent list --patient ADDRESS` lists a patient's consents",
        IdKind::Tx => "only finalized transactions are looked up; give a pending one in full",
    }
}

fn ambiguous_message(
    kind: IdKind,
    prefix: &IdPrefix,
    candidates: &[TxId],
    complete: bool,
) -> String {
    let mut message = format!("{kind} id prefix {prefix} is ambiguous; type more of the id.");
    if !candidates.is_empty() {
        message.push_str(" Candidates:");
        for candidate in candidates {
            message.push_str(&format!("\n  {candidate}"));
        }
    }
    if !complete {
        message.push_str("\n  … and more");
    }
    message
}

impl From<TxError> for ClientError {
    fn from(error: TxError) -> Self {
        Self::Tx(Box::new(error))
    }
}

impl ClientError {
    /// The node's stable error code (e.g. `rejected`, `nonce_conflict`), for `Api` errors.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } => Some(&body.error),
            _ => None,
        }
    }
}
