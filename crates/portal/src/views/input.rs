//! What people type into the patient and clinician forms, read into chain types. Each error
//! is a [`PortalError::BadInput`] naming the field and what to change.

use crate::{error::PortalError, reader::Reader};
use maud::{Markup, html};
use medchain_api::{IdKind, IdPrefix};
use medchain_client::{ClientError, build, purpose_name};
use medchain_types::{Address, Purpose, RecordId, limits};
use std::str::FromStr;

/// A full 64-hex id from a URL path (deep links always carry the whole id).
pub(super) fn full_id<T: FromStr>(text: &str, what: &str) -> Result<T, PortalError> {
    text.parse().map_err(|_| {
        PortalError::BadInput(format!(
            "{:?} is not a {what} id: ids in links are 64 hex digits",
            truncated(text)
        ))
    })
}

/// An account address (64 hex digits of an ed25519 public key).
pub(super) fn address(text: &str, field: &str) -> Result<Address, PortalError> {
    let text = text.trim();
    text.parse().map_err(|error| {
        PortalError::BadInput(format!(
            "{field}: {:?} is not an address ({error}); paste the 64 hex digits of the account, e.g. from its owner's `medchain identity show`",
            truncated(text)
        ))
    })
}

/// A purpose as the API spells it (`treatment`, `research`, …).
pub(super) fn purpose(text: &str) -> Result<Purpose, PortalError> {
    Purpose::ALL
        .iter()
        .copied()
        .find(|purpose| purpose_name(*purpose) == text)
        .ok_or_else(|| {
            PortalError::BadInput(format!(
                "purpose: {:?} is not one of {}",
                truncated(text),
                purpose_names().join(", ")
            ))
        })
}

/// Every purpose's name.
fn purpose_names() -> Vec<String> {
    Purpose::ALL.iter().copied().map(purpose_name).collect()
}

/// The `purpose` field of the grant and request forms: every purpose, named as [`purpose`]
/// reads it back.
pub(super) fn purpose_select() -> Markup {
    html! {
        select id="purpose" name="purpose" {
            @for name in purpose_names() { option value=(name) { (name.replace('_', " ")) } }
        }
    }
}

/// The patient's own records named in `text` (whole ids or unique prefixes, separated by
/// whitespace or commas), matched against `own` — the patient's record list, verified — and
/// never looked up in the node's unproven id index, so a node cannot choose which record a
/// prefix names. At most [`limits::MAX_CONSENT_RECORDS`], counted before any is matched.
pub(super) fn own_records(text: &str, own: &[RecordId]) -> Result<Vec<RecordId>, PortalError> {
    let parts: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(PortalError::BadInput(
            "records: give at least one record id (from “My records”)".into(),
        ));
    }
    if parts.len() > limits::MAX_CONSENT_RECORDS {
        return Err(PortalError::BadInput(format!(
            "records: a consent covers at most {} records, {} were given",
            limits::MAX_CONSENT_RECORDS,
            parts.len()
        )));
    }
    parts.iter().map(|part| own_record(part, own)).collect()
}

fn own_record(part: &str, own: &[RecordId]) -> Result<RecordId, PortalError> {
    let prefix = IdPrefix::from_str(part)
        .map_err(|error| PortalError::BadInput(format!("records: {error}")))?;
    let mut matching = own.iter().filter(|id| prefix.matches(id.as_bytes()));
    match (matching.next(), matching.next()) {
        (Some(id), None) => Ok(*id),
        (None, _) => Err(PortalError::BadInput(format!(
            "records: {} is none of your records (see “My records”)",
            truncated(part)
        ))),
        (Some(_), Some(_)) => Err(PortalError::BadInput(format!(
            "records: {} starts more than one of your records; give more digits",
            truncated(part)
        ))),
    }
}

/// One record id, whole or a unique prefix.
pub(super) fn record(reader: &Reader<'_>, text: &str) -> Result<RecordId, PortalError> {
    resolve(reader, IdKind::Record, text.trim(), "record").map(RecordId::from)
}

/// A deadline: a duration from now (`30d`, `12h`, `2w`) or a date (`2026-12-31`).
pub(super) fn deadline(text: &str) -> Result<build::ExpirySpec, PortalError> {
    build::parse_deadline(text).map_err(|error| PortalError::BadInput(format!("expires: {error}")))
}

/// The id `text` names: all 64 digits as they are, a shorter prefix looked up on the node
/// (unproven: the chain checks what the transaction names).
fn resolve(
    reader: &Reader<'_>,
    kind: IdKind,
    text: &str,
    field: &str,
) -> Result<medchain_types::TxId, PortalError> {
    let prefix = IdPrefix::from_str(text)
        .map_err(|error| PortalError::BadInput(format!("{field}: {error}")))?;
    reader
        .client()
        .resolve_id(kind, &prefix)
        .map_err(|error| match error {
            ClientError::NoSuchId { .. } | ClientError::AmbiguousId { .. } => {
                PortalError::BadInput(format!("{field}: {error}"))
            }
            other => other.into(),
        })
}

/// At most 80 characters of what was typed, to echo it back.
fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(error: PortalError) -> String {
        assert!(matches!(error, PortalError::BadInput(_)), "{error:?}");
        error.to_string()
    }

    #[test]
    fn purposes_are_read_by_their_api_names() {
        assert_eq!(purpose("treatment").unwrap(), Purpose::Treatment);
        assert_eq!(purpose("public_health").unwrap(), Purpose::PublicHealth);
        let error = message(purpose("Treatment").unwrap_err());
        assert!(error.contains("treatment, research"), "{error}");
    }

    #[test]
    fn bad_deadlines_say_what_is_accepted() {
        assert!(deadline("30d").is_ok());
        assert!(deadline("2030-01-01").is_ok());
        for bad in ["", "next week", "30", "2030-02-30"] {
            let error = message(deadline(bad).unwrap_err());
            assert!(error.starts_with("expires: "), "{bad:?}: {error}");
            assert!(error.contains("neither a duration"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn addresses_and_ids_must_be_whole_and_valid() {
        let error = message(address("abc", "grantee").unwrap_err());
        assert!(error.starts_with("grantee: \"abc\""), "{error}");
        let long = "x".repeat(500);
        let error = message(address(&long, "grantee").unwrap_err());
        assert!(error.len() < 400, "the echo is cut: {error}");
        let error = message(full_id::<RecordId>("00ff", "record").unwrap_err());
        assert!(error.contains("64 hex digits"), "{error}");
        assert!(full_id::<RecordId>(&"ab".repeat(32), "record").is_ok());
    }

    #[test]
    fn own_records_are_matched_in_the_verified_list_not_looked_up() {
        let first: RecordId = format!("abcd1{}", "1".repeat(59)).parse().unwrap();
        let second: RecordId = format!("abcd2{}", "2".repeat(59)).parse().unwrap();
        let own = [first, second];
        assert_eq!(
            own_records("abcd1, abcd2", &own).unwrap(),
            vec![first, second]
        );
        assert_eq!(own_records(&first.to_string(), &own).unwrap(), vec![first]);
        let error = message(own_records("abcd", &own).unwrap_err());
        assert!(error.contains("more than one of your records"), "{error}");
        let error = message(own_records("ffff", &own).unwrap_err());
        assert!(error.contains("none of your records"), "{error}");
        let error = message(own_records(" , ", &own).unwrap_err());
        assert!(error.contains("at least one"), "{error}");
        let error = message(own_records("zz", &own).unwrap_err());
        assert!(error.starts_with("records: "), "{error}");
        // Counted before anything is matched: a huge field costs nothing.
        let many = vec!["abcd1"; limits::MAX_CONSENT_RECORDS + 1].join(" ");
        let error = message(own_records(&many, &own).unwrap_err());
        assert!(error.contains("at most 64"), "{error}");
    }
}
