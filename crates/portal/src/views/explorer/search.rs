//! What a search term can mean. A term is read every way it parses — `1234` is a height, an
//! id prefix and an organisation name — and each reading is then looked up on the chain.

use medchain_api::IdPrefix;
use medchain_types::{Address, IdentityName, OrgName};

/// The readings of a search term.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Readings {
    pub height: Option<u64>,
    /// 4 to 64 hex digits: the start (or all) of a record, consent or transaction id.
    pub prefix: Option<IdPrefix>,
    /// 64 hex digits that are an ed25519 key: an account.
    pub address: Option<Address>,
    pub org: Option<OrgName>,
    pub identity: Option<IdentityName>,
}

impl Readings {
    /// Every way `term` (trimmed) parses; hex is read case-insensitively.
    pub fn of(term: &str) -> Self {
        let term = term.trim();
        let hex = term.to_ascii_lowercase();
        Self {
            height: term
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| term.parse().ok())
                .flatten(),
            prefix: hex.parse().ok(),
            address: hex.parse().ok(),
            org: OrgName::new(term).ok(),
            identity: IdentityName::new(term).ok(),
        }
    }

    /// Whether the term can mean nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::address;

    #[test]
    fn a_number_is_a_height_and_maybe_a_prefix_or_a_name() {
        let readings = Readings::of(" 42 ");
        assert_eq!(readings.height, Some(42));
        assert!(
            readings.prefix.is_none(),
            "fewer than 4 digits is no prefix"
        );
        assert_eq!(readings.org.as_ref().map(OrgName::as_str), Some("42"));
        let readings = Readings::of("1234");
        assert_eq!(readings.height, Some(1234));
        assert_eq!(readings.prefix.as_ref().map(IdPrefix::as_str), Some("1234"));
    }

    #[test]
    fn hex_is_a_prefix_and_a_full_key_is_an_address() {
        let readings = Readings::of("ABCDEF");
        assert_eq!(readings.height, None);
        assert_eq!(
            readings.prefix.as_ref().map(IdPrefix::as_str),
            Some("abcdef")
        );
        assert!(readings.address.is_none());
        let account = address(7);
        let readings = Readings::of(&account.to_string().to_uppercase());
        assert_eq!(readings.address, Some(account));
        assert!(readings.prefix.and_then(|p| p.full()).is_some());
    }

    #[test]
    fn names_are_organisations_or_identities() {
        let readings = Readings::of("Seoul General");
        assert_eq!(
            readings.org.as_ref().map(OrgName::as_str),
            Some("Seoul General")
        );
        assert!(
            readings.identity.is_none(),
            "identities have no spaces or capitals"
        );
        let readings = Readings::of("dr-kim@seoul");
        assert!(readings.identity.is_some());
        assert!(readings.org.is_none(), "organisation names have no @");
    }

    #[test]
    fn nonsense_means_nothing() {
        assert!(Readings::of("").is_empty());
        assert!(Readings::of("   ").is_empty());
        assert!(Readings::of("<script>!").is_empty());
        assert!(Readings::of(&"9".repeat(30)).height.is_none(), "beyond u64");
    }
}
