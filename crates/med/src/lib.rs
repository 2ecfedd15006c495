//! The MED chain (S3-dual): the proof-of-work chain that carries record releases (tx_mr) in
//! Mblocks with one aggregated signature each, checkpointed by the consortium chain
//! (S3-supervise). See the README for what this crate owns and what it must not touch.

pub mod aggregate;
pub mod chain;
mod error;
pub mod inclusion;
pub mod pow;
pub mod store;

pub use chain::{Inserted, MedChain};
pub use error::MedError;
pub use store::MedStore;
