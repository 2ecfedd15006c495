//! The HTTP API (axum; OpenAPI document at `/openapi.json`).
//!
//! Reads come from the committed store, so every answer reflects finalized state. Queries of
//! state carry a Jellyfish-Merkle proof, the header whose `state_root` it verifies against,
//! and that header's finalization certificate, so a client that knows the validator set
//! (from genesis) trusts no node (docs/architecture.md § Light-client trust model).
//!
//! Errors are JSON `{"error": code, "message": ..., "hint": ...}` with a 4xx status for bad
//! requests and 5xx only for the node's own trouble. No input can panic a handler: every
//! parameter is parsed into a typed value first.

mod enrolment;
mod error;
mod med;
mod parse_errors;
mod queries;
mod transactions;

pub use error::ApiError;
pub use medchain_api::*;

use crate::{chain::Chain, enrolment::Enrolment, metrics::NodeMetrics};
use axum::{Json, Router, extract::State, http::header, response::IntoResponse, routing::get};
use medchain_types::Genesis;
use std::sync::Arc;
use utoipa::OpenApi;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) inner: Arc<ApiInner>,
    /// The node's MED chain, on a chain whose genesis has MED parameters.
    pub(crate) med: Option<Arc<crate::med::MedService>>,
}

/// Renders the node's Prometheus metrics (the runtime's registry).
pub type MetricsEncoder = Box<dyn Fn() -> String + Send + Sync>;

pub(crate) struct ApiInner {
    pub(crate) encode_metrics: MetricsEncoder,
    pub(crate) chain: Arc<Chain>,
    pub(crate) genesis: Genesis,
    pub(crate) metrics: NodeMetrics,
    pub(crate) enrolment: Enrolment,
}

impl ApiState {
    /// Assembles the handler state.
    pub fn new(
        encode_metrics: MetricsEncoder,
        chain: Arc<Chain>,
        genesis: Genesis,
        metrics: NodeMetrics,
        enrolment: Enrolment,
    ) -> Self {
        Self {
            inner: Arc::new(ApiInner {
                encode_metrics,
                chain,
                genesis,
                metrics,
                enrolment,
            }),
            med: None,
        }
    }

    /// Serves the MED routes from `med` (without it they answer that the chain has none).
    pub fn with_med(mut self, med: Arc<crate::med::MedService>) -> Self {
        self.med = Some(med);
        self
    }
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "medchain node API", description = "Submit transactions, read finalized blocks, and query consortium state with Merkle proofs."),
    paths(
        transactions::submit,
        transactions::submit_batch,
        transactions::status,
        queries::chain_status,
        queries::latest_block,
        queries::block_by_height,
        queries::block_by_digest,
        queries::org,
        queries::account,
        queries::membership,
        queries::record,
        queries::storage_pointer,
        queries::consent,
        queries::grant,
        queries::access_log,
        queries::access_log_entry,
        queries::held,
        queries::output,
        queries::escrow,
        queries::candidate,
        queries::delegation,
        queries::unbonding,
        queries::validator_set,
        queries::epoch_transition,
        queries::research::circuit,
        queries::research::nullifier_key,
        queries::research::attestation,
        queries::research::accumulator,
        queries::research::accumulator_root,
        queries::research::proxy,
        queries::research::study,
        queries::research::enrolment,
        queries::research::study_nullifier,
        queries::research::exclusivity,
        queries::med::med_tip,
        queries::med::med_header,
        queries::lists::patient_records,
        queries::lists::patient_consents,
        queries::lists::patient_entries,
        queries::lists::patient_notifications,
        queries::lists::org_members,
        queries::lists::orgs,
        queries::lists::licences,
        queries::lists::emergencies,
        queries::lists::grantee_consents,
        queries::lists::resolve_id,
        queries::lists::owner_outputs,
        queries::lists::token_history,
        queries::lists::candidates,
        queries::lists::studies,
        queries::lists::attested_commitments,
        queries::lists::study_enrolments,
        queries::lists::reencryptions,
        queries::identity::identity,
        queries::identity::identity_of,
        queries::identity::licence,
        queries::identity::revocation,
        queries::identity::entry,
        queries::identity::vouching_key,
        queries::identity::emergency,
        enrolment::commitments,
        enrolment::partial_keys,
        enrolment::pkg_state,
        med::submit_batch,
        med::status,
        med::headers,
        med::block,
        med::record,
        med::entry,
    ),
    tags(
        (name = "transactions", description = "Submit signed transactions and follow them to finality"),
        (name = "chain", description = "Finalized blocks, chain status, and epoch transitions (how a light client learns each epoch's validator set)"),
        (name = "state", description = "Consortium state with Merkle proofs against finalized headers: organisations, records, consents, the access log, identities, licences, the doctor revocation list, EMR entries, vouching keys, emergency requests, token outputs and escrows, staking candidates, delegations and validator sets, and the research market: circuits, nullifier keys, attestations, the accumulator, proxies, studies, enrolments, nullifiers and exclusivity; the MED chain's checkpointed tip and headers"),
        (name = "enrolment", description = "Key extraction by the threshold PKG: two rounds, each signed by the enrollee's chain key; partial keys sealed to the enrollee"),
        (name = "med", description = "The MED proof-of-work chain of record releases and patients' EMR entries: submit hospital batches; read this node's Mblocks, headers, a record's inclusion proof and where an entry stands, and whether their Mblock is checkpointed by the consortium chain (final)"),
        (name = "lists", description = "Lists of a patient's records, consents, EMR entries and notifications, an organisation's members, the organisations, the licences, every emergency request, the consents granted to an address, an address's token outputs, the validator candidates, the studies, the attested commitments, a study's enrolments and an enrolment's re-encryptions, every entry proven; id-prefix lookups"),
    )
)]
pub struct ApiDoc;

/// The router with every route.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok" }))
        .merge(transactions::routes())
        .merge(queries::routes())
        .merge(enrolment::routes())
        .merge(med::routes())
        .fallback(error::no_such_route)
        .method_not_allowed_fallback(error::wrong_method)
        .with_state(state)
}

/// Serves the API until the listener fails. Requests hyper cannot parse (a URL over 64 KiB,
/// say) get the same JSON error bodies as everything else.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState) {
    let listener = parse_errors::JsonParseErrorsListener(listener);
    if let Err(error) = axum::serve(listener, router(state)).await {
        tracing::error!(%error, "HTTP API stopped");
    }
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    state
        .inner
        .metrics
        .mempool(state.inner.chain.mempool().len());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        (state.inner.encode_metrics)(),
    )
}
