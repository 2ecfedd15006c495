//! Record commitments: what a hospital attests and a patient later proves facts about.
//!
//! A record is a vector of `N` encoded attributes (`u64`, `0` = missing; see [`crate::schema`]).
//! Each attribute is a leaf `H(TAG_LEAF, value)` of a Poseidon Merkle tree of depth
//! `max(1, ceil(log2 N))`, padded with missing values; the commitment is
//! `C = H(TAG_RECORD, N, root, blinding)` with a uniformly random blinding field element.
//!
//! This fixes the seed's weakness (S4-flow step 3: the patient hashes and signs data *it* chose):
//! here the *hospital* computes `C` when it releases the record (S1-release) and signs it, and
//! the circuit proves every opened attribute is a leaf under that `C`. A patient can therefore
//! only prove facts about attested data. The blinding makes `C` hiding: the commitment on a
//! ledger reveals nothing about the attributes.

use crate::codec::{FIELD_BYTES, Reader, fr_from_slice, fr_to_bytes};
use crate::error::{Result, ZkError};
use crate::poseidon::{AttributeTreeConfig, Fr, hash, poseidon_config, tag_leaf, tag_record};
use crate::shape::MAX_ATTRIBUTES;
use ark_crypto_primitives::merkle_tree::{MerkleTree, Path};
use ark_ff::UniformRand;
use ark_std::rand::{CryptoRng, RngCore};

/// Encoded value of an attribute the record does not have.
pub const MISSING: u64 = 0;

/// An attribute vector of fixed length `N` (see [`crate::schema::Schema::encode`] for the
/// encodings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    values: Vec<u64>,
}

impl Record {
    /// Wraps encoded values; `1 ≤ len ≤ 2^20`.
    pub fn new(values: Vec<u64>) -> Result<Self> {
        if values.is_empty() || values.len() > MAX_ATTRIBUTES as usize {
            return Err(ZkError::InvalidRecord(format!(
                "{} attributes, expected 1..={MAX_ATTRIBUTES}",
                values.len()
            )));
        }
        Ok(Self { values })
    }

    /// The encoded attribute values.
    pub fn values(&self) -> &[u64] {
        &self.values
    }

    /// `N`, the number of attributes.
    pub fn num_attributes(&self) -> u32 {
        // `new` bounds the length by 2^20.
        self.values.len() as u32
    }
}

/// The commitment's random blinding value. Secret: whoever holds it and the record can open the
/// commitment.
#[derive(Clone, PartialEq, Eq)]
pub struct Blinding(pub(crate) Fr);

impl Blinding {
    /// Draws a uniformly random blinding from a cryptographic RNG.
    pub fn random(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self(Fr::rand(rng))
    }
}

impl std::fmt::Debug for Blinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blinding(..)")
    }
}

/// The public record commitment `C`, one field element: what the hospital signs and the chain
/// stores. Wire form: 32 bytes, little-endian, canonical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Commitment(pub(crate) Fr);

impl Commitment {
    /// Canonical 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; FIELD_BYTES] {
        fr_to_bytes(&self.0)
    }

    /// Decodes exactly 32 canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        fr_from_slice("commitment", bytes).map(Self)
    }
}

/// Everything needed to open a commitment: the record and its blinding. The hospital hands it to
/// the patient (encrypted) on release; the patient keeps it to prove eligibility later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOpening {
    record: Record,
    blinding: Blinding,
}

const OPENING_MAGIC: &[u8] = b"MCZKOP\x01";

impl RecordOpening {
    /// Pairs a record with its blinding.
    pub fn new(record: Record, blinding: Blinding) -> Self {
        Self { record, blinding }
    }

    /// Pairs a record with a fresh random blinding.
    pub fn random(record: Record, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self::new(record, Blinding::random(rng))
    }

    /// The committed record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Computes the commitment (builds the whole attribute tree: `O(N)` hashes).
    pub fn commit(&self) -> Result<Commitment> {
        Ok(AttributeTree::build(&self.record)?.commitment(&self.blinding))
    }

    /// Wire form: magic+version (7 bytes), `N` (u32), `N` values (u64 each), blinding (32 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let values = self.record.values();
        let mut out = Vec::with_capacity(OPENING_MAGIC.len() + 4 + 8 * values.len() + FIELD_BYTES);
        out.extend_from_slice(OPENING_MAGIC);
        out.extend_from_slice(&self.record.num_attributes().to_le_bytes());
        for value in values {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&fr_to_bytes(&self.blinding.0));
        out
    }

    /// Decodes [`Self::to_bytes`]; the length must match `N` exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new("record opening", bytes);
        reader.expect_magic(OPENING_MAGIC)?;
        let count = reader.u32()?;
        if count == 0 || count > MAX_ATTRIBUTES {
            return Err(ZkError::malformed(
                "record opening",
                "attribute count out of range",
            ));
        }
        let expected = 8 * count as usize + FIELD_BYTES;
        if reader.rest_len() != expected {
            return Err(ZkError::malformed(
                "record opening",
                "length does not match count",
            ));
        }
        let values = (0..count)
            .map(|_| reader.u64())
            .collect::<Result<Vec<_>>>()?;
        let blinding = Blinding(reader.field()?);
        reader.finish()?;
        Ok(Self::new(Record::new(values)?, blinding))
    }

    pub(crate) fn blinding(&self) -> &Blinding {
        &self.blinding
    }
}

/// Merkle tree over a record's attribute leaves.
pub(crate) struct AttributeTree {
    num_attributes: u32,
    tree: MerkleTree<AttributeTreeConfig>,
}

pub(crate) type AttributePath = Path<AttributeTreeConfig>;

impl AttributeTree {
    pub(crate) fn build(record: &Record) -> Result<Self> {
        let leaf_count = leaf_count(record.num_attributes());
        let tag = tag_leaf();
        let leaves: Vec<[Fr; 2]> = (0..leaf_count)
            .map(|i| {
                let value = record.values().get(i).copied().unwrap_or(MISSING);
                [tag, Fr::from(value)]
            })
            .collect();
        let params = poseidon_config();
        let tree = MerkleTree::new(params, params, leaves)
            .map_err(|e| ZkError::ProvingSystem(format!("merkle tree: {e}")))?;
        Ok(Self {
            num_attributes: record.num_attributes(),
            tree,
        })
    }

    pub(crate) fn root(&self) -> Fr {
        self.tree.root()
    }

    pub(crate) fn commitment(&self, blinding: &Blinding) -> Commitment {
        Commitment(commitment_hash(
            self.num_attributes,
            self.root(),
            blinding.0,
        ))
    }

    /// Authentication path of attribute `index` (< the padded leaf count).
    pub(crate) fn path(&self, index: u32) -> Result<AttributePath> {
        if index as usize >= leaf_count(self.num_attributes) {
            return Err(ZkError::InvalidRecord(format!("no leaf {index}")));
        }
        self.tree
            .generate_proof(index as usize)
            .map_err(|e| ZkError::ProvingSystem(format!("merkle path: {e}")))
    }
}

/// `H(TAG_RECORD, N, root, blinding)`; the circuit recomputes exactly this.
pub(crate) fn commitment_hash(num_attributes: u32, root: Fr, blinding: Fr) -> Fr {
    hash(&[tag_record(), Fr::from(num_attributes), root, blinding])
}

/// Leaves of the tree for `N` attributes: `N` rounded up to a power of two, at least 2.
pub(crate) fn leaf_count(num_attributes: u32) -> usize {
    (num_attributes as usize).next_power_of_two().max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    fn opening(values: Vec<u64>, seed: u64) -> RecordOpening {
        let mut rng = StdRng::seed_from_u64(seed);
        RecordOpening::random(Record::new(values).expect("valid record"), &mut rng)
    }

    #[test]
    fn commitment_binds_every_attribute_and_the_blinding() {
        let base = opening(vec![5, 6, 7], 1);
        let c = base.commit().expect("commit");
        assert_eq!(c, base.commit().expect("commit"));
        assert_ne!(c, opening(vec![5, 6, 8], 1).commit().expect("commit"));
        assert_ne!(c, opening(vec![5, 6, 7], 2).commit().expect("commit"));
        // Padding is bound too: N is hashed, so [5,6,7] and [5,6,7,MISSING] differ.
        assert_ne!(
            c,
            opening(vec![5, 6, 7, MISSING], 1).commit().expect("commit")
        );
    }

    #[test]
    fn commitment_bytes_round_trip_and_reject_bad_lengths() {
        let c = opening(vec![1], 3).commit().expect("commit");
        assert_eq!(Commitment::from_bytes(&c.to_bytes()), Ok(c));
        assert!(Commitment::from_bytes(&c.to_bytes()[..31]).is_err());
        assert!(Commitment::from_bytes(&[0xff; 32]).is_err());
    }

    #[test]
    fn opening_bytes_round_trip_and_reject_tampering() {
        let o = opening(vec![1, 2, 3, 4, 5], 4);
        let bytes = o.to_bytes();
        assert_eq!(RecordOpening::from_bytes(&bytes), Ok(o));
        assert!(RecordOpening::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(RecordOpening::from_bytes(&longer).is_err());
        let mut huge_count = bytes.clone();
        huge_count[7..11].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(RecordOpening::from_bytes(&huge_count).is_err());
    }

    #[test]
    fn paths_verify_natively_and_out_of_range_leaves_are_refused() {
        let record = Record::new(vec![10, 20, 30]).expect("valid");
        let tree = AttributeTree::build(&record).expect("tree");
        let params = poseidon_config();
        let path = tree.path(2).expect("path");
        let leaf = [tag_leaf(), Fr::from(30u64)];
        assert!(
            path.verify(params, params, &tree.root(), leaf.as_slice())
                .expect("verify")
        );
        let wrong = [tag_leaf(), Fr::from(31u64)];
        assert!(
            !path
                .verify(params, params, &tree.root(), wrong.as_slice())
                .expect("verify")
        );
        assert!(tree.path(4).is_err());
    }

    #[test]
    fn empty_and_oversized_records_are_refused() {
        assert!(Record::new(vec![]).is_err());
        assert!(Record::new(vec![0; MAX_ATTRIBUTES as usize + 1]).is_err());
    }
}
