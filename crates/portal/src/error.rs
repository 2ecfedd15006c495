//! Why a page could not be shown.

use axum::http::StatusCode;
use medchain_client::ClientError;
use thiserror::Error;

/// Why a page or an action failed. A failed verification is its own case: the page says the
/// answer was not trusted and shows nothing from it.
#[derive(Debug, Error)]
pub enum PortalError {
    /// The node's answer did not verify against a finalized header (or the genesis).
    #[error("{0}")]
    Verification(String),
    /// The node could not be reached, or refused.
    #[error("{0}")]
    Node(String),
    /// The user's input is not usable; the message says what to change.
    #[error("{0}")]
    BadInput(String),
    /// No such object on the chain (proven absent).
    #[error("{0}")]
    NotFound(String),
    /// A hospital gateway failed or refused.
    #[error("{0}")]
    Gateway(String),
    /// The portal could not start or serve.
    #[error("{0}")]
    Internal(String),
}

impl From<medchain_gateway::server::StartError> for PortalError {
    fn from(error: medchain_gateway::server::StartError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl PortalError {
    /// The HTTP status a page failing this way is served with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Verification(_) | Self::Gateway(_) => StatusCode::BAD_GATEWAY,
            Self::Node(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadInput(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short title for the error panel.
    pub(crate) fn heading(&self) -> &'static str {
        match self {
            Self::Verification(_) => "Verification failed: this answer is not shown",
            Self::Node(_) => "The node did not answer",
            Self::BadInput(_) => "That input cannot be used",
            Self::NotFound(_) => "Not found",
            Self::Gateway(_) => "The hospital gateway failed",
            Self::Internal(_) => "The portal failed",
        }
    }
}

impl From<ClientError> for PortalError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Verify(_) | ClientError::OtherChain { .. } => {
                Self::Verification(error.to_string())
            }
            ClientError::Build(_) | ClientError::Key(_) => Self::BadInput(error.to_string()),
            other => Self::Node(other.to_string()),
        }
    }
}
