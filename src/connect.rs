//! Turning `--node`, `--genesis` and `--key` into a verifying client and a signer.

use crate::{
    cli::{Connection, Sending},
    error::CliError,
};
use medchain_client::{Client, ClientError, LightClient, NodeClient, Signer, keys};
use medchain_types::{
    Address, Genesis, PrivateKey,
    keyfile::{KeyFile, KeyMaterial},
};
use std::{
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

/// Where `medchain devnet` writes the genesis, used when `--genesis` is not given.
const DEVNET_GENESIS: &str = ".devnet/genesis.json";

/// A client for the node in `connection`, verifying against its genesis.
pub fn client(connection: &Connection) -> Result<Client, CliError> {
    let light = light(connection.genesis.as_deref())?;
    Ok(Client::new(NodeClient::new(&connection.node)?, light))
}

/// A light client trusting the genesis document at `path` (default: the devnet's).
pub fn light(path: Option<&Path>) -> Result<LightClient, CliError> {
    let genesis = keys::read_genesis(&genesis_path(path)?)?;
    Ok(LightClient::new(genesis).map_err(ClientError::from)?)
}

/// The genesis document named by `--genesis`, or the devnet's.
pub fn genesis(connection: &Connection) -> Result<Genesis, CliError> {
    Ok(keys::read_genesis(&genesis_path(
        connection.genesis.as_deref(),
    )?)?)
}

/// The genesis document's path `connection` names (`--genesis`), or the devnet's.
pub fn genesis_file(connection: &Connection) -> Result<PathBuf, CliError> {
    genesis_path(connection.genesis.as_deref())
}

fn genesis_path(path: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(path) = path {
        return Ok(path.to_path_buf());
    }
    let default = PathBuf::from(DEVNET_GENESIS);
    if default.exists() {
        Ok(default)
    } else {
        Err(CliError::NoGenesis)
    }
}

/// The validators' API URLs of the network directory holding the genesis document (the one
/// `medchain init` or `medchain devnet` wrote: `node-<i>/node.toml` beside `genesis.json`).
/// Empty when the genesis is not inside such a directory.
pub fn network_apis(connection: &Connection) -> Result<Vec<String>, CliError> {
    let genesis = genesis_path(connection.genesis.as_deref())?;
    let dir = genesis.parent().unwrap_or(Path::new("."));
    let mut apis = Vec::new();
    loop {
        let config = crate::init::node_config_file(dir, apis.len());
        if !config.exists() {
            return Ok(apis);
        }
        let node = medchain_node::config::NodeConfig::read(&config).map_err(|e| {
            CliError::Usage(format!("{e}; pass the validators with --pkg-node URL"))
        })?;
        apis.push(format!("http://{}", node.api.listen));
    }
}

/// A failed verification, explained by a chain mismatch when there is one: the node's chain
/// and genesis named beside the user's, rather than "certificate signatures do not verify".
pub fn explain(client: &Client, error: ClientError) -> CliError {
    if matches!(error, ClientError::Verify(_))
        && let Err(mismatch @ ClientError::OtherChain { .. }) = client.check_chain()
    {
        return mismatch.into();
    }
    error.into()
}

/// The signer of `send`'s key file, naming `--fee` when given (else the schedule's minimum).
pub fn signer<'c>(client: &'c Client, send: &Sending) -> Result<Signer<'c>, CliError> {
    let signer = client.signer(key(&send.key)?);
    Ok(match send.fee {
        Some(fee) => signer.with_fee(fee),
        None => signer,
    })
}

/// The address `flag` names, or else the address of the key file `key` (read without its
/// passphrase: only the public half is needed).
pub fn address_or_key(
    address: Option<Address>,
    key: Option<&Path>,
    flag: &str,
) -> Result<Address, CliError> {
    match (address, key) {
        (Some(address), _) => Ok(address),
        (None, Some(key)) => Ok(keys::read_key_file(key)?.address()),
        (None, None) => Err(CliError::Usage(format!(
            "whose? pass {flag} ADDRESS or --key FILE (or set MEDCHAIN_KEY)"
        ))),
    }
}

/// Reads a key file's chain key (asking for its passphrase if it is encrypted).
pub fn key(path: &Path) -> Result<PrivateKey, CliError> {
    Ok(key_material(path)?.key)
}

/// Reads and opens a key file: its passphrase from `MEDCHAIN_PASSPHRASE` or the terminal; a
/// plain file loads as before, with a note on how to encrypt it.
pub fn key_material(path: &Path) -> Result<KeyMaterial, CliError> {
    let file = keys::read_key_file(path)?;
    if let KeyFile::Plain(_) = file {
        eprintln!(
            "note: {} is not encrypted; `medchain key encrypt --key {}` protects it with a passphrase",
            path.display(),
            path.display()
        );
    }
    Ok(keys::open_key_file(path, file, |path| {
        keys::ask_passphrase(path, keys::Confirm::Once)
    })?)
}

/// The newest finalized height the node can prove (verified, not the node's say-so).
pub fn finalized_height(client: &Client) -> Result<u64, CliError> {
    let newest = client
        .newest_certified()
        .map_err(|error| explain(client, error))?;
    Ok(newest.at.header.height)
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
