//! medchain's client SDK, used by the `medchain` CLI, the workspace's end-to-end tests and,
//! later, the hospital gateway.
//!
//! - [`NodeClient`]: a blocking HTTP client for one node's API, one method per endpoint, every
//!   answer parsed into the `medchain-api` views; a node's JSON error comes back as
//!   [`ClientError::Api`] with its code, message and hint.
//! - [`keys`]: key files (`medchain keygen`), written owner-only.
//! - [`build`]: a builder for every transaction payload, including the embedded signatures
//!   (a doctor's record attestation, S1-release; a member's join endorsement, S2-register;
//!   a co-owner's cosignature of a transfer, S1-utxo).
//! - [`wallet`]: which unspent outputs pay an amount, largest first, with change (S1-utxo).
//! - [`LightClient`]: verifies what a node says against the genesis validator set instead of
//!   trusting the node: patients verify, they do not trust a node (docs/architecture.md
//!   § Light-client trust model).
//! - [`ListQuery`] and [`Client::list`]: a patient's records and consents, an organisation's
//!   members and the organisations, every entry verified at one finalized height; and
//!   [`Client::resolve_id`], which turns the first hex digits of an id into the full id.
//! - [`Client`] and [`Signer`]: reads that are verified before they are returned, and the
//!   sign → submit → wait-for-finality flow with a verified nonce and a verified inclusion.
//! - [`enrol::enrol_identity`]: bind an identity on chain, then obtain its identity-based keys
//!   from t validators (threshold PKG), naming any validator that answers wrongly.
//! - [`med`]: the MED chain's routes ([`med::MedApi`]) and a patient's light MED node
//!   ([`med::LightMed`]): headers with their proof of work, SUP checkpoints, record inclusion.
//! - [`SavedAnswer`]: a node's whole answer saved as a file that verifies again offline;
//!   [`Client::newest_certified`] and [`Lag`]: how stale an answer is.
//!
//! This crate holds no chain rules (the state machine decides what a transaction does) and
//! runs no node.

#![warn(missing_docs)]

pub mod build;
mod client;
pub mod enrol;
mod error;
mod http;
pub mod keys;
mod light;
mod list;
pub mod med;
mod query;
mod reward;
mod saved;
mod signer;
mod tip;
pub mod wallet;

pub use client::{Client, Confirmed, TxEvidence, TxOutcome, WaitPolicy};
pub use error::{ClientError, VerifyError};
pub use http::{NodeClient, http_endpoint};
pub use light::{
    ConsensusScheme, Finality, FinalizedHeader, LightClient, Verified, VerifiedBlock,
    genesis_header,
};
pub use list::{HistoryQuery, ListError, ListQuery, Listed, VerifiedList};
pub use query::{StateQuery, purpose_name};
pub use saved::{Answer, Checked, LoggedAnswer, Proven, Question, SAVED_FORMAT, SavedAnswer};
pub use signer::{Sent, Signer, TX_LIFETIME};
pub use tip::Lag;

/// Re-exported so callers name the same view types this crate parses.
pub use medchain_api as api;
