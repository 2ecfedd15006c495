//! Public system parameters (S3-setup).

use blstrs::{G1Affine, G2Affine};

use crate::codec::{Reader, Writer, decode};
use crate::curve;
use crate::error::{Error, Result};

/// The PKG's published parameters: P_pub = s·P ∈ G1 and P̂_pub = s·P̂ ∈ G2 (S3-setup).
///
/// The seed publishes only P_pub = sP in its single group; the asymmetric adaptation needs the
/// master key in both groups (G1 for signatures and key binding, G2 to check identity keys in
/// G1 and vice versa). Groups, generators, q, e and g = e(P, P̂) are fixed by BLS12-381; the hash
/// functions are fixed by their domain-separation tags in [`crate::hash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicParams {
    p_pub: G1Affine,
    p_pub_hat: G2Affine,
}

impl PublicParams {
    /// Encoded length: a compressed G1 point then a compressed G2 point.
    pub const ENCODED_LEN: usize = 48 + 96;

    pub(crate) fn new(p_pub: G1Affine, p_pub_hat: G2Affine) -> Self {
        Self { p_pub, p_pub_hat }
    }

    /// P_pub = s·P ∈ G1.
    pub fn p_pub(&self) -> &G1Affine {
        &self.p_pub
    }

    /// P̂_pub = s·P̂ ∈ G2.
    pub fn p_pub_hat(&self) -> &G2Affine {
        &self.p_pub_hat
    }

    /// Canonical encoding (144 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.g1(&self.p_pub).g2(&self.p_pub_hat);
        w.into_bytes()
    }

    /// Decodes and verifies e(P_pub, P̂) = e(P, P̂_pub), i.e. both halves hold the same master
    /// key s; otherwise a malicious genesis could make identity-key checks and signature
    /// checks disagree about s.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let params = decode(bytes, |r: &mut Reader<'_>| {
            Ok(Self::new(r.g1("P_pub")?, r.g2("P_pub_hat")?))
        })?;
        let consistent = curve::pairings_equal(
            (&params.p_pub, &curve::p_hat()),
            (&curve::p(), &params.p_pub_hat),
        );
        if !consistent {
            return Err(Error::InconsistentParams);
        }
        Ok(params)
    }
}
