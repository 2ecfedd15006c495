//! Hex (de)serialisation of codec-encoded values, for JSON views of wire types.

use commonware_codec::{DecodeExt, Encode};
use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

/// Serialises a codec value as lowercase hex of its canonical encoding.
pub fn serialize<T: Encode, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(value.encode()))
}

/// Parses hex and decodes it with the value's canonical decoder.
pub fn deserialize<'de, T: DecodeExt<()>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    // Owned text too: a JSON value, or a field buffered by an internally tagged enum.
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    let bytes = hex::decode(text.as_ref()).map_err(D::Error::custom)?;
    T::decode(bytes).map_err(D::Error::custom)
}
