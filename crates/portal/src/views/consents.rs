//! A consent as patients and clinicians see it: active, revoked or expired, and its expiry as
//! a date (S1-sharing).

use crate::{error::PortalError, layout, reader::Reader};
use maud::{Markup, html};
use medchain_client::FinalizedHeader;
use medchain_state::{BlockEnv, consent::is_expired, values::Consent};
use medchain_types::{Expiry, Header};

/// Where a consent stands for the requests still to come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum ConsentState {
    Active,
    Expired,
    Revoked,
}

impl ConsentState {
    /// The state after the finalized block `at`. A consent is judged for the block after it:
    /// no request still to come can land in an earlier block or one with an earlier timestamp,
    /// so "expired" here means no request can rely on it any more.
    pub(super) fn of(consent: &Consent, at: &Header) -> Self {
        let next = BlockEnv {
            height: at.height.saturating_add(1),
            timestamp_ms: at.timestamp_ms,
        };
        if consent.revoked_at.is_some() {
            Self::Revoked
        } else if is_expired(consent.expiry, next) {
            Self::Expired
        } else {
            Self::Active
        }
    }

    /// `active`, `revoked` or `expired` (the page's `data-consent-state`).
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// The newest finalized header the page's reads were verified at.
pub(super) fn newest_seen(reader: &Reader<'_>) -> Result<FinalizedHeader, PortalError> {
    reader
        .seen()
        .range()
        .map(|(_, newest)| newest.clone())
        .ok_or_else(|| PortalError::Internal("the page read nothing from the chain".into()))
}

/// A consent's expiry: a date, or a block height with the date it is about due (from the
/// chain's average block interval since genesis).
pub(super) fn expiry(expiry: Expiry, at: &Header, genesis_ms: u64) -> Markup {
    match expiry {
        Expiry::AtTime(millis) => layout::time(millis),
        Expiry::AtHeight(height) => html! {
            "before block " (height)
            @if let Some(millis) = estimated_time(height, at.height, at.timestamp_ms, genesis_ms) {
                " (about " (layout::time(millis)) ")"
            }
        },
    }
}

/// When block `target` is due, at the average interval of the `at_height` blocks finalized
/// since genesis (at `genesis_ms`) until `at_ms`. `None` for a block already past, or before
/// any block gives an interval.
pub(super) fn estimated_time(
    target: u64,
    at_height: u64,
    at_ms: u64,
    genesis_ms: u64,
) -> Option<u64> {
    if target <= at_height || at_height == 0 {
        return None;
    }
    let interval = at_ms.saturating_sub(genesis_ms) / at_height;
    Some(at_ms.saturating_add((target - at_height).saturating_mul(interval)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::fixtures::header;
    use medchain_state::testkit::{address, record_id};
    use medchain_types::Purpose;

    fn consent(expiry: Expiry, revoked_at: Option<u64>) -> Consent {
        Consent {
            patient: address(1),
            grantee: address(2),
            records: vec![record_id(3)],
            purpose: Purpose::Treatment,
            expiry,
            granted_at: 1,
            revoked_at,
            reward: 0,
        }
    }

    #[test]
    fn a_consent_is_active_until_no_coming_block_can_rely_on_it() {
        let at = header(10, 5_000);
        let state = |expiry, revoked| ConsentState::of(&consent(expiry, revoked), &at);
        // Valid below height 12: block 11 may still rely on it.
        assert_eq!(state(Expiry::AtHeight(12), None), ConsentState::Active);
        // Valid below height 11: block 11, the next, may not.
        assert_eq!(state(Expiry::AtHeight(11), None), ConsentState::Expired);
        assert_eq!(state(Expiry::AtTime(5_001), None), ConsentState::Active);
        assert_eq!(state(Expiry::AtTime(5_000), None), ConsentState::Expired);
        // Revoked wins over anything else.
        assert_eq!(
            state(Expiry::AtHeight(1_000), Some(9)),
            ConsentState::Revoked
        );
        assert_eq!(state(Expiry::AtTime(1), Some(9)), ConsentState::Revoked);
        // Active ones sort first.
        assert!(ConsentState::Active < ConsentState::Expired);
        assert_eq!(ConsentState::Revoked.as_str(), "revoked");
    }

    #[test]
    fn a_height_is_dated_at_the_chains_average_block_interval() {
        // 10 blocks in 20 s since genesis: 2 s a block.
        assert_eq!(estimated_time(15, 10, 30_000, 10_000), Some(40_000));
        assert_eq!(estimated_time(10, 10, 30_000, 10_000), None, "already due");
        assert_eq!(estimated_time(5, 10, 30_000, 10_000), None, "past");
        assert_eq!(
            estimated_time(5, 0, 30_000, 10_000),
            None,
            "no interval yet"
        );
        assert_eq!(estimated_time(u64::MAX, 1, 30_000, 10_000), Some(u64::MAX));
    }

    #[test]
    fn an_expiry_by_height_shows_the_height_and_an_estimate() {
        let at = header(10, 30_000);
        let shown = expiry(Expiry::AtHeight(15), &at, 10_000).into_string();
        assert!(shown.contains("before block 15"), "{shown}");
        assert!(shown.contains("data-ms=\"40000\""), "{shown}");
        let shown = expiry(Expiry::AtTime(86_400_000), &at, 10_000).into_string();
        assert!(shown.contains("1970-01-02"), "{shown}");
    }
}
