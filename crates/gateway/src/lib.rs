//! medchain's hospital gateway: the service each hospital runs beside its validator, a client
//! of the node's API (never inside the consensus process).
//!
//! - [`blobs`]: encrypted records ([`blobs::SealedRecord`]) in a content-addressed blob store,
//!   on the local filesystem (fsync) or any S3 compatible store (S1-storage).
//! - [`ledger`]: the [`ledger::RecordLedger`] boundary where releases and storage pointers are
//!   filed and proven (S1-release, S1-storage); [`ledger::ConsortiumLedger`] is the consortium
//!   chain's.

#![warn(missing_docs)]

pub mod blobs;
pub mod ledger;
