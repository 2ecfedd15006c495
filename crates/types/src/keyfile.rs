//! The key file format shared by `medchain keygen`, validators and clients.
//!
//! Two versions exist, both JSON:
//!
//! - **version 1, plain**: `{"public_key": "<hex>", "private_key": "<hex>"}`. Validators read
//!   theirs unattended, and devnet keys are throwaway, so `medchain init` still writes this
//!   form (protected by mode 0600, as ssh host keys are). Every version-1 file keeps loading.
//! - **version 2, encrypted**: what a person's key is stored as, like a wallet. The secrets
//!   (the ed25519 chain key and, after enrolment, the identity-based keys) are sealed with
//!   AES-256-GCM under a key derived from a passphrase by Argon2id with a random salt:
//!
//!   ```json
//!   {"version": 2, "public_key": "<hex>",
//!    "kdf": {"algorithm": "argon2id", "memory_kib": 65536, "iterations": 3, "lanes": 1,
//!            "salt": "<hex>"},
//!    "check": "<hex>",
//!    "cipher": {"algorithm": "aes-256-gcm", "nonce": "<hex>"},
//!    "ciphertext": "<hex>"}
//!   ```
//!
//!   The address stays readable (`medchain address` needs no passphrase) but is authenticated:
//!   it and the KDF parameters are the AEAD's associated data, so editing them breaks the tag.
//!   Argon2id yields 48 bytes: the first 32 are the AES key, the last 16 are stored as `check`,
//!   which tells a wrong passphrase ([`KeyFileError::WrongPassphrase`]) apart from a file whose
//!   sealed part was modified ([`KeyFileError::Tampered`]). `check` helps no attacker: the GCM
//!   tag already lets anyone test a guessed passphrase offline, and Argon2id makes each guess
//!   cost 64 MiB and three passes.
//!
//! Parsing checks that the private key derives the stated public key, so a hand-edited or
//! corrupted file is refused instead of signing as somebody else. Reading and writing the file
//! (with owner-only permissions) and asking for the passphrase are the caller's job: this
//! crate does no I/O.

use crate::{Address, PrivateKey};
use aes_gcm::{
    Aes256Gcm, Key, KeyInit as _, Nonce,
    aead::{Aead as _, Payload},
};
use argon2::{Algorithm, Argon2, Params, Version};
use commonware_codec::{Copying, DecodeExt, Encode};
use commonware_cryptography::Signer;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
/// Re-exported so holders of key material name one zeroizing wrapper.
pub use zeroize::Zeroizing;

/// The version number of encrypted key files.
pub const ENCRYPTED_VERSION: u64 = 2;
const KDF_ALGORITHM: &str = "argon2id";
const CIPHER_ALGORITHM: &str = "aes-256-gcm";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const CHECK_LEN: usize = 16;
const AES_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const PRIVATE_KEY_LEN: usize = 32;
/// Bound to the associated data so a sealed key file cannot be mistaken for anything else.
const AAD_LABEL: &[u8] = b"_MEDCHAIN_KEY_FILE_V2";
/// Largest sealed secret: the chain key plus identity-based keys (a few hundred bytes); a
/// bigger ciphertext is refused before any work is spent on it.
const MAX_SECRET_BYTES: usize = 16 * 1024;

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Not JSON of the expected shape.
    #[error("key file is not valid JSON: {0}")]
    Json(serde_json::Error),
    /// The file ends early (cut short by a full disk or an interrupted copy).
    #[error("key file is truncated: {0}")]
    Truncated(String),
    /// The private key is not 64 hex characters of a valid key.
    #[error("private key is malformed")]
    PrivateKey,
    /// The private key does not match the public key.
    #[error("private key does not match public key {0}")]
    Mismatch(Address),
    /// A version this program does not know (written by a newer medchain).
    #[error("key file version {0} is not supported (this medchain reads versions 1 and 2)")]
    UnsupportedVersion(u64),
    /// An algorithm this program does not implement.
    #[error("key file uses {0:?}, which this medchain does not implement")]
    UnsupportedAlgorithm(String),
    /// KDF costs outside what is accepted (too weak to seal with, or so large that reading
    /// the file would exhaust memory or time).
    #[error("key file KDF parameters refused: {0}")]
    KdfParams(&'static str),
    /// A hex field is not hex, or has the wrong length.
    #[error("key file field {0} is malformed")]
    Field(&'static str),
    /// The passphrase does not open the file.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The passphrase is right but the sealed part (or the address or KDF parameters bound to
    /// it) was modified.
    #[error("the key file was modified: its sealed keys no longer authenticate")]
    Tampered,
    /// Sealing with an empty passphrase would protect nothing.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The file is encrypted and this reader takes only plain keys.
    #[error("the key file is encrypted (version 2) and needs its passphrase")]
    Encrypted,
}

impl From<serde_json::Error> for KeyFileError {
    fn from(error: serde_json::Error) -> Self {
        if error.is_eof() {
            Self::Truncated(error.to_string())
        } else {
            Self::Json(error)
        }
    }
}

/// The secrets a key file holds.
pub struct KeyMaterial {
    /// The ed25519 chain key: the account that signs transactions.
    pub key: PrivateKey,
    /// The identity-based keys from enrolment (taka's `EntityKeys` encoding), once enrolled.
    pub entity_keys: Option<Zeroizing<Vec<u8>>>,
}

impl KeyMaterial {
    /// A chain key alone (not enrolled yet).
    pub fn new(key: PrivateKey) -> Self {
        Self {
            key,
            entity_keys: None,
        }
    }

    /// The address the chain key signs as.
    pub fn address(&self) -> Address {
        Address::from(self.key.public_key())
    }

    /// private key ‖ entity keys: what is sealed.
    fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let mut plaintext = Zeroizing::new(self.key.encode().to_vec());
        if let Some(entity_keys) = &self.entity_keys {
            plaintext.extend_from_slice(entity_keys);
        }
        plaintext
    }

    fn from_plaintext(plaintext: &[u8], address: Address) -> Result<Self, KeyFileError> {
        if plaintext.len() < PRIVATE_KEY_LEN {
            return Err(KeyFileError::PrivateKey);
        }
        let (key, entity_keys) = plaintext.split_at(PRIVATE_KEY_LEN);
        let key = private_key(key)?;
        if Address::from(key.public_key()) != address {
            return Err(KeyFileError::Mismatch(address));
        }
        Ok(Self {
            key,
            entity_keys: (!entity_keys.is_empty()).then(|| Zeroizing::new(entity_keys.to_vec())),
        })
    }
}

/// Argon2id cost parameters, stored in each encrypted file so later versions can raise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Parallel lanes.
    pub lanes: u32,
}

impl KdfParams {
    /// What new files are sealed with: RFC 9106's second recommended option (64 MiB, 3 passes)
    /// on one lane, about a quarter of a second on a laptop.
    pub const DEFAULT: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        lanes: 1,
    };

    /// The weakest parameters anything is sealed with: OWASP's Argon2id floor (19 MiB, 2
    /// passes). A passphrase is low-entropy; cheaper settings make offline guessing cheap.
    pub const MIN: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };

    /// Largest memory a reader accepts (1 GiB), so a crafted file cannot exhaust memory.
    pub const MAX_MEMORY_KIB: u32 = 1 << 20;
    /// Largest pass count a reader accepts.
    pub const MAX_ITERATIONS: u32 = 16;
    /// Largest lane count a reader accepts.
    pub const MAX_LANES: u32 = 8;

    /// Parameters a reader accepts: bounded above, and valid for Argon2.
    fn check_readable(&self) -> Result<(), KeyFileError> {
        if !(1..=Self::MAX_LANES).contains(&self.lanes) {
            return Err(KeyFileError::KdfParams("lanes must be 1 to 8"));
        }
        if self.memory_kib < 8 * self.lanes || self.memory_kib > Self::MAX_MEMORY_KIB {
            return Err(KeyFileError::KdfParams(
                "memory must be 8 KiB per lane to 1 GiB",
            ));
        }
        if !(1..=Self::MAX_ITERATIONS).contains(&self.iterations) {
            return Err(KeyFileError::KdfParams("iterations must be 1 to 16"));
        }
        Ok(())
    }

    /// Parameters a file may be sealed with: readable and at least [`KdfParams::MIN`].
    fn check_sealable(&self) -> Result<(), KeyFileError> {
        self.check_readable()?;
        if self.memory_kib < Self::MIN.memory_kib || self.iterations < Self::MIN.iterations {
            return Err(KeyFileError::KdfParams(
                "weaker than the minimum of 19 MiB and 2 passes",
            ));
        }
        Ok(())
    }

    /// AES key ‖ check value, derived from the passphrase.
    fn derive(
        &self,
        passphrase: &str,
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; AES_KEY_LEN + CHECK_LEN]>, KeyFileError> {
        let params = Params::new(
            self.memory_kib,
            self.iterations,
            self.lanes,
            Some(AES_KEY_LEN + CHECK_LEN),
        )
        .map_err(|_| KeyFileError::KdfParams("rejected by argon2"))?;
        let mut out = Zeroizing::new([0u8; AES_KEY_LEN + CHECK_LEN]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), salt, &mut *out)
            .map_err(|_| KeyFileError::KdfParams("rejected by argon2"))?;
        Ok(out)
    }
}

/// Plain (version 1) key file JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainJson {
    public_key: Address,
    private_key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfJson {
    algorithm: String,
    #[serde(flatten)]
    params: KdfParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherJson {
    algorithm: String,
    nonce: String,
}

/// Encrypted (version 2) key file JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedJson {
    version: u64,
    public_key: Address,
    kdf: KdfJson,
    check: String,
    cipher: CipherJson,
    ciphertext: String,
}

/// Only the version field, to dispatch on before parsing the rest.
#[derive(Deserialize)]
struct Versioned {
    version: Option<u64>,
}

/// A key file as parsed, before any passphrase is asked for.
pub enum KeyFile {
    /// Version 1: the key in clear.
    Plain(PrivateKey),
    /// Version 2: sealed under a passphrase.
    Encrypted(EncryptedKeyFile),
}

impl KeyFile {
    /// Parses either version. A plain file is checked for a consistent key pair; an encrypted
    /// one for a supported format with acceptable KDF costs (its secrets need the passphrase).
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let versioned: Versioned = serde_json::from_str(text)?;
        match versioned.version {
            None | Some(1) => Ok(Self::Plain(from_json(text)?)),
            Some(ENCRYPTED_VERSION) => EncryptedKeyFile::parse(text).map(Self::Encrypted),
            Some(other) => Err(KeyFileError::UnsupportedVersion(other)),
        }
    }

    /// The address the key signs as (readable without the passphrase).
    pub fn address(&self) -> Address {
        match self {
            Self::Plain(key) => Address::from(key.public_key()),
            Self::Encrypted(file) => file.address,
        }
    }
}

/// A parsed version-2 key file; [`EncryptedKeyFile::decrypt`] opens it.
pub struct EncryptedKeyFile {
    address: Address,
    params: KdfParams,
    salt: [u8; SALT_LEN],
    check: [u8; CHECK_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl EncryptedKeyFile {
    fn parse(text: &str) -> Result<Self, KeyFileError> {
        let json: EncryptedJson = serde_json::from_str(text)?;
        for (algorithm, supported) in [
            (&json.kdf.algorithm, KDF_ALGORITHM),
            (&json.cipher.algorithm, CIPHER_ALGORITHM),
        ] {
            if algorithm != supported {
                return Err(KeyFileError::UnsupportedAlgorithm(algorithm.clone()));
            }
        }
        json.kdf.params.check_readable()?;
        let ciphertext =
            hex::decode(&json.ciphertext).map_err(|_| KeyFileError::Field("ciphertext"))?;
        if ciphertext.len() < PRIVATE_KEY_LEN + TAG_LEN {
            return Err(KeyFileError::Truncated(format!(
                "the ciphertext has {} bytes, fewer than a key and its tag",
                ciphertext.len()
            )));
        }
        if ciphertext.len() > MAX_SECRET_BYTES + TAG_LEN {
            return Err(KeyFileError::Field("ciphertext"));
        }
        Ok(Self {
            address: json.public_key,
            params: json.kdf.params,
            salt: fixed_hex(&json.kdf.salt, "kdf.salt")?,
            check: fixed_hex(&json.check, "check")?,
            nonce: fixed_hex(&json.cipher.nonce, "cipher.nonce")?,
            ciphertext,
        })
    }

    /// The address the key signs as.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The KDF costs the file was sealed with.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// Opens the file. A wrong passphrase and a modified file are told apart (see the module
    /// documentation); either way nothing secret is returned.
    pub fn decrypt(&self, passphrase: &str) -> Result<KeyMaterial, KeyFileError> {
        let derived = self.params.derive(passphrase, &self.salt)?;
        let (aes_key, check) = derived.split_at(AES_KEY_LEN);
        // Constant time is moot here (the check is stored in the file), but cheap.
        if !constant_time_eq(check, &self.check) {
            return Err(KeyFileError::WrongPassphrase);
        }
        let plaintext = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(aes_key))
            .decrypt(
                Nonce::from_slice(&self.nonce),
                Payload {
                    msg: &self.ciphertext,
                    aad: &associated_data(&self.address, &self.params, &self.salt),
                },
            )
            .map_err(|_| KeyFileError::Tampered)?;
        KeyMaterial::from_plaintext(&Zeroizing::new(plaintext), self.address)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the tag authenticates besides the secrets: the format, the address and the KDF costs
/// (so nobody can swap the shown address or weaken the parameters unnoticed).
fn associated_data(address: &Address, params: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(address.as_bytes());
    for cost in [params.memory_kib, params.iterations, params.lanes] {
        aad.extend_from_slice(&cost.to_be_bytes());
    }
    aad.extend_from_slice(salt);
    aad
}

fn fixed_hex<const N: usize>(text: &str, field: &'static str) -> Result<[u8; N], KeyFileError> {
    let bytes = hex::decode(text).map_err(|_| KeyFileError::Field(field))?;
    bytes.try_into().map_err(|_| KeyFileError::Field(field))
}

fn private_key(bytes: &[u8]) -> Result<PrivateKey, KeyFileError> {
    PrivateKey::decode(Copying(bytes)).map_err(|_| KeyFileError::PrivateKey)
}

/// Seals `material` under `passphrase` as version-2 JSON, with a fresh salt and nonce from
/// `rng`. Refuses an empty passphrase and parameters below [`KdfParams::MIN`].
pub fn seal(
    material: &KeyMaterial,
    passphrase: &str,
    params: KdfParams,
    rng: &mut impl CryptoRng,
) -> Result<String, KeyFileError> {
    if passphrase.is_empty() {
        return Err(KeyFileError::EmptyPassphrase);
    }
    params.check_sealable()?;
    let plaintext = material.to_plaintext();
    if plaintext.len() > MAX_SECRET_BYTES {
        return Err(KeyFileError::Field("entity keys"));
    }
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    let derived = params.derive(passphrase, &salt)?;
    let (aes_key, check) = derived.split_at(AES_KEY_LEN);
    let address = material.address();
    let ciphertext = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(aes_key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &associated_data(&address, &params, &salt),
            },
        )
        // AES-GCM fails only beyond 2^36 bytes; the plaintext is bounded above.
        .map_err(|_| KeyFileError::Field("entity keys"))?;
    let json = EncryptedJson {
        version: ENCRYPTED_VERSION,
        public_key: address,
        kdf: KdfJson {
            algorithm: KDF_ALGORITHM.into(),
            params,
            salt: hex::encode(salt),
        },
        check: hex::encode(check),
        cipher: CipherJson {
            algorithm: CIPHER_ALGORITHM.into(),
            nonce: hex::encode(nonce),
        },
        ciphertext: hex::encode(ciphertext),
    };
    serde_json::to_string_pretty(&json).map_err(KeyFileError::Json)
}

/// Renders a key as plain (version 1) key-file JSON.
pub fn to_json(key: &PrivateKey) -> String {
    let json = PlainJson {
        public_key: Address::from(key.public_key()),
        private_key: hex::encode(key.encode()),
    };
    // Serialising two strings cannot fail.
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// Parses plain (version 1) key-file JSON, checking the key pair is consistent; an encrypted
/// file is [`KeyFileError::Encrypted`].
pub fn from_json(text: &str) -> Result<PrivateKey, KeyFileError> {
    if let Versioned {
        version: Some(ENCRYPTED_VERSION),
    } = serde_json::from_str(text)?
    {
        return Err(KeyFileError::Encrypted);
    }
    let json: PlainJson = serde_json::from_str(text)?;
    let bytes =
        Zeroizing::new(hex::decode(json.private_key.trim()).map_err(|_| KeyFileError::PrivateKey)?);
    let key = private_key(&bytes)?;
    if Address::from(key.public_key()) != json.public_key {
        return Err(KeyFileError::Mismatch(json.public_key));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_utils::test_rng;

    /// The floor, so tests spend as little time in Argon2 as sealing allows.
    const FAST: KdfParams = KdfParams::MIN;

    fn sealed(passphrase: &str, entity_keys: Option<&[u8]>) -> (KeyMaterial, String) {
        let material = KeyMaterial {
            key: PrivateKey::from_seed(7),
            entity_keys: entity_keys.map(|bytes| Zeroizing::new(bytes.to_vec())),
        };
        let text = seal(&material, passphrase, FAST, &mut test_rng()).unwrap();
        (material, text)
    }

    fn encrypted(text: &str) -> EncryptedKeyFile {
        match KeyFile::parse(text).unwrap() {
            KeyFile::Encrypted(file) => file,
            KeyFile::Plain(_) => panic!("parsed as plain"),
        }
    }

    #[test]
    fn key_files_round_trip_and_reject_mismatches() {
        let key = PrivateKey::from_seed(3);
        let json = to_json(&key);
        assert_eq!(from_json(&json).unwrap().public_key(), key.public_key());

        let other = Address::from(PrivateKey::from_seed(4).public_key());
        let tampered = json.replace(
            &Address::from(key.public_key()).to_string(),
            &other.to_string(),
        );
        assert!(matches!(
            from_json(&tampered),
            Err(KeyFileError::Mismatch(_))
        ));
        assert!(from_json("{}").is_err());
        assert!(from_json(&json.replace("\"private_key\": \"", "\"private_key\": \"zz")).is_err());
    }

    #[test]
    fn plain_files_still_parse_as_version_one() {
        let key = PrivateKey::from_seed(3);
        let file = KeyFile::parse(&to_json(&key)).unwrap();
        assert_eq!(file.address(), Address::from(key.public_key()));
        assert!(matches!(file, KeyFile::Plain(_)));
    }

    #[test]
    fn encrypted_files_round_trip_with_and_without_entity_keys() {
        for entity_keys in [None, Some(&[5u8; 300][..])] {
            let (material, text) = sealed("correct horse", entity_keys);
            assert!(!text.contains(&hex::encode(material.key.encode())));
            let file = encrypted(&text);
            assert_eq!(file.address(), material.address());
            assert_eq!(file.params(), FAST);
            let opened = file.decrypt("correct horse").unwrap();
            assert_eq!(opened.address(), material.address());
            assert_eq!(
                opened.entity_keys.as_deref().map(|k| k.as_slice()),
                entity_keys
            );
            // Plain-only readers say it is encrypted instead of failing on its shape.
            assert!(matches!(from_json(&text), Err(KeyFileError::Encrypted)));
        }
    }

    #[test]
    fn a_wrong_passphrase_is_told_apart_from_a_tampered_file() {
        let (_, text) = sealed("correct horse", None);
        assert!(matches!(
            encrypted(&text).decrypt("battery staple"),
            Err(KeyFileError::WrongPassphrase)
        ));

        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ciphertext = json["ciphertext"].as_str().unwrap().to_string();
        let flipped = if ciphertext.starts_with('0') {
            "1"
        } else {
            "0"
        };
        json["ciphertext"] = format!("{flipped}{}", &ciphertext[1..]).into();
        assert!(matches!(
            encrypted(&json.to_string()).decrypt("correct horse"),
            Err(KeyFileError::Tampered)
        ));

        // The shown address is authenticated: swapping it breaks the tag.
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["public_key"] = Address::from(PrivateKey::from_seed(8).public_key())
            .to_string()
            .into();
        assert!(matches!(
            encrypted(&json.to_string()).decrypt("correct horse"),
            Err(KeyFileError::Tampered)
        ));
    }

    #[test]
    fn truncated_and_malformed_files_are_typed_errors() {
        let (_, text) = sealed("correct horse", None);
        for cut in [1, text.len() / 2, text.len() - 3] {
            assert!(
                matches!(
                    KeyFile::parse(&text[..cut]),
                    Err(KeyFileError::Truncated(_))
                ),
                "cut at {cut}"
            );
        }
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ciphertext = json["ciphertext"].as_str().unwrap().to_string();
        json["ciphertext"] = ciphertext[..40].into();
        assert!(matches!(
            KeyFile::parse(&json.to_string()),
            Err(KeyFileError::Truncated(_))
        ));
        json["ciphertext"] = "zz".into();
        assert!(matches!(
            KeyFile::parse(&json.to_string()),
            Err(KeyFileError::Field("ciphertext"))
        ));

        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["kdf"]["salt"] = "00".into();
        assert!(matches!(
            KeyFile::parse(&json.to_string()),
            Err(KeyFileError::Field("kdf.salt"))
        ));
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["version"] = 3.into();
        assert!(matches!(
            KeyFile::parse(&json.to_string()),
            Err(KeyFileError::UnsupportedVersion(3))
        ));
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["cipher"]["algorithm"] = "rot13".into();
        assert!(matches!(
            KeyFile::parse(&json.to_string()),
            Err(KeyFileError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn readers_cap_kdf_costs_and_sealing_refuses_weak_ones() {
        let (_, text) = sealed("correct horse", None);
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["kdf"]["memory_kib"] = (KdfParams::MAX_MEMORY_KIB + 1).into();
        assert!(matches!(
            KeyFile::parse(&json.to_string()),
            Err(KeyFileError::KdfParams(_))
        ));
        // Lowering the costs in the file is caught too: they are authenticated.
        json["kdf"]["memory_kib"] = (FAST.memory_kib / 2).into();
        assert!(matches!(
            encrypted(&json.to_string()).decrypt("correct horse"),
            Err(KeyFileError::WrongPassphrase | KeyFileError::Tampered)
        ));

        let material = KeyMaterial::new(PrivateKey::from_seed(1));
        let weak = KdfParams {
            memory_kib: 8 * 1024,
            ..KdfParams::MIN
        };
        assert!(matches!(
            seal(&material, "correct horse", weak, &mut test_rng()),
            Err(KeyFileError::KdfParams(_))
        ));
        assert!(matches!(
            seal(&material, "", FAST, &mut test_rng()),
            Err(KeyFileError::EmptyPassphrase)
        ));
    }
}
