//! Turning `--node`, `--genesis` and `--key` into a verifying client and a signer.

use crate::{cli::Connection, error::CliError};
use medchain_client::{Client, LightClient, NodeClient, keys};
use medchain_types::{Genesis, PrivateKey};
use std::{
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

/// Where `medchain devnet` writes the genesis, used when `--genesis` is not given.
const DEVNET_GENESIS: &str = ".devnet/genesis.json";

/// A client for the node in `connection`, verifying against its genesis.
pub fn client(connection: &Connection) -> Result<Client, CliError> {
    let genesis = genesis(connection)?;
    let light = LightClient::new(genesis).map_err(medchain_client::ClientError::from)?;
    Ok(Client::new(NodeClient::new(&connection.node)?, light))
}

/// The genesis document named by `--genesis`, or the devnet's.
pub fn genesis(connection: &Connection) -> Result<Genesis, CliError> {
    Ok(keys::read_genesis(&genesis_path(connection)?)?)
}

fn genesis_path(connection: &Connection) -> Result<PathBuf, CliError> {
    if let Some(path) = &connection.genesis {
        return Ok(path.clone());
    }
    let default = PathBuf::from(DEVNET_GENESIS);
    if default.exists() {
        Ok(default)
    } else {
        Err(CliError::NoGenesis)
    }
}

/// Reads a key file.
pub fn key(path: &Path) -> Result<PrivateKey, CliError> {
    Ok(keys::read_key_file(path)?)
}

/// The latest finalized height, from a verified block (not the node's say-so), after
/// checking the node serves the genesis's chain.
pub fn finalized_height(client: &Client) -> Result<u64, CliError> {
    let status = client.node.status()?;
    if &status.chain_id != client.light.chain_id() {
        return Err(CliError::OtherChain {
            node: client.node.url().to_string(),
            served: status.chain_id.to_string(),
            expected: client.light.chain_id().to_string(),
        });
    }
    Ok(client.block(status.height)?.at.header.height)
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
