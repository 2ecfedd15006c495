//! `medchain record list`, `consent list`, `org list`, `org members`: a page of a list, every
//! entry (and what it names) verified against one finalized block, printed as a table.

use crate::{
    cli::{ListArgs, Whose},
    connect,
    error::CliError,
    output,
};
use medchain_client::{ListQuery, VerifiedList, purpose_name};
use medchain_state::{
    BlockEnv, StateValue,
    consent::is_expired,
    values::{Consent, Membership, Org, Record},
};
use medchain_types::{Address, Expiry, OrgName, RecordId};
use serde::Serialize;
use serde_json::json;
use std::fmt::Display;

/// Hex digits of an id or address shown without `--long`: enough to tell ids apart and to
/// type back as a prefix.
const SHORT: usize = 12;

/// `medchain record list`.
pub fn records(whose: &Whose, args: &ListArgs) -> Result<(), CliError> {
    let patient = patient(whose)?;
    let page = fetch(args, &ListQuery::patient_records(&patient))?;
    let id = |text: &dyn Display| shorten(text, args.long);
    show(
        &page,
        args,
        &format!("records of patient {}", id(&patient)),
        &["RECORD", "RELEASED", "HOSPITAL", "DOCTOR"],
        |record_id, record: &Record| {
            vec![
                id(record_id),
                format!("block {}", record.released_at),
                record.hospital.to_string(),
                id(&record.doctor),
            ]
        },
    );
    Ok(())
}

/// `medchain consent list`.
pub fn consents(whose: &Whose, args: &ListArgs) -> Result<(), CliError> {
    let patient = patient(whose)?;
    let page = fetch(args, &ListQuery::patient_consents(&patient))?;
    let id = |text: &dyn Display| shorten(text, args.long);
    // Expiry as of the verified block: the state a consent was in when the page was proven.
    let env = BlockEnv {
        height: page.at.header.height,
        timestamp_ms: page.at.header.timestamp_ms,
    };
    show(
        &page,
        args,
        &format!("consents of patient {}", id(&patient)),
        &[
            "CONSENT", "GRANTEE", "PURPOSE", "RECORDS", "EXPIRES", "STATUS",
        ],
        |consent_id, consent: &Consent| {
            vec![
                id(consent_id),
                id(&consent.grantee),
                purpose_name(consent.purpose),
                record_ids(&consent.records, args.long),
                expiry(consent.expiry),
                status(consent.revoked_at, consent.expiry, env),
            ]
        },
    );
    Ok(())
}

/// `medchain org list`.
pub fn orgs(args: &ListArgs) -> Result<(), CliError> {
    let page = fetch(args, &ListQuery::orgs())?;
    show(
        &page,
        args,
        "organisations",
        &["NAME", "KIND", "STATE", "MEMBERS", "REGISTERED"],
        |name, org: &Org| {
            vec![
                name.to_string(),
                serde_name(&org.kind),
                serde_name(&org.state),
                org.members.to_string(),
                format!("block {}", org.registered_at),
            ]
        },
    );
    Ok(())
}

/// `medchain org members NAME`. An unknown organisation is "not found": every registered
/// organisation lists at least its founder.
pub fn members(name: &OrgName, args: &ListArgs) -> Result<(), CliError> {
    let page = fetch(args, &ListQuery::org_members(name))?;
    if page.total == 0 {
        return Err(CliError::NotFound(format!(
            "no organisation named {name:?}; see `medchain org list`. Proven at finalized {}",
            output::block_phrase(&page.at)
        )));
    }
    let id = |text: &dyn Display| shorten(text, args.long);
    show(
        &page,
        args,
        &format!("members of {name}"),
        &["MEMBER", "JOINED", "ENDORSER"],
        |member, membership: &Membership| {
            vec![
                id(member),
                format!("block {}", membership.joined_at),
                membership
                    .endorser
                    .map_or_else(|| "(founder)".to_string(), |endorser| id(&endorser)),
            ]
        },
    );
    Ok(())
}

/// The patient named by `--patient`, or the address of `--key` (or `MEDCHAIN_KEY`).
fn patient(whose: &Whose) -> Result<Address, CliError> {
    connect::address_or_key(whose.patient, whose.key.as_deref(), "--patient")
}

pub fn fetch<E: StateValue, V: StateValue>(
    args: &ListArgs,
    query: &ListQuery<E, V>,
) -> Result<VerifiedList<E, V>, CliError> {
    let client = connect::client(&args.connection)?;
    Ok(client.list(query, args.from, usize::from(args.limit))?)
}

/// Prints the page as JSON (`--json`) or as a table — a title, a `#` column then `columns`
/// filled by `row` — with a paging hint and the block every row was verified against.
pub fn show<E: Serialize, V: Serialize>(
    page: &VerifiedList<E, V>,
    args: &ListArgs,
    title: &str,
    columns: &[&str],
    row: impl Fn(&E, &V) -> Vec<String>,
) {
    if args.connection.json {
        let entries: Vec<_> = page
            .entries
            .iter()
            .map(|entry| {
                json!({
                    "seq": entry.seq,
                    "id": output::to_json(&entry.id),
                    "value": output::to_json(&entry.value),
                })
            })
            .collect();
        output::print_json(&json!({
            "total": page.total,
            "from": page.from,
            "entries": entries,
            "verified": output::finality_json(&page.at),
        }));
        return;
    }
    println!("{title}: {} in total", page.total);
    if !page.entries.is_empty() {
        let columns: Vec<&str> = ["#"].iter().chain(columns).copied().collect();
        let rows: Vec<Vec<String>> = page
            .entries
            .iter()
            .map(|entry| {
                let mut cells = vec![entry.seq.to_string()];
                cells.extend(row(&entry.id, &entry.value));
                cells
            })
            .collect();
        print_table(&columns, &rows);
    }
    let shown = page.entries.len() as u64;
    let next = page.from + shown;
    if next < page.total {
        println!(
            "showing #{}–#{} of {}; next page: --from {next}",
            page.from,
            next.saturating_sub(1),
            page.total
        );
    }
    let entries = if shown == 1 { "entry" } else { "entries" };
    println!(
        "{shown} {entries} verified against finalized {}",
        output::block_phrase(&page.at)
    );
}

/// Left-aligned columns, two spaces apart.
fn print_table(columns: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([columns[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(columns.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn shorten(text: &dyn Display, long: bool) -> String {
    let text = text.to_string();
    match long {
        true => text,
        false => text.chars().take(SHORT).collect(),
    }
}

/// A consent's records: short ids, the first three and a count of the rest.
fn record_ids(records: &[RecordId], long: bool) -> String {
    const SHOWN: usize = 3;
    let mut text: Vec<String> = records
        .iter()
        .take(if long { records.len() } else { SHOWN })
        .map(|id| shorten(id, long))
        .collect();
    if records.len() > text.len() {
        text.push(format!("+{}", records.len() - text.len()));
    }
    text.join(",")
}

fn expiry(expiry: Expiry) -> String {
    match expiry {
        Expiry::AtHeight(height) => format!("block {height}"),
        Expiry::AtTime(ms) => format!("{ms} unix ms"),
    }
}

fn status(revoked_at: Option<u64>, expiry: Expiry, env: BlockEnv) -> String {
    match revoked_at {
        Some(height) => format!("revoked (block {height})"),
        None if is_expired(expiry, env) => "expired".into(),
        None => "live".into(),
    }
}

/// A field-less enum's API name (`to_audit`, `hospital`).
fn serde_name(value: &impl Serialize) -> String {
    match output::to_json(value) {
        serde_json::Value::String(name) => name,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::Hash32;

    fn record_id(byte: u8) -> RecordId {
        RecordId(Hash32::from([byte; 32]))
    }

    #[test]
    fn ids_are_shortened_unless_long_is_asked() {
        let id = medchain_types::ConsentId(record_id(1).0);
        assert_eq!(shorten(&id, false), "010101010101");
        assert_eq!(shorten(&id, true), id.to_string());
        let records: Vec<RecordId> = (0..5).map(record_id).collect();
        let short = record_ids(&records, false);
        assert_eq!(short, "000000000000,010101010101,020202020202,+2");
        assert_eq!(record_ids(&records, true).split(',').count(), 5);
    }

    #[test]
    fn a_consent_is_revoked_expired_or_live_as_of_the_verified_block() {
        let env = BlockEnv {
            height: 10,
            timestamp_ms: 5_000,
        };
        assert_eq!(status(None, Expiry::AtHeight(11), env), "live");
        assert_eq!(status(None, Expiry::AtHeight(10), env), "expired");
        assert_eq!(status(None, Expiry::AtTime(5_000), env), "expired");
        assert_eq!(
            status(Some(4), Expiry::AtTime(9_000), env),
            "revoked (block 4)"
        );
    }
}
