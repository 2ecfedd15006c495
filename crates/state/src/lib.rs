//! medchain's state machine: pure and deterministic (no clock, randomness, files or threads).
//!
//! It owns the rules of the consortium chain's modules — [`registry`] (S2-register,
//! S2-state), [`records`] (S1-release, S1-storage, S3-entry), [`consent`] and [`access`]
//! (S1-rights, S1-sharing, S3-share), [`identity`] (S3-register, S4-ca, vouching keys),
//! [`licence`] (S3-register), [`revocation`] (S3-revoke), [`emergency`] (S3-emergency),
//! [`pkg`] (the threshold PKG's key generation, S3-setup), [`token`] (fees, rewards, the
//! UTXO set and escrow: S1-tokens, S1-utxo), [`staking`] (delegated proof of stake,
//! S1-dpos) and [`research`] (study contracts with on-chain zero-knowledge enrolment, S4-flow,
//! S4-exclusive), [`med`] (the MED chain's checkpoints on SUP, S3-supervise) — and the
//! authenticated state they
//! write: a Jellyfish Merkle tree whose root is
//! in every header (docs/architecture.md § Authenticated state), with inclusion and exclusion
//! [`proof`]s.
//!
//! A node executes a block with a [`BlockExecutor`] over a reader that implements
//! [`StateRead`] and `jmt`'s [`TreeReader`]: a committed store (`medchain-storage`), or an
//! [`Overlay`] of not-yet-final blocks on top of it. [`BlockExecutor::finish`] returns an
//! [`ExecutedBlock`] (writes, tree delta, root, events) for the store to commit.
//!
//! Transactions arrive as [`medchain_types::VerifiedTransaction`]s, so every signature they
//! carry is already checked; this crate checks everything else.

#![warn(missing_docs)]

pub mod access;
pub mod consent;
mod context;
pub mod emergency;
mod error;
mod executor;
pub mod identity;
pub mod keys;
pub mod licence;
pub mod med;
mod memory;
pub mod pkg;
pub mod proof;
mod read;
pub mod records;
pub mod registry;
pub mod research;
pub mod revocation;
mod serde_hex;
pub mod staking;
pub mod token;
mod tree;
pub mod values;

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use error::{ExecError, ProofError, StateError};
pub use executor::{BlockEnv, BlockExecutor, ExecutedBlock, genesis, genesis_block};
pub use jmt::storage::TreeReader;
pub use memory::MemoryStore;
pub use proof::{ProvenValue, StateProof, verify_proof};
pub use read::{Overlay, StateRead, StateReadExt};
pub use tree::{TreeHasher, key_hash, prove, root_at};
pub use values::StateValue;

/// `jmt` types a store implementing [`TreeReader`] works with, re-exported so it needs no
/// direct dependency on the same `jmt` version.
pub mod jmt_types {
    pub use jmt::{
        KeyHash, OwnedValue, Version,
        storage::{LeafNode, Node, NodeBatch, NodeKey, StaleNodeIndex, TreeUpdateBatch},
    };
}
