//! The patient pages (see the crate's interfaces in README.md).

use crate::server::App;
use axum::Router;
use std::sync::Arc;

/// This audience's routes.
pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
}
