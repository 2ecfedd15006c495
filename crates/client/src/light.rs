//! Light-client verification: patients verify, they do not trust a node (docs/architecture.md
//! § Light-client trust model).
//!
//! The only thing a [`LightClient`] trusts is the genesis document: the chain id and the
//! validator set. A node's answer is accepted only if:
//!
//! 1. the header it comes with decodes canonically and hashes to the digest the node names;
//! 2. that digest is final: either a finalization certificate — a quorum (`n - f`, f < n/3) of
//!    distinct genesis validators' ed25519 signatures over the simplex `Finalize` message for
//!    exactly this digest, under the genesis-bound consensus namespace — or, at height 0 only, the header is
//!    the genesis block this client recomputes from its own genesis document;
//! 3. for state reads, the proof was taken at that header's height, against its `state_root`,
//!    for the key the client asked about (a node cannot answer another question), and the
//!    Jellyfish Merkle proof binds the value (or its absence) to that root
//!    ([`medchain_state::ProvenValue::verified_value`]).
//!
//! A node can still refuse to answer or answer with an older finalized state; it cannot make
//! the client accept a value the validators did not finalize.

use crate::VerifyError;
use commonware_codec::{Copying, Decode as _, DecodeExt as _};
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::Sha256;
use commonware_cryptography::certificate::Verifier as _;
use commonware_parallel::Sequential;
use commonware_utils::{N3f1, ordered::Quorum as _};
use medchain_api::{BlockView, HeaderView, ProvenView};
use medchain_state::{StateValue, keys::StateKey};
use medchain_types::{
    ChainId, Genesis, Hash32, Header, RECEIPT_PROOF_ITEMS, Receipt, ReceiptProof, TxId, tx_root,
};

pub use medchain_types::ConsensusScheme;

/// Why a header is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// Block 0, recomputed locally from the genesis document.
    Genesis,
    /// A finalization certificate signed by `signers` of the `validators` genesis validators.
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

/// Verifies node answers against a genesis document.
#[derive(Clone, Debug)]
pub struct LightClient {
    genesis: Genesis,
    verifier: ConsensusScheme,
    validators: usize,
    quorum: usize,
    genesis_header: Header,
}

impl LightClient {
    /// A light client trusting `genesis` (chain id and validator set) and nothing else.
    pub fn new(genesis: Genesis) -> Result<Self, VerifyError> {
        genesis
            .validate()
            .map_err(|e| VerifyError::Genesis(e.to_string()))?;
        let participants = genesis
            .validator_set()
            .map_err(|e| VerifyError::Genesis(e.to_string()))?;
        let validators = participants.len();
        let quorum = participants.quorum::<N3f1>() as usize;
        let genesis_header = genesis_header(&genesis)?;
        Ok(Self {
            verifier: ConsensusScheme::verifier(&genesis.consensus_namespace(), participants),
            genesis,
            validators,
            quorum,
            genesis_header,
        })
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
        let signers = self.verify_certificate(certificate, &digest)?;
        Ok(FinalizedHeader {
            header,
            digest,
            finality: Finality::Certificate {
                signers,
                validators: self.validators,
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

    /// Decodes and verifies a finalization certificate for `digest`; returns its signer count.
    fn verify_certificate(
        &self,
        hex_certificate: &str,
        digest: &Hash32,
    ) -> Result<usize, VerifyError> {
        let bytes = hex::decode(hex_certificate.trim())
            .map_err(|e| VerifyError::CertificateEncoding(e.to_string()))?;
        // Bounded by the validator count: a certificate cannot name more signers than exist.
        let finalization = Finalization::<ConsensusScheme, Hash32>::decode_cfg(
            Copying(&bytes),
            &self.verifier.certificate_codec_config(),
        )
        .map_err(|e| VerifyError::CertificateEncoding(e.to_string()))?;
        if finalization.proposal.payload != *digest {
            return Err(VerifyError::CertifiesOtherBlock {
                certified: hex::encode(finalization.proposal.payload),
                header: hex::encode(digest),
            });
        }
        let signers = finalization.certificate.signers.count();
        if signers < self.quorum {
            return Err(VerifyError::TooFewSigners {
                signers,
                required: self.quorum,
            });
        }
        if !finalization.verify(&mut rand::rng(), &self.verifier, &Sequential) {
            return Err(VerifyError::BadCertificate);
        }
        Ok(signers)
    }
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
