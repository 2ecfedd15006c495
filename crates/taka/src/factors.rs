//! Encryption factors (S3-release): per-record scalars s_α^j that patient and hospital derive
//! identically from the initial factors s_α, s_β of their agreement (S3-agree).
//!
//! The seed builds, for n records, a forward chain s_β^i = H5(s_β^(i−1)) and an α-chain fed with
//! it in reverse, s_α^i = H5(s_α^(i−1) ⊕ s_β^(n−i+1)). Every factor depends on n, so a record
//! added later would change all earlier factors (and the authorizations built on them).
//!
//! **Segments.** We run the seed's construction on fixed-length segments of
//! [`SEGMENT_LEN`] records. Record j (1-based) lies in segment k = ⌊(j−1)/m⌋ at position
//! i = (j−1) mod m + 1, and
//!
//! ```text
//! s_α^{k,0} = H4(s_α, k)     s_β^{k,0} = H4(s_β, k)
//! s_β^{k,i} = H5(s_β^{k,i−1})                        i = 1..m
//! s_α^{k,i} = H5(s_α^{k,i−1}, s_β^{k,m−i+1})         i = 1..m
//! factor(j) = s_α^{k,i}
//! ```
//!
//! A factor depends only on (s_α, s_β, j), never on how many records exist, so records added
//! later never change earlier factors; with one segment and m = n it is the seed's chain.
//! Secrecy: H4 and H5 are one-way, so one leaked factor reveals neither earlier factors (α-chain
//! preimages) nor later ones (they need β-links earlier in the β-chain than any the leaked
//! factor was computed from); a leaked segment reveals nothing about other segments. As in the
//! seed, whoever holds s_α and s_β (patient and hospital) can compute every factor — they must,
//! to serve old records — so those two points are the long-term secret to protect.

use blstrs::Scalar;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::codec::{Reader, Writer, decode};
use crate::error::Result;
use crate::hash;
use crate::identity::RecordIndex;
use crate::secret::Secret;

/// Records per segment (m). Part of the protocol: patient and hospital must agree on it.
pub const SEGMENT_LEN: u64 = 64;

/// The initial factors s_α, s_β of a patient–hospital pair (S3-agree): hashes of the enrolment
/// transcript, which holds the identity-based K and the DH values c1·a2·P, c2·a1·P (the seed's
/// s_α, s_β), so a party without the patient's or the hospital's identity key cannot compute
/// them even if it chose the ephemerals.
#[derive(Clone, Debug)]
pub struct InitialFactors {
    s_alpha: Secret<Scalar>,
    s_beta: Secret<Scalar>,
}

/// The encryption factor s_α^j of one record (S3-release).
#[derive(Clone, Debug)]
pub struct EncryptionFactor(Secret<Scalar>);

impl EncryptionFactor {
    pub(crate) fn scalar(&self) -> &Scalar {
        self.0.expose()
    }

    /// The AES-256-GCM key that encrypts record j's blob (S3-release): HKDF-SHA256 over the
    /// factor's canonical 32 bytes, info `medchain record key v1`.
    ///
    /// One key per record, because a factor differs for every j: a record key handed to a
    /// doctor (S3-share, inside the TAKA response) or opened in an emergency unlocks that record
    /// and no other, and a nonce is never reused across records under one key. HKDF rather than
    /// the scalar itself, because the key leaves the patient–hospital pair while the factor must
    /// not: HKDF is one-way, so a holder of the key learns nothing about s_α^j — which would let
    /// it forge the record-binding tag τ_j or walk the factor chain — and the info label keeps
    /// this key apart from every other use of the same factor.
    pub fn record_key(&self) -> Zeroizing<[u8; 32]> {
        let bytes = Zeroizing::new(self.scalar().to_bytes_be());
        hash::record_key(&bytes[..])
    }

    /// The emergency gate of the record this factor belongs to (S3-entry, S3-emergency): a
    /// 32-byte secret the patient puts inside its biometric-sealed EMR entry
    /// ([`crate::EmrEntry::with_gate`]) and the holding hospital derives from the same factor.
    /// An emergency doctor proves it opened the entry — i.e. had the patient's template — by
    /// a MAC under the gate ([`crate::emergency_gate_proof`]); without it the record's
    /// hospital and index, which are not secret, would be enough to break the glass. HKDF
    /// under its own label, so the gate reveals neither the factor nor the record key.
    pub fn emergency_gate(&self) -> Zeroizing<[u8; 32]> {
        let bytes = Zeroizing::new(self.scalar().to_bytes_be());
        hash::emergency_gate(&bytes[..])
    }
}

/// Constant-time comparison, so patient and hospital can confirm they agree on a factor.
impl PartialEq for EncryptionFactor {
    fn eq(&self, other: &Self) -> bool {
        self.scalar().ct_eq(other.scalar()).into()
    }
}

impl Eq for EncryptionFactor {}

impl InitialFactors {
    pub(crate) fn new(s_alpha: Scalar, s_beta: Scalar) -> Self {
        Self {
            s_alpha: Secret::new(s_alpha),
            s_beta: Secret::new(s_beta),
        }
    }

    /// s_α^j for record j, identical on patient and hospital (S3-release, segmented).
    pub fn factor(&self, j: RecordIndex) -> EncryptionFactor {
        let index = j.get() - 1;
        let (segment, position) = (index / SEGMENT_LEN, index % SEGMENT_LEN + 1);
        let beta = self.beta_chain(segment);
        let mut alpha = Secret::new(hash::h4(self.s_alpha.expose(), segment));
        for i in 1..=position {
            let beta_link = &beta[(SEGMENT_LEN - i + 1) as usize];
            alpha = Secret::new(hash::h5(&[alpha.expose(), beta_link.expose()]));
        }
        EncryptionFactor(alpha)
    }

    /// s_β^{k,0..=m} of one segment.
    fn beta_chain(&self, segment: u64) -> Vec<Secret<Scalar>> {
        let mut chain = Vec::with_capacity(SEGMENT_LEN as usize + 1);
        chain.push(Secret::new(hash::h4(self.s_beta.expose(), segment)));
        for i in 1..=SEGMENT_LEN as usize {
            let next = hash::h5(&[chain[i - 1].expose()]);
            chain.push(Secret::new(next));
        }
        chain
    }

    pub(crate) fn write(&self, w: &mut Writer) {
        w.scalar(self.s_alpha.expose()).scalar(self.s_beta.expose());
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self::new(r.scalar("s_alpha")?, r.scalar("s_beta")?))
    }

    /// Encoding for sealed storage (64 bytes).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_secret_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, Self::read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors(a: u64, b: u64) -> InitialFactors {
        InitialFactors::new(Scalar::from(a), Scalar::from(b))
    }

    fn j(n: u64) -> RecordIndex {
        RecordIndex::new(n).unwrap()
    }

    /// The seed's formula for one segment of length m, written out directly.
    fn seed_chain(f: &InitialFactors, m: u64) -> Vec<Scalar> {
        let mut beta = vec![hash::h4(f.s_beta.expose(), 0)];
        for i in 1..=m as usize {
            beta.push(hash::h5(&[&beta[i - 1]]));
        }
        let mut alpha = vec![hash::h4(f.s_alpha.expose(), 0)];
        for i in 1..=m as usize {
            alpha.push(hash::h5(&[&alpha[i - 1], &beta[m as usize - i + 1]]));
        }
        alpha
    }

    #[test]
    fn first_segment_is_the_seeds_reverse_chain() {
        let f = factors(11, 13);
        let expected = seed_chain(&f, SEGMENT_LEN);
        for n in [1, 2, 33, SEGMENT_LEN] {
            assert_eq!(*f.factor(j(n)).scalar(), expected[n as usize]);
        }
    }

    #[test]
    fn factors_are_distinct_across_records_and_segments() {
        let f = factors(3, 5);
        let all: Vec<Scalar> = (1..=2 * SEGMENT_LEN + 1)
            .map(|n| *f.factor(j(n)).scalar())
            .collect();
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), all.len());
    }

    #[test]
    fn different_initial_factors_give_different_chains() {
        assert_ne!(
            factors(3, 5).factor(j(1)).scalar(),
            factors(3, 6).factor(j(1)).scalar()
        );
        assert_ne!(
            factors(3, 5).factor(j(1)).scalar(),
            factors(4, 5).factor(j(1)).scalar()
        );
    }

    #[test]
    fn record_keys_differ_per_record_and_match_on_both_sides() {
        let f = factors(7, 9);
        let same = InitialFactors::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(f.factor(j(5)).record_key(), same.factor(j(5)).record_key());
        assert_ne!(f.factor(j(5)).record_key(), f.factor(j(6)).record_key());
        assert_ne!(
            f.factor(j(5)).record_key(),
            factors(7, 10).factor(j(5)).record_key()
        );
    }

    #[test]
    fn record_key_is_hkdf_of_the_factor_not_the_factor_itself() {
        let factor = factors(7, 9).factor(j(1));
        let scalar = factor.scalar().to_bytes_be();
        let key = factor.record_key();
        assert_ne!(*key, scalar);
        // Known-answer: HKDF-SHA256(salt none, ikm = scalar bytes, info = the v1 label).
        let mut expected = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(None, &scalar)
            .expand(b"medchain record key v1", &mut expected)
            .unwrap();
        assert_eq!(*key, expected);
    }

    #[test]
    fn emergency_gates_differ_per_record_and_from_the_record_key() {
        let f = factors(7, 9);
        assert_eq!(
            f.factor(j(2)).emergency_gate(),
            f.factor(j(2)).emergency_gate()
        );
        assert_ne!(
            f.factor(j(2)).emergency_gate(),
            f.factor(j(3)).emergency_gate()
        );
        assert_ne!(
            *f.factor(j(2)).emergency_gate(),
            *f.factor(j(2)).record_key()
        );
    }

    #[test]
    fn storage_round_trip_keeps_factors() {
        let f = factors(7, 9);
        let back = InitialFactors::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(back.factor(j(70)).scalar(), f.factor(j(70)).scalar());
    }
}
