//! The pages, one module per audience, and what they share: home, assets, and the verified
//! outcome of the transaction an action just sent.

mod clinician;
mod consents;
mod explorer;
mod input;
mod links;
mod patient;
mod regulator;
mod timeline;

use crate::{
    error::PortalError,
    layout::{self, View},
    reader::{Reader, Who},
    server::App,
};
use axum::{
    Router,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use maud::{Markup, html};
use medchain_client::TxOutcome;
use medchain_types::{Receipt, TxId};
use serde::Deserialize;
use std::sync::Arc;

pub(crate) use clinician::PendingBreakGlass;

/// Every route of the portal.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route("/assets/portal.css", get(css))
        .route("/assets/portal.js", get(js))
        .merge(patient::routes())
        .merge(clinician::routes())
        .merge(regulator::routes())
        .merge(explorer::routes())
}

/// `?tx=ID`: the page follows an action that sent transaction `ID`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Done {
    tx: Option<TxId>,
}

impl Done {
    pub(crate) fn tx(&self) -> Option<TxId> {
        self.tx
    }
}

/// `/`: who the key is (verified) and where to start.
async fn home(State(app): State<Arc<App>>) -> Response {
    app.page(None, |_, who, _| {
        let mut starts = Vec::new();
        if who.is_patient() {
            starts.push(("/patient/records", "My records, consents and access history"));
        }
        if who.is_clinician() {
            starts.push(("/clinician", "My licence and the records shared with me"));
        }
        if who.regulator {
            starts.push(("/regulator/orgs", "Supervision: organisations, licences, break-glass"));
        }
        starts.push(("/explorer", "Explorer: blocks, transactions, validators"));
        Ok(View::new(
            "Welcome",
            html! {
                p {
                    "Signed in as "
                    @if let Some(name) = who.name() { strong { (name.as_str()) } " · " }
                    code { (who.address) } (layout::copy_button(&who.address.to_string()))
                }
                ul class="starts" { @for (href, label) in starts { li { a href=(href) { (label) } } } }
            },
        ))
    })
    .await
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../assets/portal.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../assets/portal.js"),
    )
        .into_response()
}

/// The banner for the transaction an action sent: its verified receipt, or why there is none.
/// Only a finalized transaction, proven, is a success: an action returns here once its
/// transaction is final, so anything else comes from a hand-made `?tx=` or a node that now
/// withholds the transaction, and what the node says of it is its word only.
pub(crate) fn tx_outcome(reader: &Reader<'_>, id: &TxId) -> Markup {
    outcome_banner(id, &reader.transaction(id))
}

/// [`tx_outcome`] for a transaction already read (a page that also uses what it did).
fn outcome_banner(id: &TxId, outcome: &Result<TxOutcome, PortalError>) -> Markup {
    match outcome {
        Ok(TxOutcome::Finalized(confirmed)) => final_banner(
            html! { "Done: transaction " (links::tx(id)) " is final in block " },
            &confirmed.receipt,
        ),
        Ok(TxOutcome::Dropped(dropped)) => layout::outcome(
            false,
            html! { p { "Transaction " (links::tx(id)) " is not final: the node says it was dropped ("
            (dropped.reason) "), and a dropped transaction does nothing." } },
        ),
        Ok(TxOutcome::Pending | TxOutcome::Queued { .. }) => layout::outcome(
            false,
            html! { p { "Transaction " (links::tx(id)) " is not final: the node says it waits in its mempool. Nothing is done until it is in a finalized block; reload to see." } },
        ),
        Ok(TxOutcome::Unknown) => layout::outcome(
            false,
            html! { p { "Transaction " (links::tx(id)) " is not final: the node does not know it." } },
        ),
        Err(error) => layout::error_panel(error),
    }
}

/// The success banner for a final transaction: `said` (ending where the block goes), the
/// block it is final in, and what its verified `receipt` did.
fn final_banner(said: Markup, receipt: &Receipt) -> Markup {
    layout::outcome(
        true,
        html! {
            p { (said) (links::block(receipt.height)) "." }
            (explorer::events(&receipt.events))
        },
    )
}

/// The refusal of a page meant for `audience` ("a patient", "the regulator", …): what this
/// key is instead, and where its own pages are.
pub(crate) fn not_for_this_key(who: &Who, audience: &str) -> PortalError {
    let is = if who.regulator {
        "the regulator's".to_string()
    } else {
        match who.identity.as_ref() {
            Some(identity) => format!(
                "enrolled as {} ({:?})",
                identity.identity.as_str(),
                identity.role
            ),
            None => "not enrolled (a patient's, for the portal)".to_string(),
        }
    };
    PortalError::BadInput(format!(
        "these pages are for {audience}, and this portal's key is {is}. Its own pages are in the menu above; to see these, start `medchain portal` with {audience}'s key file"
    ))
}
