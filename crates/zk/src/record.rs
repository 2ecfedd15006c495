//! Record commitments: what a hospital attests and a patient later proves facts about.
//!
//! A record is a vector of `N` encoded attributes (`u64`, `0` = missing; see [`crate::schema`]).
//! Each attribute is a leaf `H(TAG_LEAF, value)` of a Poseidon Merkle tree of depth
//! `max(1, ceil(log2 N))`, padded with missing values; the commitment is
//! `C = H(TAG_RECORD, schema tag, N, root, blinding, nk, h)` with a uniformly random blinding
//! field element, the patient's nullifier key `nk` and `h`, the SHA-256 of the released record
//! bundle (hEMR) reduced into the field. The schema tag (a hash of the schema id, e.g.
//! `clinical_v1`) makes a commitment under one schema useless under another of the same `N`;
//! `nk` ties the commitment to the patient's secret, so only that patient can enrol it; `h` ties
//! it to the exact bytes released, so whoever later receives the bundle can check it is the
//! record the proof was about (see [`crate::delivery_tag`]).
//!
//! This fixes the seed's weakness (S4-flow step 3: the patient hashes and signs data *it* chose):
//! here the *hospital* computes `C` when it releases the record (S1-release) and signs it, and
//! the circuit proves every opened attribute is a leaf under that `C`. A patient can therefore
//! only prove facts about attested data. The blinding makes `C` hiding: the commitment on a
//! ledger reveals nothing about the attributes.

use crate::codec::{FIELD_BYTES, Reader, fr_to_bytes};
use crate::error::{Result, ZkError};
use crate::ids::{Commitment, NullifierKey, record_hash_field};
use crate::poseidon::{AttributeTreeConfig, Fr, hash, poseidon_config, tag_leaf, tag_record};
use crate::schema::{Schema, schema_tag};
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

/// Everything needed to open a commitment: schema id, record, blinding, nullifier key and the
/// released bundle's SHA-256. The hospital hands it to the patient (encrypted) on release; the
/// patient keeps it to enrol later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOpening {
    schema: String,
    record: Record,
    blinding: Blinding,
    nullifier_key: Fr,
    record_hash: [u8; 32],
}

const OPENING_MAGIC: &[u8] = b"MCZKOP\x03";

impl RecordOpening {
    /// Pairs a record of `schema` with a fresh random blinding, the patient's nullifier key (the
    /// one the patient filed on chain) and `record_hash`, the SHA-256 of the released bundle
    /// bytes (hEMR) the attributes were read from.
    pub fn random(
        schema: &Schema,
        record: Record,
        nk: NullifierKey,
        record_hash: [u8; 32],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Self> {
        if record.num_attributes() != schema.num_attributes() {
            return Err(ZkError::SchemaMismatch(format!(
                "record has {} attributes, schema `{}` has {}",
                record.num_attributes(),
                schema.id(),
                schema.num_attributes()
            )));
        }
        Ok(Self {
            schema: schema.id().to_owned(),
            record,
            blinding: Blinding::random(rng),
            nullifier_key: nk.field()?,
            record_hash,
        })
    }

    /// The committed record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Id of the schema the record is encoded with.
    pub fn schema_id(&self) -> &str {
        &self.schema
    }

    /// SHA-256 of the released bundle bytes (hEMR), bound in the commitment.
    pub fn record_hash(&self) -> [u8; 32] {
        self.record_hash
    }

    /// The nullifier key hashed into the commitment.
    pub fn nullifier_key(&self) -> NullifierKey {
        NullifierKey::from_field(self.nullifier_key)
    }

    /// Computes the commitment (builds the whole attribute tree: `O(N)` hashes).
    pub fn commit(&self) -> Result<Commitment> {
        let tree = AttributeTree::build(&self.record)?;
        Ok(Commitment::from_field(self.commitment_of(tree.root())))
    }

    /// The commitment for a given record tree root (the circuit recomputes exactly this).
    pub(crate) fn commitment_of(&self, root: Fr) -> Fr {
        commitment_hash(
            schema_tag(&self.schema),
            self.record.num_attributes(),
            root,
            self.blinding.0,
            self.nullifier_key,
            self.record_hash_field(),
        )
    }

    /// Wire form: magic+version (7 bytes), schema id length (u8) and bytes, `N` (u32), `N`
    /// values (u64 each), blinding (32 bytes), nullifier key (32 bytes), record hash (32 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let values = self.record.values();
        let mut out = Vec::with_capacity(
            OPENING_MAGIC.len() + 1 + self.schema.len() + 4 + 8 * values.len() + 3 * FIELD_BYTES,
        );
        out.extend_from_slice(OPENING_MAGIC);
        // Schema ids are at most 32 bytes (`check_schema_id`).
        out.push(self.schema.len() as u8);
        out.extend_from_slice(self.schema.as_bytes());
        out.extend_from_slice(&self.record.num_attributes().to_le_bytes());
        for value in values {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&fr_to_bytes(&self.blinding.0));
        out.extend_from_slice(&fr_to_bytes(&self.nullifier_key));
        out.extend_from_slice(&self.record_hash);
        out
    }

    /// Decodes [`Self::to_bytes`]; the length must match `N` exactly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new("record opening", bytes);
        reader.expect_magic(OPENING_MAGIC)?;
        let schema = reader.schema_id()?;
        let count = reader.u32()?;
        if count == 0 || count > MAX_ATTRIBUTES {
            return Err(ZkError::malformed(
                "record opening",
                "attribute count out of range",
            ));
        }
        let expected = 8 * count as usize + 3 * FIELD_BYTES;
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
        let nullifier_key = reader.field()?;
        let record_hash = reader.array()?;
        reader.finish()?;
        Ok(Self {
            schema,
            record: Record::new(values)?,
            blinding,
            nullifier_key,
            record_hash,
        })
    }

    pub(crate) fn blinding(&self) -> Fr {
        self.blinding.0
    }

    pub(crate) fn nullifier_key_field(&self) -> Fr {
        self.nullifier_key
    }

    /// `h`, the record hash as the commitment and the delivery tag hash it.
    pub(crate) fn record_hash_field(&self) -> Fr {
        record_hash_field(&self.record_hash)
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

/// `H(TAG_RECORD, schema tag, N, root, blinding, nk, h)`; the circuit recomputes exactly this.
pub(crate) fn commitment_hash(
    schema_tag: Fr,
    num_attributes: u32,
    root: Fr,
    blinding: Fr,
    nullifier_key: Fr,
    record_hash: Fr,
) -> Fr {
    hash(&[
        tag_record(),
        schema_tag,
        Fr::from(num_attributes),
        root,
        blinding,
        nullifier_key,
        record_hash,
    ])
}

/// Leaves of the tree for `N` attributes: `N` rounded up to a power of two, at least 2.
pub(crate) fn leaf_count(num_attributes: u32) -> usize {
    (num_attributes as usize).next_power_of_two().max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_std::rand::{SeedableRng, rngs::StdRng};

    fn schema(n: usize) -> Schema {
        let attributes = (0..n)
            .map(|i| {
                let name = format!("a{i}");
                crate::Attribute::new(&name, crate::Encoding::Integer, crate::FhirSource::None)
            })
            .collect();
        Schema::new("test_v1", attributes).expect("schema")
    }

    fn opening(values: Vec<u64>, seed: u64) -> RecordOpening {
        let mut rng = StdRng::seed_from_u64(seed);
        let nk = crate::PatientSecret::from_seed(&[3; 32]).nullifier_key();
        let schema = schema(values.len());
        RecordOpening::random(
            &schema,
            Record::new(values).expect("valid record"),
            nk,
            [9; 32],
            &mut rng,
        )
        .expect("opening")
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
        let mut other_patient = base.clone();
        other_patient.nullifier_key += Fr::from(1u64);
        assert_ne!(c, other_patient.commit().expect("commit"));
        let mut other_schema = base.clone();
        other_schema.schema = "test_v2".into();
        assert_ne!(c, other_schema.commit().expect("commit"));
        // Same attributes, another released bundle: another commitment (verifiable delivery).
        let mut other_bundle = base.clone();
        other_bundle.record_hash[0] ^= 1;
        assert_ne!(c, other_bundle.commit().expect("commit"));
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
        assert_eq!(RecordOpening::from_bytes(&bytes).as_ref(), Ok(&o));
        assert_eq!(bytes[bytes.len() - 32..], o.record_hash());
        assert!(RecordOpening::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(RecordOpening::from_bytes(&longer).is_err());
        let count_at = 7 + 1 + o.schema_id().len();
        let mut huge_count = bytes.clone();
        huge_count[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(RecordOpening::from_bytes(&huge_count).is_err());
        let mut bad_schema = bytes.clone();
        bad_schema[8] = b'T';
        assert!(RecordOpening::from_bytes(&bad_schema).is_err());
        let schema = schema(4);
        let nk = o.nullifier_key();
        let record = Record::new(vec![1, 2, 3, 4, 5]).expect("record");
        let mut rng = StdRng::seed_from_u64(1);
        assert!(matches!(
            RecordOpening::random(&schema, record, nk, [9; 32], &mut rng),
            Err(ZkError::SchemaMismatch(_))
        ));
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
