//! Light-client verification: patients verify, they do not trust a node (docs/architecture.md
//! § Light-client trust model).
//!
//! The only thing a [`LightClient`] trusts is the genesis document: the chain id, the genesis
//! validator set and the epoch length. A node's answer is accepted only if:
//!
//! 1. the header it comes with decodes canonically and hashes to the digest the node names;
//! 2. that digest is final: either a finalization certificate — a quorum (`n - f`, f < n/3) of
//!    distinct ed25519 signatures of the validators of the header's epoch over the simplex
//!    `Finalize` message for exactly this digest, made in a round of that epoch, under the
//!    genesis-bound consensus namespace — or, at height 0 only, the header is the genesis block
//!    this client recomputes from its own genesis document;
//! 3. for state reads, the proof was taken at that header's height, against its `state_root`,
//!    for the key the client asked about (a node cannot answer another question), and the
//!    Jellyfish Merkle proof binds the value (or its absence) to that root
//!    ([`medchain_state::ProvenValue::verified_value`]).
//!
//! A node can still refuse to answer or answer with an older finalized state; it cannot make
//! the client accept a value the validators did not finalize.
//!
//! **Epochs (S1-dpos).** Epoch `e` is the heights `e·L ..= (e+1)·L − 1`. Epoch 0's validators
//! are the genesis set. Each later set is learned from an epoch transition
//! ([`LightClient::accept_transition`]): the set elected for `e + 1`, proven in the state at
//! epoch `e`'s last block, which epoch `e`'s validators finalized. So trust walks from genesis
//! one epoch at a time, and a header is checked against its own epoch's set only. Keys that left
//! the set could later sign an alternative history of the epochs they ran (weak subjectivity,
//! as in any proof-of-stake chain); a client that learned the transitions early is not fooled.

use crate::VerifyError;
use commonware_codec::{Copying, Decode as _, DecodeExt as _};
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::Sha256;
use commonware_cryptography::certificate::Verifier as _;
use commonware_parallel::Sequential;
use commonware_utils::{N3f1, ordered::Quorum as _};
use commonware_utils::{TryCollect as _, ordered::Set};
use medchain_api::{BlockView, EpochTransitionView, HeaderView, ProvenView};
use medchain_state::{
    StateValue,
    keys::{self, StateKey},
    staking,
    values::ValidatorSet,
};
use medchain_types::{
    ChainId, Genesis, Hash32, Header, PublicKey, RECEIPT_PROOF_ITEMS, Receipt, ReceiptProof, TxId,
    tx_root,
};
use std::{
    collections::BTreeMap,
    num::NonZeroU64,
    sync::{Arc, PoisonError, RwLock},
};

pub use medchain_types::ConsensusScheme;

/// Why a header is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// Block 0, recomputed locally from the genesis document.
    Genesis,
    /// A finalization certificate signed by `signers` of the `validators` of the header's epoch.
    Certificate {
        /// Distinct validators who signed.
        signers: usize,
        /// Size of the validator set.
        validators: usize,
    },
}

/// A header proven final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalizedHeader {
    /// The header.
    pub header: Header,
    /// Its digest.
    pub digest: Hash32,
    /// Why it is final.
    pub finality: Finality,
}

/// A state value (or its proven absence) read at a finalized header.
#[derive(Clone, Debug)]
pub struct Verified<V> {
    /// The value; `None` means the key is proven absent.
    pub value: Option<V>,
    /// The finalized header whose state root the proof verified against.
    pub at: FinalizedHeader,
}

/// A finalized block whose transaction list matches its header.
#[derive(Clone, Debug)]
pub struct VerifiedBlock {
    /// The finalized header.
    pub at: FinalizedHeader,
    /// Its transaction ids, in order (they hash to the header's `tx_root`).
    pub tx_ids: Vec<TxId>,
}

/// One epoch's validator set, ready to check certificates.
#[derive(Debug)]
struct EpochVerifier {
    verifier: ConsensusScheme,
    validators: usize,
    quorum: usize,
}

impl EpochVerifier {
    fn new(genesis: &Genesis, participants: Set<PublicKey>) -> Self {
        Self {
            validators: participants.len(),
            quorum: participants.quorum::<N3f1>() as usize,
            verifier: ConsensusScheme::verifier(&genesis.consensus_namespace(), participants),
        }
    }
}

/// Verifies node answers against a genesis document, and the validator sets of later epochs
/// learned from it.
#[derive(Clone, Debug)]
pub struct LightClient {
    genesis: Genesis,
    genesis_header: Header,
    epoch_length: NonZeroU64,
    /// The verifier of every epoch whose set is known: epoch 0 from genesis, the others from
    /// accepted transitions. Shared by clones, so what one learns all use; no I/O here.
    epochs: Arc<RwLock<BTreeMap<u64, Arc<EpochVerifier>>>>,
}

impl LightClient {
    /// A light client trusting `genesis` (chain id, validator set, epoch length) and nothing
    /// else.
    pub fn new(genesis: Genesis) -> Result<Self, VerifyError> {
        genesis
            .validate()
            .map_err(|e| VerifyError::Genesis(e.to_string()))?;
        let participants = genesis
            .validator_set()
            .map_err(|e| VerifyError::Genesis(e.to_string()))?;
        let genesis_header = genesis_header(&genesis)?;
        let first = Arc::new(EpochVerifier::new(&genesis, participants));
        Ok(Self {
            epoch_length: genesis.epoch_length(),
            epochs: Arc::new(RwLock::new(BTreeMap::from([(0, first)]))),
            genesis,
            genesis_header,
        })
    }

    /// The epoch a height belongs to.
    pub fn epoch_of(&self, height: u64) -> u64 {
        staking::epoch_of(height, self.epoch_length)
    }

    /// The last height of `epoch`, where the next epoch's set is elected; `None` if the epoch
    /// never ends (a chain without tokens has one epoch).
    pub fn last_height(&self, epoch: u64) -> Option<u64> {
        staking::last_height(epoch, self.epoch_length)
    }

    /// The newest epoch whose validator set this client knows.
    pub fn known_epoch(&self) -> u64 {
        self.epochs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
    }

    fn epoch_verifier(&self, epoch: u64) -> Result<Arc<EpochVerifier>, VerifyError> {
        self.epochs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&epoch)
            .cloned()
            .ok_or(VerifyError::UnknownEpoch { epoch })
    }

    /// Learns epoch `view.epoch + 1`'s validator set from an epoch transition (see the module
    /// docs), given that epoch `view.epoch`'s set is known: the answer must be at that epoch's
    /// last height, finalized by that epoch's set in a round of that epoch, and prove
    /// `vset/<epoch + 1>` present, for that epoch, against the header's state root. Returns the
    /// set learned.
    pub fn accept_transition(
        &self,
        view: &EpochTransitionView,
    ) -> Result<ValidatorSet, VerifyError> {
        let epoch = view.epoch;
        let no_set = |reason: String| VerifyError::NoNextSet { epoch, reason };
        let expected = self
            .last_height(epoch)
            .ok_or_else(|| no_set("that epoch never ends on this chain".into()))?;
        // An epoch that ends is below u64::MAX.
        let next = epoch + 1;
        let wrong_boundary = |got| VerifyError::WrongBoundary {
            epoch,
            expected,
            got,
        };
        if view.boundary != expected {
            return Err(wrong_boundary(view.boundary));
        }
        // A header of epoch `epoch` is checked by that epoch's own set.
        let verified = self.verify_proven(&view.next_set, &keys::validator_set(next))?;
        if verified.at.header.height != expected {
            return Err(wrong_boundary(verified.at.header.height));
        }
        let set = verified
            .value
            .ok_or_else(|| no_set(format!("vset/{next} is proven absent")))?;
        if set.epoch != next {
            return Err(no_set(format!("the set proven is for epoch {}", set.epoch)));
        }
        let participants = set
            .validators
            .iter()
            .map(|validator| validator.key.public_key())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| no_set(format!("a validator key is invalid: {e}")))?
            .into_iter()
            .try_collect::<Set<PublicKey>>()
            .map_err(|_| no_set("a validator is listed twice".into()))?;
        if participants.is_empty() {
            return Err(no_set("the set is empty".into()));
        }
        self.epochs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(next)
            .or_insert_with(|| Arc::new(EpochVerifier::new(&self.genesis, participants)));
        Ok(set)
    }

    /// The trusted genesis document.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The chain id transactions must be signed for.
    pub fn chain_id(&self) -> &ChainId {
        &self.genesis.chain_id
    }

    /// Checks that `view` is a final header (steps 1 and 2 of the module docs).
    /// `finalization` is the hex certificate the node sent with it.
    pub fn verify_header(
        &self,
        view: &HeaderView,
        finalization: Option<&str>,
    ) -> Result<FinalizedHeader, VerifyError> {
        let header = decode_header(view)?;
        let digest = header.digest();
        if header.height == 0 {
            if header != self.genesis_header {
                return Err(VerifyError::GenesisMismatch);
            }
            return Ok(FinalizedHeader {
                header,
                digest,
                finality: Finality::Genesis,
            });
        }
        let certificate = finalization.ok_or(VerifyError::MissingCertificate {
            height: header.height,
        })?;
        let epoch = self.epoch_of(header.height);
        let verifier = self.epoch_verifier(epoch)?;
        let signers = verify_certificate(&verifier, epoch, certificate, &digest)?;
        Ok(FinalizedHeader {
            header,
            digest,
            finality: Finality::Certificate {
                signers,
                validators: verifier.validators,
            },
        })
    }

    /// Checks a block: final header, and transaction ids that hash to its `tx_root` (S1-block).
    pub fn verify_block(&self, view: &BlockView) -> Result<VerifiedBlock, VerifyError> {
        let at = self.verify_header(&view.header, view.finalization.as_deref())?;
        if tx_root(&view.tx_ids) != at.header.tx_root {
            return Err(VerifyError::TxRoot);
        }
        Ok(VerifiedBlock {
            at,
            tx_ids: view.tx_ids.clone(),
        })
    }

    /// Checks that `receipt` is what transaction `id` did in the verified `block`: the block is
    /// the one the receipt names, the transaction sits at the receipt's index, and the
    /// receipt's leaf (transaction id and events) is included at that index under the
    /// header's `receipts_root` (`proof_hex`, a binary Merkle proof). A node that changes an
    /// event — an access decision, a hospital's name — fails here (issue 7 §2).
    pub fn verify_receipt(
        &self,
        id: &TxId,
        block: &VerifiedBlock,
        receipt: &Receipt,
        proof_hex: Option<&str>,
    ) -> Result<(), VerifyError> {
        let header = &block.at.header;
        let included = usize::try_from(receipt.index)
            .ok()
            .and_then(|index| block.tx_ids.get(index))
            == Some(id);
        if receipt.tx != *id || receipt.height != header.height || !included {
            return Err(VerifyError::NotIncluded {
                tx: *id,
                height: receipt.height,
                index: receipt.index,
            });
        }
        let mismatch = |reason: String| VerifyError::ReceiptMismatch {
            tx: *id,
            height: header.height,
            reason,
        };
        let bytes = hex::decode(
            proof_hex
                .ok_or(VerifyError::MissingReceiptProof(*id))?
                .trim(),
        )
        .map_err(|e| mismatch(format!("proof is not hex: {e}")))?;
        let proof = ReceiptProof::decode_cfg(Copying(&bytes), &RECEIPT_PROOF_ITEMS)
            .map_err(|e| mismatch(format!("malformed proof: {e}")))?;
        proof
            .verify_element_inclusion::<Sha256>(
                &receipt.leaf(),
                receipt.index,
                &header.receipts_root,
            )
            .map_err(|e| mismatch(e.to_string()))
    }

    /// Checks a state answer for `key` (all three steps) and returns the decoded value.
    pub fn verify_proven<V: StateValue>(
        &self,
        view: &ProvenView,
        key: &StateKey<V>,
    ) -> Result<Verified<V>, VerifyError> {
        let at = self.verify_header(&view.header, view.finalization.as_deref())?;
        if view.proven.height != at.header.height {
            return Err(VerifyError::HeightMismatch {
                proof: view.proven.height,
                header: at.header.height,
            });
        }
        let value = view.proven.verified_value(&at.header.state_root, key)?;
        Ok(Verified { value, at })
    }
}

/// Decodes and verifies a finalization certificate for `digest` by epoch `epoch`'s set;
/// returns its signer count.
fn verify_certificate(
    epoch_set: &EpochVerifier,
    epoch: u64,
    hex_certificate: &str,
    digest: &Hash32,
) -> Result<usize, VerifyError> {
    let bytes = hex::decode(hex_certificate.trim())
        .map_err(|e| VerifyError::CertificateEncoding(e.to_string()))?;
    // Bounded by the validator count: a certificate cannot name more signers than exist.
    let finalization = Finalization::<ConsensusScheme, Hash32>::decode_cfg(
        Copying(&bytes),
        &epoch_set.verifier.certificate_codec_config(),
    )
    .map_err(|e| VerifyError::CertificateEncoding(e.to_string()))?;
    if finalization.proposal.payload != *digest {
        return Err(VerifyError::CertifiesOtherBlock {
            certified: hex::encode(finalization.proposal.payload),
            header: hex::encode(digest),
        });
    }
    let round_epoch = finalization.proposal.round.epoch().get();
    if round_epoch != epoch {
        return Err(VerifyError::CertificateEpoch {
            certificate: round_epoch,
            header: epoch,
        });
    }
    let signers = finalization.certificate.signers.count();
    if signers < epoch_set.quorum {
        return Err(VerifyError::TooFewSigners {
            signers,
            required: epoch_set.quorum,
        });
    }
    if !finalization.verify(&mut rand::rng(), &epoch_set.verifier, &Sequential) {
        return Err(VerifyError::BadCertificate);
    }
    Ok(signers)
}

fn decode_header(view: &HeaderView) -> Result<Header, VerifyError> {
    let bytes = hex::decode(view.header_hex.trim())
        .map_err(|e| VerifyError::HeaderEncoding(e.to_string()))?;
    let header =
        Header::decode(Copying(&bytes)).map_err(|e| VerifyError::HeaderEncoding(e.to_string()))?;
    let computed = hex::encode(header.digest());
    if !computed.eq_ignore_ascii_case(view.digest.trim()) {
        return Err(VerifyError::HeaderDigest {
            claimed: view.digest.clone(),
            computed,
        });
    }
    Ok(header)
}

/// Block 0 as every node builds it from the genesis document: parent = the genesis digest,
/// the genesis time, the regulator as proposer, no transactions, the genesis state root, and
/// empty revocation and MED roots.
pub fn genesis_header(genesis: &Genesis) -> Result<Header, VerifyError> {
    let (block, _) =
        medchain_state::genesis_block(genesis).map_err(|e| VerifyError::Genesis(e.to_string()))?;
    Ok(block.header().clone())
}
