//! The hospital gateway (`medchain hospital`, issue 9): the service each hospital runs beside its
//! validator, a client of the node's API (never inside the consensus process). See the crate
//! README for what each module owns.
//!
//! - [`fhir`]: strict structural validation of FHIR R4 bundles.
//! - [`emr`]: the hospital's EMR database, SQLite or PostgreSQL, one schema (S0-layers).
//! - [`blobs`]: encrypted records ([`blobs::SealedRecord`]) in a content-addressed blob store,
//!   on the local filesystem (fsync) or any S3 compatible store (S1-storage).
//! - [`ledger`]: the [`ledger::RecordLedger`] boundary where releases and storage pointers are
//!   filed and proven (S1-release, S1-storage); [`ledger::ConsortiumLedger`] is the consortium
//!   chain's.
//! - [`patient`]: a patient opening their own records through a gateway, checked against hEMR
//!   (the CLI and the portal both use it).
//! - [`server`]: an HTTP server on its own thread and runtime (the gateway's API and the
//!   portal run on it).
//! - [`doctor`]: a doctor opening what a holding hospital released, and the whole break-glass
//!   flow (the CLI and the portal both use it).

pub mod blobs;
pub mod client;
pub mod doctor;
pub mod doctor_request;
pub mod emr;
pub mod fhir;
pub mod ledger;
pub mod patient;
pub mod server;
pub mod service;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod wire;
