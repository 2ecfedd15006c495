//! A validator's configuration file (`node.toml`), written by `medchain init`.
//!
//! Relative paths are resolved against the directory holding the configuration file, so a
//! node directory can be moved as a whole.

use medchain_types::{Address, Genesis, PrivateKey, keyfile};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

/// A peer validator: identity and where to dial it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerConfig {
    /// The peer's validator key.
    pub public_key: Address,
    /// Its p2p listen address.
    pub address: SocketAddr,
}

/// p2p settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct P2pConfig {
    /// Where this node listens for validators.
    pub listen: SocketAddr,
    /// Every validator (this one included), with its dial address.
    pub peers: Vec<PeerConfig>,
}

/// HTTP API settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiConfig {
    /// Where the HTTP API (and `/metrics`) listens.
    pub listen: SocketAddr,
}

/// Threshold PKG key generation settings (`[dkg]`, optional).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DkgSettings {
    /// How long a dealer that has a quorum of acknowledgements waits for the remaining
    /// validators before publishing its log (their shares revealed), milliseconds.
    pub deal_timeout_ms: u64,
}

impl Default for DkgSettings {
    fn default() -> Self {
        Self {
            deal_timeout_ms: crate::pkg::DkgConfig::default().deal_timeout.as_millis() as u64,
        }
    }
}

impl DkgSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The DKG timing these settings give.
    pub fn config(&self) -> crate::pkg::DkgConfig {
        crate::pkg::DkgConfig {
            deal_timeout: std::time::Duration::from_millis(self.deal_timeout_ms),
            ..Default::default()
        }
    }
}

/// MED chain settings (`[med]`, optional; S3-dual). They matter only on a chain whose genesis
/// has MED parameters: every such node follows, verifies and serves the MED chain; these say
/// whether it also mines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MedSettings {
    /// Whether this node mines Mblocks.
    pub mine: bool,
    /// The share of one core the miner may use, in percent (1 to 100): it hashes in slices of
    /// at most [`crate::med::miner::MAX_SLICE`] and rests in between so that hashing takes
    /// this share of the time — a hospital's node must not starve its consensus duties.
    pub duty_percent: u8,
}

impl Default for MedSettings {
    fn default() -> Self {
        Self {
            mine: false,
            duty_percent: crate::med::miner::DEFAULT_DUTY_PERCENT,
        }
    }
}

impl MedSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// State database settings (`[storage]`, optional).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageSettings {
    /// MiB of page cache for the state database (redb). Its pages are allocated as they are
    /// touched and kept up to this size: it bounds the largest part of a validator's memory.
    pub cache_mib: usize,
}

/// Largest `[storage] cache_mib` accepted: 64 GiB.
pub const MAX_CACHE_MIB: usize = 64 << 10;

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            cache_mib: medchain_storage::DEFAULT_CACHE_BYTES >> 20,
        }
    }
}

impl StorageSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The store options these settings give.
    pub fn store_options(&self) -> medchain_storage::StoreOptions {
        medchain_storage::StoreOptions {
            cache_bytes: self.cache_mib << 20,
            ..Default::default()
        }
    }
}

/// The whole node configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Directory for consensus journals and the state database.
    pub data_dir: PathBuf,
    /// The validator key file.
    pub key_file: PathBuf,
    /// The genesis document.
    pub genesis_file: PathBuf,
    /// p2p.
    pub p2p: P2pConfig,
    /// HTTP API.
    pub api: ApiConfig,
    /// Threshold PKG key generation.
    #[serde(default, skip_serializing_if = "DkgSettings::is_default")]
    pub dkg: DkgSettings,
    /// MED chain mining.
    #[serde(default, skip_serializing_if = "MedSettings::is_default")]
    pub med: MedSettings,
    /// The state database.
    #[serde(default, skip_serializing_if = "StorageSettings::is_default")]
    pub storage: StorageSettings,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration is not valid TOML of the expected shape.
    #[error("{path} is not a valid node configuration: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: toml::de::Error,
    },
    /// The genesis is not valid JSON or not usable.
    #[error("{path} is not a valid genesis: {reason}")]
    Genesis {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key file is unusable (or encrypted and `MEDCHAIN_PASSPHRASE` is not set).
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: keyfile::KeyFileError,
    },
    /// A setting is out of its range.
    #[error("{path}: {reason}")]
    Setting {
        /// The file.
        path: PathBuf,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The key file is readable by other users.
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    KeyPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// A configuration with its files loaded and cross-checked.
pub struct LoadedConfig {
    /// The configuration, paths made absolute.
    pub config: NodeConfig,
    /// The validator key.
    pub key: PrivateKey,
    /// The genesis document.
    pub genesis: Genesis,
}

impl NodeConfig {
    /// Reads `path`, resolves relative paths against its directory, and loads the key and
    /// genesis. The key need not be a genesis validator's: a node outside an epoch's validator
    /// set follows that epoch as an observer (S1-dpos), and the peers are only where to start
    /// dialling.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let mut config = Self::read(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for field in [
            &mut config.data_dir,
            &mut config.key_file,
            &mut config.genesis_file,
        ] {
            if field.is_relative() {
                *field = base.join(&*field);
            }
        }
        let key = read_key(&config.key_file)?;
        let genesis = load_genesis(&config.genesis_file)?;
        Ok(LoadedConfig {
            config,
            key,
            genesis,
        })
    }

    /// Reads and parses `path` alone (no key, no genesis): e.g. to find a network's API
    /// addresses.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(&read(path)?).map_err(|source| ConfigError::Toml {
            path: path.to_path_buf(),
            source,
        })?;
        if !(1..=100).contains(&config.med.duty_percent) {
            return Err(ConfigError::Setting {
                path: path.to_path_buf(),
                reason: format!(
                    "[med] duty_percent = {} must be 1 to 100 (percent of one core the miner may use)",
                    config.med.duty_percent
                ),
            });
        }
        if !(1..=MAX_CACHE_MIB).contains(&config.storage.cache_mib) {
            return Err(ConfigError::Setting {
                path: path.to_path_buf(),
                reason: format!(
                    "[storage] cache_mib = {} must be 1 to {MAX_CACHE_MIB} (MiB of page cache for the state database)",
                    config.storage.cache_mib
                ),
            });
        }
        Ok(config)
    }

    /// Renders the configuration as TOML.
    pub fn to_toml(&self) -> String {
        // Every field is a plain string, number or table: serialisation cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Reads the validator key, refusing a file other users can read: whoever reads it can sign
/// consensus votes as this validator. `medchain init` writes it plain (mode 0600, like an ssh
/// host key); one encrypted with `medchain key encrypt` is opened with `MEDCHAIN_PASSPHRASE`.
fn read_key(path: &Path) -> Result<PrivateKey, ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError::KeyPermissions {
                path: path.to_path_buf(),
                mode: mode & 0o777,
            });
        }
    }
    let passphrase = std::env::var(PASSPHRASE_ENV)
        .ok()
        .map(keyfile::Zeroizing::new);
    open_validator_key(&read(path)?, passphrase.as_deref().map(String::as_str)).map_err(|source| {
        ConfigError::Key {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// A plain validator key, or an encrypted one opened with `passphrase`. A node starts
/// unattended: the passphrase comes from its service manager's environment, never a prompt.
fn open_validator_key(
    text: &str,
    passphrase: Option<&str>,
) -> Result<PrivateKey, keyfile::KeyFileError> {
    match keyfile::KeyFile::parse(text)? {
        keyfile::KeyFile::Plain(key) => Ok(key),
        keyfile::KeyFile::Encrypted(file) => {
            let passphrase = passphrase.ok_or(keyfile::KeyFileError::Encrypted)?;
            Ok(file.decrypt(passphrase)?.key)
        }
    }
}

/// Where a node finds the passphrase of an encrypted validator key.
pub const PASSPHRASE_ENV: &str = "MEDCHAIN_PASSPHRASE";

/// Reads and validates a genesis file.
pub fn load_genesis(path: &Path) -> Result<Genesis, ConfigError> {
    let genesis: Genesis =
        serde_json::from_str(&read(path)?).map_err(|e| ConfigError::Genesis {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    genesis.validate().map_err(|e| ConfigError::Genesis {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(genesis)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use keyfile::{KdfParams, KeyFileError, KeyMaterial};

    /// A configuration whose data directory is `dir`; writes it to `dir/node.toml`.
    fn written(dir: &Path, storage: StorageSettings) -> PathBuf {
        let listen: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let config = NodeConfig {
            data_dir: dir.to_path_buf(),
            key_file: "validator.key".into(),
            genesis_file: "genesis.json".into(),
            p2p: P2pConfig {
                listen,
                peers: Vec::new(),
            },
            api: ApiConfig { listen },
            dkg: DkgSettings::default(),
            med: MedSettings::default(),
            storage,
        };
        let path = dir.join("node.toml");
        std::fs::write(&path, config.to_toml()).unwrap();
        path
    }

    #[test]
    fn the_storage_cache_setting_reaches_the_state_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), StorageSettings { cache_mib: 16 });
        let config = NodeConfig::read(&path).unwrap();
        assert_eq!(config.storage.cache_mib, 16);
        let store = crate::run::open_state(&config).unwrap();
        assert_eq!(store.options().cache_bytes, 16 << 20);
    }

    #[test]
    fn without_a_storage_section_the_default_cache_applies() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), StorageSettings::default());
        assert!(
            !std::fs::read_to_string(&path)
                .unwrap()
                .contains("[storage]")
        );
        let config = NodeConfig::read(&path).unwrap();
        let store = crate::run::open_state(&config).unwrap();
        assert_eq!(
            store.options().cache_bytes,
            medchain_storage::DEFAULT_CACHE_BYTES
        );
    }

    #[test]
    fn a_cache_size_out_of_range_is_refused_with_the_range() {
        let dir = tempfile::tempdir().unwrap();
        for cache_mib in [0, MAX_CACHE_MIB + 1] {
            let path = written(dir.path(), StorageSettings { cache_mib });
            match NodeConfig::read(&path) {
                Err(ConfigError::Setting { reason, .. }) => {
                    assert!(
                        reason.contains("cache_mib") && reason.contains("1 to"),
                        "{reason}"
                    );
                }
                other => panic!(
                    "{cache_mib} MiB: expected a setting error, got {:?}",
                    other.err()
                ),
            }
        }
    }

    #[test]
    fn validator_keys_load_plain_or_with_the_passphrase_of_an_encrypted_file() {
        let key = PrivateKey::from_seed(11);
        let plain = keyfile::to_json(&key);
        assert_eq!(
            open_validator_key(&plain, None).unwrap().public_key(),
            key.public_key()
        );
        let sealed = keyfile::seal(
            &KeyMaterial::new(key.clone()),
            "node passphrase",
            KdfParams::MIN,
            &mut commonware_utils::test_rng(),
        )
        .unwrap();
        assert!(matches!(
            open_validator_key(&sealed, None),
            Err(KeyFileError::Encrypted)
        ));
        assert!(matches!(
            open_validator_key(&sealed, Some("wrong")),
            Err(KeyFileError::WrongPassphrase)
        ));
        assert_eq!(
            open_validator_key(&sealed, Some("node passphrase"))
                .unwrap()
                .public_key(),
            key.public_key()
        );
    }
}
