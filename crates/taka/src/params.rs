//! Public system parameters (S3-setup).

use blstrs::G1Affine;

use crate::codec::{Reader, Writer, decode};
use crate::error::Result;

/// The published master public key P_pub = s·P ∈ G1 (S3-setup).
///
/// With a threshold PKG, P_pub is the constant term of the validators' public polynomial
/// ([`crate::PublicPolynomial::params`]); nobody holds s. The asymmetric adaptation does not
/// need s·P̂ in G2: identity keys are checked against P_pub alone (see
/// [`crate::PendingRegistration::complete`]). Groups, generators, q, e and g = e(P, P̂) are
/// fixed by BLS12-381; the hash functions by their domain-separation tags in
/// [`crate::hash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicParams {
    p_pub: G1Affine,
}

impl PublicParams {
    /// Encoded length: one compressed G1 point.
    pub const ENCODED_LEN: usize = 48;

    pub(crate) fn new(p_pub: G1Affine) -> Self {
        Self { p_pub }
    }

    /// P_pub = s·P ∈ G1.
    pub fn p_pub(&self) -> &G1Affine {
        &self.p_pub
    }

    /// Canonical encoding (48 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.g1(&self.p_pub);
        w.into_bytes()
    }

    /// Strict decoding: a subgroup-checked, non-identity compressed G1 point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        decode(bytes, |r: &mut Reader<'_>| Ok(Self::new(r.g1("P_pub")?)))
    }
}
