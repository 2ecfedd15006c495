//! How current a verified answer is. A light client cannot know it sees the newest state: a
//! node may answer from an older finalized block (it cannot forge a newer one). Two checks
//! bound that:
//!
//! - `--cross-check URL`: another validator's newest finalized block, verified against the
//!   genesis like any answer. A query whose answer is more than `--max-lag` blocks behind it
//!   is refused; `verify` reports the distance (a saved answer is old by design).
//! - Without it, the block's time against this machine's clock: the chain finalizes a block
//!   at least every second or so, so an answer from a block minutes old comes from a node
//!   that is behind, replaying old state, or on a stalled chain. That is a warning only
//!   (clocks drift; a stalled chain is still answered truthfully).

use crate::{cli::Freshness, connect, error::CliError, output, time};
use medchain_client::{Client, FinalizedHeader, Lag, LightClient, NodeClient};
use serde_json::{Value, json};
use std::time::Duration;

/// An answer whose block is older than this by the local clock draws a warning.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// Another validator's newest finalized block, and how far an answer is behind it.
pub struct CrossChecked {
    /// The other validator's URL.
    pub node: String,
    /// Its newest finalized block, verified.
    pub newest: FinalizedHeader,
    /// How far the answer is behind it.
    pub lag: Lag,
}

/// What to do when an answer is far behind the cross-check node.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Refuse it (a live query must be current).
    Refuse,
    /// Report it (a saved answer is old by design).
    Report,
}

/// Checks how current an answer verified at `at` (from `answered_by`) is.
pub fn check(
    at: &FinalizedHeader,
    answered_by: &str,
    freshness: &Freshness,
    light: &LightClient,
    policy: Policy,
) -> Result<Option<CrossChecked>, CliError> {
    let Some(url) = &freshness.cross_check else {
        if policy == Policy::Refuse {
            warn_if_old(at);
        }
        return Ok(None);
    };
    let other = Client::new(NodeClient::new(url)?, light.clone());
    let newest = other
        .newest_certified()
        .map_err(|error| connect::explain(&other, error))?
        .at;
    let lag = Lag::between(at, &newest);
    if policy == Policy::Refuse && lag.blocks > freshness.max_lag {
        return Err(CliError::Stale {
            answered_by: answered_by.to_string(),
            answer: output::block_phrase(at),
            cross_check: url.clone(),
            newest: output::block_phrase(&newest),
            lag: lag.blocks,
            max_lag: freshness.max_lag,
        });
    }
    Ok(Some(CrossChecked {
        node: url.clone(),
        newest,
        lag,
    }))
}

fn warn_if_old(at: &FinalizedHeader) {
    let age = connect::now_ms().saturating_sub(at.header.timestamp_ms);
    if age > STALE_AFTER.as_millis() as u64 {
        eprintln!(
            "warning: this answer is from block {}, {} before this machine's clock ({}): the node may be behind or serving an old state, or the chain has stalled; compare with another validator: --cross-check URL",
            at.header.height,
            time::span(age),
            time::utc(at.header.timestamp_ms)
        );
    }
}

/// The cross-check, for people.
pub fn print(checked: &CrossChecked) {
    let behind = match checked.lag.blocks {
        0 => "this answer is as new".to_string(),
        blocks => format!(
            "this answer is {blocks} blocks ({}) behind it",
            time::span(checked.lag.millis)
        ),
    };
    println!(
        "cross-checked with {}: its newest finalized {}; {behind}",
        checked.node,
        output::block_phrase(&checked.newest)
    );
}

/// The cross-check, for scripts.
pub fn json(checked: &CrossChecked) -> Value {
    json!({
        "node": checked.node,
        "newest": output::finality_json(&checked.newest),
        "lag_blocks": checked.lag.blocks,
        "lag_ms": checked.lag.millis,
    })
}
