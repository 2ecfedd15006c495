//! Hex (de)serialisation for JSON views: of codec-encoded values and of raw bytes.

/// A codec value as lowercase hex of its canonical encoding.
pub mod codec {
    use commonware_codec::{Copying, Decode, Encode};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serialises the canonical encoding as hex.
    pub fn serialize<T: Encode, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(value.encode()))
    }

    /// Parses hex and decodes it canonically.
    pub fn deserialize<'de, T: Decode<Cfg = ()>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = hex::decode(text.as_ref()).map_err(D::Error::custom)?;
        T::decode_cfg(Copying(&bytes), &()).map_err(D::Error::custom)
    }
}

/// Raw bytes as lowercase hex.
pub mod bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serialises bytes as hex.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    /// Parses hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        hex::decode(text.as_ref()).map_err(D::Error::custom)
    }
}

/// Optional raw bytes as lowercase hex or `null`.
pub mod option_bytes {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serialises `Some(bytes)` as hex and `None` as `null`.
    pub fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_some(&hex::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    /// Parses hex or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        let text = Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.map(|text| hex::decode(text.as_ref()).map_err(D::Error::custom))
            .transpose()
    }
}
