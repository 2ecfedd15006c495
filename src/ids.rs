//! Ids typed on the command line: in full (64 hex digits) or as a unique prefix of at least 4.
//! A prefix is looked up on the node without proof; what the id names is then verified (or
//! checked by the chain, for a transaction's argument) exactly as for an id typed in full.

use crate::error::CliError;
use medchain_api::{IdKind, IdPrefix};
use medchain_client::Client;
use medchain_types::{ConsentId, RecordId, TxId};

/// The record id `prefix` starts.
pub fn record(client: &Client, prefix: &IdPrefix) -> Result<RecordId, CliError> {
    Ok(client.resolve_id(IdKind::Record, prefix)?.into())
}

/// The record ids the prefixes start, in order.
pub fn records(client: &Client, prefixes: &[IdPrefix]) -> Result<Vec<RecordId>, CliError> {
    prefixes
        .iter()
        .map(|prefix| record(client, prefix))
        .collect()
}

/// The consent id `prefix` starts.
pub fn consent(client: &Client, prefix: &IdPrefix) -> Result<ConsentId, CliError> {
    Ok(client.resolve_id(IdKind::Consent, prefix)?.into())
}

/// The finalized transaction id `prefix` starts.
pub fn tx(client: &Client, prefix: &IdPrefix) -> Result<TxId, CliError> {
    Ok(client.resolve_id(IdKind::Tx, prefix)?)
}
