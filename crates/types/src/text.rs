//! Bounded, validated text fields. Validation runs when parsing *and* when decoding, so a value
//! of these types is always well-formed, whichever way it arrived.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadRangeExt, Write};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};
use std::{fmt, str::FromStr};

/// Why a text field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Empty, or longer than the field allows.
    #[error("{field} must be 1 to {max} bytes long, got {len}")]
    Length {
        /// Field name.
        field: &'static str,
        /// Maximum length in bytes.
        max: usize,
        /// Length given.
        len: usize,
    },
    /// A character outside the field's alphabet.
    #[error("{field} may only contain {allowed}; found {found:?}")]
    Character {
        /// Field name.
        field: &'static str,
        /// Description of the allowed alphabet.
        allowed: &'static str,
        /// First offending character.
        found: char,
    },
}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $allowed:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates `text` and wraps it.
            pub fn new(text: impl Into<String>) -> Result<Self, TextError> {
                let text = text.into();
                if text.is_empty() || text.len() > Self::MAX_LEN {
                    return Err(TextError::Length { field: $field, max: Self::MAX_LEN, len: text.len() });
                }
                let ok: fn(char) -> bool = $ok;
                if let Some(found) = text.chars().find(|c| !ok(*c)) {
                    return Err(TextError::Character { field: $field, allowed: $allowed, found });
                }
                Ok(Self(text))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                self.0.as_bytes().write(buf);
            }
        }

        impl EncodeSize for $name {
            fn encode_size(&self) -> usize {
                self.0.as_bytes().encode_size()
            }
        }

        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                let bytes = Vec::<u8>::read_range(buf, 1..=Self::MAX_LEN)?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| CodecError::Invalid($field, "not UTF-8"))?;
                Self::new(text).map_err(|e| CodecError::Wrapped($field, e.into()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = TextError;
            fn from_str(s: &str) -> Result<Self, TextError> {
                Self::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(d)?).map_err(D::Error::custom)
            }
        }
    };
}

bounded_text!(
    /// The chain's name, part of every signed message so a transaction for one chain is
    /// invalid on every other (replay protection across chains).
    ChainId,
    "chain id",
    32,
    "lowercase letters, digits and '-'",
    |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
);

bounded_text!(
    /// An organisation's registered name (S2-register), e.g. `Seoul General Hospital`.
    OrgName,
    "organisation name",
    64,
    "letters, digits, spaces and . _ -",
    |c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '-')
);

bounded_text!(
    /// Where an encrypted record blob is stored (S1-storage), e.g. `s3://bucket/key`.
    Uri,
    "storage location",
    256,
    "printable ASCII without spaces",
    |c| c.is_ascii_graphic()
);

bounded_text!(
    /// A participant's identity in the identity-based cryptography (S3-register): the string its
    /// keys are extracted for. Patients use [`IdentityName::patient_pseudonym`] (S4-ca: no name
    /// or national id on chain); doctors and hospitals choose one, e.g. `dr-kim@seoul-general`.
    IdentityName,
    "identity",
    80,
    "lowercase letters, digits and - . _ @ :",
    |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_' | '@' | ':')
);

bounded_text!(
    /// Where a validator candidate's node is dialled by its peers (S1-dpos), `host:port`,
    /// e.g. `10.0.0.7:9000` or `node-4.seoul-general.example:9000`.
    PeerAddress,
    "p2p address",
    crate::limits::MAX_PEER_ADDRESS_LEN,
    "letters, digits and . - : [ ]",
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
);

impl IdentityName {
    /// Prefix reserved for patients' pseudonyms; no other role may enrol a name starting with it.
    pub const PATIENT_PREFIX: &'static str = "patient:";

    /// The pseudonymous identity of the patient holding `address` (S4-ca): derived from the
    /// address alone, so it says nothing the address does not already say.
    pub fn patient_pseudonym(address: &crate::Address) -> Self {
        Self(format!(
            "{}{}",
            Self::PATIENT_PREFIX,
            hex::encode(address.as_bytes())
        ))
    }

    /// Whether the name is in the patients' reserved namespace.
    pub fn is_patient_pseudonym(&self) -> bool {
        self.0.starts_with(Self::PATIENT_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn valid_text_round_trips() {
        let name = OrgName::new("Seoul General Hospital").unwrap();
        assert_eq!(OrgName::decode(name.encode()).unwrap(), name);
        let chain: ChainId = "medchain-devnet".parse().unwrap();
        assert_eq!(ChainId::decode(chain.encode()).unwrap(), chain);
    }

    #[test]
    fn invalid_text_is_rejected_when_parsed_and_when_decoded() {
        assert!(matches!(OrgName::new(""), Err(TextError::Length { .. })));
        assert!(matches!(
            OrgName::new("a".repeat(65)),
            Err(TextError::Length { .. })
        ));
        assert!(matches!(
            OrgName::new("evil\nname"),
            Err(TextError::Character { .. })
        ));
        assert!(ChainId::new("MedChain").is_err());
        assert!(Uri::new("has space").is_err());
        assert!(IdentityName::new("Dr Kim").is_err());
        assert!(PeerAddress::new("127.0.0.1:9000").is_ok());
        assert!(PeerAddress::new("[::1]:9000").is_ok());
        assert!(PeerAddress::new("host:9000/path").is_err());
        assert!(PeerAddress::new("a".repeat(65)).is_err());
    }

    #[test]
    fn patient_pseudonyms_are_valid_names_in_the_reserved_namespace() {
        let address = crate::Address::from_bytes([0xab; 32]);
        let pseudonym = IdentityName::patient_pseudonym(&address);
        assert_eq!(IdentityName::new(pseudonym.as_str()).unwrap(), pseudonym);
        assert!(pseudonym.is_patient_pseudonym());
        assert!(
            !IdentityName::new("dr-kim@seoul")
                .unwrap()
                .is_patient_pseudonym()
        );
        // Bytes that bypass `new` must still be refused by the decoder.
        let forged = b"bad\nname".as_slice().encode();
        assert!(OrgName::decode(forged).is_err());
        let not_utf8 = [0xffu8, 0xfe].as_slice().encode();
        assert!(OrgName::decode(not_utf8).is_err());
    }
}
