//! MED supervision on SUP (S3-supervise, S3-dual): a SUP block may carry a [`Checkpoint`], a
//! branch of Mblocks (headers, their tx_mr and their entries EEE, without the aggregate
//! signatures). Executing
//! the block applies it *before* the block's transactions, so a consent in the same block can
//! name a record the checkpoint just imported.
//!
//! | step | rule | error (the whole block is invalid) |
//! |---|---|---|
//! | any checkpoint | the genesis named MED parameters (`cfg/med`) | `NoMedChain` |
//! | first Mblock | its parent is the checkpointed tip (`med/tip`; before the first checkpoint, the MED genesis Mblock) | `WrongParent` |
//! | each Mblock | height, parent hash, difficulty = the retarget rule over its ancestors, proof of work, timestamp after the median time past (`medchain_med::pow::check_header`) | `InvalidMblock` |
//! | each Mblock | its tx_mr and entries are the ones its `tx_root` (the item root) commits to | `TxsMismatch` |
//!
//! What is not re-checked here, because it is neither cheap nor deterministic: the Mblock's
//! aggregate signature. The SUP validators vote for a block only if every Mblock of its
//! checkpoint is one they know as fully valid, aggregate verified, so a finalized checkpoint
//! was checked by at least f + 1 honest validators.
//!
//! Each tx_mr is then imported as a record under SUP's release rules at the SUP block's time
//! (the doctor is practising — enrolled, licensed, not revoked, organisation audited — and
//! (patient, hEMR) was not released before) and the validity window (issued within
//! `RELEASE_VALIDITY_MS` of its Mblock's timestamp, which MED nodes check too; here it does
//! not rest on the voters alone): an imported one emits `RecordReleased` and is
//! stored under `rec/<htxM>` with [`RecordOrigin::Mined`]; one that fails is skipped with
//! `MedReleaseRefused` — deterministically, and without invalidating the block, since a
//! doctor revoked on SUP after signing cannot be un-mined from MED.
//!
//! Each entry EEE (S3-entry) of the Mblock is then filed as `entry/<hentry>` at the SUP
//! block's height and time, listed for its patient, with `EntryFiled` — if its patient is an
//! enrolled patient identity with a registered key at the SUP block and the id is not filed
//! yet; otherwise it is skipped with `MedEntryRefused`, the block staying valid like for a
//! refused release. Break-glass access reads entries from `entry/<id>` as before.
//!
//! Every checkpointed header is kept under `med/header/<hash>` and the newest under
//! `med/tip`, so light clients verify records against headers SUP vouches for, and the next
//! checkpoint's retarget window is walked from them.
//!
//! [`StateSigners`] answers the MED aggregation's question "whose BLS key signs for this
//! doctor, hospital or patient now" from the state (S3-release, S3-entry).

use crate::{
    ExecError, StateError, StateRead, StateReadExt, StateValue,
    context::{BlockWrites, TxContext},
    executor::BlockEnv,
    identity::enrolled,
    keys,
    licence::{hospital_identity, releasing_doctor},
    records::{self, Release},
    values::{ChainConfig, CheckpointedHeader, MedConfig, MedTip, RecordOrigin},
};
use medchain_med::{
    MedError,
    aggregate::{SignerKeys, SignerRefusal},
    chain::future_drift_ms,
    pow,
};
use medchain_types::{
    Address, BlsPublicKey, EntryId, Event, Hash32, MedEntryRefusal, MedRefusal, Role, TxId,
    med::{Checkpoint, CheckpointedMblock, EntryMr, MblockHeader},
};
use std::collections::VecDeque;

/// Why a SUP block's checkpoint is invalid (and with it the block), or could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The chain's genesis names no MED parameters: its blocks checkpoint nothing.
    #[error(
        "this chain has no MED chain (its genesis names no MED parameters): a block must checkpoint nothing"
    )]
    NoMedChain,
    /// The branch does not start at the child of the newest checkpointed Mblock.
    #[error("the checkpoint's first Mblock has parent {got}, not the checkpointed tip {expected}")]
    WrongParent {
        /// The checkpointed tip's hash.
        expected: Hash32,
        /// The first Mblock's parent.
        got: Hash32,
    },
    /// An Mblock header breaks the MED chain's rules.
    #[error("Mblock {hash} at MED height {height} is invalid: {reason}")]
    InvalidMblock {
        /// Its hash.
        hash: Hash32,
        /// Its height.
        height: u64,
        /// The rule it breaks (boxed: MED's errors are large, and this one is rare).
        reason: Box<MedError>,
    },
    /// An Mblock's tx_mr are not the ones its header commits to.
    #[error("Mblock {hash} at MED height {height}: its releases do not match its tx_root")]
    TxsMismatch {
        /// Its hash.
        hash: Hash32,
        /// Its height.
        height: u64,
    },
    /// The caller applied the checkpoint after a transaction (a bug in the caller: the
    /// checkpoint goes first).
    #[error("a block's checkpoint must be applied before its transactions")]
    AfterTransactions,
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

impl CheckpointError {
    /// Whether this is a failure of the node's state rather than a verdict on the block.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::State(_))
    }
}

/// The newest checkpointed Mblock's hash and header: `med/tip`, or before the first
/// checkpoint the MED genesis Mblock. `None` on a chain without MED.
pub fn checkpointed_tip(
    state: &impl StateRead,
    chain: &ChainConfig,
) -> Result<Option<MblockHeader>, StateError> {
    let Some(config) = state.value(&keys::med_config())? else {
        return Ok(None);
    };
    let genesis = genesis_header(chain, &config);
    match state.value(&keys::med_tip())? {
        None => Ok(Some(genesis)),
        Some(tip) => header_at(state, &genesis, &tip.hash).map(Some),
    }
}

/// Imports `checkpoint` into `writes` (the block's writes so far, which it extends only on
/// success) and returns its events: the checkpoint's part of SUP block `env`.
pub(crate) fn import(
    reader: &impl StateRead,
    writes: &mut BlockWrites,
    env: BlockEnv,
    chain: &ChainConfig,
    checkpoint: &Checkpoint,
) -> Result<Vec<Event>, CheckpointError> {
    if checkpoint.branch.is_empty() {
        return Ok(Vec::new());
    }
    let mut staged = writes.clone();
    let view = Staged {
        reader,
        writes: &staged,
    };
    let config = view
        .value(&keys::med_config())?
        .ok_or(CheckpointError::NoMedChain)?;
    let genesis = genesis_header(chain, &config);
    let mut parent = checkpointed_tip(&view, chain)?.unwrap_or_else(|| genesis.clone());
    let mut window = retarget_window(&view, &genesis, &parent, config.params.retarget_window)?;
    let first_parent = checkpoint.branch[0].header.parent;
    if first_parent != parent.hash() {
        return Err(CheckpointError::WrongParent {
            expected: parent.hash(),
            got: first_parent,
        });
    }
    let mut events = Vec::new();
    for mblock in &checkpoint.branch {
        check_mblock(chain, &config, &parent, &window, mblock, env.timestamp_ms)?;
        let hash = mblock.header.hash();
        events.extend(import_releases(
            reader,
            &mut staged,
            env,
            chain,
            hash,
            mblock,
        )?);
        events.extend(import_entries(
            reader,
            &mut staged,
            env,
            chain,
            &mblock.entries,
        )?);
        put(
            &mut staged,
            &keys::med_header(&hash),
            &CheckpointedHeader {
                header: mblock.header.clone(),
                checkpointed_at: env.height,
            },
        );
        window.push_back((mblock.header.timestamp_ms, mblock.header.difficulty));
        while window.len() > window_len(config.params.retarget_window) {
            window.pop_front();
        }
        parent = mblock.header.clone();
    }
    put(
        &mut staged,
        &keys::med_tip(),
        &MedTip {
            hash: parent.hash(),
            height: parent.height,
            checkpointed_at: env.height,
        },
    );
    *writes = staged;
    Ok(events)
}

/// The S3-supervise re-checks of one Mblock against its parent and retarget window, and
/// against the SUP block's time: an Mblock stamped further ahead of it than MED nodes accept
/// ahead of their clocks is refused here too, so a checkpoint cannot carry a timestamp that
/// drags MED's retargeting and median time past beyond honest clocks.
fn check_mblock(
    chain: &ChainConfig,
    config: &MedConfig,
    parent: &MblockHeader,
    window: &VecDeque<(u64, u64)>,
    mblock: &CheckpointedMblock,
    block_time_ms: u64,
) -> Result<(), CheckpointError> {
    let header = &mblock.header;
    let window: Vec<(u64, u64)> = window.iter().copied().collect();
    let latest_ms = block_time_ms.saturating_add(future_drift_ms(&config.params));
    let in_time = if header.timestamp_ms > latest_ms {
        Err(MedError::TimestampInFuture {
            timestamp_ms: header.timestamp_ms,
            latest_ms,
        })
    } else {
        Ok(())
    };
    in_time
        .and_then(|()| pow::check_header(&config.params, parent, &window, header))
        .map_err(|reason| CheckpointError::InvalidMblock {
            hash: header.hash(),
            height: header.height,
            reason: Box::new(reason),
        })?;
    if !mblock.txs_match(&chain.chain_id) {
        return Err(CheckpointError::TxsMismatch {
            hash: header.hash(),
            height: header.height,
        });
    }
    Ok(())
}

/// Files each tx_mr of `mblock` as a record where SUP's release rules allow it, each on its
/// own (a refused one writes nothing), in body order.
fn import_releases(
    reader: &impl StateRead,
    writes: &mut BlockWrites,
    env: BlockEnv,
    chain: &ChainConfig,
    hash: Hash32,
    mblock: &CheckpointedMblock,
) -> Result<Vec<Event>, StateError> {
    let mut events = Vec::with_capacity(mblock.txs.len());
    for (index, tx) in (0u32..).zip(&mblock.txs) {
        let id = tx.record_id(&chain.chain_id);
        if !tx.valid_at(mblock.header.timestamp_ms) {
            events.push(Event::MedReleaseRefused {
                record: id,
                reason: MedRefusal::OutsideValidity,
            });
            continue;
        }
        let mut ctx = TxContext::new(reader, writes, env, chain, None, TxId(id.0), &tx.doctor);
        let release = Release {
            id,
            doctor: tx.doctor,
            patient: tx.patient,
            record_hash: tx.record_hash,
            origin: RecordOrigin::Mined {
                mblock: hash,
                index,
            },
        };
        match records::file_release(&mut ctx, release) {
            Ok(event) => {
                let filed = ctx.into_writes();
                writes.extend(filed);
                events.push(event);
            }
            Err(error) => events.push(Event::MedReleaseRefused {
                record: id,
                reason: refusal(error)?,
            }),
        }
    }
    Ok(events)
}

/// Files each entry of an Mblock where its patient may file (see [`entry_refusal`]), each on
/// its own, in body order (S3-entry).
fn import_entries(
    reader: &impl StateRead,
    writes: &mut BlockWrites,
    env: BlockEnv,
    chain: &ChainConfig,
    entries: &[EntryMr],
) -> Result<Vec<Event>, StateError> {
    let mut events = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = entry.entry_id(&chain.chain_id);
        let mut ctx = TxContext::new(reader, writes, env, chain, None, TxId(id.0), &entry.patient);
        if let Some(reason) = entry_refusal(&ctx, entry, &id)? {
            events.push(Event::MedEntryRefused { entry: id, reason });
            continue;
        }
        let filed =
            records::file_entry(&mut ctx, id, entry.patient, &entry.entry).map_err(|error| {
                match error {
                    ExecError::State(error) => error,
                    other => StateError::Inconsistent(format!("filing entry {id} failed: {other}")),
                }
            })?;
        let written = ctx.into_writes();
        writes.extend(written);
        events.push(filed);
    }
    Ok(events)
}

/// Why SUP does not file `entry` now, if it does not (S3-entry): its patient must be an
/// enrolled patient identity with a registered key at this SUP block — the signer MED
/// validators checked the aggregate against, which may have changed since (nothing is
/// filed for an address that is not a patient's, so a doctor's or hospital's key never
/// files an entry) — and the id (the hentry, which binds patient, bytes and issue time)
/// must not be filed yet, so an entry replayed in a later Mblock is filed once.
fn entry_refusal(
    state: &impl StateRead,
    entry: &EntryMr,
    id: &EntryId,
) -> Result<Option<MedEntryRefusal>, StateError> {
    let identity = match enrolled(state, &entry.patient) {
        Ok(identity) => identity,
        Err(ExecError::NotEnrolled) => return Ok(Some(MedEntryRefusal::NotEnrolled)),
        Err(ExecError::State(error)) => return Err(error),
        Err(other) => {
            return Err(StateError::Inconsistent(format!(
                "reading patient {}'s identity failed: {other}",
                entry.patient
            )));
        }
    };
    if identity.role != Role::Patient {
        return Ok(Some(MedEntryRefusal::NotAPatient));
    }
    if state
        .get(keys::vouching_key(&entry.patient).as_bytes())?
        .is_none()
    {
        return Ok(Some(MedEntryRefusal::NoPatientKey));
    }
    if state.get(keys::entry(id).as_bytes())?.is_some() {
        return Ok(Some(MedEntryRefusal::AlreadyFiled));
    }
    Ok(None)
}

/// The release rule a refused import broke; a state failure stays one.
fn refusal(error: ExecError) -> Result<MedRefusal, StateError> {
    Ok(match error {
        ExecError::NotEnrolled => MedRefusal::NotEnrolled,
        ExecError::NotADoctor(_) => MedRefusal::NotADoctor,
        ExecError::DoctorRevoked(_) => MedRefusal::DoctorRevoked,
        ExecError::Unlicensed(_) => MedRefusal::Unlicensed,
        ExecError::LicenceExpired { .. } => MedRefusal::LicenceExpired,
        ExecError::OrgNotAudited(_) => MedRefusal::OrgNotAudited,
        ExecError::RecordAlreadyReleased(_) => MedRefusal::AlreadyReleased,
        ExecError::State(error) => return Err(error),
        other => {
            return Err(StateError::Inconsistent(format!(
                "the release rule failed in an unexpected way: {other}"
            )));
        }
    })
}

/// The MED genesis Mblock's header, recomputed from the chain id and `cfg/med`.
fn genesis_header(chain: &ChainConfig, config: &MedConfig) -> MblockHeader {
    pow::genesis_mblock(&chain.chain_id, config.genesis_time_ms, &config.params).header
}

/// The header of checkpointed Mblock `hash` (the genesis Mblock is never stored: it is
/// recomputed).
fn header_at(
    state: &impl StateRead,
    genesis: &MblockHeader,
    hash: &Hash32,
) -> Result<MblockHeader, StateError> {
    if *hash == genesis.hash() {
        return Ok(genesis.clone());
    }
    state
        .value(&keys::med_header(hash))?
        .map(|checkpointed| checkpointed.header)
        .ok_or_else(|| {
            StateError::Inconsistent(format!("checkpointed Mblock {hash} has no stored header"))
        })
}

/// How many entries the retarget window holds at most (as `MedChain::window` counts them).
fn window_len(retarget_window: u64) -> usize {
    usize::try_from(retarget_window).unwrap_or(usize::MAX)
}

/// The retarget window ending at `tip`: its last ≤ `retarget_window` ancestors, `tip`
/// included, oldest first, as (timestamp, difficulty) — what `pow::next_difficulty` and
/// `pow::median_time_past` take for `tip`'s child.
fn retarget_window(
    state: &impl StateRead,
    genesis: &MblockHeader,
    tip: &MblockHeader,
    retarget_window: u64,
) -> Result<VecDeque<(u64, u64)>, StateError> {
    let len = window_len(retarget_window);
    let mut window = VecDeque::new();
    let mut cursor = tip.clone();
    while window.len() < len {
        window.push_front((cursor.timestamp_ms, cursor.difficulty));
        if cursor.height == 0 || window.len() == len {
            break;
        }
        cursor = header_at(state, genesis, &cursor.parent)?;
    }
    Ok(window)
}

fn put<V: StateValue>(writes: &mut BlockWrites, key: &keys::StateKey<V>, value: &V) {
    writes.insert(key.as_bytes().to_vec(), Some(value.to_bytes()));
}

/// The state as the checkpoint import sees it: its own writes over the reader's.
struct Staged<'a, R> {
    reader: &'a R,
    writes: &'a BlockWrites,
}

impl<R: StateRead> StateRead for Staged<'_, R> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.writes.get(key) {
            Some(value) => Ok(value.clone()),
            None => self.reader.get(key),
        }
    }
}

/// The signers of MED releases and batches as the state knows them at `at_ms` (S3-release):
/// what a hospital checks its doctors' signatures with, and miners and MED validators check
/// batches and Mblocks with.
pub struct StateSigners<'a, R: StateRead> {
    state: &'a R,
    at_ms: u64,
}

impl<'a, R: StateRead> StateSigners<'a, R> {
    /// The signers of `state` at time `at_ms` (unix milliseconds: a licence must be valid then).
    pub fn new(state: &'a R, at_ms: u64) -> Self {
        Self { state, at_ms }
    }

    fn vouching_key(&self, address: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        self.state
            .value(&keys::vouching_key(address))
            .map_err(refused)?
            .map(|vouching| vouching.key)
            .ok_or_else(|| SignerRefusal(format!("{address} has registered no BLS vouching key")))
    }
}

impl<R: StateRead> SignerKeys for StateSigners<'_, R> {
    /// An enrolled doctor practising at `at_ms` (licensed, not revoked, organisation audited)
    /// in the organisation of `hospital`'s hospital identity, with a vouching key.
    fn doctor(&self, doctor: &Address, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        let org = releasing_doctor(self.state, doctor, self.at_ms).map_err(refused)?;
        let (_, hospital_org) = hospital_identity(self.state, hospital).map_err(refused)?;
        if org != hospital_org {
            return Err(SignerRefusal(format!(
                "doctor {doctor} practises at {org}, not at the batch's hospital {hospital_org}"
            )));
        }
        self.vouching_key(doctor)
    }

    /// A hospital identity of an audited organisation, with a vouching key.
    fn hospital(&self, hospital: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        hospital_identity(self.state, hospital).map_err(refused)?;
        self.vouching_key(hospital)
    }

    /// An enrolled patient identity with a vouching key (S3-entry). The role is checked: a
    /// doctor's or hospital's key never signs an entry for an address, and — the other way
    /// round — [`Self::doctor`] and [`Self::hospital`] check their roles, so a patient's key
    /// never signs a release or a batch.
    fn patient(&self, patient: &Address) -> Result<BlsPublicKey, SignerRefusal> {
        let identity = enrolled(self.state, patient).map_err(refused)?;
        if identity.role != Role::Patient {
            return Err(SignerRefusal(format!(
                "{patient} is enrolled as {}, a {:?}: only patients file entries",
                identity.identity, identity.role
            )));
        }
        self.vouching_key(patient)
    }
}

fn refused(error: impl std::fmt::Display) -> SignerRefusal {
    SignerRefusal(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        BlockExecutor, ExecutedBlock,
        testkit::{
            Actor, GENESIS_TIME_MS, HospitalDesk, World, chain_id, enrol_patient,
            entry as entry_payload, genesis_document, org_name, release as release_payload,
            revoke_doctor, set_vouching_key,
        },
    };
    use medchain_types::{
        ContentHash, Genesis, RecordId,
        med::{EntryMr, MedParams, RELEASE_VALIDITY_MS, TxMr},
    };

    /// Low difficulties: a few hashes per Mblock.
    const PARAMS: MedParams = MedParams {
        target_interval_ms: 1_000,
        initial_difficulty: 4,
        min_difficulty: 2,
        retarget_window: 4,
    };

    fn med_genesis() -> Genesis {
        Genesis {
            med: Some(PARAMS),
            ..genesis_document()
        }
    }

    struct Setup {
        world: World,
        doctor: Actor,
        patient: Actor,
    }

    fn setup() -> Setup {
        let mut world = World::with_genesis(&med_genesis());
        let doctor = Actor::new(1);
        world.licensed_hospital(&doctor, &org_name("Seoul General"));
        Setup {
            world,
            doctor,
            patient: Actor::new(50),
        }
    }

    fn tx_mr(doctor: &Actor, patient: &Actor, content: &[u8]) -> TxMr {
        TxMr {
            doctor: doctor.address,
            patient: patient.address,
            record_hash: ContentHash::of(content),
            issued_at_ms: GENESIS_TIME_MS,
        }
    }

    fn genesis_mblock() -> MblockHeader {
        pow::genesis_mblock(&chain_id(), GENESIS_TIME_MS, &PARAMS).header
    }

    /// A miner's view of MED: the headers from genesis to its tip.
    struct Miner {
        headers: Vec<MblockHeader>,
    }

    impl Miner {
        fn new() -> Self {
            Self {
                headers: vec![genesis_mblock()],
            }
        }

        fn tip(&self) -> &MblockHeader {
            self.headers.last().unwrap()
        }

        fn window(&self) -> Vec<(u64, u64)> {
            let len = window_len(PARAMS.retarget_window);
            let start = self.headers.len().saturating_sub(len);
            self.headers[start..]
                .iter()
                .map(|header| (header.timestamp_ms, header.difficulty))
                .collect()
        }

        /// The next Mblock on the tip carrying `txs`, mined honestly.
        fn mine(&mut self, txs: Vec<TxMr>) -> CheckpointedMblock {
            self.mine_with(txs, Vec::new())
        }

        /// The next Mblock on the tip carrying `txs` and `entries`, mined honestly.
        fn mine_with(&mut self, txs: Vec<TxMr>, entries: Vec<EntryMr>) -> CheckpointedMblock {
            let parent = self.tip().clone();
            let mut header = MblockHeader {
                height: parent.height + 1,
                parent: parent.hash(),
                tx_root: medchain_types::med::item_root(&chain_id(), &txs, &entries),
                body_hash: ContentHash::of(b"body").0,
                timestamp_ms: parent.timestamp_ms + PARAMS.target_interval_ms,
                difficulty: pow::next_difficulty(&PARAMS, &self.window()),
                miner: Actor::new(77).address,
                nonce: 0,
            };
            assert!(pow::mine(&mut header, 1_000_000));
            self.headers.push(header.clone());
            CheckpointedMblock {
                header,
                txs,
                entries,
            }
        }
    }

    fn checkpoint(branch: Vec<CheckpointedMblock>) -> Checkpoint {
        Checkpoint { branch }
    }

    /// Executes an otherwise empty next block carrying `checkpoint`.
    fn execute(world: &World, checkpoint: &Checkpoint) -> Result<ExecutedBlock, CheckpointError> {
        let mut executor = BlockExecutor::new(&world.store, world.next_env()).unwrap();
        executor.apply_checkpoint(checkpoint)?;
        Ok(executor.finish(world.proposer()).unwrap())
    }

    fn commit(world: &mut World, checkpoint: &Checkpoint) -> Vec<Event> {
        let block = execute(world, checkpoint).unwrap();
        world.store.commit(&block).unwrap();
        block.checkpoint_events
    }

    /// Asserts `checkpoint` is refused with an error `expected` accepts, and that the block
    /// that applied it writes what an empty block writes (nothing of it stays).
    fn assert_refused(
        world: &World,
        checkpoint: &Checkpoint,
        expected: impl Fn(&CheckpointError) -> bool,
    ) {
        let mut executor = BlockExecutor::new(&world.store, world.next_env()).unwrap();
        match executor.apply_checkpoint(checkpoint) {
            Err(error) => assert!(expected(&error), "unexpected error {error:?}"),
            Ok(events) => panic!("checkpoint applied: {events:?}"),
        }
        let refused = executor.finish(world.proposer()).unwrap();
        let empty = execute(world, &Checkpoint::default()).unwrap();
        assert_eq!(
            refused.state_root, empty.state_root,
            "a refusal moved the root"
        );
        assert_eq!(refused.writes, empty.writes);
        assert!(refused.checkpoint_events.is_empty());
    }

    /// The hash of the newest Mblock SUP checkpointed.
    fn med_tip(world: &World) -> Hash32 {
        world.value(&keys::med_tip()).unwrap().hash
    }

    fn mined_record(world: &World, tx: &TxMr) -> Option<crate::values::Record> {
        world.value(&keys::record(&tx.record_id(&chain_id())))
    }

    #[test]
    fn an_honest_branch_imports_its_releases_as_mined_records() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let mut miner = Miner::new();
        let releases = [
            tx_mr(&doctor, &patient, b"EMR 1"),
            tx_mr(&doctor, &patient, b"EMR 2"),
        ];
        let first = miner.mine(vec![releases[0].clone()]);
        let empty = miner.mine(Vec::new());
        let second = miner.mine(vec![releases[1].clone()]);
        let events = commit(
            &mut world,
            &checkpoint(vec![first.clone(), empty.clone(), second.clone()]),
        );
        let id = |tx: &TxMr| tx.record_id(&chain_id());
        assert_eq!(
            events,
            releases
                .iter()
                .map(|tx| Event::RecordReleased {
                    record: id(tx),
                    patient: patient.address,
                    doctor: doctor.address,
                    hospital: org_name("Seoul General"),
                })
                .collect::<Vec<_>>()
        );
        let record = mined_record(&world, &releases[1]).unwrap();
        assert_eq!(
            record.origin,
            RecordOrigin::Mined {
                mblock: second.header.hash(),
                index: 0
            }
        );
        assert_eq!(record.released_at, world.height());
        assert_eq!(record.record_hash, releases[1].record_hash);
        assert_eq!(
            world.list(&keys::patient_records(&patient.address).list),
            vec![id(&releases[0]), id(&releases[1])]
        );
        assert_eq!(
            world.value(&keys::med_tip()),
            Some(MedTip {
                hash: second.header.hash(),
                height: 3,
                checkpointed_at: world.height(),
            })
        );
        for mblock in [&first, &empty, &second] {
            let stored = world
                .value(&keys::med_header(&mblock.header.hash()))
                .unwrap();
            assert_eq!(stored.header, mblock.header);
        }

        // The next checkpoint continues from the tip; its retarget window is walked from the
        // stored headers back to genesis.
        let third = miner.mine(vec![tx_mr(&doctor, &patient, b"EMR 3")]);
        let fourth = miner.mine(Vec::new());
        commit(&mut world, &checkpoint(vec![third, fourth.clone()]));
        let tip = world.value(&keys::med_tip()).unwrap();
        assert_eq!((tip.hash, tip.height), (fourth.header.hash(), 5));
        assert_eq!(
            checkpointed_tip(&world.store, &world.value(&keys::chain_config()).unwrap()).unwrap(),
            Some(fourth.header)
        );
    }

    /// SUP's re-checks agree with the MED chain's own rules (`medchain_med::MedChain`) over a
    /// chain long enough to fill the retarget window and retarget both ways.
    #[test]
    fn branches_the_med_chain_accepts_and_chooses_are_imported() {
        use medchain_med::{MedChain, MedStore};
        use medchain_types::med::{Mblock, MblockBody};
        let Setup { mut world, .. } = setup();
        let mut med = MedChain::open(
            MedStore::in_memory().unwrap(),
            chain_id(),
            GENESIS_TIME_MS,
            PARAMS,
        )
        .unwrap();
        let mut now = GENESIS_TIME_MS;
        let mut difficulties = Vec::new();
        for round in 0..3u64 {
            // Fast blocks, then slow ones: the difficulty moves up, then down.
            for _ in 0..6 {
                now += if round == 1 { 4_000 } else { 100 };
                let mut header = med.template(Actor::new(77).address, Vec::new(), None, now);
                assert!(pow::mine(&mut header, 10_000_000));
                difficulties.push(header.difficulty);
                let body = MblockBody {
                    batches: Vec::new(),
                    signature: None,
                };
                med.insert(Mblock { header, body }, now).unwrap();
            }
            let checkpoint = med.choose_checkpoint();
            assert_eq!(checkpoint.branch.len(), 6);
            // SUP's clock keeps up with MED's: an Mblock ahead of the SUP block is refused.
            if let Some(behind) = now.checked_sub(world.timestamp_ms()) {
                world.advance_time(behind);
            }
            commit(&mut world, &checkpoint);
            let tip = checkpoint.tip().unwrap().hash();
            med.set_checkpointed(tip).unwrap();
            assert_eq!(med_tip(&world), tip);
        }
        let (low, high) = (
            difficulties.iter().min().unwrap(),
            difficulties.iter().max().unwrap(),
        );
        assert!(
            low < high,
            "the difficulty never retargeted: {difficulties:?}"
        );
    }

    #[test]
    fn a_branch_not_starting_at_the_checkpointed_tip_is_refused() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let mut honest = Miner::new();
        let first = honest.mine(vec![tx_mr(&doctor, &patient, b"EMR 1")]);
        let second = honest.mine(Vec::new());
        // Skipping the first Mblock.
        assert_refused(&world, &checkpoint(vec![second.clone()]), |e| {
            matches!(e, CheckpointError::WrongParent { expected, got }
                if *expected == genesis_mblock().hash() && *got == first.header.hash())
        });
        commit(&mut world, &checkpoint(vec![first.clone()]));
        // A fork from genesis after the first checkpoint: a selfish miner's withheld branch.
        let mut selfish = Miner::new();
        let withheld = selfish.mine(Vec::new());
        assert_refused(&world, &checkpoint(vec![withheld]), |e| {
            matches!(e, CheckpointError::WrongParent { expected, .. }
                if *expected == first.header.hash())
        });
        // Checkpointing the same Mblock again.
        assert_refused(&world, &checkpoint(vec![first]), |e| {
            matches!(e, CheckpointError::WrongParent { .. })
        });
        commit(&mut world, &checkpoint(vec![second]));
    }

    #[test]
    fn an_mblock_stamped_far_ahead_of_the_sup_block_is_refused() {
        let Setup { world, .. } = setup();
        let mut miner = Miner::new();
        let mut mblock = miner.mine(Vec::new());
        let latest = world.next_env().timestamp_ms + future_drift_ms(&PARAMS);
        mblock.header.timestamp_ms = latest + 1;
        assert!(pow::mine(&mut mblock.header, 1_000_000));
        assert_refused(&world, &checkpoint(vec![mblock.clone()]), |e| {
            matches!(e, CheckpointError::InvalidMblock { reason, .. }
                if matches!(**reason, MedError::TimestampInFuture { latest_ms, .. } if latest_ms == latest))
        });
        // At the bound it is in time.
        mblock.header.timestamp_ms = latest;
        assert!(pow::mine(&mut mblock.header, 1_000_000));
        execute(&world, &checkpoint(vec![mblock])).unwrap();
    }

    #[test]
    fn an_mblock_without_its_proof_of_work_is_refused() {
        let Setup { world, .. } = setup();
        let mut miner = Miner::new();
        let mut mblock = miner.mine(Vec::new());
        while pow::meets_difficulty(&mblock.header.hash(), mblock.header.difficulty) {
            mblock.header.nonce += 1;
        }
        let hash = mblock.header.hash();
        assert_refused(
            &world,
            &checkpoint(vec![mblock]),
            |e| matches!(e, CheckpointError::InvalidMblock { hash: h, height: 1, .. } if *h == hash),
        );
    }

    #[test]
    fn an_mblock_claiming_another_difficulty_is_refused() {
        let Setup { world, .. } = setup();
        let mut miner = Miner::new();
        let honest = miner.mine(Vec::new());
        for difficulty in [honest.header.difficulty - 1, honest.header.difficulty * 8] {
            let mut header = MblockHeader {
                difficulty,
                ..honest.header.clone()
            };
            assert!(pow::mine(&mut header, 1_000_000));
            let mblock = CheckpointedMblock {
                header,
                txs: Vec::new(),
                entries: Vec::new(),
            };
            assert_refused(&world, &checkpoint(vec![mblock]), |e| {
                matches!(e, CheckpointError::InvalidMblock { height: 1, .. })
            });
        }
    }

    #[test]
    fn releases_other_than_the_headers_are_refused() {
        let Setup {
            world,
            doctor,
            patient,
        } = setup();
        let mut miner = Miner::new();
        let mut mblock = miner.mine(vec![tx_mr(&doctor, &patient, b"EMR 1")]);
        let hash = mblock.header.hash();
        mblock.txs.push(tx_mr(&doctor, &patient, b"smuggled"));
        assert_refused(
            &world,
            &checkpoint(vec![mblock.clone()]),
            |e| matches!(e, CheckpointError::TxsMismatch { hash: h, height: 1 } if *h == hash),
        );
        mblock.txs.clear();
        assert_refused(&world, &checkpoint(vec![mblock]), |e| {
            matches!(e, CheckpointError::TxsMismatch { .. })
        });
    }

    #[test]
    fn a_revoked_doctors_release_is_skipped_and_the_rest_imported() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let colleague = Actor::new(2);
        world
            .run(
                &colleague,
                crate::testkit::join(&org_name("Seoul General"), &doctor, &colleague),
            )
            .unwrap();
        world.license(&org_name("Seoul General"), &colleague);
        let desk = HospitalDesk::of(&org_name("Seoul General"));
        world
            .run(
                &desk.actor,
                revoke_doctor(&crate::testkit::doctor_identity(&doctor)),
            )
            .unwrap();
        let mut miner = Miner::new();
        let revoked = tx_mr(&doctor, &patient, b"EMR by the revoked");
        let practising = tx_mr(&colleague, &patient, b"EMR by a colleague");
        let mblock = miner.mine(vec![revoked.clone(), practising.clone()]);
        let events = commit(&mut world, &checkpoint(vec![mblock.clone()]));
        assert_eq!(
            events,
            vec![
                Event::MedReleaseRefused {
                    record: revoked.record_id(&chain_id()),
                    reason: MedRefusal::DoctorRevoked,
                },
                Event::RecordReleased {
                    record: practising.record_id(&chain_id()),
                    patient: patient.address,
                    doctor: colleague.address,
                    hospital: org_name("Seoul General"),
                },
            ]
        );
        assert_eq!(mined_record(&world, &revoked), None);
        assert_eq!(
            mined_record(&world, &practising).unwrap().origin,
            RecordOrigin::Mined {
                mblock: mblock.header.hash(),
                index: 1
            }
        );
        // The Mblock is checkpointed all the same: MED cannot un-mine it.
        assert_eq!(med_tip(&world), mblock.header.hash());
    }

    #[test]
    fn an_hemr_already_released_for_the_patient_is_skipped() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let mut miner = Miner::new();
        let first = tx_mr(&doctor, &patient, b"EMR 1");
        let mblock = miner.mine(vec![first.clone()]);
        commit(&mut world, &checkpoint(vec![mblock]));
        // The same hEMR released again later (another htxM), in a later checkpoint.
        let again = TxMr {
            issued_at_ms: first.issued_at_ms + 1,
            ..first
        };
        let fresh = tx_mr(&doctor, &patient, b"EMR 2");
        // The same hEMR released later by the same doctor (another htxM), inside one Mblock.
        let fresh_twice = TxMr {
            issued_at_ms: fresh.issued_at_ms + 1,
            ..fresh.clone()
        };
        let mblock = miner.mine(vec![again.clone(), fresh.clone(), fresh_twice.clone()]);
        let events = commit(&mut world, &checkpoint(vec![mblock]));
        let refused = |tx: &TxMr| Event::MedReleaseRefused {
            record: tx.record_id(&chain_id()),
            reason: MedRefusal::AlreadyReleased,
        };
        assert_eq!(events.len(), 3);
        assert_eq!(events[0], refused(&again));
        assert!(matches!(events[1], Event::RecordReleased { record, .. }
            if record == fresh.record_id(&chain_id())));
        assert_eq!(events[2], refused(&fresh_twice));
        assert_eq!(mined_record(&world, &again), None);
        assert_eq!(
            world
                .list(&keys::patient_records(&patient.address).list)
                .len(),
            2
        );
    }

    /// Review V12: the validity window is a SUP rule too: a release issued more than
    /// RELEASE_VALIDITY_MS away from its Mblock's timestamp is skipped at import with its
    /// event, whatever the voters checked; one at the edge is imported.
    #[test]
    fn a_release_outside_the_validity_window_of_its_mblock_is_skipped() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let mut miner = Miner::new();
        let timestamp_ms = miner.tip().timestamp_ms + PARAMS.target_interval_ms;
        let issued = |content: &[u8], issued_at_ms: u64| TxMr {
            issued_at_ms,
            ..tx_mr(&doctor, &patient, content)
        };
        let too_old = issued(b"old", timestamp_ms - RELEASE_VALIDITY_MS - 1);
        let too_new = issued(b"new", timestamp_ms + RELEASE_VALIDITY_MS + 1);
        let at_edge = issued(b"edge", timestamp_ms - RELEASE_VALIDITY_MS);
        let mblock = miner.mine(vec![too_old.clone(), too_new.clone(), at_edge.clone()]);
        assert_eq!(mblock.header.timestamp_ms, timestamp_ms);
        let events = commit(&mut world, &checkpoint(vec![mblock]));
        let refused = |tx: &TxMr| Event::MedReleaseRefused {
            record: tx.record_id(&chain_id()),
            reason: MedRefusal::OutsideValidity,
        };
        assert_eq!(events.len(), 3);
        assert_eq!(events[0], refused(&too_old));
        assert_eq!(events[1], refused(&too_new));
        assert!(matches!(events[2], Event::RecordReleased { record, .. }
            if record == at_edge.record_id(&chain_id())));
        assert_eq!(mined_record(&world, &too_old), None);
        assert_eq!(mined_record(&world, &too_new), None);
    }

    #[test]
    fn a_chain_without_med_refuses_any_checkpoint_but_the_empty_one() {
        let mut world = World::new();
        let mut miner = Miner::new();
        let mblock = miner.mine(Vec::new());
        assert_refused(&world, &checkpoint(vec![mblock]), |e| {
            matches!(e, CheckpointError::NoMedChain)
        });
        assert!(commit(&mut world, &Checkpoint::default()).is_empty());
        assert_eq!(world.value(&keys::med_tip()), None);
        assert_eq!(
            checkpointed_tip(&world.store, &world.value(&keys::chain_config()).unwrap()).unwrap(),
            None
        );
    }

    #[test]
    fn the_checkpoint_goes_before_the_transactions() {
        let Setup { world, patient, .. } = setup();
        let mut miner = Miner::new();
        let mblock = miner.mine(Vec::new());
        let tx = world.tx(&patient, enrol_patient(&patient));
        let mut executor = BlockExecutor::new(&world.store, world.next_env()).unwrap();
        executor.apply(&tx).unwrap();
        assert!(matches!(
            executor.apply_checkpoint(&checkpoint(vec![mblock])),
            Err(CheckpointError::AfterTransactions)
        ));
    }

    #[test]
    fn state_signers_name_practising_doctors_and_audited_hospitals_with_keys() {
        let Setup {
            mut world, doctor, ..
        } = setup();
        let seoul = HospitalDesk::of(&org_name("Seoul General"));
        let busan = world.staffed_hospital(&org_name("Busan Clinic"), 60);
        let at = |world: &World| world.timestamp_ms();
        {
            let signers = StateSigners::new(&world.store, at(&world));
            // No vouching keys yet.
            assert!(
                signers
                    .doctor(&doctor.address, &seoul.actor.address)
                    .is_err()
            );
            assert!(signers.hospital(&seoul.actor.address).is_err());
        }
        for party in [&doctor, &seoul.actor, &busan.hospital] {
            world.run(party, set_vouching_key(party)).unwrap();
        }
        let key = |actor: &Actor| medchain_types::emergency::vouching_key_from(&actor.key).public();
        let signers = StateSigners::new(&world.store, at(&world));
        assert_eq!(
            signers.doctor(&doctor.address, &seoul.actor.address),
            Ok(key(&doctor))
        );
        assert_eq!(
            signers.hospital(&seoul.actor.address),
            Ok(key(&seoul.actor))
        );
        assert_eq!(
            signers.hospital(&busan.hospital.address),
            Ok(key(&busan.hospital))
        );
        // Another hospital's batch; a doctor is no hospital; a stranger is nobody.
        assert!(
            signers
                .doctor(&doctor.address, &busan.hospital.address)
                .is_err()
        );
        assert!(signers.hospital(&doctor.address).is_err());
        assert!(
            signers
                .doctor(&Actor::new(99).address, &seoul.actor.address)
                .is_err()
        );
        // Revoked: refused from then on.
        world
            .run(
                &seoul.actor,
                revoke_doctor(&crate::testkit::doctor_identity(&doctor)),
            )
            .unwrap();
        let signers = StateSigners::new(&world.store, at(&world));
        let refusal = signers
            .doctor(&doctor.address, &seoul.actor.address)
            .unwrap_err();
        assert!(refusal.0.contains("revocation"), "{refusal}");
    }

    #[test]
    fn mined_records_are_told_apart_from_signed_ones() {
        // Signed releases exist on chains without MED only.
        let mut world = World::new();
        let doctor = Actor::new(1);
        world.licensed_hospital(&doctor, &org_name("Seoul General"));
        let signed: RecordId = world.released(&doctor, &Actor::new(50), b"EMR on SUP");
        assert!(matches!(
            world.value(&keys::record(&signed)).unwrap().origin,
            RecordOrigin::Signed { .. }
        ));
        let json = serde_json::to_value(RecordOrigin::Mined {
            mblock: ContentHash::of(b"m").0,
            index: 3,
        })
        .unwrap();
        assert_eq!(json["kind"], "mined");
        assert_eq!(json["index"], 3);
        assert_eq!(json["mblock"].as_str().unwrap().len(), 64);
    }

    /// A patient enrolled with a registered key (S3-entry).
    fn keyed_patient(world: &mut World, patient: &Actor) {
        world.run(patient, enrol_patient(patient)).unwrap();
        world.run(patient, set_vouching_key(patient)).unwrap();
    }

    fn entry_mr(patient: &Actor, bytes: &[u8]) -> EntryMr {
        EntryMr {
            patient: patient.address,
            entry: medchain_types::EntryBytes(bytes.to_vec()),
            issued_at_ms: GENESIS_TIME_MS,
        }
    }

    /// S3-entry: a checkpointed Mblock's entries are filed under their hentry at the SUP
    /// block's height and time and listed for the patient, after the Mblock's releases.
    #[test]
    fn checkpointed_entries_are_filed_for_their_patient() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        keyed_patient(&mut world, &patient);
        let mut miner = Miner::new();
        let release = tx_mr(&doctor, &patient, b"EMR 1");
        let entries = [
            entry_mr(&patient, b"EEE one"),
            entry_mr(&patient, b"EEE two"),
        ];
        let mblock = miner.mine_with(vec![release.clone()], entries.to_vec());
        let events = commit(&mut world, &checkpoint(vec![mblock]));
        let id = |entry: &EntryMr| entry.entry_id(&chain_id());
        assert_eq!(events.len(), 3);
        assert!(matches!(events[0], Event::RecordReleased { record, .. }
            if record == release.record_id(&chain_id())));
        assert_eq!(
            events[1..],
            entries
                .iter()
                .map(|entry| Event::EntryFiled {
                    entry: id(entry),
                    patient: patient.address,
                })
                .collect::<Vec<_>>()
        );
        let stored = world.value(&keys::entry(&id(&entries[1]))).unwrap();
        assert_eq!(stored.patient, patient.address);
        assert_eq!(stored.entry, entries[1].entry);
        assert_eq!(stored.filed_at, world.height());
        assert_eq!(stored.timestamp_ms, world.timestamp_ms());
        assert_eq!(
            world.list(&keys::patient_entries(&patient.address).list),
            entries.iter().map(id).collect::<Vec<_>>()
        );
    }

    /// An entry SUP may not file is skipped with its reason, the block staying valid: the
    /// patient unknown, a doctor's address (its key is no patient's), a patient without a
    /// key, and an id filed already — in the same checkpoint or an earlier one.
    #[test]
    fn entries_sup_may_not_file_are_skipped_with_their_reason() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        world.run(&doctor, set_vouching_key(&doctor)).unwrap();
        let keyless = Actor::new(51);
        world.run(&keyless, enrol_patient(&keyless)).unwrap();
        keyed_patient(&mut world, &patient);
        let mut miner = Miner::new();
        let filed = entry_mr(&patient, b"EEE");
        let first = miner.mine_with(Vec::new(), vec![filed.clone()]);
        commit(&mut world, &checkpoint(vec![first]));
        let before = world.list(&keys::patient_entries(&patient.address).list);

        let unknown = entry_mr(&Actor::new(99), b"EEE of nobody");
        let by_doctor = entry_mr(&doctor, b"EEE of a doctor");
        let without_key = entry_mr(&keyless, b"EEE without key");
        let new = entry_mr(&patient, b"EEE new");
        let second = miner.mine_with(
            Vec::new(),
            vec![unknown.clone(), by_doctor.clone(), without_key.clone()],
        );
        let third = miner.mine_with(Vec::new(), vec![filed.clone(), new.clone()]);
        let fourth = miner.mine_with(Vec::new(), vec![new.clone()]);
        let events = commit(&mut world, &checkpoint(vec![second, third, fourth.clone()]));
        let refused = |entry: &EntryMr, reason| Event::MedEntryRefused {
            entry: entry.entry_id(&chain_id()),
            reason,
        };
        assert_eq!(
            events,
            vec![
                refused(&unknown, MedEntryRefusal::NotEnrolled),
                refused(&by_doctor, MedEntryRefusal::NotAPatient),
                refused(&without_key, MedEntryRefusal::NoPatientKey),
                refused(&filed, MedEntryRefusal::AlreadyFiled),
                Event::EntryFiled {
                    entry: new.entry_id(&chain_id()),
                    patient: patient.address,
                },
                refused(&new, MedEntryRefusal::AlreadyFiled),
            ]
        );
        for skipped in [&unknown, &by_doctor, &without_key] {
            assert!(
                world
                    .value(&keys::entry(&skipped.entry_id(&chain_id())))
                    .is_none()
            );
        }
        let mut expected = before;
        expected.push(new.entry_id(&chain_id()));
        assert_eq!(
            world.list(&keys::patient_entries(&patient.address).list),
            expected
        );
        assert_eq!(med_tip(&world), fourth.header.hash());
    }

    /// A checkpoint whose entries are not the ones the header commits to is invalid.
    #[test]
    fn a_checkpoint_with_other_entries_than_its_header_commits_to_is_refused() {
        let Setup {
            mut world, patient, ..
        } = setup();
        keyed_patient(&mut world, &patient);
        let mut miner = Miner::new();
        let mut mblock = miner.mine_with(Vec::new(), vec![entry_mr(&patient, b"EEE")]);
        mblock.entries[0].entry.0.push(0);
        assert_refused(&world, &checkpoint(vec![mblock]), |e| {
            matches!(e, CheckpointError::TxsMismatch { height: 1, .. })
        });
    }

    /// S3-dual: on a chain with MED, SUP refuses a direct release and a direct entry — nothing
    /// is written, not even the nonce — and keeps every other record action.
    #[test]
    fn a_med_chain_refuses_releases_and_entries_filed_on_sup() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let release = release_payload(&doctor, &patient.address, &ContentHash::of(b"EMR"));
        world.assert_rejected(
            &doctor,
            release,
            |e| matches!(e, ExecError::FiledOnMed(what) if what.contains("release")),
        );
        world.assert_rejected(
            &patient,
            entry_payload(b"EEE"),
            |e| matches!(e, ExecError::FiledOnMed(what) if what.contains("entries")),
        );
        let message = ExecError::FiledOnMed("EMR entries").to_string();
        assert!(message.contains("hospital gateway"), "{message}");
        assert!(message.contains("MED"), "{message}");
        // A chain without MED keeps both.
        let mut plain = World::new();
        plain.licensed_hospital(&doctor, &org_name("Seoul General"));
        plain
            .run(
                &doctor,
                release_payload(&doctor, &patient.address, &ContentHash::of(b"EMR")),
            )
            .unwrap();
        plain.run(&patient, entry_payload(b"EEE")).unwrap();
    }

    /// A patient's key signs its entries only: never as a doctor or hospital, and a doctor's
    /// or hospital's key never as a patient's.
    #[test]
    fn state_signers_keep_patient_keys_apart_from_doctors_and_hospitals() {
        let Setup {
            mut world,
            doctor,
            patient,
        } = setup();
        let seoul = HospitalDesk::of(&org_name("Seoul General"));
        let unkeyed = Actor::new(51);
        world.run(&unkeyed, enrol_patient(&unkeyed)).unwrap();
        keyed_patient(&mut world, &patient);
        for party in [&doctor, &seoul.actor] {
            world.run(party, set_vouching_key(party)).unwrap();
        }
        let signers = StateSigners::new(&world.store, world.timestamp_ms());
        let key = medchain_types::emergency::vouching_key_from(&patient.key).public();
        assert_eq!(signers.patient(&patient.address), Ok(key));
        assert!(
            signers
                .doctor(&patient.address, &seoul.actor.address)
                .is_err()
        );
        assert!(signers.hospital(&patient.address).is_err());
        for not_a_patient in [&doctor, &seoul.actor] {
            let refusal = signers.patient(&not_a_patient.address).unwrap_err();
            assert!(refusal.0.contains("only patients"), "{refusal}");
        }
        assert!(signers.patient(&unkeyed.address).is_err());
        assert!(signers.patient(&Actor::new(99).address).is_err());
    }
}
