//! The devnet's research market (S4-flow): what operators do once on a new chain, done by
//! `medchain devnet` with the keys `medchain init` wrote — the regulator registers the circuit
//! of `DIR/zk`, `researcher-1` founds the audited research organisation *Devnet Research*,
//! `cloud-1` … `cloud-3` the audited cloud organisation *Devnet Cloud* — and the three cloud
//! proxies (`medchain cloud`, threshold 2 of 3) it runs beside the validators.
//!
//! Every step looks at the chain first and is skipped if done, so a devnet interrupted while
//! setting up finishes on its next start.

use super::Process;
use crate::{
    circuit::CircuitDir,
    error::CliError,
    init::{self, CLOUD_PROXIES},
    research,
};
use medchain_client::{Client, StateQuery, WaitPolicy, build, keys};
use medchain_types::{Address, OrgKind, OrgName, OrgState, Payload, PrivateKey};
use std::{
    fs,
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

/// The research organisation `researcher-1` founds.
pub const RESEARCH_ORG: &str = "Devnet Research";
/// The cloud organisation of the proxies.
pub const CLOUD_ORG: &str = "Devnet Cloud";
/// How long the proxies get to answer and be registered on chain.
const PROXY_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether the network in `dir` has a research market: a chain with tokens (its funded
/// accounts) and the circuit `init` set up.
pub fn enabled(dir: &Path) -> bool {
    CircuitDir::beside(&init::genesis_file(dir)).exists()
        && init::account_key_file(dir, "cloud-1").exists()
}

/// Registers the circuit and the two organisations unless the chain has them.
pub fn set_up(dir: &Path, client: &Client) -> Result<(), CliError> {
    let plain = |path: PathBuf| -> Result<PrivateKey, CliError> {
        Ok(keys::load_key(&path, keys::no_passphrase)?.key)
    };
    let regulator = plain(dir.join("regulator.key"))?;
    let circuit = CircuitDir::beside(&init::genesis_file(dir));
    let circuit_id = research::circuit_id(&circuit)?;
    if read(client, &StateQuery::circuit(&circuit_id))?.is_none() {
        send(
            client,
            &regulator,
            research::register_circuit_payload(&circuit)?,
        )?;
    }
    let researchers = [plain(init::account_key_file(dir, "researcher-1"))?];
    organisation(
        client,
        &regulator,
        RESEARCH_ORG,
        OrgKind::Research,
        &researchers,
    )?;
    let proxies = (1..=CLOUD_PROXIES)
        .map(|i| plain(init::account_key_file(dir, &format!("cloud-{i}"))))
        .collect::<Result<Vec<_>, _>>()?;
    organisation(client, &regulator, CLOUD_ORG, OrgKind::Cloud, &proxies)
}

/// `name`, founded by `members[0]`, audited, with every other member joined on the founder's
/// endorsement.
fn organisation(
    client: &Client,
    regulator: &PrivateKey,
    name: &str,
    kind: OrgKind,
    members: &[PrivateKey],
) -> Result<(), CliError> {
    let name = OrgName::new(name).map_err(|e| CliError::Devnet(e.to_string()))?;
    let Some((founder, others)) = members.split_first() else {
        return Ok(());
    };
    let org = read(client, &StateQuery::org(&name))?;
    if org.is_none() {
        send(client, founder, build::register_org(name.clone(), kind))?;
    }
    if org.is_none_or(|org| org.state != OrgState::Audited) {
        send(
            client,
            regulator,
            build::set_org_state(name.clone(), OrgState::Audited),
        )?;
    }
    let endorser = keys::address_of(founder);
    for member in others {
        let address = keys::address_of(member);
        if read(client, &StateQuery::membership(&address))?.is_some() {
            continue;
        }
        let endorsement = build::endorse_join(client.light.chain_id(), &name, &address, founder);
        send(
            client,
            member,
            build::join_org(name.clone(), endorser, endorsement),
        )?;
    }
    Ok(())
}

fn read<V: medchain_state::StateValue>(
    client: &Client,
    query: &StateQuery<V>,
) -> Result<Option<V>, CliError> {
    Ok(client.read(query)?.value)
}

fn send(client: &Client, key: &PrivateKey, payload: Payload) -> Result<(), CliError> {
    let kind = payload.kind();
    client
        .signer(key.clone())
        .send(payload, Some(&WaitPolicy::default()))
        .map_err(|e| CliError::Devnet(format!("setting up the research market, {kind}: {e}")))?;
    Ok(())
}

/// The devnet's proxy processes (not started): `medchain cloud` with the key `cloud-<i>`, its
/// data in `DIR/cloud-<i>`, on the port its URL file names — written on first use from
/// `base_port` (cloud-i listens on base_port + i − 1) and kept, since the chain registers
/// each proxy at its URL.
pub fn proxies(
    dir: &Path,
    genesis: &Path,
    node_api: &str,
    base_port: u16,
) -> Result<Vec<(Process, String)>, CliError> {
    (1..=CLOUD_PROXIES)
        .map(|index| {
            let data = init::proxy_dir(dir, index);
            fs::create_dir_all(&data).map_err(CliError::io(&data))?;
            let url_file = init::proxy_url_file(dir, index);
            let url = match fs::read_to_string(&url_file) {
                Ok(url) => url.trim().to_string(),
                Err(_) => {
                    let port = u16::try_from(index - 1)
                        .ok()
                        .and_then(|offset| base_port.checked_add(offset))
                        .ok_or_else(|| {
                            CliError::Devnet(format!(
                                "--cloud-base-port {base_port} leaves no room for {CLOUD_PROXIES} proxies"
                            ))
                        })?;
                    let url = format!("http://127.0.0.1:{port}");
                    fs::write(&url_file, format!("{url}\n")).map_err(CliError::io(&url_file))?;
                    url
                }
            };
            let listen = url.trim_start_matches("http://").to_string();
            let key = init::account_key_file(dir, &format!("cloud-{index}"));
            let args = [
                "cloud".into(),
                "--key".into(),
                key.into_os_string(),
                "--listen".into(),
                listen.into(),
                "--data-dir".into(),
                data.clone().into_os_string(),
                "--node".into(),
                node_api.into(),
                "--genesis".into(),
                genesis.as_os_str().to_owned(),
            ]
            .into();
            let process = Process::new(format!("cloud-{index}"), args, data.join("cloud.log"));
            Ok((process, url))
        })
        .collect()
}

/// Waits until every proxy in `addresses` is registered on chain (each registers itself when
/// it starts); `alive` reports a proxy that died meanwhile.
pub fn wait_registered(
    client: &Client,
    addresses: &[Address],
    mut alive: impl FnMut() -> Result<(), CliError>,
) -> Result<(), CliError> {
    let start = Instant::now();
    loop {
        alive()?;
        let mut registered = 0;
        for address in addresses {
            if client
                .read(&StateQuery::proxy(address))
                .is_ok_and(|proxy| proxy.value.is_some())
            {
                registered += 1;
            }
        }
        if registered == addresses.len() {
            return Ok(());
        }
        if start.elapsed() > PROXY_TIMEOUT {
            return Err(CliError::Devnet(format!(
                "{registered} of {} cloud proxies registered on chain within {PROXY_TIMEOUT:?}; see .../cloud-N/cloud.log",
                addresses.len()
            )));
        }
        thread::sleep(Duration::from_millis(300));
    }
}

/// The addresses of the devnet's proxies (their `cloud-<i>` keys).
pub fn proxy_addresses(dir: &Path) -> Result<Vec<Address>, CliError> {
    (1..=CLOUD_PROXIES)
        .map(|i| {
            Ok(keys::read_key_file(&init::account_key_file(dir, &format!("cloud-{i}")))?.address())
        })
        .collect()
}
