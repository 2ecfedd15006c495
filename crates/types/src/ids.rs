//! Identifiers: 32-byte hashes and ed25519 addresses.

use bytes::BufMut;
use commonware_codec::{Buf, Error as CodecError, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{Hasher, Sha256, ed25519, sha256};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use std::{fmt, str::FromStr};

/// A SHA-256 digest: transaction ids, record hashes (hEMR), blob hashes, state roots.
pub type Hash32 = sha256::Digest;

/// Error parsing a hex-encoded identifier.
#[derive(Debug, thiserror::Error)]
#[error("expected {expected} hex characters, got {got:?}")]
pub struct ParseIdError {
    expected: usize,
    got: String,
}

/// Defines a 32-byte identifier newtype over [`Hash32`] with codec, hex `Display`/`FromStr` and serde.
macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = "hex"))]
        pub struct $name(pub Hash32);

        impl $name {
            /// The raw 32 bytes.
            pub fn as_bytes(&self) -> &[u8] {
                self.0.as_ref()
            }
        }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                self.0.write(buf);
            }
        }

        impl FixedSize for $name {
            const SIZE: usize = Hash32::SIZE;
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                Hash32::read(buf).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.as_bytes()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_fixed::<32>(s).map(|bytes| Self(Hash32::from(bytes)))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(D::Error::custom)
            }
        }
    };
}

hash_id!(
    /// A transaction's id: SHA-256 of its canonical signed encoding (S1-utxo: "hash = id").
    TxId
);
hash_id!(
    /// A medical record's on-chain id: the id of the transaction that released it (S1-release).
    RecordId
);
hash_id!(
    /// A consent's id: the id of the transaction that granted it (S1-sharing).
    ConsentId
);

hash_id!(
    /// An encrypted EMR entry's id: the id of the transaction that filed it (S3-entry).
    EntryId
);
hash_id!(
    /// An emergency request's id: the id of the transaction that filed tx_ur (S3-emergency).
    EmergencyId
);

hash_id!(
    /// An escrow's id: the id of the transaction that opened it (S1-utxo, contract lock).
    EscrowId
);

hash_id!(
    /// A research study's id: the id of the transaction that published it (S4-flow).
    StudyId
);

hash_id!(
    /// A study enrolment's id: the id of the transaction that enrolled (S4-flow).
    EnrolmentId
);

hash_id!(
    /// SHA-256 of content kept off chain: a record's plaintext (hEMR, S1-release) or its
    /// encrypted blob (S1-storage).
    ContentHash
);

impl ContentHash {
    /// Hashes content.
    pub fn of(content: &[u8]) -> Self {
        Self(Sha256::hash(&[content]))
    }
}

impl TxId {
    /// Hashes canonical transaction bytes into an id.
    pub fn of_encoded(bytes: &[u8]) -> Self {
        Self(Sha256::hash(&[bytes]))
    }
}

/// Ids of things a transaction creates are that transaction's id.
macro_rules! from_tx_id {
    ($($name:ident),+) => {$(
        impl From<TxId> for $name {
            fn from(id: TxId) -> Self {
                Self(id.0)
            }
        }
    )+};
}

from_tx_id!(
    RecordId,
    ConsentId,
    EntryId,
    EmergencyId,
    EscrowId,
    StudyId,
    EnrolmentId
);

/// An account: the 32-byte encoding of the ed25519 public key that signs its transactions.
///
/// For a patient this key *is* the pseudonym under which records are released (S1-release);
/// nothing on chain links it to a real-world identity.
///
/// Kept in its compressed 32-byte form: decoding a transaction or a state value never
/// decompresses a curve point (about 10 µs each, which dominated a validator's CPU profile).
/// Only signature checks need the point, through [`Address::public_key`]. An address that is
/// not a valid key is a well-formed identifier that can never sign anything.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = "hex"))]
pub struct Address([u8; 32]);

impl Address {
    /// Wraps the 32-byte encoding of a public key (not checked to be a valid key).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw 32 bytes of the public key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The public key, decompressed; fails if these 32 bytes are not an ed25519 point.
    pub fn public_key(&self) -> Result<ed25519::PublicKey, ParseAddressError> {
        ed25519::PublicKey::read(&mut commonware_codec::Copying(&self.0))
            .map_err(|_| ParseAddressError::NotAKey)
    }
}

impl From<ed25519::PublicKey> for Address {
    fn from(key: ed25519::PublicKey) -> Self {
        Self::from(&key)
    }
}

impl From<&ed25519::PublicKey> for Address {
    fn from(key: &ed25519::PublicKey) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key.as_ref());
        Self(bytes)
    }
}

impl Write for Address {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Address {
    const SIZE: usize = 32;
}

impl Read for Address {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        <[u8; 32]>::read(buf).map(Self)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

/// Error parsing an address.
#[derive(Debug, thiserror::Error)]
pub enum ParseAddressError {
    /// Not 64 hex characters.
    #[error(transparent)]
    Hex(#[from] ParseIdError),
    /// 32 bytes that are not an ed25519 public key.
    #[error("not a valid ed25519 public key")]
    NotAKey,
}

/// Parsing text (user input) also checks that the bytes are a public key, so a typo is caught
/// before anything is signed for it.
impl FromStr for Address {
    type Err = ParseAddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let address = Self(parse_fixed::<32>(s)?);
        address.public_key()?;
        Ok(address)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(D::Error::custom)
    }
}

fn parse_fixed<const N: usize>(s: &str) -> Result<[u8; N], ParseIdError> {
    let error = || ParseIdError {
        expected: 2 * N,
        got: s.chars().take(2 * N + 8).collect(),
    };
    let bytes = hex::decode(s.trim()).map_err(|_| error())?;
    bytes.try_into().map_err(|_| error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};
    use commonware_cryptography::Signer;

    #[test]
    fn ids_round_trip_through_hex_codec_and_json() {
        let id = TxId::of_encoded(b"a transaction");
        assert_eq!(id.to_string().parse::<TxId>().unwrap(), id);
        assert_eq!(TxId::decode(id.encode()).unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<TxId>(&json).unwrap(), id);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert!("zz".parse::<TxId>().is_err());
        assert!("00".repeat(31).parse::<TxId>().is_err());
        assert!("00".repeat(33).parse::<RecordId>().is_err());
        assert!(TxId::decode(vec![0u8; 31]).is_err());
    }

    #[test]
    fn address_round_trips_and_rejects_non_points() {
        let address = Address::from(ed25519::PrivateKey::from_seed(7).public_key());
        assert_eq!(address.to_string().parse::<Address>().unwrap(), address);
        let json = serde_json::to_string(&address).unwrap();
        assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address);
        // y = 2 is not the encoding of a point on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(matches!(
            hex::encode(not_a_point).parse::<Address>(),
            Err(ParseAddressError::NotAKey)
        ));
        // Decoding keeps the bytes (no decompression); only `public_key` checks them.
        let decoded = Address::decode(not_a_point.to_vec()).unwrap();
        assert!(matches!(
            decoded.public_key(),
            Err(ParseAddressError::NotAKey)
        ));
    }
}
