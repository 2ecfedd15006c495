//! The accumulator of hospital-attested commitments, rebuilt on the patient's machine.
//!
//! A patient proves its commitment is *one of* the attested ones without saying which
//! (S4-flow, unlinkable enrolment), so it must not ask a node for its membership path: the
//! question alone would name its leaf. It fetches every leaf from the proven list instead,
//! rebuilds the tree, and accepts the leaves only if the rebuilt root is the root the chain
//! proves for `cfg/accumulator` — a node that drops, adds or reorders a leaf is caught.

use crate::ResearchError;
use medchain_client::{Client, HistoryQuery, StateQuery};
use zk::{Accumulator, AccumulatorRoot, Commitment, MembershipPath};

/// The attested commitments up to the accumulator's proven root, checked against it.
#[derive(Clone, Debug)]
pub struct AttestedSet {
    leaves: Vec<Commitment>,
    root: AccumulatorRoot,
}

impl AttestedSet {
    /// Fetches the proven accumulator and every leaf it holds, and checks that the leaves
    /// rebuild its root.
    pub fn fetch(client: &Client) -> Result<Self, ResearchError> {
        let proven = client
            .read(&StateQuery::accumulator())?
            .value
            .ok_or(ResearchError::NoAttestations)?;
        let accumulator = Accumulator::from_bytes(&proven.accumulator.0)?;
        let wanted = accumulator.len();
        let query = HistoryQuery::attested_commitments();
        let mut leaves = Vec::new();
        while (leaves.len() as u64) < wanted {
            let page = client.history(
                &query,
                leaves.len() as u64,
                medchain_client::api::MAX_LIST_PAGE,
            )?;
            if page.entries.is_empty() {
                // The list was proven shorter than the accumulator it feeds: an older height.
                return Err(ResearchError::LeavesMissing {
                    listed: leaves.len() as u64,
                    accumulated: wanted,
                });
            }
            leaves.extend(
                page.entries
                    .into_iter()
                    .map(|entry| Commitment(entry.id.into())),
            );
        }
        leaves.truncate(wanted as usize);
        Self::checked(leaves, accumulator.root())
    }

    /// `leaves` if they rebuild `root`, else [`ResearchError::AccumulatorMismatch`].
    pub fn checked(leaves: Vec<Commitment>, root: AccumulatorRoot) -> Result<Self, ResearchError> {
        let mut rebuilt = Accumulator::new();
        for leaf in &leaves {
            rebuilt.append(leaf)?;
        }
        if rebuilt.root() != root {
            return Err(ResearchError::AccumulatorMismatch {
                rebuilt: rebuilt.root(),
                proven: root,
            });
        }
        Ok(Self { leaves, root })
    }

    /// The root every leaf was checked against.
    pub fn root(&self) -> &AccumulatorRoot {
        &self.root
    }

    /// How many commitments are attested.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The membership path of `commitment`, built locally; [`ResearchError::NotAttested`] if
    /// no hospital attested it.
    pub fn path_of(&self, commitment: &Commitment) -> Result<MembershipPath, ResearchError> {
        let index = self
            .leaves
            .iter()
            .position(|leaf| leaf == commitment)
            .ok_or(ResearchError::NotAttested)?;
        Ok(zk::membership_path(&self.leaves, index as u64)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(byte: u8) -> Commitment {
        Commitment([byte; 32])
    }

    fn root_of(leaves: &[Commitment]) -> AccumulatorRoot {
        let mut accumulator = Accumulator::new();
        for leaf in leaves {
            accumulator.append(leaf).unwrap();
        }
        accumulator.root()
    }

    #[test]
    fn leaves_that_rebuild_the_proven_root_give_paths_to_it() {
        let leaves = vec![leaf(1), leaf(2), leaf(3)];
        let root = root_of(&leaves);
        let set = AttestedSet::checked(leaves, root).unwrap();
        let path = set.path_of(&leaf(2)).unwrap();
        assert_eq!(path.root(&leaf(2)), root);
        assert!(matches!(
            set.path_of(&leaf(9)),
            Err(ResearchError::NotAttested)
        ));
    }

    #[test]
    fn a_dropped_added_or_reordered_leaf_is_refused() {
        let honest = vec![leaf(1), leaf(2), leaf(3)];
        let root = root_of(&honest);
        for served in [
            vec![leaf(1), leaf(3)],
            vec![leaf(1), leaf(2), leaf(3), leaf(4)],
            vec![leaf(2), leaf(1), leaf(3)],
        ] {
            assert!(matches!(
                AttestedSet::checked(served, root),
                Err(ResearchError::AccumulatorMismatch { .. })
            ));
        }
    }
}
