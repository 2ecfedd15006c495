//! Key files and the genesis document on disk.
//!
//! A key file holds an ed25519 private key in `medchain_types::keyfile`'s JSON format. Whoever
//! reads it can sign as its owner (release records, grant consent), so it is created with mode
//! 0600 and never overwritten, and a key file readable by group or others is refused (as ssh
//! refuses such keys): `chmod 600 FILE` fixes it.

use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use medchain_types::{Address, Genesis, PrivateKey, keyfile};
use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

/// Why a key file or genesis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Refusing to replace an existing key.
    #[error("{0} already exists; refusing to overwrite a key (choose another --out)")]
    Exists(PathBuf),
    /// The key file is readable by other users.
    #[error("{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a valid key file.
    #[error("{path} is not a medchain key file: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (boxed: it can hold a whole public key).
        source: Box<keyfile::KeyFileError>,
    },
    /// The file is not a usable genesis document.
    #[error("{path} is not a usable genesis: {reason}")]
    Genesis {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A fresh key from the operating system's randomness (through `rand`'s thread-local CSPRNG,
/// seeded from the OS).
pub fn generate() -> PrivateKey {
    PrivateKey::random(rand::rng())
}

/// The address (public key) a key signs as.
pub fn address_of(key: &PrivateKey) -> Address {
    Address::from(key.public_key())
}

/// Writes `key` to a new file at `path`, owner read/write only (0600), synced to disk.
/// Fails if the file exists.
pub fn write_key_file(path: &Path, key: &PrivateKey) -> Result<(), KeyError> {
    let io_error = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => KeyError::Exists(path.to_path_buf()),
            _ => io_error(source),
        })?;
    file.write_all(keyfile::to_json(key).as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io_error)
}

/// Reads a key file, refusing one that other users can read and one whose private key does
/// not derive its stated public key.
pub fn read_key_file(path: &Path) -> Result<PrivateKey, KeyError> {
    let io_error = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mode = fs::metadata(path).map_err(io_error)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(io_error)?;
    keyfile::from_json(&text).map_err(|source| KeyError::Format {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Reads and validates a genesis document (JSON).
pub fn read_genesis(path: &Path) -> Result<Genesis, KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| KeyError::Genesis {
        path: path.to_path_buf(),
        reason,
    };
    let genesis: Genesis = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    genesis.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(genesis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::genesis_document;

    #[test]
    fn key_files_are_owner_only_round_trip_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doctor.key");
        let key = generate();
        write_key_file(&path, &key).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(address_of(&read_key_file(&path).unwrap()), address_of(&key));
        assert!(matches!(
            write_key_file(&path, &generate()),
            Err(KeyError::Exists(_))
        ));
        // The original key survived the refused overwrite.
        assert_eq!(address_of(&read_key_file(&path).unwrap()), address_of(&key));
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(address_of(&generate()), address_of(&generate()));
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("open.key");
        write_key_file(&path, &generate()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            read_key_file(&path),
            Err(KeyError::TooOpen { mode: 0o644, .. })
        ));
    }

    #[test]
    fn corrupt_and_missing_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        fs::write(&path, "{\"public_key\": \"00\"}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(read_key_file(&path), Err(KeyError::Format { .. })));
        assert!(matches!(
            read_key_file(&dir.path().join("missing.key")),
            Err(KeyError::Io { .. })
        ));
    }

    #[test]
    fn genesis_files_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        let mut genesis = genesis_document();
        fs::write(&path, serde_json::to_string(&genesis).unwrap()).unwrap();
        assert_eq!(read_genesis(&path).unwrap(), genesis);

        genesis.validators.clear();
        fs::write(&path, serde_json::to_string(&genesis).unwrap()).unwrap();
        assert!(matches!(read_genesis(&path), Err(KeyError::Genesis { .. })));
        fs::write(&path, "not json").unwrap();
        assert!(matches!(read_genesis(&path), Err(KeyError::Genesis { .. })));
    }
}
