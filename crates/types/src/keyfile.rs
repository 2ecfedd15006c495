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
//! - **version 3, encrypted with a wallet**: the same JSON with `"version": 3`. The sealed
//!   plaintext is the chain key (32 bytes) ‖ the length of the identity-based keys (`u32`
//!   big-endian, 0 when not enrolled) ‖ those keys ‖ the [`Wallet`] as JSON: the patient's
//!   enrolments at hospital gateways (S3-agree) and a doctor's licence. The associated data
//!   names the version, so a version-3 file relabelled as version 2 (or back) no longer opens.
//!   Version-2 files still open (their wallet is empty) and are written as version 3 the next
//!   time they are replaced.
//!
//! Parsing checks that the private key derives the stated public key, so a hand-edited or
//! corrupted file is refused instead of signing as somebody else. Reading and writing the file
//! (with owner-only permissions) and asking for the passphrase are the caller's job: this
//! crate does no I/O.

use crate::{Address, IdentityName, PrivateKey};
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

/// The version number of encrypted key files without a wallet (still read).
pub const ENCRYPTED_V2: u64 = 2;
/// The version number encrypted key files are written with: sealed keys and a wallet.
pub const ENCRYPTED_VERSION: u64 = 3;
const KDF_ALGORITHM: &str = "argon2id";
const CIPHER_ALGORITHM: &str = "aes-256-gcm";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const CHECK_LEN: usize = 16;
const AES_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const PRIVATE_KEY_LEN: usize = 32;
/// Bound to the associated data so a sealed key file cannot be mistaken for anything else,
/// one per version so that relabelling a file's version breaks its tag.
const AAD_LABEL_V2: &[u8] = b"_MEDCHAIN_KEY_FILE_V2";
const AAD_LABEL_V3: &[u8] = b"_MEDCHAIN_KEY_FILE_V3";
/// Largest sealed secret: the chain key, identity-based keys (a few hundred bytes) and a
/// wallet (about 400 bytes per hospital); a bigger ciphertext is refused before any work is
/// spent on it.
const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Bytes of the identity-key length prefix in a version-3 plaintext.
const LEN_PREFIX: usize = 4;

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
    #[error("key file version {0} is not supported (this medchain reads versions 1 to 3)")]
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
    #[error("the key file is encrypted and needs its passphrase")]
    Encrypted,
    /// The sealed wallet authenticates but is not a wallet this medchain reads.
    #[error("the key file's wallet is malformed: {0}")]
    Wallet(String),
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
    /// What the holder keeps beside its keys: enrolments at hospitals, a doctor's licence.
    pub wallet: Wallet,
}

/// The holder's lasting protocol state, sealed with its keys (key file version 3).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wallet {
    /// A patient's enrolments (S3-agree), one per hospital.
    pub enrolments: Vec<HospitalLink>,
    /// A doctor's licence ρ (taka `Licence` encoding), as last handed out by its hospital.
    #[serde(with = "option_hex")]
    pub licence: Option<Vec<u8>>,
}

/// A patient's enrolment at one hospital: where its gateway is and the patient's side of the
/// agreement (taka `PatientEnrolment` encoding: c1 and the initial factors, secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HospitalLink {
    /// The hospital's identity (ID_A), as enrolled on chain.
    pub hospital: IdentityName,
    /// Base URL of the hospital's gateway.
    pub gateway: String,
    /// The patient's enrolment state.
    pub enrolment: SecretBytes,
}

impl Wallet {
    /// The link to `hospital`, if enrolled there.
    pub fn link(&self, hospital: &IdentityName) -> Option<&HospitalLink> {
        self.enrolments
            .iter()
            .find(|link| &link.hospital == hospital)
    }

    /// Adds or replaces (a re-enrolment) the link to `link.hospital`.
    pub fn put_link(&mut self, link: HospitalLink) {
        self.enrolments.retain(|old| old.hospital != link.hospital);
        self.enrolments.push(link);
    }
}

/// Secret bytes, hex in JSON, wiped when dropped. Decoding reads the hex in place (no copy of
/// it is left behind) and encoding wipes its hex text.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Zeroizing::new(hex::encode(&*self.0)))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = SecretBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("hex")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SecretBytes, E> {
                let mut bytes = Zeroizing::new(vec![0u8; text.len() / 2]);
                hex::decode_to_slice(text, &mut bytes[..]).map_err(E::custom)?;
                Ok(SecretBytes(bytes))
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

mod option_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_some(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| hex::decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl KeyMaterial {
    /// A chain key alone (not enrolled yet).
    pub fn new(key: PrivateKey) -> Self {
        Self {
            key,
            entity_keys: None,
            wallet: Wallet::default(),
        }
    }

    /// The address the chain key signs as.
    pub fn address(&self) -> Address {
        Address::from(self.key.public_key())
    }

    /// What is sealed (version 3): private key ‖ len ‖ entity keys ‖ wallet JSON. The buffer
    /// is sized for the largest accepted plaintext up front, so it never reallocates and
    /// leaves no unwiped copy of the secrets behind.
    fn to_plaintext(&self) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
        let entity_keys = self.entity_keys.as_deref().map_or(&[][..], |k| &k[..]);
        let too_big = || KeyFileError::Field("sealed keys and wallet");
        let len = u32::try_from(entity_keys.len()).map_err(|_| too_big())?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(MAX_SECRET_BYTES));
        plaintext.extend_from_slice(&self.key.encode());
        plaintext.extend_from_slice(&len.to_be_bytes());
        plaintext.extend_from_slice(entity_keys);
        if plaintext.len() > MAX_SECRET_BYTES {
            return Err(too_big());
        }
        serde_json::to_writer(&mut *plaintext, &self.wallet).map_err(KeyFileError::Json)?;
        if plaintext.len() > MAX_SECRET_BYTES {
            return Err(too_big());
        }
        Ok(plaintext)
    }

    fn from_plaintext(
        version: u64,
        plaintext: &[u8],
        address: Address,
    ) -> Result<Self, KeyFileError> {
        if plaintext.len() < PRIVATE_KEY_LEN {
            return Err(KeyFileError::PrivateKey);
        }
        let (key, rest) = plaintext.split_at(PRIVATE_KEY_LEN);
        let key = private_key(key)?;
        if Address::from(key.public_key()) != address {
            return Err(KeyFileError::Mismatch(address));
        }
        let (entity_keys, wallet) = if version == ENCRYPTED_V2 {
            (rest, Wallet::default())
        } else {
            split_v3(rest)?
        };
        Ok(Self {
            key,
            entity_keys: (!entity_keys.is_empty()).then(|| Zeroizing::new(entity_keys.to_vec())),
            wallet,
        })
    }
}

/// len ‖ entity keys ‖ wallet JSON, after the private key of a version-3 plaintext.
fn split_v3(rest: &[u8]) -> Result<(&[u8], Wallet), KeyFileError> {
    let malformed = |what: &str| KeyFileError::Wallet(what.into());
    let (len, rest) = rest
        .split_first_chunk::<LEN_PREFIX>()
        .ok_or_else(|| malformed("no identity-key length"))?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| malformed("length"))?;
    if rest.len() < len {
        return Err(malformed("identity keys cut short"));
    }
    let (entity_keys, wallet) = rest.split_at(len);
    let wallet = serde_json::from_slice(wallet).map_err(|e| KeyFileError::Wallet(e.to_string()))?;
    Ok((entity_keys, wallet))
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
    /// Versions 2 and 3: sealed under a passphrase.
    Encrypted(EncryptedKeyFile),
}

impl KeyFile {
    /// Parses either version. A plain file is checked for a consistent key pair; an encrypted
    /// one for a supported format with acceptable KDF costs (its secrets need the passphrase).
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let versioned: Versioned = serde_json::from_str(text)?;
        match versioned.version {
            None | Some(1) => Ok(Self::Plain(from_json(text)?)),
            Some(ENCRYPTED_V2 | ENCRYPTED_VERSION) => {
                EncryptedKeyFile::parse(text).map(Self::Encrypted)
            }
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

/// A parsed version-2 or version-3 key file; [`EncryptedKeyFile::decrypt`] opens it.
pub struct EncryptedKeyFile {
    version: u64,
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
            version: json.version,
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

    /// The format version (2 or 3); replacing a version-2 file writes version 3.
    pub fn version(&self) -> u64 {
        self.version
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
                    aad: &associated_data(self.version, &self.address, &self.params, &self.salt),
                },
            )
            .map_err(|_| KeyFileError::Tampered)?;
        KeyMaterial::from_plaintext(self.version, &Zeroizing::new(plaintext), self.address)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the tag authenticates besides the secrets: the format, the address and the KDF costs
/// (so nobody can swap the shown address or weaken the parameters unnoticed).
fn associated_data(version: u64, address: &Address, params: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let label = if version == ENCRYPTED_V2 {
        AAD_LABEL_V2
    } else {
        AAD_LABEL_V3
    };
    let mut aad = label.to_vec();
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

/// Seals `material` under `passphrase` as version-3 JSON, with a fresh salt and nonce from
/// `rng`. Refuses an empty passphrase and parameters below [`KdfParams::MIN`].
pub fn seal(
    material: &KeyMaterial,
    passphrase: &str,
    params: KdfParams,
    rng: &mut impl CryptoRng,
) -> Result<String, KeyFileError> {
    let plaintext = material.to_plaintext()?;
    let sealing = Sealing {
        version: ENCRYPTED_VERSION,
        address: material.address(),
        params,
    };
    sealing.seal(&plaintext, passphrase, rng)
}

/// Which format a plaintext is sealed as, for whom, at what cost.
struct Sealing {
    version: u64,
    address: Address,
    params: KdfParams,
}

impl Sealing {
    fn seal(
        &self,
        plaintext: &[u8],
        passphrase: &str,
        rng: &mut impl CryptoRng,
    ) -> Result<String, KeyFileError> {
        if passphrase.is_empty() {
            return Err(KeyFileError::EmptyPassphrase);
        }
        let params = self.params;
        params.check_sealable()?;
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut nonce);
        let derived = params.derive(passphrase, &salt)?;
        let (aes_key, check) = derived.split_at(AES_KEY_LEN);
        let ciphertext = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(aes_key))
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &associated_data(self.version, &self.address, &params, &salt),
                },
            )
            // AES-GCM fails only beyond 2^36 bytes; the plaintext is bounded above.
            .map_err(|_| KeyFileError::Field("sealed keys and wallet"))?;
        let json = EncryptedJson {
            version: self.version,
            public_key: self.address,
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
        version: Some(ENCRYPTED_V2 | ENCRYPTED_VERSION),
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
            wallet: Wallet::default(),
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
        json["version"] = 4.into();
        assert!(matches!(
            KeyFile::parse(&json.to_string()),
            Err(KeyFileError::UnsupportedVersion(4))
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

    fn wallet() -> Wallet {
        Wallet {
            enrolments: vec![HospitalLink {
                hospital: IdentityName::new("seoul-general").unwrap(),
                gateway: "http://127.0.0.1:9101".into(),
                enrolment: SecretBytes(Zeroizing::new(vec![0xa5; 180])),
            }],
            licence: Some(vec![0x17; 200]),
        }
    }

    /// A file sealed as `version` with an arbitrary plaintext (for old and malformed files).
    fn sealed_raw(version: u64, plaintext: &[u8]) -> String {
        let sealing = Sealing {
            version,
            address: Address::from(PrivateKey::from_seed(7).public_key()),
            params: FAST,
        };
        sealing
            .seal(plaintext, "correct horse", &mut test_rng())
            .unwrap()
    }

    #[test]
    fn the_wallet_round_trips_sealed_and_is_written_as_version_three() {
        let material = KeyMaterial {
            key: PrivateKey::from_seed(7),
            entity_keys: Some(Zeroizing::new(vec![5; 300])),
            wallet: wallet(),
        };
        let text = seal(&material, "correct horse", FAST, &mut test_rng()).unwrap();
        assert!(
            !text.contains(&hex::encode([0xa5; 180])),
            "the wallet is sealed"
        );
        let file = encrypted(&text);
        assert_eq!(file.version(), ENCRYPTED_VERSION);
        let opened = file.decrypt("correct horse").unwrap();
        assert_eq!(opened.wallet, wallet());
        assert_eq!(opened.entity_keys.as_deref(), Some(&vec![5; 300]));
        let hospital = IdentityName::new("seoul-general").unwrap();
        assert_eq!(
            opened.wallet.link(&hospital).unwrap().gateway,
            "http://127.0.0.1:9101"
        );
    }

    #[test]
    fn a_version_two_file_still_opens_with_an_empty_wallet() {
        let key = PrivateKey::from_seed(7);
        let plaintext = [&key.encode()[..], &[5u8; 300]].concat();
        let text = sealed_raw(ENCRYPTED_V2, &plaintext);
        let file = encrypted(&text);
        assert_eq!(file.version(), ENCRYPTED_V2);
        let opened = file.decrypt("correct horse").unwrap();
        assert_eq!(opened.address(), Address::from(key.public_key()));
        assert_eq!(opened.entity_keys.as_deref(), Some(&vec![5; 300]));
        assert_eq!(opened.wallet, Wallet::default());
        // Sealing it again writes version 3 and keeps everything.
        let again = seal(&opened, "correct horse", FAST, &mut test_rng()).unwrap();
        let file = encrypted(&again);
        assert_eq!(file.version(), ENCRYPTED_VERSION);
        assert_eq!(
            file.decrypt("correct horse")
                .unwrap()
                .entity_keys
                .as_deref(),
            Some(&vec![5; 300])
        );
    }

    #[test]
    fn relabelling_the_version_or_tampering_with_the_wallet_is_refused() {
        let material = KeyMaterial {
            wallet: wallet(),
            ..KeyMaterial::new(PrivateKey::from_seed(7))
        };
        let text = seal(&material, "correct horse", FAST, &mut test_rng()).unwrap();
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["version"] = ENCRYPTED_V2.into();
        assert!(matches!(
            encrypted(&json.to_string()).decrypt("correct horse"),
            Err(KeyFileError::Tampered)
        ));
        let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ciphertext = json["ciphertext"].as_str().unwrap().to_string();
        let at = ciphertext.len() - 40; // inside the wallet, before the tag
        let flipped = if &ciphertext[at..=at] == "0" {
            "1"
        } else {
            "0"
        };
        json["ciphertext"] =
            format!("{}{flipped}{}", &ciphertext[..at], &ciphertext[at + 1..]).into();
        assert!(matches!(
            encrypted(&json.to_string()).decrypt("correct horse"),
            Err(KeyFileError::Tampered)
        ));
    }

    #[test]
    fn a_malformed_sealed_wallet_is_a_typed_error() {
        let key = PrivateKey::from_seed(7).encode().to_vec();
        let cases: [(&str, Vec<u8>); 4] = [
            ("no length", key.clone()),
            ("length beyond the end", [&key[..], &[0, 0, 1, 0], &[1; 3]].concat()),
            ("not JSON", [&key[..], &[0; 4], b"wallet"].concat()),
            (
                "odd hex",
                [&key[..], &[0; 4], br#"{"enrolments":[{"hospital":"a","gateway":"g","enrolment":"abc"}],"licence":null}"#].concat(),
            ),
        ];
        for (case, plaintext) in cases {
            assert!(
                matches!(
                    encrypted(&sealed_raw(ENCRYPTED_VERSION, &plaintext)).decrypt("correct horse"),
                    Err(KeyFileError::Wallet(_))
                ),
                "{case}"
            );
        }
        let well_formed = [&key[..], &[0; 4], br#"{"enrolments":[],"licence":null}"#].concat();
        assert!(
            encrypted(&sealed_raw(ENCRYPTED_VERSION, &well_formed))
                .decrypt("correct horse")
                .is_ok()
        );
    }
}
