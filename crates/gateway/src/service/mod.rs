//! `medchain hospital`: the gateway service a hospital runs beside its validator (a client of
//! the node's API, never inside the consensus process). It serves the HTTP API of
//! [`crate::wire`] and runs the flows:
//!
//! - enrolment (S3-agree, `enrol.rs`): the hospital's side of the patient's first visit, kept
//!   sealed in the EMR database;
//! - release (S1-release, S1-storage, S3-release, `release.rs`): a doctor's record is
//!   validated, released on chain, sealed under its record key, stored and pointed to — a
//!   resumable outbox;
//! - attestation (issue 12, `attest.rs`): the outbox's step after `stored` — the record's
//!   attributes committed to, the opening sealed for the patient, the commitment attested on
//!   chain;
//! - sharing (S3-share, S1-sharing, S1-rights, `share.rs`): a doctor's TAKA request checked
//!   against the chain, the access filed and decided on chain, the record key released;
//! - licences (S3-register): ρ signed for the doctors the chain says this hospital licenses;
//! - entries on MED (S3-entry, `entry.rs`): a patient's signed entry EEE checked, kept and
//!   sealed into the hospital's next MED batch with the releases;
//! - break-glass (S3-emergency, `emergency.rs`): tx_ur vouched and filed for the hospital's
//!   doctors, and emergency access served and notified for the records it holds;
//! - FHIR R4 exports of a patient's consents and access log (`fhir_export.rs`).
//!
//! Every step is synchronous (the EMR database, the chain client, pairings); the HTTP layer
//! runs each request on a blocking thread.

mod attest;
mod chain;
mod emergency;
mod enrol;
mod entry;
mod error;
mod fhir_export;
mod http;
mod licence;
mod release;
mod resume;
mod share;
mod vault;

pub use attest::MAX_ATTESTATIONS_PER_REQUEST;
pub use error::ServiceError;
pub use resume::{RESUME_EVERY, RESUME_WORKERS};

use crate::{
    blobs::BlobStore,
    emr::{EmrLocation, EmrStore},
    server::{Opened, ServerName, ServerThread},
};
use chain::ChainAccess;
use enrol::PendingEnrolments;
use medchain_client::{Client, WaitPolicy, keys::address_of};
use medchain_types::{Address, Genesis, IdentityName, OrgName, PrivateKey, Role};
use resume::{Claims, Resumer};
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
};
use tokio::net::TcpListener;
use vault::Vault;

/// Name of the blob directory inside the data directory (the default blob store).
pub const BLOB_DIR: &str = "blobs";

/// What a gateway needs to start.
pub struct HospitalConfig {
    /// A verifying client of the hospital's node.
    pub chain: Client,
    /// How long to wait for the chain's finality.
    pub wait: WaitPolicy,
    /// The hospital's chain key (its enrolled hospital identity's address).
    pub chain_key: PrivateKey,
    /// The hospital identity's TAKA keys (S3-register).
    pub identity_keys: taka::EntityKeys,
    /// The threshold PKG's public parameters (P_pub, from the chain).
    pub params: taka::PublicParams,
    /// Where to listen (port 0: any free port, see [`HospitalHandle::addr`]).
    pub listen: SocketAddr,
    /// The gateway's directory: the SQLite database and local blobs by default.
    pub data_dir: PathBuf,
    /// A `postgres://` URL or an SQLite path; the data directory's SQLite file by default.
    pub database: Option<String>,
    /// An `s3://` URL; the data directory's `blobs/` by default.
    pub blobs: Option<String>,
    /// How patients and doctors reach the gateway; `http://<listen address>` by default.
    pub public_url: Option<String>,
    /// The most the hospital pays a patient for one access it serves under a consent
    /// (`access.serve`'s `max_reward`, S1-tokens): a consent asking more is refused by the
    /// chain, so a patient cannot price a consent at the hospital's balance. `None`: the
    /// genesis `access_reward_default` (0 on a chain without tokens).
    pub max_access_reward: Option<u64>,
}

/// The hospital this gateway acts for, as the chain knows it.
pub(crate) struct Hospital {
    pub(crate) identity: IdentityName,
    pub(crate) address: Address,
    pub(crate) org: OrgName,
    pub(crate) keys: taka::EntityKeys,
    pub(crate) params: taka::PublicParams,
}

/// The gateway's state, shared by every request.
pub(crate) struct Gateway {
    pub(crate) chain: ChainAccess,
    pub(crate) hospital: Hospital,
    pub(crate) emr: EmrStore,
    pub(crate) blobs: BlobStore,
    pub(crate) vault: Vault,
    pub(crate) enrolments: Mutex<PendingEnrolments>,
    pub(crate) public_url: String,
    /// The most the hospital pays per served access ([`HospitalConfig::max_access_reward`],
    /// resolved).
    pub(crate) max_access_reward: u64,
    /// Runs the blob store's async calls from the blocking request threads.
    pub(crate) runtime: tokio::runtime::Handle,
    /// Held while a record is attested, so two requests never file one record twice.
    pub(crate) attesting: Mutex<()>,
    /// The records a request or the resumer is completing, so one is never completed twice at
    /// once.
    pub(crate) completing: Claims,
}

/// Starts gateways.
pub struct HospitalService;

/// A running gateway; dropping it stops the release resumer (the records in hand finish
/// first), then the server (requests in flight finish first).
pub struct HospitalHandle {
    addr: SocketAddr,
    public_url: String,
    // Dropped before the server: the resumer uses the server's runtime for blob writes.
    _resumer: Resumer,
    server: ServerThread,
}

impl HospitalService {
    /// Opens the EMR database and blob store, checks the hospital's identity on chain,
    /// attests every stored record whose patient has a nullifier key (`EmrStore::unattested`),
    /// serves the API and starts the thread completing unfinished releases while it runs
    /// (`EmrStore::pending`, at once and every [`RESUME_EVERY`]). Returns once the gateway is
    /// listening. Call it from a plain thread, not from async code: the
    /// gateway runs its own Tokio runtime.
    pub fn start(config: HospitalConfig) -> Result<HospitalHandle, ServiceError> {
        let name = ServerName {
            thread: "medchain-hospital",
            what: "gateway",
        };
        let listen = config.listen;
        let (server, (addr, public_url, resumer)) =
            ServerThread::start(name, listen, move |listener, addr| {
                open(config, listener, addr)
            })?;
        Ok(HospitalHandle {
            addr,
            public_url,
            _resumer: resumer,
            server,
        })
    }
}

impl HospitalHandle {
    /// The address the gateway listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The gateway's base URL (`http://<addr>` unless configured).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL the gateway announces (`public_url` of `/v1/info`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Blocks until the server stops (it stops only when the handle is dropped, so this is
    /// for a process that serves until it is killed).
    pub fn join(self) {
        self.server.join();
    }
}

/// The gateway opened on a blocking thread, on the server's runtime, and its release resumer
/// started.
async fn open(
    config: HospitalConfig,
    listener: TcpListener,
    addr: SocketAddr,
) -> Result<Opened<(SocketAddr, String, Resumer), TcpListener>, ServiceError> {
    let handle = tokio::runtime::Handle::current();
    let gateway = tokio::task::spawn_blocking(move || {
        let gateway = Gateway::open(config, addr, handle)?;
        gateway.register_vouching_key()?;
        gateway.resume_attestations();
        Ok::<_, ServiceError>(gateway)
    })
    .await
    .unwrap_or_else(|e| Err(ServiceError::Internal(e.to_string())))?;
    let gateway = Arc::new(gateway);
    let resumer = Resumer::start(gateway.clone()).map_err(|error| {
        ServiceError::Internal(format!("cannot start the release resumer: {error}"))
    })?;
    tracing::info!(%addr, hospital = %gateway.hospital.identity, "gateway serving");
    Ok(Opened {
        started: (addr, gateway.public_url.clone(), resumer),
        listener,
        router: http::router(gateway),
    })
}

impl Gateway {
    /// Opens the stores and checks on chain that the key is an enrolled hospital identity of
    /// an organisation, with the TAKA keys of that identity.
    fn open(
        config: HospitalConfig,
        addr: SocketAddr,
        runtime: tokio::runtime::Handle,
    ) -> Result<Self, ServiceError> {
        let address = address_of(&config.chain_key);
        let max_access_reward =
            served_reward_cap(config.max_access_reward, config.chain.light.genesis());
        let chain = ChainAccess::new(config.chain, config.wait, config.chain_key)?;
        let identity = chain
            .identity_of(&address)?
            .ok_or(ServiceError::NoIdentity(address))?;
        let record = chain
            .identity(&identity)?
            .ok_or_else(|| ServiceError::Identity {
                identity: identity.clone(),
                reason: "not enrolled".into(),
            })?;
        let org = match (record.role, record.org) {
            (Role::Hospital, Some(org)) => org,
            (role, _) => {
                return Err(ServiceError::Identity {
                    identity,
                    reason: format!(
                        "enrolled as a {role:?}; the gateway runs as a hospital identity"
                    ),
                });
            }
        };
        if config.identity_keys.id().as_bytes() != identity.as_str().as_bytes() {
            return Err(ServiceError::Identity {
                identity,
                reason: format!(
                    "the key file's TAKA keys are for {}",
                    config.identity_keys.id()
                ),
            });
        }
        let emr = EmrStore::open(&match &config.database {
            Some(location) => EmrLocation::parse(location),
            None => EmrLocation::in_data_dir(&config.data_dir),
        })?;
        let blobs = match &config.blobs {
            Some(url) => BlobStore::s3(url)?,
            None => BlobStore::local(config.data_dir.join(BLOB_DIR))?,
        };
        let vault = Vault::new(chain.key());
        Ok(Self {
            chain,
            hospital: Hospital {
                identity,
                address,
                org,
                keys: config.identity_keys,
                params: config.params,
            },
            emr,
            blobs,
            vault,
            enrolments: Mutex::new(PendingEnrolments::default()),
            public_url: config
                .public_url
                .unwrap_or_else(|| format!("http://{addr}")),
            max_access_reward,
            runtime,
            attesting: Mutex::new(()),
            completing: Claims::default(),
        })
    }

    /// The hospital's TAKA identity.
    pub(crate) fn taka_identity(&self) -> &taka::Identity {
        self.hospital.keys.id()
    }
}

/// The most the hospital pays per served access: as configured, else the genesis default
/// reward (0 on a chain without tokens, where nothing is paid).
fn served_reward_cap(configured: Option<u64>, genesis: &Genesis) -> u64 {
    configured.unwrap_or_else(|| {
        genesis
            .tokens
            .as_ref()
            .map_or(0, |tokens| tokens.access_reward_default)
    })
}

/// A chain address as the EMR store's patient key.
pub(crate) fn patient_row(address: &Address) -> crate::emr::PatientAddress {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(address.as_bytes());
    crate::emr::PatientAddress(bytes)
}

/// Unix time in milliseconds by this machine's clock.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::served_reward_cap;
    use medchain_state::testkit::{ACCESS_REWARD_DEFAULT, genesis_document, token_genesis};

    #[test]
    fn the_served_reward_cap_defaults_to_the_genesis_reward_and_to_nothing_without_tokens() {
        assert_eq!(
            served_reward_cap(None, &token_genesis()),
            ACCESS_REWARD_DEFAULT
        );
        assert_eq!(served_reward_cap(None, &genesis_document()), 0);
        assert_eq!(served_reward_cap(Some(40), &token_genesis()), 40);
        assert_eq!(served_reward_cap(Some(40), &genesis_document()), 40);
    }
}
