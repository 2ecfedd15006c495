//! The research market's participants (S4-flow, S4-exclusive): the flows a patient and a
//! researcher run against the chain and the study's cloud proxies. The `medchain` CLI and
//! the workspace's tests call these; the chain's rules are the state machine's.
//!
//! - [`patient::studies`]: the open studies a patient's records qualify for, each predicate
//!   evaluated on the patient's own openings (nothing is sent anywhere).
//! - [`patient::enrol`]: an unlinkable enrolment — the accumulator of attested commitments
//!   rebuilt locally and checked against the proven root, a Groth16 proof of membership and
//!   eligibility bound to a one-time sender, `research.enrol` filed by that one-time key,
//!   then the encrypted record and one sealed kfrag per proxy delivered.
//! - [`researcher`]: publish, fund, refund, results, and [`researcher::read`] through
//!   `threshold` verified cfrags, naming any proxy that cheats, then checking the record
//!   against the enrolment's delivery tag; [`researcher::acknowledge`] or
//!   [`researcher::dispute`] the delivery.
//! - [`patient::claim`]: the owed rest of the reward, once acknowledged (or undisputed after
//!   the dispute window); [`regulator::resolve`] settles a dispute.
//! - [`derive`]: every key a participant needs, derived from its chain key.

#![warn(missing_docs)]

mod accumulator;
pub mod derive;
mod error;
pub mod patient;
pub mod proxies;
pub mod regulator;
pub mod researcher;

pub use accumulator::AttestedSet;
pub use error::ResearchError;

/// The 32 bytes of a chain hash (a study or enrolment id), as the zk and Umbral layers take them.
fn bytes32(hash: &medchain_types::Hash32) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(hash.as_ref());
    bytes
}
