//! What can make a `medchain` command fail. Messages say what to do next.

use medchain_client::{ClientError, build::BuildError, keys::KeyError};
use std::{path::PathBuf, process::ExitCode};

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A client call failed (node unreachable, refused, unverifiable, …).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A key or genesis file is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A transaction could not be built from the arguments.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No genesis file was given and none was found where the devnet writes it.
    #[error(
        "no genesis document: pass --genesis FILE (or set MEDCHAIN_GENESIS); `medchain devnet` writes ./.devnet/genesis.json"
    )]
    NoGenesis,
    /// The node serves another chain than the genesis names.
    #[error(
        "the node at {node} serves chain {served}, but your genesis is for {expected}; pass the right --node or --genesis"
    )]
    OtherChain {
        /// The node URL.
        node: String,
        /// Its chain id.
        served: String,
        /// The genesis's chain id.
        expected: String,
    },
    /// What was asked for does not exist (proven absent where the chain can prove it).
    #[error("not found: {0}")]
    NotFound(String),
    /// Bad arguments clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// `medchain init` refused or failed.
    #[error("init: {0}")]
    Init(String),
    /// `medchain node` stopped with an error.
    #[error("node: {0}")]
    Node(String),
    /// `medchain devnet` could not start or supervise its validators.
    #[error("devnet: {0}")]
    Devnet(String),
}

impl CliError {
    /// The exit status for this failure: 2 for an ambiguous id prefix (the argument must be
    /// longer), 4 for something that does not exist, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Client(ClientError::AmbiguousId { .. }) => ExitCode::from(2),
            Self::Client(ClientError::NoSuchId { .. }) | Self::NotFound(_) => ExitCode::from(4),
            _ => ExitCode::FAILURE,
        }
    }

    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_api::IdKind;

    #[test]
    fn an_ambiguous_prefix_is_a_usage_error_and_an_unknown_one_is_not_found() {
        let prefix: medchain_api::IdPrefix = "abcd".parse().unwrap();
        let ambiguous = CliError::Client(ClientError::AmbiguousId {
            kind: IdKind::Record,
            prefix: prefix.clone(),
            candidates: vec![],
            complete: false,
        });
        assert_eq!(ambiguous.exit_code(), ExitCode::from(2));
        let unknown = CliError::Client(ClientError::NoSuchId {
            kind: IdKind::Consent,
            prefix,
        });
        assert_eq!(unknown.exit_code(), ExitCode::from(4));
        assert_eq!(
            CliError::NotFound("x".into()).exit_code(),
            ExitCode::from(4)
        );
        assert_eq!(CliError::NoGenesis.exit_code(), ExitCode::FAILURE);
    }
}
