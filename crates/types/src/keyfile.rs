//! The key file format shared by `medchain keygen`, validators and clients.
//!
//! A key file is JSON: `{"public_key": "<hex>", "private_key": "<hex>"}`. Parsing checks that
//! the private key really derives the stated public key, so a hand-edited or corrupted file is
//! refused instead of signing as somebody else. Reading and writing the file (with owner-only
//! permissions) is the caller's job: this crate does no I/O.

use crate::{Address, PrivateKey};
use commonware_codec::{Copying, DecodeExt, Encode};
use commonware_cryptography::Signer;
use serde::{Deserialize, Serialize};

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Not JSON of the expected shape.
    #[error("key file is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The private key is not 64 hex characters of a valid key.
    #[error("private key is malformed")]
    PrivateKey,
    /// The private key does not match the public key.
    #[error("private key does not match public key {0}")]
    Mismatch(Address),
}

#[derive(Serialize, Deserialize)]
struct KeyFileJson {
    public_key: Address,
    private_key: String,
}

/// Renders a key as key-file JSON.
pub fn to_json(key: &PrivateKey) -> String {
    let json = KeyFileJson {
        public_key: Address::from(key.public_key()),
        private_key: hex::encode(key.encode()),
    };
    // Serialising two strings cannot fail.
    serde_json::to_string_pretty(&json).unwrap_or_default()
}

/// Parses key-file JSON, checking the key pair is consistent.
pub fn from_json(text: &str) -> Result<PrivateKey, KeyFileError> {
    let json: KeyFileJson = serde_json::from_str(text)?;
    let bytes = hex::decode(json.private_key.trim()).map_err(|_| KeyFileError::PrivateKey)?;
    let key = PrivateKey::decode(Copying(&bytes)).map_err(|_| KeyFileError::PrivateKey)?;
    if Address::from(key.public_key()) != json.public_key {
        return Err(KeyFileError::Mismatch(json.public_key));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
