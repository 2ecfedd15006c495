//! Key files and the genesis document on disk.
//!
//! A key file holds an ed25519 private key in one of `medchain_types::keyfile`'s two formats:
//! encrypted under a passphrase (what `medchain keygen` writes for people, and where
//! `medchain identity enrol` adds the identity-based keys), or plain (validators' and devnet
//! keys, and every file written before encryption existed; they keep loading). Whoever reads
//! a plain key can sign as its owner (release records, grant consent), so every key file is
//! created with mode 0600 and never overwritten by accident, and a key file readable by group
//! or others is refused (as ssh refuses such keys): `chmod 600 FILE` fixes it.
//!
//! The passphrase comes from `MEDCHAIN_PASSPHRASE` (scripts) or, when standard input is a
//! terminal, a prompt that does not echo ([`ask_passphrase`]).

use commonware_cryptography::Signer as _;
use commonware_math::algebra::Random as _;
use medchain_types::{
    Address, Genesis, PrivateKey,
    keyfile::{self, KdfParams, KeyFile, KeyFileError, KeyMaterial},
};
use std::{
    fs,
    io::{self, IsTerminal as _, Write as _},
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};
use zeroize::Zeroizing;

/// The environment variable scripts pass a key file's passphrase in.
pub const PASSPHRASE_ENV: &str = "MEDCHAIN_PASSPHRASE";

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
    #[error("{path} is not a usable medchain key file: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong (boxed: it can hold a whole public key).
        source: Box<KeyFileError>,
    },
    /// The passphrase does not open the key file.
    #[error(
        "wrong passphrase for {0} (from ${PASSPHRASE_ENV} if it is set, else as typed); try again"
    )]
    WrongPassphrase(PathBuf),
    /// A passphrase is needed and none can be had.
    #[error(
        "no passphrase for {0}: set {PASSPHRASE_ENV} (scripts) or run the command in a terminal to be asked"
    )]
    NoPassphrase(PathBuf),
    /// The two passphrases typed for a new key file differ.
    #[error("the passphrases typed for {0} differ; nothing was written")]
    PassphraseMismatch(PathBuf),
    /// The file is plain where an encrypted one is needed.
    #[error("{0} is not encrypted; run `medchain key encrypt --key {0}` first")]
    NotEncrypted(PathBuf),
    /// The file is not a usable genesis document.
    #[error("{path} is not a usable genesis: {reason}")]
    Genesis {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl KeyError {
    fn format(path: &Path, source: KeyFileError) -> Self {
        match source {
            KeyFileError::WrongPassphrase => Self::WrongPassphrase(path.to_path_buf()),
            source => Self::Format {
                path: path.to_path_buf(),
                source: Box::new(source),
            },
        }
    }
}

/// Whether a new passphrase is typed twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// Opening an existing file: once.
    Once,
    /// Sealing a new file: twice, to catch a typo that would lock the key away.
    Twice,
}

/// The passphrase for `path`: `MEDCHAIN_PASSPHRASE` if set, else typed at a prompt that does
/// not echo when standard input is a terminal, else [`KeyError::NoPassphrase`].
pub fn ask_passphrase(path: &Path, confirm: Confirm) -> Result<Zeroizing<String>, KeyError> {
    if let Some(passphrase) = std::env::var_os(PASSPHRASE_ENV) {
        return passphrase
            .into_string()
            .map(Zeroizing::new)
            .map_err(|_| KeyError::format(path, KeyFileError::Field(PASSPHRASE_ENV)));
    }
    if !io::stdin().is_terminal() {
        return Err(KeyError::NoPassphrase(path.to_path_buf()));
    }
    let prompt = |text: String| {
        rpassword::prompt_password(text)
            .map(Zeroizing::new)
            .map_err(|source| KeyError::Io {
                path: path.to_path_buf(),
                source,
            })
    };
    let passphrase = prompt(format!("passphrase for {}: ", path.display()))?;
    if confirm == Confirm::Twice && *prompt("repeat the passphrase: ".into())? != *passphrase {
        return Err(KeyError::PassphraseMismatch(path.to_path_buf()));
    }
    Ok(passphrase)
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

/// Writes `key` in clear to a new file at `path`, owner read/write only (0600), synced to
/// disk. Fails if the file exists. For keys read unattended (validators) or thrown away
/// (devnets); a person's key is [`write_encrypted_key_file`].
pub fn write_key_file(path: &Path, key: &PrivateKey) -> Result<(), KeyError> {
    create_owner_only(path, &keyfile::to_json(key))
}

/// Seals `material` under `passphrase` (Argon2id + AES-256-GCM) into a new file at `path`,
/// owner read/write only. Fails if the file exists.
pub fn write_encrypted_key_file(
    path: &Path,
    material: &KeyMaterial,
    passphrase: &str,
) -> Result<(), KeyError> {
    create_owner_only(path, &seal(path, material, passphrase)?)
}

/// Replaces the key file at `path` with `material` sealed under `passphrase`, atomically:
/// the new file is written beside it and renamed over it, so a crash leaves the old file or
/// the new one, never half of either.
pub fn replace_key_file(
    path: &Path,
    material: &KeyMaterial,
    passphrase: &str,
) -> Result<(), KeyError> {
    let sealed = seal(path, material, passphrase)?;
    let name = path
        .file_name()
        .map_or_else(|| "key".into(), |name| name.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // A leftover from a crashed run of this same process id is ours to replace.
    let _ = fs::remove_file(&temporary);
    create_owner_only(&temporary, &sealed)?;
    fs::rename(&temporary, path).map_err(|source| {
        let _ = fs::remove_file(&temporary);
        KeyError::Io {
            path: path.to_path_buf(),
            source,
        }
    })?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        // Make the rename itself durable.
        fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| KeyError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    Ok(())
}

fn seal(path: &Path, material: &KeyMaterial, passphrase: &str) -> Result<String, KeyError> {
    keyfile::seal(material, passphrase, KdfParams::DEFAULT, &mut rand::rng())
        .map_err(|source| KeyError::format(path, source))
}

fn create_owner_only(path: &Path, text: &str) -> Result<(), KeyError> {
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
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io_error)
}

/// Reads and parses a key file without opening it: refuses one that other users can read,
/// and a plain one whose private key does not derive its stated public key. Its address is
/// readable either way.
pub fn read_key_file(path: &Path) -> Result<KeyFile, KeyError> {
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
    let text = Zeroizing::new(fs::read_to_string(path).map_err(io_error)?);
    KeyFile::parse(&text).map_err(|source| KeyError::format(path, source))
}

/// Opens a key file read from `path`, asking `passphrase` only if it is encrypted.
pub fn open_key_file(
    path: &Path,
    file: KeyFile,
    passphrase: impl FnOnce(&Path) -> Result<Zeroizing<String>, KeyError>,
) -> Result<KeyMaterial, KeyError> {
    match file {
        KeyFile::Plain(key) => Ok(KeyMaterial::new(key)),
        KeyFile::Encrypted(file) => file
            .decrypt(&passphrase(path)?)
            .map_err(|source| KeyError::format(path, source)),
    }
}

/// Reads a key file and opens it, asking `passphrase` only if the file is encrypted.
pub fn load_key(
    path: &Path,
    passphrase: impl FnOnce(&Path) -> Result<Zeroizing<String>, KeyError>,
) -> Result<KeyMaterial, KeyError> {
    open_key_file(path, read_key_file(path)?, passphrase)
}

/// For [`load_key`] where no passphrase can be had (plain keys, such as a devnet's).
pub fn no_passphrase(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    Err(KeyError::NoPassphrase(path.to_path_buf()))
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
        assert_eq!(read_key_file(&path).unwrap().address(), address_of(&key));
        assert!(matches!(
            write_key_file(&path, &generate()),
            Err(KeyError::Exists(_))
        ));
        // The original key survived the refused overwrite.
        assert_eq!(read_key_file(&path).unwrap().address(), address_of(&key));
    }

    #[test]
    fn encrypted_key_files_open_with_their_passphrase_only_and_are_replaced_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("patient.key");
        let material = KeyMaterial::new(generate());
        write_encrypted_key_file(&path, &material, "correct horse").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The address is readable without the passphrase.
        assert_eq!(read_key_file(&path).unwrap().address(), material.address());
        let given = |passphrase: &'static str| {
            move |_: &Path| Ok::<_, KeyError>(Zeroizing::new(passphrase.to_string()))
        };
        let opened = load_key(&path, given("correct horse")).unwrap();
        assert_eq!(opened.address(), material.address());
        assert!(matches!(
            load_key(&path, given("wrong")),
            Err(KeyError::WrongPassphrase(_))
        ));
        assert!(matches!(
            load_key(&path, no_passphrase),
            Err(KeyError::NoPassphrase(_))
        ));
        assert!(matches!(
            write_encrypted_key_file(&path, &material, "x"),
            Err(KeyError::Exists(_))
        ));

        // Replacing adds the identity keys under a new passphrase and leaves no temporary file.
        let enrolled = KeyMaterial {
            entity_keys: Some(Zeroizing::new(vec![9; 64])),
            ..KeyMaterial::new(opened.key)
        };
        replace_key_file(&path, &enrolled, "new passphrase").unwrap();
        let reopened = load_key(&path, given("new passphrase")).unwrap();
        assert_eq!(reopened.address(), material.address());
        assert_eq!(reopened.entity_keys.as_deref(), Some(&vec![9; 64]));

        // A wallet added later (a hospital enrolment) survives the next replacement.
        let mut with_wallet = reopened;
        with_wallet
            .wallet
            .put_link(medchain_types::keyfile::HospitalLink {
                hospital: medchain_types::IdentityName::new("seoul-general").unwrap(),
                gateway: "http://127.0.0.1:9101".into(),
                enrolment: medchain_types::keyfile::SecretBytes(Zeroizing::new(vec![7; 160])),
            });
        replace_key_file(&path, &with_wallet, "new passphrase").unwrap();
        let reopened = load_key(&path, given("new passphrase")).unwrap();
        assert_eq!(reopened.wallet, with_wallet.wallet);
        assert_eq!(reopened.entity_keys.as_deref(), Some(&vec![9; 64]));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_plain_key_loads_without_a_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devnet.key");
        let key = generate();
        write_key_file(&path, &key).unwrap();
        let loaded = load_key(&path, no_passphrase).unwrap();
        assert_eq!(loaded.address(), address_of(&key));
        assert!(loaded.entity_keys.is_none());
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
