//! List answers — a patient's records and consents, an organisation's members, the
//! organisations — each entry proven at one finalized height; and id-prefix lookups, so a
//! user can type the first hex digits of an id instead of all 64.

use crate::HeaderView;
use medchain_state::ProvenValue;
use medchain_types::TxId;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use utoipa::ToSchema;

/// Most entries one list page holds (`limit`'s maximum).
pub const MAX_LIST_PAGE: usize = 100;

/// Most ids one prefix lookup returns.
pub const MAX_ID_MATCHES: usize = 20;

/// One page of a proven list: its length and the entries from `from`, every proof taken at
/// the height of `header`, which `finalization` certifies. Lists have no gaps, so the length
/// `total` is proven by entry `total - 1` existing (`last_proof`) and entry `total` not
/// (`end_proof`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProvenListView {
    /// Entries in the list in total.
    pub total: u64,
    /// Sequence number of the first entry on this page.
    pub from: u64,
    /// Exclusion proof of entry `total`: the list ends there.
    #[schema(value_type = Object)]
    pub end_proof: ProvenValue,
    /// Inclusion proof of entry `total - 1` (absent when `total` is 0).
    #[schema(value_type = Option<Object>)]
    pub last_proof: Option<ProvenValue>,
    /// Entries `from`, `from + 1`, … in order: `min(limit, total - from)` of them.
    pub entries: Vec<ListedEntryView>,
    /// The header whose `state_root` every proof verifies against.
    pub header: HeaderView,
    /// That header's finalization certificate (hex; absent for genesis).
    pub finalization: Option<String>,
}

/// One list entry: the id stored at `seq` and the value it names, each with its proof.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ListedEntryView {
    /// Position in the list, from 0.
    pub seq: u64,
    /// The id at `seq` (a record id, consent id, address or organisation name), decoded for
    /// display. Verify `entry_proof` before trusting it.
    #[schema(value_type = serde_json::Value)]
    pub id: serde_json::Value,
    /// What the id names (the record, consent, membership or organisation), decoded for
    /// display; `null` when proven absent (a spent output) or when the list names nothing (a
    /// history, whose `id` is the entry). Verify `item_proof` before trusting it.
    #[schema(value_type = serde_json::Value)]
    pub value: serde_json::Value,
    /// The entry's key, value and inclusion proof.
    #[schema(value_type = Object)]
    pub entry_proof: ProvenValue,
    /// The named value's key, value and proof (absent for a history, whose entries name
    /// nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub item_proof: Option<ProvenValue>,
}

/// What an id prefix is looked up among.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// Released records (a record id is its release transaction's id).
    Record,
    /// Consents (a consent id is its grant transaction's id).
    Consent,
    /// Finalized transactions of any kind.
    Tx,
}

impl IdKind {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Record, Self::Consent, Self::Tx];

    /// The name the API and the CLI use (`record`, `consent`, `tx`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Record => "record",
            Self::Consent => "consent",
            Self::Tx => "tx",
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IdKind {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| "expected record, consent or tx".to_string())
    }
}

/// The ids a prefix matches. Not proven: a node could leave ids out or add ones that do not
/// exist (though never one without the prefix: clients check), so a client verifies the full
/// id it picks as it would a typed one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IdMatchesView {
    /// What was searched.
    pub kind: IdKind,
    /// The prefix, lowercase.
    pub prefix: String,
    /// Matching ids in ascending order, at most [`MAX_ID_MATCHES`].
    pub matches: Vec<TxId>,
    /// Whether `matches` holds every match; if not, a longer prefix narrows it.
    pub complete: bool,
}

/// The leading hex digits of a 32-byte id: at least [`IdPrefix::MIN_LEN`], at most 64.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdPrefix(String);

/// Why text is not an id prefix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdPrefixError {
    /// Fewer than [`IdPrefix::MIN_LEN`] or more than 64 characters.
    #[error(
        "an id or id prefix has {min} to 64 hex characters, got {0}",
        min = IdPrefix::MIN_LEN
    )]
    Length(usize),
    /// A character other than 0-9, a-f, A-F.
    #[error("an id has only hex characters (0-9, a-f), got {0:?}")]
    NotHex(char),
}

impl IdPrefix {
    /// Fewest hex digits accepted (16 bits: a handful of candidates on a large chain).
    pub const MIN_LEN: usize = 4;

    /// The prefix, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The whole id, when all 64 digits were given.
    pub fn full(&self) -> Option<[u8; 32]> {
        (self.0.len() == 64).then(|| self.padded('0'))
    }

    /// The lowest and the highest id with this prefix.
    pub fn bounds(&self) -> ([u8; 32], [u8; 32]) {
        (self.padded('0'), self.padded('f'))
    }

    /// Whether `id` starts with this prefix.
    pub fn matches(&self, id: &[u8]) -> bool {
        hex::encode(id).starts_with(&self.0)
    }

    fn padded(&self, digit: char) -> [u8; 32] {
        let mut text = self.0.clone();
        text.extend(std::iter::repeat_n(digit, 64 - self.0.len()));
        let mut bytes = [0u8; 32];
        // 64 validated hex digits always decode into 32 bytes.
        hex::decode_to_slice(&text, &mut bytes).unwrap_or_default();
        bytes
    }
}

impl FromStr for IdPrefix {
    type Err = IdPrefixError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(IdPrefixError::NotHex(bad));
        }
        if !(Self::MIN_LEN..=64).contains(&text.len()) {
            return Err(IdPrefixError::Length(text.len()));
        }
        Ok(Self(text.to_ascii_lowercase()))
    }
}

impl fmt::Display for IdPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_validated_and_bound_the_ids_they_match() {
        let prefix: IdPrefix = "AbC1f".parse().unwrap();
        assert_eq!(prefix.as_str(), "abc1f");
        let (low, high) = prefix.bounds();
        assert_eq!(hex::encode(low), format!("abc1f{}", "0".repeat(59)));
        assert_eq!(hex::encode(high), format!("abc1f{}", "f".repeat(59)));
        assert!(prefix.matches(&low) && prefix.matches(&high));
        let mut outside = high;
        outside[2] = 0x20;
        assert!(!prefix.matches(&outside));
        assert_eq!(prefix.full(), None);

        let full: IdPrefix = "7".repeat(64).parse().unwrap();
        assert_eq!(full.full(), Some([0x77; 32]));
        assert_eq!(full.bounds(), ([0x77; 32], [0x77; 32]));

        assert_eq!("abc".parse::<IdPrefix>(), Err(IdPrefixError::Length(3)));
        assert_eq!(
            "a".repeat(65).parse::<IdPrefix>(),
            Err(IdPrefixError::Length(65))
        );
        assert_eq!("abcg".parse::<IdPrefix>(), Err(IdPrefixError::NotHex('g')));
        assert_eq!("ab c".parse::<IdPrefix>(), Err(IdPrefixError::NotHex(' ')));
        assert_eq!("".parse::<IdPrefix>(), Err(IdPrefixError::Length(0)));
    }

    #[test]
    fn kinds_parse_from_their_names() {
        for kind in IdKind::ALL {
            assert_eq!(kind.name().parse::<IdKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.name())
            );
        }
        assert!("records".parse::<IdKind>().is_err());
    }
}
