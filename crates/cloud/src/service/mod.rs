//! `medchain cloud`: one semi-trusted re-encryption proxy of the research market (S4-flow
//! steps 6–8), run by a member of an audited cloud organisation beside (never inside) a
//! node. It serves the HTTP API of [`crate::wire`]:
//!
//! - `GET /v1/info`: the proxy's address, HPKE key and URL;
//! - `PUT /v1/enrolments/{id}/record`: the patient's encrypted record, accepted only for an
//!   enrolment final on chain, of a study that lists this proxy, whose `ciphertext_hash` the
//!   bytes match — so storing junk here costs its sender an enrolment on chain;
//! - `GET /v1/enrolments/{id}/record`: the stored ciphertext (useless without t cfrags and the
//!   researcher's key);
//! - `POST /v1/enrolments/{id}/kfrag`: the patient's key fragment sealed to this proxy, opened
//!   and verified against the enrolment's keys and the study's researcher before it is stored;
//! - `POST /v1/enrolments/{id}/reencrypt`: for the study's researcher only (a signed, fresh,
//!   never-replayed request), logs `research.reencrypted` on chain and returns the capsule
//!   fragment.
//!
//! At start it loads its HPKE key (creating the key file on first start) and registers as a
//! proxy on chain (`research.register_proxy`) unless the chain already has it. Every step is
//! synchronous (redb, the chain client); the HTTP layer runs each request on a blocking thread.

mod chain;
mod error;
mod flows;
mod http;

pub use error::CloudError;

use crate::store::CloudStore;
use chain::CloudChain;
use medchain_client::{Client, WaitPolicy, build};
use medchain_gateway::server::{Opened, ServerName, ServerThread};
use medchain_types::{Address, Event, PrivateKey, Uri};
use proxy_reencryption::ProxyKey;
use std::{
    fs,
    io::{self, Write as _},
    net::SocketAddr,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

/// What a proxy needs to start.
pub struct CloudConfig {
    /// A verifying client of the proxy's node.
    pub chain: Client,
    /// How long to wait for the chain's finality.
    pub wait: WaitPolicy,
    /// The proxy's chain key: a member of an audited cloud organisation.
    pub key: PrivateKey,
    /// The proxy's HPKE (X25519) secret key, hex; created owner-only on first start.
    pub proxy_key_file: PathBuf,
    /// Where to listen (port 0: any free port, see [`CloudHandle::addr`]).
    pub listen: SocketAddr,
    /// The proxy's directory: its database (`cloud.redb`).
    pub data_dir: PathBuf,
    /// The URL registered on chain, which patients and researchers use;
    /// `http://<listen address>` by default.
    pub public_url: Option<String>,
}

/// The proxy's state, shared by every request.
pub(crate) struct Cloud {
    pub(crate) chain: CloudChain,
    pub(crate) store: CloudStore,
    pub(crate) proxy_key: ProxyKey,
    pub(crate) public_url: String,
    /// Serialises logging on chain, so two requests for one enrolment file it once.
    pub(crate) logging: Mutex<()>,
}

/// Starts proxies.
pub struct CloudService;

/// A running proxy; dropping it stops the server (requests in flight finish first).
pub struct CloudHandle {
    addr: SocketAddr,
    proxy: Address,
    encryption_key: [u8; 32],
    public_url: String,
    server: ServerThread,
}

impl CloudService {
    /// Loads (or creates) the proxy key, opens the database, registers the proxy on chain
    /// unless it is registered, and serves the API. Returns once the proxy is listening. Call
    /// it from a plain thread, not from async code: the proxy runs its own Tokio runtime.
    pub fn start(config: CloudConfig) -> Result<CloudHandle, CloudError> {
        let name = ServerName {
            thread: "medchain-cloud",
            what: "cloud proxy",
        };
        let listen = config.listen;
        let (server, (addr, proxy, encryption_key, public_url)) =
            ServerThread::start(name, listen, move |listener, addr| {
                open(config, listener, addr)
            })?;
        Ok(CloudHandle {
            addr,
            proxy,
            encryption_key,
            public_url,
            server,
        })
    }
}

impl CloudHandle {
    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's base URL on its listen address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL registered on chain.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The proxy's chain address.
    pub fn proxy(&self) -> Address {
        self.proxy
    }

    /// The X25519 public key kfrags are sealed to.
    pub fn encryption_key(&self) -> [u8; 32] {
        self.encryption_key
    }

    /// Blocks until the server stops (it stops only when the handle is dropped, so this is
    /// for a process that serves until it is killed).
    pub fn join(self) {
        self.server.join();
    }
}

type Started = (SocketAddr, Address, [u8; 32], String);

/// The proxy opened and registered on a blocking thread, on the server's runtime.
async fn open(
    config: CloudConfig,
    listener: TcpListener,
    addr: SocketAddr,
) -> Result<Opened<Started, TcpListener>, CloudError> {
    let cloud = tokio::task::spawn_blocking(move || {
        let cloud = Cloud::open(config, addr)?;
        cloud.ensure_registered()?;
        Ok::<_, CloudError>(cloud)
    })
    .await
    .unwrap_or_else(|e| Err(CloudError::Internal(e.to_string())))?;
    let cloud = Arc::new(cloud);
    let proxy = cloud.chain.address();
    tracing::info!(%addr, %proxy, url = %cloud.public_url, "cloud proxy serving");
    Ok(Opened {
        started: (
            addr,
            proxy,
            cloud.proxy_key.public(),
            cloud.public_url.clone(),
        ),
        listener,
        router: http::router(cloud),
    })
}

impl Cloud {
    fn open(config: CloudConfig, addr: SocketAddr) -> Result<Self, CloudError> {
        let proxy_key = load_or_create_proxy_key(&config.proxy_key_file)?;
        fs::create_dir_all(&config.data_dir).map_err(|e| {
            CloudError::Config(format!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let store = CloudStore::open(&config.data_dir)?;
        Ok(Self {
            chain: CloudChain::new(config.chain, config.wait, config.key),
            store,
            proxy_key,
            public_url: config
                .public_url
                .unwrap_or_else(|| format!("http://{addr}")),
            logging: Mutex::new(()),
        })
    }

    /// Files `research.register_proxy` unless the chain has this proxy; refuses to serve under
    /// a key file other than the one registered (kfrags sealed to that key would not open).
    fn ensure_registered(&self) -> Result<(), CloudError> {
        let proxy = self.chain.address();
        if let Some(registered) = self.chain.registration()? {
            if registered.encryption_key != self.proxy_key.public() {
                return Err(CloudError::ProxyKeyMismatch { proxy });
            }
            if registered.url != self.public_url {
                tracing::warn!(registered = %registered.url, serving = %self.public_url,
                    "the chain registers this proxy under another URL; patients and researchers use that one");
            }
            return Ok(());
        }
        let url = Uri::new(self.public_url.clone()).map_err(|e| {
            CloudError::Config(format!("the public URL {:?}: {e}", self.public_url))
        })?;
        let confirmed = self
            .chain
            .file(build::register_proxy(self.proxy_key.public().into(), url))?;
        let registered = confirmed
            .receipt
            .events
            .iter()
            .any(|event| matches!(event, Event::ProxyRegistered { proxy: p } if *p == proxy));
        if !registered {
            return Err(CloudError::NotApplied {
                tx: confirmed.receipt.tx,
                expected: "the proxy's registration",
            });
        }
        tracing::info!(%proxy, tx = %confirmed.receipt.tx, "registered as a proxy on chain");
        Ok(())
    }
}

/// Reads the proxy's HPKE key from `path` (hex of the 32-byte X25519 secret), or creates the
/// file (owner read/write only) with a new key if there is none.
pub fn load_or_create_proxy_key(path: &Path) -> Result<ProxyKey, CloudError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        CloudError::Config(format!("the proxy key file {}: {e}", path.display()))
    };
    match fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|e| unreadable(&e))?);
            ProxyKey::from_bytes(&bytes).map_err(|e| unreadable(&e))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let key = ProxyKey::generate();
            write_owner_only(path, &Zeroizing::new(hex::encode(*key.to_bytes())))
                .map_err(|e| unreadable(&e))?;
            tracing::info!(path = %path.display(), "created the proxy key file");
            Ok(key)
        }
        Err(e) => Err(unreadable(&e)),
    }
}

/// Creates `path` (which must not exist) with mode 0600 and `text`, synced to disk.
fn write_owner_only(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
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
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_proxy_key_file_is_created_owner_only_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("proxy.key");
        let created = load_or_create_proxy_key(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = load_or_create_proxy_key(&path).unwrap();
        assert_eq!(loaded.public(), created.public());

        fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            load_or_create_proxy_key(&path),
            Err(CloudError::Config(_))
        ));
        fs::write(&path, "00").unwrap();
        assert!(matches!(
            load_or_create_proxy_key(&path),
            Err(CloudError::Config(_))
        ));
    }
}
