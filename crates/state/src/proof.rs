//! State proofs: a value (or its absence) bound to a state root (docs/architecture.md
//! § Authenticated state: every state read that a client relies on is provable against the
//! state root).
//!
//! A [`StateProof`] is `jmt`'s `SparseMerkleProof` over SHA-256. Its wire form is the proof's
//! borsh encoding (the stable encoding `jmt` itself derives), at most [`MAX_PROOF_BYTES`] long,
//! accepted only if it re-encodes to the same bytes. The same proof type proves inclusion
//! (`value = Some`) and exclusion (`value = None`): for an absent key it shows the leaf or the
//! empty subtree that occupies the key's path.
//!
//! A light client (a patient's CLI) trusts a state root only from a finalized header, then
//! checks a node's answer with [`ProvenValue::verified_value`].

use crate::{
    ProofError, StateValue,
    keys::{MAX_KEY_LEN, StateKey},
    serde_hex,
    tree::{TreeHasher, key_hash},
};
use bytes::BufMut;
use commonware_codec::{
    Buf, Copying, Decode, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, Write,
};
use jmt::{RootHash, proof::SparseMerkleProof};
use medchain_types::Hash32;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

/// Longest proof encoding: a leaf and 256 siblings (one per key-hash bit), each a tag and
/// two hashes, plus the option tag and list length.
pub const MAX_PROOF_BYTES: usize = 1 + 64 + 4 + 256 * (1 + 64);

/// Longest value a proof may carry (state values are far smaller; this only bounds decoding).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A Merkle proof that a key holds a value, or holds none, under a state root.
#[derive(Clone, Debug, PartialEq)]
pub struct StateProof(SparseMerkleProof<TreeHasher>);

impl From<SparseMerkleProof<TreeHasher>> for StateProof {
    fn from(proof: SparseMerkleProof<TreeHasher>) -> Self {
        Self(proof)
    }
}

impl StateProof {
    /// The canonical encoding (borsh).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Writing into a Vec cannot fail.
        borsh::to_vec(&self.0).unwrap_or_default()
    }

    /// Decodes untrusted bytes: bounded, complete and canonical, else an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofError::TooLarge(bytes.len()));
        }
        let proof: SparseMerkleProof<TreeHasher> =
            borsh::from_slice(bytes).map_err(|e| ProofError::Malformed(e.to_string()))?;
        let proof = Self(proof);
        if proof.to_bytes() != bytes {
            return Err(ProofError::Malformed("not the canonical encoding".into()));
        }
        Ok(proof)
    }

    /// Lowercase hex of [`Self::to_bytes`], the form the HTTP API serves.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Parses [`Self::to_hex`].
    pub fn from_hex(text: &str) -> Result<Self, ProofError> {
        let bytes = hex::decode(text.trim()).map_err(|e| ProofError::Malformed(e.to_string()))?;
        Self::from_bytes(&bytes)
    }
}

impl Serialize for StateProof {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for StateProof {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(D::Error::custom)
    }
}

/// Checks that under `root`, `key` holds `value` (`Some`) or nothing (`None`).
///
/// Verified: the proof's leaf is `key`'s (inclusion, with `SHA-256(value)` as its value hash)
/// or a different key / empty subtree on `key`'s path (exclusion), and hashing the leaf up
/// through the siblings gives exactly `root`. Any other value, key, or root fails.
pub fn verify_proof(
    root: &Hash32,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<(), ProofError> {
    let mut root_bytes = [0u8; 32];
    root_bytes.copy_from_slice(root.as_ref());
    proof
        .0
        .verify(RootHash(root_bytes), key_hash(key), value)
        .map_err(|e| ProofError::Invalid(format!("{e:#}")))
}

/// A state read with its proof, as a node serves it: the value of `key` (or its absence) at
/// `height`, whose state root is `state_root`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProvenValue {
    /// Height of the state read.
    pub height: u64,
    /// State root at that height (the header's `state_root`).
    #[serde(with = "serde_hex::codec")]
    pub state_root: Hash32,
    /// The state key.
    #[serde(with = "serde_hex::bytes")]
    pub key: Vec<u8>,
    /// Its value, `None` when absent.
    #[serde(with = "serde_hex::option_bytes")]
    pub value: Option<Vec<u8>>,
    /// Inclusion or exclusion proof.
    pub proof: StateProof,
}

impl ProvenValue {
    /// Checks the proof against the root it names. Only meaningful once that root is known
    /// to be a finalized header's: prefer [`Self::verify_against`].
    pub fn verify(&self) -> Result<(), ProofError> {
        verify_proof(
            &self.state_root,
            &self.key,
            self.value.as_deref(),
            &self.proof,
        )
    }

    /// Checks that the proof was taken at `trusted_root` (a finalized header's `state_root`)
    /// and verifies against it.
    pub fn verify_against(&self, trusted_root: &Hash32) -> Result<(), ProofError> {
        if &self.state_root != trusted_root {
            return Err(ProofError::RootMismatch {
                proven: hex::encode(self.state_root),
                trusted: hex::encode(trusted_root),
            });
        }
        self.verify()
    }

    /// Verifies against `trusted_root` that this answers `key`, and decodes the value.
    pub fn verified_value<V: StateValue>(
        &self,
        trusted_root: &Hash32,
        key: &StateKey<V>,
    ) -> Result<Option<V>, ProofError> {
        if self.key != key.as_bytes() {
            return Err(ProofError::Invalid(format!(
                "proof is for key {}, not {}",
                hex::encode(&self.key),
                hex::encode(key.as_bytes())
            )));
        }
        self.verify_against(trusted_root)?;
        self.value
            .as_deref()
            .map(|bytes| {
                key.decode(bytes)
                    .map_err(|e| ProofError::Invalid(e.to_string()))
            })
            .transpose()
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encode_size());
        self.write(&mut buf);
        buf
    }

    /// Decodes untrusted bytes: bounded, complete and canonical, else an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        Self::decode_cfg(Copying(bytes), &()).map_err(|e| ProofError::Malformed(e.to_string()))
    }
}

impl Write for ProvenValue {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.state_root.write(buf);
        self.key.write(buf);
        self.value.write(buf);
        self.proof.to_bytes().write(buf);
    }
}

impl EncodeSize for ProvenValue {
    fn encode_size(&self) -> usize {
        self.height.encode_size()
            + self.state_root.encode_size()
            + self.key.encode_size()
            + self.value.encode_size()
            + self.proof.to_bytes().encode_size()
    }
}

impl Read for ProvenValue {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let bounded = |max: usize| (RangeCfg::from(0..=max), ());
        let height = u64::read(buf)?;
        let state_root = Hash32::read(buf)?;
        let key = Vec::<u8>::read_cfg(buf, &bounded(MAX_KEY_LEN))?;
        let value = Option::<Vec<u8>>::read_cfg(buf, &bounded(MAX_VALUE_BYTES))?;
        let proof_bytes = Vec::<u8>::read_cfg(buf, &bounded(MAX_PROOF_BYTES))?;
        let proof = StateProof::from_bytes(&proof_bytes)
            .map_err(|e| CodecError::Wrapped("proof", Box::new(e)))?;
        Ok(Self {
            height,
            state_root,
            key,
            value,
            proof,
        })
    }
}
