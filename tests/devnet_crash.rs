//! Issue 2 §6, multi-process on loopback: 4 validator processes; 1,000 signed transactions (a
//! realistic mix built with `medchain-client`'s builders, after 40 that enrol and license the
//! doctors) submitted through the batch endpoint,
//! spread over the nodes; one validator is `kill -9`ed mid-load; the other three keep
//! finalizing; it restarts, recovers from disk and catches up; every transaction reported
//! finalized is in the same block at the same position on all four, and the four agree on the
//! state root at a common height (certificates verified by the light client).
//!
//! `MEDCHAIN_KILL_ROUNDS=N` (default 1) turns it into a soak (issue 7 §7, `scripts/soak`): after
//! the first round, N − 1 more rounds each `kill -9` a random validator under a load of access
//! requests, restart it and wait for it to catch up, with the same checks at the end.

mod common;

use common::{Network, enrolment};
use medchain_api::TxState;
use medchain_client::{NodeClient, build, keys};
use medchain_types::{
    AccessDecision, Address, ChainId, Event, Expiry, IdentityName, OrgKind, OrgName, OrgState,
    Payload, PrivateKey, Purpose, Receipt, RecordId, Role, Transaction, TxBody, TxId, Uri,
};
use std::{
    collections::HashMap,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

const INSTITUTIONS: usize = 10;
const PATIENTS: usize = 100;
const RECORDS_PER_PATIENT: usize = 2;
const ACCESS_REQUESTS: usize = 460;
const BATCH: usize = 50;
const VICTIM: usize = 3;
/// Transactions that enrol each hospital's desk and doctor and license the doctor.
const LICENSING_TXS: usize = 4 * INSTITUTIONS;
const PHASE_TIMEOUT: Duration = Duration::from_secs(180);
const VALIDATORS: [usize; 4] = [0, 1, 2, 3];
/// Access requests submitted in each soak round after the first.
const ROUND_LOAD: usize = 100;

/// A key with a locally tracked nonce (each account's transactions are built in order).
struct Account {
    key: PrivateKey,
    address: Address,
    nonce: u64,
}

impl Account {
    fn new() -> Self {
        Self::from_key(keys::generate())
    }

    fn from_key(key: PrivateKey) -> Self {
        Self {
            address: keys::address_of(&key),
            key,
            nonce: 0,
        }
    }

    fn sign(&mut self, chain: &ChainId, payload: Payload) -> Transaction {
        let tx = TxBody {
            chain_id: chain.clone(),
            sender: self.address,
            nonce: self.nonce,
            valid_until_ms: u64::MAX,
            fee: 0,
            payload,
        }
        .sign(&self.key)
        .expect("own key");
        self.nonce += 1;
        tx
    }
}

struct Actors {
    chain: ChainId,
    regulator: Account,
    doctors: Vec<Account>,
    /// Each hospital's hospital identity, which licenses its doctor.
    desks: Vec<Account>,
    researchers: Vec<Account>,
    patients: Vec<Account>,
}

fn org(kind: &str, i: usize) -> OrgName {
    OrgName::new(format!("{kind} {i}")).expect("valid name")
}

fn doctor_name(i: usize) -> String {
    format!("dr-{i}@hospital-{i}")
}

fn a_month_from_now_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    now + 30 * 86_400_000
}

fn a_month_from_now() -> Expiry {
    Expiry::AtTime(a_month_from_now_ms())
}

impl Actors {
    /// 10 hospitals and 10 research institutes register (20 txs).
    fn registrations(&mut self) -> Vec<Transaction> {
        let chain = self.chain.clone();
        let mut txs = Vec::new();
        for (i, doctor) in self.doctors.iter_mut().enumerate() {
            txs.push(doctor.sign(
                &chain,
                build::register_org(org("Hospital", i), OrgKind::Hospital),
            ));
        }
        for (i, researcher) in self.researchers.iter_mut().enumerate() {
            txs.push(researcher.sign(
                &chain,
                build::register_org(org("Institute", i), OrgKind::Research),
            ));
        }
        txs
    }

    /// The regulator audits all 20 (20 txs).
    fn approvals(&mut self) -> Vec<Transaction> {
        let names: Vec<OrgName> = (0..INSTITUTIONS)
            .flat_map(|i| [org("Hospital", i), org("Institute", i)])
            .collect();
        names
            .into_iter()
            .map(|name| {
                self.regulator
                    .sign(&self.chain, build::set_org_state(name, OrgState::Audited))
            })
            .collect()
    }

    /// Releasing needs a licence: each hospital's desk joins it, endorsed by its doctor, and
    /// each doctor enrols (20 txs).
    fn desk_joins_and_doctor_enrolments(&mut self) -> Vec<Transaction> {
        let mut txs = Vec::new();
        for (i, (doctor, desk)) in self.doctors.iter_mut().zip(&mut self.desks).enumerate() {
            let endorsement =
                build::endorse_join(&self.chain, &org("Hospital", i), &desk.address, &doctor.key);
            let join = build::join_org(org("Hospital", i), doctor.address, endorsement);
            txs.push(desk.sign(&self.chain, join));
            txs.push(doctor.sign(&self.chain, enrolment(&doctor_name(i), Role::Doctor)));
        }
        txs
    }

    /// Each desk enrols as its hospital's identity (10 txs).
    fn desk_enrolments(&mut self) -> Vec<Transaction> {
        let chain = self.chain.clone();
        self.desks
            .iter_mut()
            .enumerate()
            .map(|(i, desk)| desk.sign(&chain, enrolment(&format!("hospital-{i}"), Role::Hospital)))
            .collect()
    }

    /// Each desk licenses its doctor for a month (10 txs).
    fn licences(&mut self) -> Vec<Transaction> {
        let chain = self.chain.clone();
        let expires = a_month_from_now_ms();
        self.desks
            .iter_mut()
            .enumerate()
            .map(|(i, desk)| {
                let doctor = IdentityName::new(doctor_name(i)).expect("identity name");
                desk.sign(&chain, build::issue_licence(doctor, expires))
            })
            .collect()
    }

    /// Each patient's doctor releases two records about it (200 txs); returns the record ids
    /// per patient.
    fn releases(&mut self) -> (Vec<Transaction>, Vec<Vec<RecordId>>) {
        let mut txs = Vec::new();
        let mut records = vec![Vec::new(); PATIENTS];
        for (p, patient) in self.patients.iter().enumerate() {
            for k in 0..RECORDS_PER_PATIENT {
                let doctor = &mut self.doctors[p % INSTITUTIONS];
                let content = format!("{{\"patient\":{p},\"encounter\":{k}}}");
                let release = build::release_record(
                    &self.chain,
                    &doctor.key,
                    patient.address,
                    content.as_bytes(),
                );
                let tx = doctor.sign(&self.chain, release.payload);
                records[p].push(RecordId::from(tx.id()));
                txs.push(tx);
            }
        }
        (txs, records)
    }

    /// Each patient stores both records and grants its researcher research access (300 txs).
    fn stores_and_grants(&mut self, records: &[Vec<RecordId>]) -> Vec<Transaction> {
        let mut txs = Vec::new();
        for (p, patient) in self.patients.iter_mut().enumerate() {
            for record in &records[p] {
                let location = Uri::new(format!("s3://blobs/{record}")).expect("valid uri");
                txs.push(patient.sign(
                    &self.chain,
                    build::store_pointer(*record, record.as_bytes(), location),
                ));
            }
            let grantee = self.researchers[p % INSTITUTIONS].address;
            let grant = build::grant_consent(
                &patient.address,
                grantee,
                records[p].clone(),
                Purpose::Research,
                a_month_from_now(),
            )
            .expect("valid grant");
            txs.push(patient.sign(&self.chain, grant));
        }
        txs
    }

    /// Researchers ask for records, `count` times: the first 200 by the granted researcher
    /// (allowed), the rest by another one (denied, no consent).
    fn access_requests(&mut self, records: &[Vec<RecordId>], count: usize) -> Vec<Transaction> {
        let pairs: Vec<(usize, RecordId)> = records
            .iter()
            .enumerate()
            .flat_map(|(p, ids)| ids.iter().map(move |id| (p, *id)))
            .collect();
        (0..count)
            .map(|i| {
                let (p, record) = pairs[i % pairs.len()];
                let researcher = if i < pairs.len() {
                    p % INSTITUTIONS
                } else {
                    (p + 1) % INSTITUTIONS
                };
                self.researchers[researcher].sign(
                    &self.chain,
                    // The devnet has no tokens: an allowed access pays nothing.
                    build::request_access(record, Purpose::Research, 0),
                )
            })
            .collect()
    }
}

/// Submits `txs` in batches round-robin over `nodes`; every transaction must be admitted.
fn submit(network: &Network, nodes: &[usize], txs: &[Transaction]) -> Vec<TxId> {
    let mut ids = Vec::with_capacity(txs.len());
    for (n, batch) in txs.chunks(BATCH).enumerate() {
        let node = nodes[n % nodes.len()];
        let response = network
            .node_client(node)
            .submit_batch(batch)
            .unwrap_or_else(|e| panic!("batch to node-{node}: {e}\n{}", network.logs()));
        for (tx, item) in batch.iter().zip(response.results) {
            assert_eq!(
                item.id,
                Some(tx.id()),
                "node-{node} refused {}: {:?}",
                tx.body.payload.kind(),
                item.error
            );
            ids.push(tx.id());
        }
    }
    ids
}

/// Resubmits to `nodes` the transactions none of them knows (neither pending nor finalized).
/// Returns how many.
fn resubmit_unknown(network: &Network, nodes: &[usize], txs: &[Transaction]) -> usize {
    thread::sleep(Duration::from_secs(1));
    let unknown: Vec<Transaction> = txs
        .iter()
        .filter(|tx| {
            nodes.iter().all(|node| {
                let status = network
                    .node_client(*node)
                    .tx_status(&tx.id())
                    .expect("tx status");
                status.status == TxState::Unknown
            })
        })
        .cloned()
        .collect();
    if !unknown.is_empty() {
        submit(network, nodes, &unknown);
    }
    unknown.len()
}

/// Waits until `node` reports every id finalized; returns the receipts.
fn wait_finalized(network: &Network, node: usize, ids: &[TxId]) -> HashMap<TxId, Receipt> {
    let client = network.node_client(node);
    let start = Instant::now();
    let mut receipts = HashMap::new();
    while receipts.len() < ids.len() {
        for id in ids
            .iter()
            .filter(|id| !receipts.contains_key(*id))
            .copied()
            .collect::<Vec<_>>()
        {
            let status = client.tx_status(&id).expect("tx status");
            if let (TxState::Finalized, Some(receipt)) = (status.status, status.receipt) {
                receipts.insert(id, receipt);
            }
        }
        assert!(
            start.elapsed() < PHASE_TIMEOUT,
            "node-{node}: {} of {} txs finalized after {PHASE_TIMEOUT:?}\n{}",
            receipts.len(),
            ids.len(),
            network.logs()
        );
        thread::sleep(Duration::from_millis(300));
    }
    receipts
}

fn height(client: &NodeClient) -> u64 {
    client.status().map_or(0, |status| status.height)
}

/// Waits until validator `node` has committed `target`.
fn wait_height(network: &Network, node: usize, target: u64) {
    let start = Instant::now();
    let client = network.node_client(node);
    while height(&client) < target {
        assert!(
            start.elapsed() < PHASE_TIMEOUT,
            "node-{node} stuck at height {} < {target}\n{}",
            height(&client),
            network.logs()
        );
        thread::sleep(Duration::from_millis(250));
    }
}

/// A validator `kill -9`ed while it holds submitted transactions.
struct Outage {
    victim: usize,
    survivors: Vec<usize>,
    height_at_kill: u64,
    /// Transactions the survivors never heard of, submitted again.
    resubmitted: usize,
}

/// Submits `load` (the victim takes the first batch), `kill -9`s `victim` halfway through, and
/// sends the other half to the survivors. Like any client, resubmits what the survivors never
/// heard of (the victim may have died before gossiping it): admitted is not finalized.
fn kill_under_load(
    network: &mut Network,
    victim: usize,
    load: &[Transaction],
) -> (Outage, Vec<TxId>) {
    let survivors: Vec<usize> = VALIDATORS.into_iter().filter(|n| *n != victim).collect();
    let victim_first: Vec<usize> = [victim].into_iter().chain(survivors.clone()).collect();
    let (first, second) = load.split_at(load.len() / 2);
    let mut ids = submit(network, &victim_first, first);
    network.kill(victim);
    let height_at_kill = height(&network.node_client(survivors[0]));
    let resubmitted = resubmit_unknown(network, &survivors, first);
    ids.extend(submit(network, &survivors, second));
    let outage = Outage {
        victim,
        survivors,
        height_at_kill,
        resubmitted,
    };
    (outage, ids)
}

/// The survivors keep finalizing while the victim is down; then it restarts, recovers from
/// disk and catches up before it takes load again.
fn recover(network: &mut Network, outage: &Outage) {
    for node in &outage.survivors {
        wait_height(network, *node, outage.height_at_kill + 5);
    }
    network.restart(outage.victim);
    let caught_up_to = height(&network.node_client(outage.survivors[0]));
    wait_height(network, outage.victim, caught_up_to);
}

/// How many kill rounds to run (`MEDCHAIN_KILL_ROUNDS`, default 1).
fn kill_rounds() -> usize {
    match std::env::var("MEDCHAIN_KILL_ROUNDS") {
        Ok(text) => text
            .parse()
            .ok()
            .filter(|rounds| *rounds >= 1)
            .unwrap_or_else(|| panic!("MEDCHAIN_KILL_ROUNDS={text:?} is not a number ≥ 1")),
        Err(_) => 1,
    }
}

#[test]
fn a_validator_killed_mid_load_catches_up_and_no_finalized_tx_is_lost() {
    let started = Instant::now();
    let mut network = Network::start(4);
    let genesis = keys::read_genesis(&network.genesis).expect("genesis");
    let mut actors = Actors {
        chain: genesis.chain_id.clone(),
        regulator: Account::from_key(
            keys::load_key(&network.regulator_key, keys::no_passphrase)
                .expect("regulator key")
                .key,
        ),
        doctors: (0..INSTITUTIONS).map(|_| Account::new()).collect(),
        desks: (0..INSTITUTIONS).map(|_| Account::new()).collect(),
        researchers: (0..INSTITUTIONS).map(|_| Account::new()).collect(),
        patients: (0..PATIENTS).map(|_| Account::new()).collect(),
    };
    let all = VALIDATORS;
    let mut ids = Vec::new();
    let mut receipts = HashMap::new();

    // Dependent phases: each waits for the previous one (a node admits a transaction only if
    // it applies to committed state).
    let registrations = actors.registrations();
    let approvals = actors.approvals();
    let licensing = [
        actors.desk_joins_and_doctor_enrolments(),
        actors.desk_enrolments(),
        actors.licences(),
    ];
    for phase in [registrations, approvals].into_iter().chain(licensing) {
        let phase_ids = submit(&network, &all, &phase);
        receipts.extend(wait_finalized(&network, 0, &phase_ids));
        ids.extend(phase_ids);
    }

    // Round 1: the releases, with the victim killed halfway; then the stores and grants while
    // it is down.
    let (releases, records) = actors.releases();
    let (outage, phase_ids) = kill_under_load(&mut network, VICTIM, &releases);
    receipts.extend(wait_finalized(&network, 0, &phase_ids));
    ids.extend(phase_ids);
    let phase = actors.stores_and_grants(&records);
    let phase_ids = submit(&network, &outage.survivors, &phase);
    receipts.extend(wait_finalized(&network, 0, &phase_ids));
    ids.extend(phase_ids);
    recover(&mut network, &outage);
    let (height_at_kill, mut resubmitted) = (outage.height_at_kill, outage.resubmitted);

    // Soak rounds: a random validator killed under load each time.
    let rounds = kill_rounds();
    let mut expected_allowed = 0;
    for round in 2..=rounds {
        let victim = (getrandom::u64().expect("randomness") % all.len() as u64) as usize;
        let load = actors.access_requests(&records, ROUND_LOAD);
        expected_allowed += ROUND_LOAD.min(PATIENTS * RECORDS_PER_PATIENT);
        let (outage, round_ids) = kill_under_load(&mut network, victim, &load);
        receipts.extend(wait_finalized(&network, outage.survivors[0], &round_ids));
        ids.extend(round_ids);
        recover(&mut network, &outage);
        resubmitted += outage.resubmitted;
        eprintln!(
            "devnet_crash: round {round}/{rounds}: node-{victim} killed at height {}, {} resubmitted, {:?}",
            outage.height_at_kill,
            outage.resubmitted,
            started.elapsed()
        );
    }

    let phase = actors.access_requests(&records, ACCESS_REQUESTS);
    expected_allowed += PATIENTS * RECORDS_PER_PATIENT;
    let phase_ids = submit(&network, &all, &phase);
    receipts.extend(wait_finalized(&network, 0, &phase_ids));
    ids.extend(phase_ids);
    let submitted = LICENSING_TXS + 1_000 + (rounds - 1) * ROUND_LOAD;
    assert_eq!(ids.len(), submitted);
    assert_eq!(
        receipts.len(),
        submitted,
        "every submitted transaction was finalized"
    );

    // A common height every node has committed, at or above every receipt.
    let top = receipts.values().map(|r| r.height).max().expect("receipts");
    for node in all {
        wait_height(&network, node, top);
    }
    let common = all
        .iter()
        .map(|n| height(&network.node_client(*n)))
        .min()
        .expect("nodes");
    let blocks: Vec<_> = all
        .iter()
        .map(|n| {
            network
                .client(*n)
                .block(common)
                .unwrap_or_else(|e| panic!("node-{n} block {common}: {e}"))
        })
        .collect();
    for (n, block) in blocks.iter().enumerate() {
        assert_eq!(
            block.at.digest, blocks[0].at.digest,
            "node-{n} finalized another block at {common}"
        );
        assert_eq!(
            block.at.header.state_root, blocks[0].at.header.state_root,
            "node-{n} state root at {common}"
        );
    }

    // Every finalized transaction is at the same place on all four.
    for node in all {
        let client = network.node_client(node);
        for (id, receipt) in &receipts {
            let status = client.tx_status(id).expect("tx status");
            let theirs = status
                .receipt
                .unwrap_or_else(|| panic!("node-{node} lost finalized tx {id}"));
            assert_eq!(
                (theirs.height, theirs.index),
                (receipt.height, receipt.index),
                "node-{node} tx {id}"
            );
        }
    }

    // The access requests were decided as the consents say (S1-rights).
    let allowed = receipts
        .values()
        .flat_map(|r| &r.events)
        .filter(|e| {
            matches!(
                e,
                Event::AccessDecided {
                    decision: AccessDecision::Allowed { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(allowed, expected_allowed);
    eprintln!(
        "devnet_crash: {submitted} txs finalized, none lost, {rounds} kill -9 rounds ({resubmitted} txs resubmitted after kills), first victim down from height {height_at_kill}, equal state roots at common height {common}, {:?}",
        started.elapsed()
    );
}
