//! Equivocation evidence (S1-dpos: a double-signing validator is slashed).
//!
//! Simplex reports three faults to its reporter: two notarize votes for different proposals in
//! one round, two finalize votes for different proposals in one round, and a nullify and a
//! finalize in the same round. [`Equivocation`] wraps simplex's own types for these, for
//! [`ConsensusScheme`] over block digests, so the bytes a validator observed travel unchanged
//! inside a `stake.report` transaction. Their decoders already refuse a pair that does not
//! conflict (different signers, different rounds, or the same proposal), so a decoded
//! [`Equivocation`] is always a conflicting pair; only its signatures remain to check, which
//! needs the epoch's validator set — the state machine knows it, this crate does not.

use crate::{ConsensusScheme, Hash32, PublicKey};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_consensus::{
    Epochable,
    simplex::types::{
        Activity, Attributable, ConflictingFinalize, ConflictingNotarize, NullifyFinalize,
    },
};
use commonware_parallel::Sequential;
use commonware_utils::{TestRng, ordered::Quorum as _, ordered::Set};

/// Proof that one validator signed two conflicting consensus votes in one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Equivocation {
    /// Two notarize votes for different proposals.
    Notarize(ConflictingNotarize<ConsensusScheme, Hash32>),
    /// Two finalize votes for different proposals.
    Finalize(ConflictingFinalize<ConsensusScheme, Hash32>),
    /// A nullify and a finalize vote.
    NullifyFinalize(NullifyFinalize<ConsensusScheme, Hash32>),
}

/// Why evidence does not convict anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The signer index is outside the epoch's validator set.
    #[error("the evidence names signer #{0}, who is not in the epoch's validator set")]
    UnknownSigner(u32),
    /// One of the two votes does not verify under the signer's key and the chain's consensus
    /// namespace.
    #[error("a vote in the evidence does not verify")]
    BadSignature,
}

impl Equivocation {
    /// The fault among simplex's reported activity, if it is one.
    pub fn from_activity(activity: Activity<ConsensusScheme, Hash32>) -> Option<Self> {
        match activity {
            Activity::ConflictingNotarize(pair) => Some(Self::Notarize(pair)),
            Activity::ConflictingFinalize(pair) => Some(Self::Finalize(pair)),
            Activity::NullifyFinalize(pair) => Some(Self::NullifyFinalize(pair)),
            _ => None,
        }
    }

    /// The epoch whose validator set the votes were cast in.
    pub fn epoch(&self) -> u64 {
        match self {
            Self::Notarize(pair) => pair.epoch(),
            Self::Finalize(pair) => pair.epoch(),
            Self::NullifyFinalize(pair) => pair.epoch(),
        }
        .get()
    }

    /// The signer's index in the epoch's (sorted) validator set.
    pub fn signer_index(&self) -> u32 {
        match self {
            Self::Notarize(pair) => pair.signer(),
            Self::Finalize(pair) => pair.signer(),
            Self::NullifyFinalize(pair) => pair.signer(),
        }
        .get()
    }

    /// Checks both votes against `participants` (the validator set of [`Self::epoch`]) under
    /// `namespace` (the chain's consensus namespace) and returns the key that signed both.
    ///
    /// Deterministic: ed25519 attestations are verified one by one, which draws nothing from
    /// the random generator the interface asks for, so a fixed-seed one is passed and every
    /// node reaches the same verdict.
    pub fn offender(
        &self,
        namespace: &[u8],
        participants: Set<PublicKey>,
    ) -> Result<PublicKey, EvidenceError> {
        let index = self.signer_index();
        let offender = participants
            .key(commonware_utils::Participant::new(index))
            .cloned()
            .ok_or(EvidenceError::UnknownSigner(index))?;
        let scheme = ConsensusScheme::verifier(namespace, participants);
        let mut rng = TestRng::new(0);
        let verified = match self {
            Self::Notarize(pair) => pair.verify(&mut rng, &scheme, &Sequential),
            Self::Finalize(pair) => pair.verify(&mut rng, &scheme, &Sequential),
            Self::NullifyFinalize(pair) => pair.verify(&mut rng, &scheme, &Sequential),
        };
        if verified {
            Ok(offender)
        } else {
            Err(EvidenceError::BadSignature)
        }
    }
}

impl Write for Equivocation {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Self::Notarize(pair) => {
                0u8.write(buf);
                pair.write(buf);
            }
            Self::Finalize(pair) => {
                1u8.write(buf);
                pair.write(buf);
            }
            Self::NullifyFinalize(pair) => {
                2u8.write(buf);
                pair.write(buf);
            }
        }
    }
}

impl EncodeSize for Equivocation {
    fn encode_size(&self) -> usize {
        1 + match self {
            Self::Notarize(pair) => pair.encode_size(),
            Self::Finalize(pair) => pair.encode_size(),
            Self::NullifyFinalize(pair) => pair.encode_size(),
        }
    }
}

impl Read for Equivocation {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        match u8::read(buf)? {
            0 => Ok(Self::Notarize(ConflictingNotarize::read(buf)?)),
            1 => Ok(Self::Finalize(ConflictingFinalize::read(buf)?)),
            2 => Ok(Self::NullifyFinalize(NullifyFinalize::read(buf)?)),
            other => Err(CodecError::InvalidEnum(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::key;
    use commonware_codec::{DecodeExt, Encode};
    use commonware_consensus::{
        simplex::types::{Finalize, Notarize, Nullify, Proposal},
        types::{Epoch, Round, View},
    };
    use commonware_cryptography::{Hasher, Sha256, Signer as _};

    const NAMESPACE: &[u8] = b"_MEDCHAIN_CONSENSUS_V1-test";

    fn participants() -> Set<PublicKey> {
        Set::from_iter_dedup((1..=4).map(|seed| key(seed).public_key()))
    }

    fn signer(seed: u64) -> ConsensusScheme {
        ConsensusScheme::signer(NAMESPACE, participants(), key(seed)).expect("a participant")
    }

    fn proposal(epoch: u64, payload: &[u8]) -> Proposal<Hash32> {
        Proposal::new(
            Round::new(Epoch::new(epoch), View::new(7)),
            View::new(6),
            Sha256::hash(&[payload]),
        )
    }

    fn double_notarize(seed: u64) -> Equivocation {
        let scheme = signer(seed);
        Equivocation::Notarize(ConflictingNotarize::new(
            Notarize::sign(&scheme, proposal(3, b"a")).unwrap(),
            Notarize::sign(&scheme, proposal(3, b"b")).unwrap(),
        ))
    }

    fn every_kind(seed: u64) -> Vec<Equivocation> {
        let scheme = signer(seed);
        vec![
            double_notarize(seed),
            Equivocation::Finalize(ConflictingFinalize::new(
                Finalize::sign(&scheme, proposal(3, b"a")).unwrap(),
                Finalize::sign(&scheme, proposal(3, b"b")).unwrap(),
            )),
            Equivocation::NullifyFinalize(NullifyFinalize::new(
                Nullify::sign::<Hash32>(&scheme, proposal(3, b"a").round).unwrap(),
                Finalize::sign(&scheme, proposal(3, b"a")).unwrap(),
            )),
        ]
    }

    #[test]
    fn real_conflicting_votes_convict_their_signer() {
        let offender = key(2).public_key();
        for evidence in every_kind(2) {
            assert_eq!(evidence.epoch(), 3);
            assert_eq!(
                evidence.offender(NAMESPACE, participants()).unwrap(),
                offender
            );
            let decoded = Equivocation::decode(evidence.encode()).unwrap();
            assert_eq!(decoded, evidence);
            assert_eq!(decoded.encode(), evidence.encode());
        }
    }

    #[test]
    fn evidence_under_another_namespace_or_set_does_not_convict() {
        let evidence = double_notarize(2);
        assert_eq!(
            evidence.offender(b"another chain", participants()),
            Err(EvidenceError::BadSignature)
        );
        // The same index in another set names someone else, whose key did not sign.
        let other_set = Set::from_iter_dedup((5..=8).map(|seed| key(seed).public_key()));
        assert_eq!(
            evidence.offender(NAMESPACE, other_set),
            Err(EvidenceError::BadSignature)
        );
        // A set too small to contain the signer index.
        let small = Set::from_iter_dedup([key(1).public_key()]);
        let index = evidence.signer_index();
        assert!(index > 0, "key(2) is not first in the sorted set");
        assert_eq!(
            evidence.offender(NAMESPACE, small),
            Err(EvidenceError::UnknownSigner(index))
        );
    }

    #[test]
    fn a_forged_vote_does_not_convict() {
        // Votes from signer 3's scheme, relabelled as signer 2's: the pair decodes, but the
        // signatures are not signer 2's.
        let honest = signer(2);
        let forger = signer(3);
        let mut bytes = double_notarize(3).encode().to_vec();
        let own_index = |scheme: &ConsensusScheme| {
            Notarize::sign(scheme, proposal(3, b"a"))
                .unwrap()
                .attestation
                .signer
                .get()
        };
        let (from, to) = (own_index(&forger), own_index(&honest));
        // The notarize encoding is proposal then (signer u32 varint, signature); swap the
        // signer index of both votes.
        let proposal_len = proposal(3, b"a").encode_size();
        for vote in 0..2 {
            let at = 1 + vote * (proposal_len + 1 + 64) + proposal_len;
            assert_eq!(u32::from(bytes[at]), from);
            bytes[at] = u8::try_from(to).unwrap();
        }
        let forged = Equivocation::decode(bytes).unwrap();
        assert_eq!(forged.signer_index(), to);
        assert_eq!(
            forged.offender(NAMESPACE, participants()),
            Err(EvidenceError::BadSignature)
        );
    }

    #[test]
    fn a_non_conflicting_pair_or_unknown_tag_is_refused_when_decoding() {
        let scheme = signer(1);
        let vote = Notarize::sign(&scheme, proposal(3, b"a")).unwrap();
        let mut same_twice = vec![0u8];
        vote.write(&mut same_twice);
        vote.write(&mut same_twice);
        assert!(Equivocation::decode(same_twice).is_err());
        assert!(matches!(
            Equivocation::decode(vec![3u8]),
            Err(CodecError::InvalidEnum(3))
        ));
    }
}
