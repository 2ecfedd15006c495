//! What can make a `medchain` command fail. Messages say what to do next.

use medchain_client::{ClientError, build::BuildError, keys::KeyError};
use std::path::PathBuf;

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
    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
