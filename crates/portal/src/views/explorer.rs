//! The explorer, open to every key: chain status and validators, the latest blocks, charts
//! of block rate, tx/s and finality latency, and a page per block, transaction, record,
//! consent, organisation and account, with search by height, id, prefix, address or name.
//!
//! Every value is verified (blocks against their finalization certificate and transaction
//! root, receipts against the block's receipts root, state against the state root), except
//! the finality-latency chart, which is the node's own report and says so.

mod rates;
mod search;

use crate::{
    charts::{self, Bar, Chart},
    error::PortalError,
    layout::{self, View},
    reader::{CachedBlock, Reader},
    server::{Answer, App},
    views::{
        consents::{self, ConsentState},
        links,
    },
};
use axum::{
    Router,
    extract::{Path, Query, State},
    response::Response,
    routing::get,
};
use maud::{Markup, html};
use medchain_api::IdKind;
use medchain_client::{
    ClientError, ListQuery, Listed, StateQuery, TxOutcome, VerifiedBlock, purpose_name,
};
use medchain_state::values::{Membership, Org, RecordOrigin};
use medchain_types::{Address, ConsentId, Header, OrgName, RecordId, TxId};
use rates::{Latency, Sample};
use search::Readings;
use serde::Deserialize;
use std::sync::Arc;

/// Blocks listed on the explorer's home page.
const LATEST_BLOCKS: u64 = 20;
/// Blocks the rate charts are computed over (about a minute of an idle chain).
const RATE_WINDOW: u64 = 120;
/// A block page reads the receipts of at most this many transactions (each is a request).
const RECEIPTS_SHOWN: usize = 200;

/// This audience's routes.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/explorer", get(home))
        .route("/explorer/blocks/{height}", get(block))
        .route("/explorer/tx/{id}", get(transaction))
        .route("/explorer/records/{id}", get(record))
        .route("/explorer/consents/{id}", get(consent))
        .route("/explorer/orgs/{name}", get(org))
        .route("/explorer/accounts/{address}", get(account))
        .route("/explorer/search", get(search))
}

/// `/explorer`: status, validators, latest blocks and charts.
async fn home(State(app): State<Arc<App>>) -> Response {
    app.page(None, |reader, _, app| {
        let newest = reader.newest_cached(&app.blocks)?;
        let tip = newest.block.at.header.height;
        let window = recent_blocks(reader, app, tip, RATE_WINDOW)?;
        let latest = &window[..window.len().min(LATEST_BLOCKS as usize)];
        Ok(View::new(
            "Explorer",
            html! {
                (status(reader, &newest.block))
                (validators(reader, &window))
                section aria-labelledby="latest-blocks" {
                    h2 id="latest-blocks" { "Latest blocks" }
                    (blocks_table(reader, latest))
                }
                (rate_charts(&window))
                (latency_chart(app))
            },
        ))
    })
    .await
}

/// The `count` blocks up to `tip`, newest first, each verified (or from the cache).
fn recent_blocks(
    reader: &Reader<'_>,
    app: &App,
    tip: u64,
    count: u64,
) -> Result<Vec<Arc<CachedBlock>>, PortalError> {
    (tip.saturating_sub(count.saturating_sub(1))..=tip)
        .rev()
        .map(|height| reader.cached_block(&app.blocks, height))
        .collect()
}

fn status(reader: &Reader<'_>, newest: &VerifiedBlock) -> Markup {
    let genesis = reader.client().light.genesis();
    let at = &newest.at;
    html! {
        section aria-labelledby="chain-status" {
            h2 id="chain-status" { "Chain status" }
            dl class="facts" {
                dt { "Chain" } dd { code { (genesis.chain_id.as_str()) } }
                dt { "Newest finalized block" }
                dd id="tip" data-height=(at.header.height) {
                    (links::block(at.header.height)) " · " (layout::time(at.header.timestamp_ms))
                    " · " (finality_words(&at.finality))
                }
                dt { "Block digest" } dd { (digest_link(at.header.height, &at.digest)) }
                dt { "Regulator" } dd { (links::account(&genesis.regulator)) }
            }
        }
    }
}

fn finality_words(finality: &medchain_client::Finality) -> String {
    match finality {
        medchain_client::Finality::Genesis => "the genesis block, recomputed here".into(),
        medchain_client::Finality::Certificate {
            signers,
            validators,
        } => format!("certified by {signers} of {validators} validators"),
    }
}

fn digest_link(height: u64, digest: &medchain_types::Hash32) -> Markup {
    layout::id_link(&links::block_href(height), &hex::encode(digest))
}

/// The genesis validators (the set every certificate is checked against) and how many of
/// the window's verified blocks each proposed.
fn validators(reader: &Reader<'_>, window: &[Arc<CachedBlock>]) -> Markup {
    let genesis = reader.client().light.genesis();
    let proposed = |key: &Address| {
        window
            .iter()
            .filter(|cached| cached.block.at.header.proposer == *key)
            .count()
    };
    html! {
        section aria-labelledby="validators" {
            h2 id="validators" { "Validators" }
            p { "The genesis validator set: a block is final when a quorum of these keys certified it." }
            table {
                thead { tr {
                    th scope="col" { "Operator" } th scope="col" { "Key" }
                    th scope="col" { "Proposed (last " (window.len()) " blocks)" }
                } }
                tbody {
                    @for validator in &genesis.validators {
                        tr data-validator=(validator.public_key) {
                            td { (validator.name) }
                            td { (links::account(&validator.public_key)) }
                            td { (proposed(&validator.public_key)) }
                        }
                    }
                }
            }
        }
    }
}

/// A validator's operator name, or the proposer's key when it is not a genesis validator.
fn proposer(reader: &Reader<'_>, header: &Header) -> Markup {
    let genesis = reader.client().light.genesis();
    match genesis
        .validators
        .iter()
        .find(|validator| validator.public_key == header.proposer)
    {
        Some(validator) => html! { (validator.name) },
        None => links::account(&header.proposer),
    }
}

fn blocks_table(reader: &Reader<'_>, blocks: &[Arc<CachedBlock>]) -> Markup {
    html! {
        table id="blocks" {
            thead { tr {
                th scope="col" { "Height" } th scope="col" { "Time" } th scope="col" { "Transactions" }
                th scope="col" { "Proposer" } th scope="col" { "Digest" }
            } }
            tbody {
                @for cached in blocks {
                    @let at = &cached.block.at;
                    tr data-height=(at.header.height) {
                        td { (links::block(at.header.height)) }
                        td { (layout::time(at.header.timestamp_ms)) }
                        td { (cached.block.tx_ids.len()) }
                        td { (proposer(reader, &at.header)) }
                        td { (digest_link(at.header.height, &at.digest)) }
                    }
                }
            }
        }
    }
}

/// Block rate and tx/s over the window, from the verified headers' timestamps (block 0 is
/// left out: its time is the genesis document's, not a proposal's).
fn rate_charts(window: &[Arc<CachedBlock>]) -> Markup {
    let samples: Vec<Sample> = window
        .iter()
        .filter(|cached| cached.block.at.header.height > 0)
        .map(|cached| Sample {
            timestamp_ms: cached.block.at.header.timestamp_ms,
            txs: cached.block.tx_ids.len(),
        })
        .collect();
    let buckets = rates::buckets(&samples, rates::bucket_count(samples.len()));
    let bars = |rate: fn(&rates::Bucket) -> f64| -> Vec<Bar> {
        buckets
            .iter()
            .map(|bucket| Bar::new(bucket.label(), rate(bucket)))
            .collect()
    };
    html! {
        section aria-labelledby="rates" {
            h2 id="rates" { "Block rate and throughput" }
            p {
                "From the verified headers of the last " (samples.len()) " blocks, by their proposal time "
                "(seconds before the newest block)."
            }
            (charts::bar_chart(&Chart { id: "block-rate", title: "Blocks per minute", unit: "blocks/min" },
                &bars(rates::Bucket::blocks_per_minute)))
            (charts::bar_chart(&Chart { id: "tx-rate", title: "Transactions per second", unit: "tx/s" },
                &bars(rates::Bucket::txs_per_second)))
        }
    }
}

/// Finality latency as the node reports it on `/metrics`: not verifiable, and labelled so.
fn latency_chart(app: &App) -> Markup {
    let report = app.chain.node.metrics();
    let latency = report.as_deref().ok().and_then(Latency::parse);
    html! {
        section aria-labelledby="latency" class="unverified" {
            h2 id="latency" { "Finality latency" }
            p class="panel warning" {
                strong { "The node's own report, not verified: " }
                "how long blocks took from their proposal to this node's commit, since the node started. "
                "Nothing in it is checked against the chain."
            }
            @match (&report, &latency) {
                (Err(error), _) => p { "The node did not report its metrics: " (layout::said(error)) }
                (Ok(_), None) => p { "The node's metrics hold no finality latency." }
                (Ok(_), Some(latency)) => {
                    p {
                        (charts::format_value(latency.count)) " blocks measured"
                        @if let Some(mean) = latency.mean() {
                            ", " (format!("{:.3}", mean)) " s on average"
                        }
                        "."
                    }
                    (charts::bar_chart(&Chart { id: "finality-latency", title: "Finality latency (node's report)", unit: "blocks" },
                        &latency.bars()))
                }
            }
        }
    }
}

/// Parses a path parameter, or says what the URL should hold.
fn parse_param<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, PortalError> {
    text.trim().parse().map_err(|_| {
        PortalError::BadInput(format!(
            "{text:?} is not {what}; check the link or search for it"
        ))
    })
}

/// `/explorer/blocks/{height}`: a verified block with its transactions' verified receipts.
async fn block(State(app): State<Arc<App>>, Path(height): Path<String>) -> Response {
    app.page(None, move |reader, _, app| {
        let height: u64 = parse_param(&height, "a block height (a whole number)")?;
        let tip = reader.newest_cached(&app.blocks)?.block.at.header.height;
        if height > tip {
            return Err(PortalError::NotFound(format!(
                "block {height} is not finalized yet: the newest finalized block is {tip}"
            )));
        }
        let cached = reader.cached_block(&app.blocks, height)?;
        let at = &cached.block.at;
        let txs = &cached.block.tx_ids;
        let receipts = if txs.len() <= RECEIPTS_SHOWN {
            Some(reader.receipts(&cached)?)
        } else {
            None
        };
        Ok(View::new(
            format!("Block {height}"),
            html! {
                nav class="pager" aria-label="Neighbouring blocks" {
                    @if height > 0 { a rel="prev" href=(links::block_href(height - 1)) { "← Block " (height - 1) } }
                    " "
                    @if height < tip { a rel="next" href=(links::block_href(height + 1)) { "Block " (height + 1) " →" } }
                }
                dl class="facts" {
                    dt { "Height" } dd { (height) }
                    dt { "Time" } dd { (layout::time(at.header.timestamp_ms)) }
                    dt { "Digest" } dd { (digest_link(height, &at.digest)) }
                    dt { "Parent" } dd {
                        @if height > 0 { (layout::id_link(&links::block_href(height - 1), &hex::encode(at.header.parent))) }
                        @else { code { (hex::encode(at.header.parent)) } " (the genesis document)" }
                    }
                    dt { "Proposer" } dd { (proposer(reader, &at.header)) }
                    dt { "Finality" } dd { (finality_words(&at.finality)) }
                    dt { "State root" } dd { code { (hex::encode(at.header.state_root)) } }
                    dt { "Transaction root" } dd { code { (hex::encode(at.header.tx_root)) } }
                    dt { "Receipts root" } dd { code { (hex::encode(at.header.receipts_root)) } }
                }
                h2 { "Transactions (" (txs.len()) ")" }
                @if txs.is_empty() {
                    p { "No transactions: a heartbeat block." }
                } @else {
                    @if receipts.is_none() {
                        p { "This block holds more than " (RECEIPTS_SHOWN) " transactions: open one to see its verified receipt." }
                    }
                    table id="block-txs" {
                        thead { tr { th scope="col" { "#" } th scope="col" { "Transaction" } th scope="col" { "What it did (verified receipt)" } } }
                        tbody {
                            @for (index, id) in txs.iter().enumerate() {
                                tr data-tx=(id) {
                                    td { (index) }
                                    td { (links::tx(id)) }
                                    td {
                                        @if let Some(receipt) = receipts.as_ref().and_then(|all| all.get(index)) {
                                            (events(&receipt.events))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        ))
    })
    .await
}

/// A receipt's events, one per line (a transaction that changed nothing says so).
pub(super) fn events(events: &[medchain_types::Event]) -> Markup {
    html! {
        @if events.is_empty() {
            "no events"
        } @else {
            ul class="events" { @for event in events { li { (links::event(event)) } } }
        }
    }
}

/// `/explorer/tx/{id}`: where a transaction is; a final one with its verified receipt.
async fn transaction(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    app.page(None, move |reader, _, _| {
        let id: TxId = parse_param(&id, "a transaction id (64 hex digits)")?;
        let body = match reader.transaction(&id)? {
            TxOutcome::Finalized(confirmed) => {
                let receipt = &confirmed.receipt;
                html! {
                    dl class="facts" {
                        dt { "Id" } dd { code { (id) } (layout::copy_button(&id.to_string())) }
                        dt { "Status" } dd class="state-active" { "final" }
                        dt { "Block" } dd { (links::block(receipt.height)) ", position " (receipt.index) }
                        dt { "Time" } dd { (layout::time(confirmed.block.at.header.timestamp_ms)) }
                    }
                    h2 { "Receipt" }
                    p { "Checked against the receipts root of block " (receipt.height) ", which a quorum of validators certified." }
                    (events(&receipt.events))
                }
            }
            TxOutcome::Pending | TxOutcome::Queued { .. } => html! {
                p { "The node says transaction " code { (id) } " waits in its mempool. That is its word only: "
                    "this page shows it as final once it is in a finalized block." }
            },
            TxOutcome::Dropped(dropped) => html! {
                p { "The node says transaction " code { (id) } " was dropped and will never execute: "
                    (dropped.message) " (its word; a dropped transaction leaves nothing on the chain)." }
            },
            TxOutcome::Unknown => {
                return Err(PortalError::NotFound(format!(
                    "the node knows no transaction {id}: it was not sent to this node, or was dropped long ago"
                )));
            }
        };
        Ok(View::new("Transaction", body))
    })
    .await
}

/// `/explorer/records/{id}`: a released record's on-chain facts (never its content).
async fn record(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    app.page(None, move |reader, _, _| {
        let id: RecordId = parse_param(&id, "a record id (64 hex digits)")?;
        let record = reader.must(&StateQuery::record(&id), || {
            format!("no record {id} was released on this chain")
        })?;
        let stored = reader.read(&StateQuery::storage(&id))?;
        let release = TxId(id.0);
        Ok(View::new(
            "Record",
            html! {
                dl class="facts" {
                    dt { "Id" } dd { code { (id) } (layout::copy_button(&id.to_string())) }
                    dt { "Patient" } dd { (links::account(&record.patient)) }
                    dt { "Released by" } dd { "doctor " (links::account(&record.doctor)) " of " (links::org(&record.hospital)) }
                    dt { "Released" } dd {
                        (layout::time(record.timestamp_ms)) " in block " (links::block(record.released_at))
                        @match &record.origin {
                            RecordOrigin::Signed { .. } => { " by transaction " (links::tx(&release)) }
                            RecordOrigin::Mined { mblock, index } => {
                                ", mined on MED as release " (index) " of Mblock " code { (hex::encode(mblock)) }
                                " and imported when this block checkpointed it"
                            }
                        }
                    }
                    dt { "hEMR" } dd { code { (record.record_hash) } }
                    dt { "Stored" } dd {
                        @match &stored {
                            Some(pointer) => { "encrypted blob " code { (pointer.blob_hash) } " at " code { (pointer.location.as_str()) } " (block " (links::block(pointer.stored_at)) ")" }
                            None => "no storage pointer yet",
                        }
                    }
                }
                p { "The record's content stays with the hospital; only its patient (or whom the patient lets) can open it." }
            },
        ))
    })
    .await
}

/// `/explorer/consents/{id}`: a consent, its records, and whether a request after the
/// verified height can still rely on it.
async fn consent(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    app.page(None, move |reader, _, _| {
        let id: ConsentId = parse_param(&id, "a consent id (64 hex digits)")?;
        let (consent, at) = reader.read_at(&StateQuery::consent(&id))?;
        let consent = consent.ok_or_else(|| {
            PortalError::NotFound(format!("no consent {id} was granted on this chain"))
        })?;
        // Judged as the chain will judge the next request (the patient's page does the same).
        let state = ConsentState::of(&consent, &at.header).as_str();
        let genesis_ms = reader.client().light.genesis().genesis_time_ms;
        Ok(View::new(
            "Consent",
            html! {
                dl class="facts" data-consent-id=(id) data-consent-state=(state) {
                    dt { "Id" } dd { code { (id) } (layout::copy_button(&id.to_string())) }
                    dt { "State" } dd class={ "state-" (state) } { (state) " for the blocks after " (links::block(at.header.height)) }
                    dt { "Patient" } dd { (links::account(&consent.patient)) }
                    dt { "Grantee" } dd { (links::account(&consent.grantee)) }
                    dt { "Purpose" } dd { (purpose_name(consent.purpose).replace('_', " ")) }
                    dt { "Expires" } dd { (consents::expiry(consent.expiry, &at.header, genesis_ms)) }
                    dt { "Granted" } dd { "block " (links::block(consent.granted_at)) " by transaction " (links::tx(&TxId(id.0))) }
                    @if let Some(revoked) = consent.revoked_at {
                        dt { "Revoked" } dd { "block " (links::block(revoked)) }
                    }
                    dt { "Records" } dd {
                        ul { @for record in &consent.records { li { (links::record(record)) } } }
                    }
                }
            },
        ))
    })
    .await
}

/// An organisation's members, founder first, verified.
pub(crate) fn org_members(
    reader: &Reader<'_>,
    org: &Org,
) -> Result<Vec<Listed<Address, Membership>>, PortalError> {
    reader.all(&ListQuery::org_members(&org.name))
}

/// An organisation's verified facts and its members, for the explorer and the regulator.
pub(crate) fn org_facts(
    reader: &Reader<'_>,
    app: &App,
    org: &Org,
    members: &[Listed<Address, Membership>],
) -> Result<Markup, PortalError> {
    let registered = reader.cached_block(&app.blocks, org.registered_at)?;
    let state = links::org_state(org.state);
    Ok(html! {
        dl class="facts" data-org=(org.name.as_str()) data-org-state=(state) {
            dt { "Name" } dd { (org.name.as_str()) }
            dt { "Kind" } dd { (links::word(&org.kind)) }
            dt { "State" } dd class={ "state-" (state) } { (state) }
            dt { "Founder" } dd { (links::account(&org.founder)) }
            dt { "Registered" } dd { (layout::time(registered.block.at.header.timestamp_ms)) " in block " (links::block(org.registered_at)) }
        }
        h2 { "Members (" (members.len()) ")" }
        table id="members" {
            thead { tr { th scope="col" { "Member" } th scope="col" { "Joined" } th scope="col" { "Endorsed by" } } }
            tbody {
                @for member in members {
                    tr data-member=(member.id) {
                        td { (links::account(&member.id)) }
                        td { "block " (links::block(member.value.joined_at)) }
                        td {
                            @match &member.value.endorser {
                                Some(endorser) => (links::account(endorser)),
                                None => "founder",
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Reads the organisation a path segment names ([`links::org_segment`]), or says it is not
/// registered.
pub(crate) fn read_org(reader: &Reader<'_>, segment: &str) -> Result<Org, PortalError> {
    let name = links::org_in_segment(segment);
    let name = OrgName::new(name).map_err(|error| {
        PortalError::BadInput(format!("{name:?} is not an organisation name: {error}"))
    })?;
    reader.must(&StateQuery::org(&name), || {
        format!("no organisation {name} is registered on this chain")
    })
}

/// `/explorer/orgs/{name}`: an organisation and its members.
async fn org(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    app.page(None, move |reader, _, app| {
        let org = read_org(reader, &name)?;
        let members = org_members(reader, &org)?;
        Ok(View::new(
            format!("Organisation {}", org.name),
            org_facts(reader, app, &org, &members)?,
        ))
    })
    .await
}

/// `/explorer/accounts/{address}`: what the chain holds about an address.
async fn account(State(app): State<Arc<App>>, Path(address): Path<String>) -> Response {
    app.page(None, move |reader, _, _| {
        let address: Address = parse_param(&address, "an address (64 hex digits of an ed25519 key)")?;
        let nonce = reader
            .read(&StateQuery::account(&address))?
            .map_or(0, |account| account.nonce);
        let identity = match reader.read(&StateQuery::identity_of(&address))? {
            Some(name) => reader.read(&StateQuery::identity(&name))?,
            None => None,
        };
        let membership = reader.read(&StateQuery::membership(&address))?;
        let genesis = reader.client().light.genesis();
        Ok(View::new(
            "Account",
            html! {
                dl class="facts" {
                    dt { "Address" } dd { code { (address) } (layout::copy_button(&address.to_string())) }
                    @if genesis.regulator == address { dt { "Role" } dd { "the regulator (named in the genesis document)" } }
                    @if let Some(validator) = genesis.validators.iter().find(|v| v.public_key == address) {
                        dt { "Validator" } dd { (validator.name) }
                    }
                    dt { "Transactions sent" } dd { (nonce) }
                    dt { "Identity" } dd {
                        @match &identity {
                            Some(record) => { strong { (record.identity.as_str()) } " (" (links::word(&record.role)) "), enrolled in block " (links::block(record.enrolled_at)) }
                            None => "none enrolled",
                        }
                    }
                    dt { "Organisation" } dd {
                        @match &membership {
                            Some(member) => { (links::org(&member.org)) " since block " (links::block(member.joined_at)) }
                            None => "none",
                        }
                    }
                }
            },
        ))
    })
    .await
}

/// `?q=`: the search term.
#[derive(Debug, Deserialize)]
struct SearchTerm {
    #[serde(default)]
    q: String,
}

/// One thing a search term names, verified to exist.
struct Found {
    kind: &'static str,
    href: String,
    label: String,
}

/// `/explorer/search?q=`: one verified match goes to its page; several are listed; none is
/// said.
async fn search(State(app): State<Arc<App>>, Query(term): Query<SearchTerm>) -> Response {
    app.answer(None, move |reader, _, _| {
        let readings = Readings::of(&term.q);
        let found = if readings.is_empty() {
            Vec::new()
        } else {
            look_up(reader, &readings)?
        };
        if let [only] = found.as_slice() {
            return Ok(Answer::Redirect(only.href.clone()));
        }
        Ok(Answer::Page(View::new(
            "Search",
            html! {
                p { "Results for " code { (term.q) } ":" }
                @if found.is_empty() {
                    p id="no-match" { "Nothing on the chain matches. Search by block height, a record, consent or transaction id "
                        "(or its first 4+ hex digits), an address, an organisation or an identity name." }
                } @else {
                    ul id="matches" {
                        @for item in &found { li { (item.kind) " " a href=(item.href) { (item.label) } } }
                    }
                }
            },
        )))
    })
    .await
}

/// Every reading of the term that names something on the chain, each verified.
fn look_up(reader: &Reader<'_>, readings: &Readings) -> Result<Vec<Found>, PortalError> {
    let mut found = Vec::new();
    if let Some(height) = readings.height {
        let tip = reader.newest()?.at.header.height;
        if height <= tip {
            found.push(Found {
                kind: "block",
                href: links::block_href(height),
                label: height.to_string(),
            });
        }
    }
    if let Some(prefix) = &readings.prefix {
        found.extend(ids_with_prefix(reader, prefix)?);
    }
    if let Some(address) = &readings.address
        && known_address(reader, address)?
    {
        found.push(Found {
            kind: "account",
            href: links::account_href(address),
            label: address.to_string(),
        });
    }
    if let Some(name) = &readings.org
        && reader.read(&StateQuery::org(name))?.is_some()
    {
        found.push(Found {
            kind: "organisation",
            href: links::org_href(name),
            label: name.to_string(),
        });
    }
    if let Some(name) = &readings.identity
        && let Some(identity) = reader.read(&StateQuery::identity(name))?
    {
        found.push(Found {
            kind: "identity",
            href: links::account_href(&identity.address),
            label: format!("{} ({})", name, identity.address),
        });
    }
    Ok(found)
}

/// How many of the node's candidates for an ambiguous prefix are verified (each costs reads;
/// a hostile node could name thousands). Typing more digits narrows the search.
const MAX_CANDIDATES: usize = 20;

/// Records, consents and transactions whose id starts with `prefix`. The node names the
/// candidates (the first [`MAX_CANDIDATES`] of each kind are looked at); each is kept only
/// once verified. A record's or consent's id is also its
/// creating transaction's, which is then not listed twice.
fn ids_with_prefix(
    reader: &Reader<'_>,
    prefix: &medchain_api::IdPrefix,
) -> Result<Vec<Found>, PortalError> {
    let mut found: Vec<Found> = Vec::new();
    for kind in IdKind::ALL {
        let candidates = match reader.client().resolve_id(kind, prefix) {
            Ok(id) => vec![id],
            Err(ClientError::AmbiguousId { candidates, .. }) => candidates,
            Err(ClientError::NoSuchId { .. }) => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        for id in candidates.into_iter().take(MAX_CANDIDATES) {
            let exists = match kind {
                IdKind::Record => reader.read(&StateQuery::record(&RecordId(id.0)))?.is_some(),
                IdKind::Consent => reader
                    .read(&StateQuery::consent(&ConsentId(id.0)))?
                    .is_some(),
                IdKind::Tx => {
                    !found.iter().any(|f| f.label == id.to_string())
                        && matches!(reader.transaction(&id)?, TxOutcome::Finalized(_))
                }
            };
            if exists {
                let (noun, path) = match kind {
                    IdKind::Record => ("record", "records"),
                    IdKind::Consent => ("consent", "consents"),
                    IdKind::Tx => ("transaction", "tx"),
                };
                found.push(Found {
                    kind: noun,
                    href: format!("/explorer/{path}/{id}"),
                    label: id.to_string(),
                });
            }
        }
    }
    Ok(found)
}

/// Whether the chain holds anything about `address` (an account, an identity, a
/// membership), or it is the regulator or a validator.
fn known_address(reader: &Reader<'_>, address: &Address) -> Result<bool, PortalError> {
    let genesis = reader.client().light.genesis();
    Ok(genesis.regulator == *address
        || genesis.validators.iter().any(|v| v.public_key == *address)
        || reader.read(&StateQuery::account(address))?.is_some()
        || reader.read(&StateQuery::identity_of(address))?.is_some()
        || reader.read(&StateQuery::membership(address))?.is_some())
}
