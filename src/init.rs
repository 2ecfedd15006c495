//! `medchain init`: a new network on loopback — genesis, the regulator's key, and per
//! validator a key and a `node.toml` listing every validator as a peer.
//!
//! ```text
//! DIR/genesis.json
//! DIR/regulator.key
//! DIR/node-0/validator.key   DIR/node-0/node.toml   (data in DIR/node-0/data)
//! …
//! ```

use crate::{cli::InitArgs, connect::now_ms, error::CliError};
use medchain_client::keys;
use medchain_node::config::{ApiConfig, NodeConfig, P2pConfig, PeerConfig};
use medchain_types::{ChainId, Genesis, ValidatorInfo, limits};
use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

/// What `init` wrote.
pub struct Layout {
    /// The genesis document.
    pub genesis: PathBuf,
    /// The regulator's key.
    pub regulator_key: PathBuf,
    /// Each validator's configuration, in genesis order.
    pub node_configs: Vec<PathBuf>,
    /// The chain id.
    pub chain_id: ChainId,
    /// Each validator's API address.
    pub api: Vec<SocketAddr>,
}

/// The genesis file inside a network directory.
pub fn genesis_file(dir: &Path) -> PathBuf {
    dir.join("genesis.json")
}

/// Validator `index`'s configuration file inside a network directory.
pub fn node_config_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("node-{index}")).join("node.toml")
}

/// A fresh chain id, `PREFIX-<8 random hex digits>`: transactions signed for one network are
/// never valid on another, even when nobody chose a name.
pub fn random_chain_id(prefix: &str) -> Result<String, CliError> {
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix)
        .map_err(|e| CliError::Init(format!("no randomness for a chain id: {e}")))?;
    Ok(format!("{prefix}-{}", hex::encode(suffix)))
}

/// Writes a new network into `args.out`; refuses a directory that already holds one.
pub fn init(args: &InitArgs) -> Result<Layout, CliError> {
    let count = args.validators;
    if count == 0 || count > limits::MAX_VALIDATORS {
        return Err(CliError::Init(format!(
            "--validators must be 1 to {}",
            limits::MAX_VALIDATORS
        )));
    }
    let chain_id = match &args.chain_id {
        Some(chain_id) => chain_id.clone(),
        None => random_chain_id("medchain")?,
    };
    let chain_id = ChainId::new(chain_id).map_err(|e| CliError::Init(e.to_string()))?;
    let p2p = ports(args.p2p_base_port, count, "--p2p-base-port")?;
    let api = ports(args.api_base_port, count, "--api-base-port")?;
    if p2p.iter().any(|address| api.contains(address)) {
        return Err(CliError::Init("the p2p and API port ranges overlap".into()));
    }
    let dir = &args.out;
    let genesis_path = genesis_file(dir);
    if genesis_path.exists() {
        return Err(CliError::Init(format!(
            "{} already exists; choose another --out (or delete the directory to start over)",
            genesis_path.display()
        )));
    }
    fs::create_dir_all(dir).map_err(CliError::io(dir))?;

    let regulator = keys::generate();
    let regulator_key = dir.join("regulator.key");
    keys::write_key_file(&regulator_key, &regulator)?;
    let validator_keys: Vec<_> = (0..count).map(|_| keys::generate()).collect();
    let genesis = Genesis {
        chain_id: chain_id.clone(),
        genesis_time_ms: now_ms(),
        regulator: keys::address_of(&regulator),
        validators: validator_keys
            .iter()
            .enumerate()
            .map(|(i, key)| ValidatorInfo {
                name: format!("node-{i}"),
                public_key: keys::address_of(key),
            })
            .collect(),
        tokens: None,
    };
    let peers: Vec<PeerConfig> = genesis
        .validators
        .iter()
        .zip(&p2p)
        .map(|(validator, address)| PeerConfig {
            public_key: validator.public_key,
            address: *address,
        })
        .collect();
    let mut node_configs = Vec::with_capacity(count);
    for (index, key) in validator_keys.iter().enumerate() {
        let config = NodeConfig {
            data_dir: "data".into(),
            key_file: "validator.key".into(),
            genesis_file: "../genesis.json".into(),
            p2p: P2pConfig {
                listen: p2p[index],
                peers: peers.clone(),
            },
            api: ApiConfig { listen: api[index] },
            dkg: Default::default(),
        };
        let path = node_config_file(dir, index);
        write_node(&path, key, &config)?;
        node_configs.push(path);
    }
    // Genesis last: its presence marks a complete network directory.
    let text = serde_json::to_string_pretty(&genesis).map_err(|e| CliError::Init(e.to_string()))?;
    fs::write(&genesis_path, text + "\n").map_err(CliError::io(&genesis_path))?;
    Ok(Layout {
        genesis: genesis_path,
        regulator_key,
        node_configs,
        chain_id,
        api,
    })
}

fn write_node(
    config_path: &Path,
    key: &medchain_types::PrivateKey,
    config: &NodeConfig,
) -> Result<(), CliError> {
    let node_dir = config_path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(node_dir).map_err(CliError::io(node_dir))?;
    keys::write_key_file(&node_dir.join("validator.key"), key)?;
    fs::write(config_path, config.to_toml()).map_err(CliError::io(config_path))
}

/// `count` consecutive loopback ports from `base`.
fn ports(base: u16, count: usize, flag: &str) -> Result<Vec<SocketAddr>, CliError> {
    (0..count)
        .map(|i| {
            u16::try_from(i)
                .ok()
                .and_then(|i| base.checked_add(i))
                .filter(|port| *port != 0)
                .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
                .ok_or_else(|| {
                    CliError::Init(format!(
                        "{flag} {base} leaves no room for {count} validators"
                    ))
                })
        })
        .collect()
}

/// Prints what `init` wrote.
pub fn print(layout: &Layout) {
    println!("initialised chain {}", layout.chain_id);
    println!("genesis:       {}", layout.genesis.display());
    println!(
        "regulator key: {}  (not encrypted: `medchain key encrypt --key {}` before real use)",
        layout.regulator_key.display(),
        layout.regulator_key.display()
    );
    for (config, api) in layout.node_configs.iter().zip(&layout.api) {
        println!("validator:     {}  (API http://{api})", config.display());
    }
    println!(
        "run a validator with: medchain node --config {}",
        layout
            .node_configs
            .first()
            .map_or_else(String::new, |p| p.display().to_string())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &Path, validators: usize) -> InitArgs {
        InitArgs {
            validators,
            out: out.to_path_buf(),
            chain_id: Some("medchain-test".into()),
            p2p_base_port: 19400,
            api_base_port: 18400,
        }
    }

    #[test]
    fn init_writes_a_consistent_network_that_nodes_can_load() {
        let dir = tempfile::tempdir().unwrap();
        let layout = init(&args(dir.path(), 4)).unwrap();
        let genesis = keys::read_genesis(&layout.genesis).unwrap();
        assert_eq!(genesis.validators.len(), 4);
        let regulator = keys::load_key(&layout.regulator_key, keys::no_passphrase).unwrap();
        assert_eq!(genesis.regulator, regulator.address());
        for (index, path) in layout.node_configs.iter().enumerate() {
            let loaded = NodeConfig::load(path).unwrap();
            assert_eq!(
                keys::address_of(&loaded.key),
                genesis.validators[index].public_key
            );
            assert_eq!(loaded.config.p2p.peers.len(), 4);
            assert_eq!(loaded.config.api.listen.port(), 18400 + index as u16);
            assert_eq!(loaded.config.p2p.listen.port(), 19400 + index as u16);
        }
    }

    #[test]
    fn default_chain_ids_differ_per_network() {
        let ids: Vec<ChainId> = (0..2)
            .map(|_| {
                let dir = tempfile::tempdir().unwrap();
                let defaults = InitArgs {
                    chain_id: None,
                    ..args(dir.path(), 1)
                };
                init(&defaults).unwrap().chain_id
            })
            .collect();
        assert_ne!(ids[0], ids[1], "two default networks share a chain id");
        for id in &ids {
            let suffix = id.as_str().strip_prefix("medchain-").unwrap();
            assert_eq!(suffix.len(), 8, "{id}");
            assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
    }

    #[test]
    fn init_refuses_to_overwrite_a_network_and_bad_arguments() {
        let dir = tempfile::tempdir().unwrap();
        init(&args(dir.path(), 1)).unwrap();
        assert!(matches!(init(&args(dir.path(), 1)), Err(CliError::Init(_))));

        let fresh = tempfile::tempdir().unwrap();
        assert!(matches!(
            init(&args(fresh.path(), 0)),
            Err(CliError::Init(_))
        ));
        let mut bad_chain = args(fresh.path(), 1);
        bad_chain.chain_id = Some("Not A Chain Id".into());
        assert!(matches!(init(&bad_chain), Err(CliError::Init(_))));
        let mut overflow = args(fresh.path(), 4);
        overflow.api_base_port = u16::MAX - 1;
        assert!(matches!(init(&overflow), Err(CliError::Init(_))));
        let mut overlap = args(fresh.path(), 4);
        overlap.api_base_port = overlap.p2p_base_port + 2;
        assert!(matches!(init(&overlap), Err(CliError::Init(_))));
        assert!(
            !genesis_file(fresh.path()).exists(),
            "a refused init writes nothing"
        );
    }
}
