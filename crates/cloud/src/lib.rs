//! `medchain cloud`: a semi-trusted re-encryption proxy of the research market (S4-flow steps
//! 6–8), one of the n independent proxies a study names, any t of which let the study's
//! researcher read an enrolled patient's record — while no proxy ever sees plaintext or the
//! patient's key (threshold proxy re-encryption, crate `proxy-reencryption`).
//!
//! - [`service`]: the service ([`service::CloudService::start`]) — stores records and sealed
//!   kfrags only for enrolments proven on chain, re-encrypts only for the study's researcher,
//!   and logs each re-encryption on chain (`research.reencrypted`).
//! - [`client`]: [`client::CloudClient`], the blocking client the research flows use.
//! - [`wire`]: the JSON bodies; [`request`]: the researcher's signed request.
//!
//! Licence: links `umbral-pre` (GPL-3.0-only) through `proxy-reencryption`, so a binary
//! containing this crate is distributed under GPL-3.0 terms.

pub mod client;
pub mod request;
pub mod service;
mod store;
pub mod wire;

pub use client::{CloudClient, CloudClientError, Reencryption};
pub use service::{CloudConfig, CloudError, CloudHandle, CloudService};
pub use store::{STORE_FILE, StoreError};
