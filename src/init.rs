//! `medchain init`: a new network on loopback — genesis, the regulator's key, per validator
//! a key and a `node.toml` listing every node as a peer, and (with fees, the default) the
//! funded accounts of the token economy and any standby nodes.
//!
//! ```text
//! DIR/genesis.json
//! DIR/regulator.key
//! DIR/node-0/validator.key   DIR/node-0/node.toml   (data in DIR/node-0/data)
//! …
//! DIR/node-N/…               (a standby: its key is not a genesis validator)
//! DIR/accounts/hospital-1.key  …  DIR/accounts/cloud-3.key   (funded at genesis)
//! DIR/zk/proving-key.bin  verifying-key.bin  circuit.json     (the research circuit)
//! ```
//!
//! With tokens (the default) `init` also runs the trusted setup of the research market's
//! eligibility circuit for the schema `clinical_v1` (`medchain zk setup`, a few seconds): the
//! devnet registers it with the regulator's key once the chain runs.

use crate::{
    circuit::{self, CircuitDir},
    cli::{EconomyArgs, FeesArg, InitArgs},
    connect::now_ms,
    error::CliError,
};
use medchain_client::keys;
use medchain_node::config::{ApiConfig, MedSettings, NodeConfig, P2pConfig, PeerConfig};
use medchain_types::{
    Address, Allocation, ChainId, Genesis, PrivateKey, StakingParams, TokenGenesis, ValidatorInfo,
    limits, med::MedParams,
};
use std::{
    fs,
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

/// The accounts `init` funds besides the regulator (whose key is `DIR/regulator.key`), in the
/// order `medchain devnet` prints them: two hospitals, three patients, two researchers and the
/// three cloud proxies of the research market.
pub const ACCOUNTS: [&str; 10] = [
    "hospital-1",
    "hospital-2",
    "patient-1",
    "patient-2",
    "patient-3",
    "researcher-1",
    "researcher-2",
    "cloud-1",
    "cloud-2",
    "cloud-3",
];

/// The research market's cloud proxies `medchain devnet` runs: accounts `cloud-1` …
/// `cloud-3`, threshold 2 of 3.
pub const CLOUD_PROXIES: usize = 3;

/// Where `medchain devnet` writes the URL of its cloud proxy `index` (1-based), for the
/// commands that default to the devnet's proxies.
pub fn proxy_url_file(dir: &Path, index: usize) -> PathBuf {
    proxy_dir(dir, index).join("url")
}

/// The data directory of the devnet's cloud proxy `index` (1-based).
pub fn proxy_dir(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("cloud-{index}"))
}

/// The MED chain of a network made with `--med` (S3-dual): an Mblock every 3 seconds or so
/// on this machine, starting at a difficulty a fifth of a core finds in well under that, and
/// retargeting over the last 16 Mblocks.
pub const MED_PARAMS: MedParams = MedParams {
    target_interval_ms: 3_000,
    initial_difficulty: 20_000,
    min_difficulty: 1_000,
    retarget_window: 16,
};

/// Blocks per epoch when `--epoch-length` is not given: about a minute at two blocks a second.
pub const DEFAULT_EPOCH_LENGTH: u64 = 120;

/// The devnet's token economy (S1-tokens). Amounts are whole tokens.
mod economy {
    use medchain_types::FeeSchedule;

    /// A typical 300-byte transaction costs about 310 tokens.
    pub const FEES: FeeSchedule = FeeSchedule {
        base: 10,
        per_byte: 1,
    };
    /// Minted for each block's proposer.
    pub const BLOCK_REWARD: u64 = 10;
    /// The cap on genesis allocations plus minted tokens.
    pub const MAX_SUPPLY: u64 = 1_000_000_000_000;
    /// Half of a block's fees go to its proposer, half to the epoch's validators.
    pub const PROPOSER_SHARE_BPS: u16 = 5_000;
    /// What an access under consent pays the patient when the consent names no reward.
    pub const ACCESS_REWARD_DEFAULT: u64 = 5;
    /// Every funded key's account balance: thousands of transactions' fees.
    pub const BALANCE: u64 = 1_000_000;
    /// The outputs (coins) each funded account holds besides its balance, to pay transfers.
    pub const OUTPUTS: [u64; 2] = [200_000, 100_000];
    /// Validator i of n self-bonds (n − i) × this: distinct stakes, so the last genesis
    /// validator is the weakest and the first to be replaced by a candidate with more stake.
    /// It is also the least stake a candidate needs to be elected.
    pub const STAKE_STEP: u64 = 10_000;
    /// Epochs an undelegation waits before it can be withdrawn.
    pub const UNBONDING_EPOCHS: u64 = 2;
    /// A tenth of an equivocating validator's pools is burned.
    pub const SLASH_BPS: u16 = 1_000;
}

/// What `init` wrote.
pub struct Layout {
    /// The genesis document.
    pub genesis: PathBuf,
    /// The regulator's key.
    pub regulator_key: PathBuf,
    /// Each validator's configuration, in genesis order.
    pub node_configs: Vec<PathBuf>,
    /// Each standby node's configuration.
    pub standby_configs: Vec<PathBuf>,
    /// The funded accounts' key files (empty on a chain without tokens).
    pub accounts: Vec<PathBuf>,
    /// The chain id.
    pub chain_id: ChainId,
    /// Each node's API address: validators, then standbys.
    pub api: Vec<SocketAddr>,
    /// The research circuit's directory (a chain with tokens only), and its id.
    pub circuit: Option<(PathBuf, String)>,
    /// Whether the network runs the MED chain (`--med`).
    pub med: bool,
}

/// The genesis file inside a network directory.
pub fn genesis_file(dir: &Path) -> PathBuf {
    dir.join("genesis.json")
}

/// Node `index`'s configuration file inside a network directory.
pub fn node_config_file(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("node-{index}")).join("node.toml")
}

/// The key file of the funded account `name` (one of [`ACCOUNTS`]).
pub fn account_key_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("accounts").join(format!("{name}.key"))
}

/// A funded account of a network directory.
pub struct FundedAccount<'g> {
    /// Its name: `regulator` or one of [`ACCOUNTS`].
    pub name: &'static str,
    /// Its key file.
    pub key: PathBuf,
    /// Its address.
    pub address: Address,
    /// What genesis gave it.
    pub allocation: &'g Allocation,
}

/// The regulator and the [`ACCOUNTS`] of the network in `dir`, with what `genesis` allocated
/// them; those genesis does not fund (a chain without tokens) are left out.
pub fn funded_accounts<'g>(
    dir: &Path,
    genesis: &'g Genesis,
) -> Result<Vec<FundedAccount<'g>>, CliError> {
    let Some(tokens) = &genesis.tokens else {
        return Ok(Vec::new());
    };
    let named = std::iter::once(("regulator", dir.join("regulator.key")))
        .chain(ACCOUNTS.map(|name| (name, account_key_file(dir, name))));
    let mut funded = Vec::new();
    for (name, key) in named {
        if !key.exists() {
            continue;
        }
        let address = keys::read_key_file(&key)?.address();
        if let Some(allocation) = tokens.allocations.iter().find(|a| a.address == address) {
            funded.push(FundedAccount {
                name,
                key,
                address,
                allocation,
            });
        }
    }
    Ok(funded)
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
    let epoch_length = epoch_length(&args.economy)?;
    let nodes = count + args.economy.standby;
    let chain_id = match &args.chain_id {
        Some(chain_id) => chain_id.clone(),
        None => random_chain_id("medchain")?,
    };
    let chain_id = ChainId::new(chain_id).map_err(|e| CliError::Init(e.to_string()))?;
    let p2p = ports(args.p2p_base_port, nodes, "--p2p-base-port")?;
    let api = ports(args.api_base_port, nodes, "--api-base-port")?;
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
    let node_keys: Vec<_> = (0..nodes).map(|_| keys::generate()).collect();
    let (validator_keys, standby_keys) = node_keys.split_at(count);
    let accounts = match epoch_length {
        Some(_) => write_accounts(dir)?,
        None => Vec::new(),
    };
    let validators: Vec<Address> = validator_keys.iter().map(keys::address_of).collect();
    let tokens = epoch_length.map(|epoch_length| {
        let funded: Vec<Address> = std::iter::once(keys::address_of(&regulator))
            .chain(accounts.iter().map(|(_, key)| keys::address_of(key)))
            .chain(standby_keys.iter().map(keys::address_of))
            .collect();
        token_genesis(&validators, &funded, epoch_length)
    });
    let genesis = Genesis {
        chain_id: chain_id.clone(),
        genesis_time_ms: now_ms(),
        regulator: keys::address_of(&regulator),
        validators: validators
            .iter()
            .enumerate()
            .map(|(i, public_key)| ValidatorInfo {
                name: format!("node-{i}"),
                public_key: *public_key,
            })
            .collect(),
        tokens,
        med: args.med.then_some(MED_PARAMS),
    };
    genesis
        .validate()
        .map_err(|e| CliError::Init(format!("the genesis would be invalid: {e}")))?;
    // Every node dials every other, standbys included: a standby must be known to the
    // validators before it is elected, or they would refuse its connection.
    let peers: Vec<PeerConfig> = node_keys
        .iter()
        .zip(&p2p)
        .map(|(key, address)| PeerConfig {
            public_key: keys::address_of(key),
            address: *address,
        })
        .collect();
    let mut configs = Vec::with_capacity(nodes);
    for (index, key) in node_keys.iter().enumerate() {
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
            // On a MED network every node mines, standbys included (a hospital's node).
            med: MedSettings {
                mine: args.med,
                ..Default::default()
            },
            storage: Default::default(),
        };
        let path = node_config_file(dir, index);
        write_node(&path, key, &config)?;
        configs.push(path);
    }
    let circuit = match epoch_length {
        Some(_) => Some(research_circuit(dir, args.circuit.as_deref())?),
        None => None,
    };
    // Genesis last: its presence marks a complete network directory.
    let text = serde_json::to_string_pretty(&genesis).map_err(|e| CliError::Init(e.to_string()))?;
    fs::write(&genesis_path, text + "\n").map_err(CliError::io(&genesis_path))?;
    let standby_configs = configs.split_off(count);
    Ok(Layout {
        genesis: genesis_path,
        regulator_key,
        node_configs: configs,
        standby_configs,
        accounts: accounts.into_iter().map(|(path, _)| path).collect(),
        chain_id,
        api,
        circuit,
        med: args.med,
    })
}

/// The research circuit of `clinical_v1` in `DIR/zk` (S4-flow): copied from `reuse` (a
/// directory `medchain zk setup` wrote), or made by a trusted setup here — the regulator's
/// machine is the trusted party of a devnet, and nothing but the keys is kept.
fn research_circuit(dir: &Path, reuse: Option<&Path>) -> Result<(PathBuf, String), CliError> {
    let circuit = CircuitDir::beside(&genesis_file(dir));
    let manifest = match reuse {
        Some(source) => circuit::copy(&CircuitDir::new(source), &circuit)?,
        None => {
            let schema = zk::Schema::clinical_v1();
            let shape = circuit::default_shape(&schema)?;
            circuit::run_setup(&circuit, &schema, &shape, false)?
        }
    };
    Ok((circuit.path().to_path_buf(), manifest.circuit))
}

/// The epoch length of a chain with tokens, or `None` for a chain without (`--fees free`),
/// refusing the options that need tokens.
fn epoch_length(economy: &EconomyArgs) -> Result<Option<u64>, CliError> {
    match economy.fees {
        FeesArg::Default => {
            let length = economy.epoch_length.unwrap_or(DEFAULT_EPOCH_LENGTH);
            if length < 2 {
                return Err(CliError::Init(format!(
                    "--epoch-length {length}: an epoch needs at least 2 blocks (the election, then the block after it)"
                )));
            }
            Ok(Some(length))
        }
        FeesArg::Free if economy.epoch_length.is_some() => Err(CliError::Init(
            "--epoch-length needs --fees default: a chain without tokens has no staking, so its validators never change".into(),
        )),
        FeesArg::Free if economy.standby > 0 => Err(CliError::Init(
            "--standby needs --fees default: a standby node joins the validators through staking, which a chain without tokens does not have".into(),
        )),
        FeesArg::Free => Ok(None),
    }
}

/// Generates and writes the key of every account in [`ACCOUNTS`].
fn write_accounts(dir: &Path) -> Result<Vec<(PathBuf, PrivateKey)>, CliError> {
    let accounts_dir = dir.join("accounts");
    fs::create_dir_all(&accounts_dir).map_err(CliError::io(&accounts_dir))?;
    ACCOUNTS
        .iter()
        .map(|name| {
            let path = account_key_file(dir, name);
            let key = keys::generate();
            keys::write_key_file(&path, &key)?;
            Ok((path, key))
        })
        .collect()
}

/// The devnet economy: every validator and every `funded` address gets a balance for fees and
/// a few outputs; validator i of n also self-bonds (n − i) stakes, so stakes are distinct.
fn token_genesis(validators: &[Address], funded: &[Address], epoch_length: u64) -> TokenGenesis {
    use economy::*;
    let count = validators.len();
    let mut allocations: Vec<Allocation> = validators
        .iter()
        .enumerate()
        .map(|(i, address)| Allocation {
            address: *address,
            balance: BALANCE,
            outputs: Vec::new(),
            stake: STAKE_STEP * (count - i) as u64,
        })
        .collect();
    allocations.extend(funded.iter().map(|address| Allocation {
        address: *address,
        balance: BALANCE,
        outputs: OUTPUTS.to_vec(),
        stake: 0,
    }));
    // A set smaller than a quorum of the genesis set is refused by the election: the old set
    // stays rather than shrinking below what tolerates a fault.
    let quorum = count - (count - 1) / 3;
    TokenGenesis {
        fees: FEES,
        block_reward: BLOCK_REWARD,
        max_supply: MAX_SUPPLY,
        proposer_share_bps: PROPOSER_SHARE_BPS,
        access_reward_default: ACCESS_REWARD_DEFAULT,
        staking: StakingParams {
            epoch_length,
            max_validators: u16::try_from(count).unwrap_or(u16::MAX),
            min_validators: u16::try_from(quorum).unwrap_or(u16::MAX),
            min_stake: STAKE_STEP,
            unbonding_epochs: UNBONDING_EPOCHS,
            slash_bps: SLASH_BPS,
        },
        allocations,
    }
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
    let configs = layout
        .node_configs
        .iter()
        .map(|config| ("validator", config));
    let standbys = layout
        .standby_configs
        .iter()
        .map(|config| ("standby", config));
    for ((role, config), api) in configs.chain(standbys).zip(&layout.api) {
        println!("{role:<9}      {}  (API http://{api})", config.display());
    }
    for account in &layout.accounts {
        println!("account:       {}  (funded at genesis)", account.display());
    }
    if layout.med {
        println!(
            "MED chain: on — every node mines with {}% of one core ([med] in its node.toml); target an Mblock every {} s",
            medchain_node::med::miner::DEFAULT_DUTY_PERCENT,
            MED_PARAMS.target_interval_ms / 1_000
        );
    }
    if let Some((dir, id)) = &layout.circuit {
        println!(
            "research circuit: {}  (clinical_v1, id {id}; register it once the chain runs: medchain research register-circuit --key {} --circuit {})",
            dir.display(),
            layout.regulator_key.display(),
            dir.display()
        );
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
            economy: EconomyArgs {
                fees: FeesArg::Free,
                epoch_length: None,
                standby: 0,
            },
            circuit: None,
            med: false,
        }
    }

    #[test]
    fn a_med_network_has_med_parameters_and_every_node_mines() {
        let dir = tempfile::tempdir().unwrap();
        let layout = init(&InitArgs {
            med: true,
            ..args(dir.path(), 2)
        })
        .unwrap();
        let genesis = keys::read_genesis(&layout.genesis).unwrap();
        assert_eq!(genesis.med, Some(MED_PARAMS));
        for path in &layout.node_configs {
            assert!(NodeConfig::load(path).unwrap().config.med.mine, "{path:?}");
        }
        let plain = tempfile::tempdir().unwrap();
        let layout = init(&args(plain.path(), 1)).unwrap();
        assert_eq!(keys::read_genesis(&layout.genesis).unwrap().med, None);
        assert!(
            !NodeConfig::load(&layout.node_configs[0])
                .unwrap()
                .config
                .med
                .mine
        );
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
    fn a_fee_network_funds_its_accounts_and_standbys_and_ranks_validator_stakes() {
        let dir = tempfile::tempdir().unwrap();
        let mut with_fees = args(dir.path(), 4);
        with_fees.economy = EconomyArgs {
            fees: FeesArg::Default,
            epoch_length: Some(30),
            standby: 1,
        };
        let layout = init(&with_fees).unwrap();
        let genesis = keys::read_genesis(&layout.genesis).unwrap();
        let tokens = genesis.tokens.as_ref().expect("a fee network has tokens");
        assert_eq!(genesis.epoch_length().get(), 30);
        assert!(genesis.fee_schedule().min_fee(300) > 0);
        assert_eq!(usize::from(tokens.staking.max_validators), 4);
        let allocation = |address: Address| {
            tokens
                .allocations
                .iter()
                .find(|allocation| allocation.address == address)
                .unwrap_or_else(|| panic!("{address} is not funded"))
        };
        let address = |path: &Path| keys::load_key(path, keys::no_passphrase).unwrap().address();
        assert_eq!(layout.accounts.len(), ACCOUNTS.len());
        for path in layout.accounts.iter().chain([&layout.regulator_key]) {
            let funded = allocation(address(path));
            assert!(funded.balance > 0 && !funded.outputs.is_empty(), "{path:?}");
            assert_eq!(funded.stake, 0);
        }
        let stakes: Vec<u64> = genesis
            .validator_keys()
            .into_iter()
            .map(|validator| allocation(validator).stake)
            .collect();
        assert!(
            stakes.windows(2).all(|pair| pair[0] > pair[1]),
            "node-3 must be the weakest validator: {stakes:?}"
        );
        assert_eq!(stakes[3], tokens.staking.min_stake);
        // The standby: its own node directory, a funded key that is not a genesis validator,
        // and a peer of every node.
        let [standby] = layout.standby_configs.as_slice() else {
            panic!("one standby expected: {:?}", layout.standby_configs);
        };
        assert_eq!(*standby, node_config_file(dir.path(), 4));
        let standby_key = address(&standby.with_file_name("validator.key"));
        assert!(!genesis.validator_keys().contains(&standby_key));
        assert!(allocation(standby_key).balance > 0);
        for config in layout.node_configs.iter().chain([standby]) {
            let peers = NodeConfig::read(config).unwrap().p2p.peers;
            assert_eq!(peers.len(), 5);
            assert!(peers.iter().any(|peer| peer.public_key == standby_key));
        }
    }

    #[test]
    fn a_network_without_tokens_has_no_accounts_and_refuses_staking_options() {
        let dir = tempfile::tempdir().unwrap();
        let layout = init(&args(dir.path(), 1)).unwrap();
        assert!(layout.accounts.is_empty());
        assert!(!dir.path().join("accounts").exists());
        assert_eq!(keys::read_genesis(&layout.genesis).unwrap().tokens, None);

        let fresh = tempfile::tempdir().unwrap();
        for economy in [
            EconomyArgs {
                fees: FeesArg::Free,
                epoch_length: Some(30),
                standby: 0,
            },
            EconomyArgs {
                fees: FeesArg::Free,
                epoch_length: None,
                standby: 1,
            },
            EconomyArgs {
                fees: FeesArg::Default,
                epoch_length: Some(1),
                standby: 0,
            },
        ] {
            let refused = init(&InitArgs {
                economy: economy.clone(),
                ..args(fresh.path(), 1)
            });
            assert!(matches!(refused, Err(CliError::Init(_))), "{economy:?}");
        }
        assert!(!genesis_file(fresh.path()).exists());
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
