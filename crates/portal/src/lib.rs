//! `medchain portal`: the web app a patient, clinician, regulator or anyone runs on their own
//! machine, beside their key, like a wallet.
//!
//! The portal is a light-client front end. Every value a page shows was read through
//! [`medchain_client::Client`] and verified against a finalized header (a quorum certificate
//! of the genesis validators and a state proof under that header's root); each page names the
//! finalized height its data was verified at. An answer that fails verification is shown as
//! an error and nothing from it is rendered, so neither the node nor anything between the node
//! and the portal can change what the user sees (it can only make the page fail).
//!
//! Actions (grant or revoke a consent, approve or suspend an organisation, request a record)
//! are signed in this process with the key file's key; the browser never holds it. The server
//! listens on loopback only, accepts connections only from its own user's processes
//! ([`peer`]), and serves nobody without the session cookie set by the login URL printed at
//! start-up ([`session`]).

mod charts;
mod error;
mod layout;
mod peer;
mod reader;
mod server;
mod session;
mod views;

pub use error::PortalError;
pub use server::{Portal, PortalConfig};
