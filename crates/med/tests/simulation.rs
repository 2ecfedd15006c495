//! A deterministic simulation of the MED chain supervised by SUP (S3-dual, S3-supervise):
//! seeded, single-threaded, no wall clock. Time is a tick counter; a miner's hash power is the
//! number of nonces it tries per tick; blocks travel with seeded delays and a node that meets
//! an unknown parent fetches it from the sender. Every `checkpoint_every` ticks, a SUP
//! proposer (round-robin over the honest nodes, which are SUP validators too) proposes
//! `choose_checkpoint`; the checkpoint is finalized when more than two thirds of the
//! validators find it `is_known_extension`, and every honest node then applies it with
//! `set_checkpointed` (fetching Mblocks it lacks). Signatures are not the tree's business (the
//! node verifies each aggregate before `insert`), so bodies carry a placeholder.

use medchain_med::{MedChain, MedError, MedStore, pow::mine};
use medchain_types::{
    Address, BlsSignature, ChainId, ContentHash, Hash32, RecordId,
    med::{Checkpoint, HospitalBatch, Mblock, MblockBody, MblockHeader, MedParams, TxMr},
};
use rand::{RngExt, SeedableRng, rngs::StdRng};

const GENESIS_MS: u64 = 1_700_000_000_000;
const TICK_MS: u64 = 100;
/// The target block interval, in ticks.
const TARGET_TICKS: u64 = 20;

fn chain_id() -> ChainId {
    ChainId::new("medchain-sim").unwrap()
}

fn params(initial_difficulty: u64) -> MedParams {
    MedParams {
        target_interval_ms: TARGET_TICKS * TICK_MS,
        initial_difficulty,
        min_difficulty: 4,
        retarget_window: 16,
    }
}

fn now_ms(tick: u64) -> u64 {
    GENESIS_MS + tick * TICK_MS
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Mines on its best tip, relays what it finds, follows SUP checkpoints.
    Honest,
    /// Never hears the network and keeps what it finds: a private branch.
    Selfish,
}

/// What a simulated network message carries.
enum Message {
    Block(Box<Mblock>),
    /// "Send me this Mblock."
    Fetch(Hash32),
}

struct Node {
    chain: MedChain,
    address: Address,
    role: Role,
    /// Nonces tried per tick.
    power: u64,
    /// The header being mined and its body; rebuilt when the best tip moves.
    work: Option<(MblockHeader, MblockBody)>,
    /// Received Mblocks waiting for their parent.
    orphans: Vec<Mblock>,
    /// Received Mblocks refused as not descending from the checkpoint.
    refused_below_checkpoint: usize,
    /// Releases this node's hospital filed (each Mblock it mines carries a new one).
    released: u64,
    /// Mblocks this node found.
    mined: u64,
}

impl Node {
    /// Mines for one tick; the Mblock found, already in this node's tree.
    fn mine_tick(&mut self, tick: u64, rng: &mut StdRng) -> Option<Mblock> {
        let best = self.chain.best_hash();
        if self
            .work
            .as_ref()
            .is_none_or(|(header, _)| header.parent != best)
        {
            self.released += 1;
            let body = self.body(self.released, now_ms(tick));
            let mut header = self.chain.template(
                self.address,
                body.batches.clone(),
                body.signature,
                now_ms(tick),
            );
            header.nonce = rng.random();
            self.work = Some((header, body));
        }
        let (header, _) = self.work.as_mut()?;
        if !mine(header, self.power) {
            return None;
        }
        let (header, body) = self.work.take()?;
        self.mined += 1;
        let block = Mblock { header, body };
        self.chain.insert(block.clone(), now_ms(tick)).unwrap();
        Some(block)
    }

    /// One hospital batch with one release, unique to this node and counter, issued at
    /// `issued_at_ms` (releases must be fresh: within the hour of their Mblock).
    fn body(&self, counter: u64, issued_at_ms: u64) -> MblockBody {
        let release = TxMr {
            doctor: Address::from_bytes([1; 32]),
            patient: Address::from_bytes([2; 32]),
            record_hash: ContentHash::of(
                &[self.address.as_bytes(), &counter.to_be_bytes()].concat(),
            ),
            issued_at_ms,
        };
        MblockBody {
            batches: vec![HospitalBatch {
                hospital: self.address,
                txs: vec![release],
                entries: Vec::new(),
            }],
            signature: Some(BlsSignature([7; BlsSignature::LEN])),
        }
    }

    /// Takes in a received Mblock; the parent to fetch if it is missing.
    fn receive(&mut self, block: Mblock, tick: u64) -> Option<Hash32> {
        match self.chain.insert(block.clone(), now_ms(tick)) {
            Ok(_) => {
                self.adopt_orphans(tick);
                None
            }
            // Fetch the parent once per orphan: it comes back through here.
            Err(MedError::UnknownParent(parent)) => {
                if self.orphans.contains(&block) {
                    return None;
                }
                self.orphans.push(block);
                Some(parent)
            }
            Err(MedError::AlreadyKnown(_)) => None,
            Err(MedError::NotAfterCheckpoint { .. }) => {
                self.refused_below_checkpoint += 1;
                None
            }
            Err(error) => panic!("a valid Mblock was refused: {error}"),
        }
    }

    fn adopt_orphans(&mut self, tick: u64) {
        while let Some(at) = self
            .orphans
            .iter()
            .position(|orphan| self.chain.contains(&orphan.header.parent))
        {
            let orphan = self.orphans.remove(at);
            match self.chain.insert(orphan, now_ms(tick)) {
                Ok(_) | Err(MedError::AlreadyKnown(_)) => {}
                Err(MedError::NotAfterCheckpoint { .. }) => self.refused_below_checkpoint += 1,
                Err(error) => panic!("a valid orphan was refused: {error}"),
            }
        }
    }

    /// The best chain's headers up to `height`, inclusive.
    fn best_up_to(&self, height: u64) -> Vec<MblockHeader> {
        self.chain.headers(0, usize::try_from(height).unwrap() + 1)
    }
}

struct Sim {
    rng: StdRng,
    tick: u64,
    nodes: Vec<Node>,
    /// (delivery tick, from, to, message).
    inflight: Vec<(u64, usize, usize, Message)>,
    max_delay: u64,
    checkpoint_every: u64,
    rounds: u64,
    finalized: Vec<Checkpoint>,
}

impl Sim {
    fn new(seed: u64, initial_difficulty: u64, powers: &[(Role, u64)]) -> Self {
        let nodes = powers
            .iter()
            .zip(1u8..)
            .map(|(&(role, power), n)| Node {
                chain: open(MedStore::in_memory().unwrap(), initial_difficulty),
                address: Address::from_bytes([n; 32]),
                role,
                power,
                work: None,
                orphans: Vec::new(),
                refused_below_checkpoint: 0,
                released: 0,
                mined: 0,
            })
            .collect();
        Self {
            rng: StdRng::seed_from_u64(seed),
            tick: 0,
            nodes,
            inflight: Vec::new(),
            max_delay: 3,
            checkpoint_every: 50,
            rounds: 0,
            finalized: Vec::new(),
        }
    }

    fn honest(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].role == Role::Honest)
            .collect()
    }

    fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick += 1;
            self.deliver_due();
            for i in 0..self.nodes.len() {
                if let Some(block) = self.nodes[i].mine_tick(self.tick, &mut self.rng)
                    && self.nodes[i].role == Role::Honest
                {
                    self.broadcast(i, &block);
                }
            }
            if self.tick.is_multiple_of(self.checkpoint_every) {
                self.checkpoint_round();
            }
        }
    }

    /// Sends `block` from `from` to every other honest node, each with its own delay.
    fn broadcast(&mut self, from: usize, block: &Mblock) {
        for to in self.honest() {
            if to != from {
                self.send(from, to, Message::Block(Box::new(block.clone())));
            }
        }
    }

    fn send(&mut self, from: usize, to: usize, message: Message) {
        let due = self.tick + self.rng.random_range(1..=self.max_delay);
        self.inflight.push((due, from, to, message));
    }

    fn deliver_due(&mut self) {
        let (due, later) = std::mem::take(&mut self.inflight)
            .into_iter()
            .partition(|(at, ..)| *at <= self.tick);
        self.inflight = later;
        let due: Vec<(u64, usize, usize, Message)> = due;
        for (_, from, to, message) in due {
            match message {
                Message::Block(block) => {
                    if let Some(parent) = self.nodes[to].receive(*block, self.tick) {
                        self.send(to, from, Message::Fetch(parent));
                    }
                }
                Message::Fetch(hash) => {
                    if let Some(block) = self.nodes[to].chain.block(&hash).unwrap() {
                        self.send(to, from, Message::Block(Box::new(block)));
                    }
                }
            }
        }
    }

    /// Delivers everything in flight, with no mining.
    fn drain(&mut self) {
        while !self.inflight.is_empty() {
            self.tick += 1;
            self.deliver_due();
        }
    }

    /// One SUP block: the proposer's checkpoint, finalized with more than two thirds of the
    /// validators' votes. Returns whether a non-empty checkpoint was finalized.
    fn checkpoint_round(&mut self) -> bool {
        let validators = self.honest();
        let proposer = validators[usize::try_from(self.rounds).unwrap() % validators.len()];
        self.rounds += 1;
        let checkpoint = self.nodes[proposer].chain.choose_checkpoint();
        let Some(tip) = checkpoint.tip().map(MblockHeader::hash) else {
            return false;
        };
        let votes = validators
            .iter()
            .filter(|&&v| self.nodes[v].chain.is_known_extension(&checkpoint))
            .count();
        if 3 * votes <= 2 * validators.len() {
            return false;
        }
        for &v in &validators {
            for hash in checkpoint.hashes() {
                if !self.nodes[v].chain.contains(&hash) {
                    let block = self.nodes[proposer].chain.block(&hash).unwrap().unwrap();
                    assert_eq!(self.nodes[v].receive(block, self.tick), None);
                }
            }
            self.nodes[v].chain.set_checkpointed(tip).unwrap();
        }
        self.finalized.push(checkpoint);
        true
    }

    /// Checkpoint rounds until the proposers have nothing new.
    fn checkpoint_everything(&mut self) {
        let validators = self.honest().len();
        let mut idle = 0;
        while idle < validators {
            idle = if self.checkpoint_round() { 0 } else { idle + 1 };
        }
    }

    fn records_of(checkpoints: &[Checkpoint]) -> Vec<RecordId> {
        checkpoints
            .iter()
            .flat_map(|checkpoint| &checkpoint.branch)
            .flat_map(|block| &block.txs)
            .map(|tx| tx.record_id(&chain_id()))
            .collect()
    }

    /// Every honest node's best chain agrees up to the common checkpoint, descends from it,
    /// and holds every checkpointed record as checkpointed.
    fn assert_agree_below_checkpoint(&self) {
        let honest = self.honest();
        let first = &self.nodes[honest[0]].chain;
        let checkpointed = first.checkpointed();
        let height = first.header(&checkpointed).unwrap().height;
        let prefix = self.nodes[honest[0]].best_up_to(height);
        assert_eq!(prefix.last().unwrap().hash(), checkpointed);
        for &i in &honest {
            let node = &self.nodes[i];
            assert_eq!(node.chain.checkpointed(), checkpointed);
            assert_eq!(node.best_up_to(height), prefix);
            for record in Self::records_of(&self.finalized) {
                let (mblock, _) = node.chain.find_record(&record).unwrap();
                assert!(node.chain.is_checkpointed(&mblock));
            }
        }
    }

    fn best_interval_ms(&self, node: usize, last: usize) -> u64 {
        let headers = self.nodes[node].chain.headers(0, usize::MAX);
        let recent = &headers[headers.len() - last - 1..];
        (recent[last].timestamp_ms - recent[0].timestamp_ms) / u64::try_from(last).unwrap()
    }
}

fn open(store: MedStore, initial_difficulty: u64) -> MedChain {
    MedChain::open(store, chain_id(), GENESIS_MS, params(initial_difficulty)).unwrap()
}

fn honest(powers: &[u64]) -> Vec<(Role, u64)> {
    powers.iter().map(|&power| (Role::Honest, power)).collect()
}

#[test]
fn honest_mining_converges_under_checkpoints() {
    let mut sim = Sim::new(7, 320, &honest(&[2, 3, 4, 7]));
    sim.run(3_000);
    assert!(
        2 * sim.finalized.len() >= usize::try_from(sim.rounds).unwrap(),
        "most SUP rounds finalize a checkpoint: {} of {}",
        sim.finalized.len(),
        sim.rounds
    );
    sim.assert_agree_below_checkpoint();

    sim.drain();
    sim.checkpoint_everything();
    sim.assert_agree_below_checkpoint();
    let tips: Vec<Hash32> = sim.nodes.iter().map(|n| n.chain.best_hash()).collect();
    assert!(
        tips.iter().all(|tip| *tip == tips[0]),
        "one best tip: {tips:?}"
    );
    assert_eq!(tips[0], sim.nodes[0].chain.checkpointed());

    // Few forks: most Mblocks mined ended on the best chain.
    let mined: u64 = sim.nodes.iter().map(|n| n.mined).sum();
    let height = sim.nodes[0].chain.best().height;
    assert!(
        height * 10 >= mined * 7,
        "{height} of ~{mined} Mblocks on the best chain"
    );
}

#[test]
fn difficulty_retargets_toward_the_target_interval() {
    let target_ms = TARGET_TICKS * TICK_MS;
    // 16 nonces per tick against difficulty 16: about one Mblock per tick, 20 times too fast.
    let mut sim = Sim::new(11, 16, &honest(&[4, 4, 4, 4]));
    sim.run(4_000);
    sim.drain();
    let interval = sim.best_interval_ms(0, 64);
    assert!(
        (target_ms / 2..=target_ms * 2).contains(&interval),
        "{interval} ms per Mblock, target {target_ms}"
    );
    // Equilibrium: difficulty = nonces per target interval = 16 × 20.
    let difficulty = sim.nodes[0].chain.best().difficulty;
    assert!((160..=640).contains(&difficulty), "difficulty {difficulty}");

    // A quarter of the hash power leaves: the difficulty follows it down.
    for node in &mut sim.nodes {
        node.power = 1;
    }
    sim.run(6_000);
    sim.drain();
    let interval = sim.best_interval_ms(0, 32);
    assert!(
        (target_ms / 2..=target_ms * 2).contains(&interval),
        "{interval} ms per Mblock, target {target_ms}"
    );
    let difficulty = sim.nodes[0].chain.best().difficulty;
    assert!((40..=160).contains(&difficulty), "difficulty {difficulty}");
}

#[test]
fn a_selfish_miner_cannot_reorganise_checkpointed_records() {
    // The selfish miner has three times the honest hash power and mines a private branch.
    let mut powers = honest(&[2, 2, 2, 2]);
    powers.push((Role::Selfish, 24));
    let mut sim = Sim::new(13, 160, &powers);
    sim.checkpoint_every = 40;
    sim.run(1_500);
    sim.drain();
    sim.assert_agree_below_checkpoint();
    let selfish = sim.nodes.len() - 1;
    let honest_best = sim.nodes[0].chain.best_hash();
    let private: Vec<Mblock> = sim.nodes[selfish]
        .chain
        .headers(1, usize::MAX)
        .iter()
        .map(|header| {
            sim.nodes[selfish]
                .chain
                .block(&header.hash())
                .unwrap()
                .unwrap()
        })
        .collect();
    let honest_work = work(&sim.nodes[0].chain);
    let private_work = work(&sim.nodes[selfish].chain);
    assert!(
        private_work > honest_work,
        "the private branch has more work ({private_work} > {honest_work})"
    );
    let checkpointed_records = Sim::records_of(&sim.finalized);
    assert!(!checkpointed_records.is_empty());

    // Without SUP checkpoints the released branch would win and erase the honest records.
    let mut unsupervised = open(MedStore::in_memory().unwrap(), 160);
    for header in sim.nodes[0].chain.headers(1, usize::MAX) {
        let block = sim.nodes[0].chain.block(&header.hash()).unwrap().unwrap();
        unsupervised.insert(block, now_ms(sim.tick)).unwrap();
    }
    for block in &private {
        unsupervised
            .insert(block.clone(), now_ms(sim.tick))
            .unwrap();
    }
    assert_eq!(
        unsupervised.best_hash(),
        sim.nodes[selfish].chain.best_hash()
    );
    assert!(
        checkpointed_records
            .iter()
            .all(|record| unsupervised.find_record(record).is_none())
    );

    // Released after the checkpoints: refused by every honest node.
    for to in sim.honest() {
        sim.nodes[to].refused_below_checkpoint = 0;
    }
    for block in &private {
        for to in sim.honest() {
            sim.send(selfish, to, Message::Block(Box::new(block.clone())));
        }
    }
    sim.drain();
    for to in sim.honest() {
        let node = &sim.nodes[to];
        assert!(node.refused_below_checkpoint > 0);
        assert_eq!(node.chain.best_hash(), honest_best);
        assert!(
            private
                .iter()
                .all(|block| !node.chain.contains(&block.header.hash()))
        );
    }
    // And honest mining goes on over it, keeping every checkpointed record final.
    sim.run(400);
    sim.drain();
    sim.checkpoint_everything();
    sim.assert_agree_below_checkpoint();
    let node = &sim.nodes[0].chain;
    for record in &checkpointed_records {
        let (mblock, _) = node.find_record(record).unwrap();
        assert!(node.is_checkpointed(&mblock));
    }
}

#[test]
fn a_miner_restarted_from_disk_resumes_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("med.redb");
    let mut sim = Sim::new(17, 160, &honest(&[2, 2, 3, 3]));
    sim.nodes[0].chain = open(MedStore::open(&path).unwrap(), 160);
    sim.run(1_000);
    let before = {
        let chain = &sim.nodes[0].chain;
        (
            chain.best_hash(),
            chain.checkpointed(),
            chain.headers(0, usize::MAX),
            chain.choose_checkpoint(),
        )
    };

    // Stop: the tree (and the header being mined) is dropped with its database handle; then
    // the same file is opened again.
    sim.nodes[0].work = None;
    sim.nodes[0].chain = open(MedStore::in_memory().unwrap(), 160);
    sim.nodes[0].chain = open(MedStore::open(&path).unwrap(), 160);
    let chain = &sim.nodes[0].chain;
    let after = (
        chain.best_hash(),
        chain.checkpointed(),
        chain.headers(0, usize::MAX),
        chain.choose_checkpoint(),
    );
    assert_eq!(after, before);

    sim.run(1_000);
    sim.drain();
    sim.checkpoint_everything();
    sim.assert_agree_below_checkpoint();
    let tips: Vec<Hash32> = sim.nodes.iter().map(|n| n.chain.best_hash()).collect();
    assert!(tips.iter().all(|tip| *tip == tips[0]));
    assert!(sim.nodes[0].chain.best().height > before.2.last().unwrap().height);
}

/// Cumulative work of a tree's best chain.
fn work(chain: &MedChain) -> u128 {
    chain
        .headers(1, usize::MAX)
        .iter()
        .map(|header| u128::from(header.difficulty))
        .sum()
}

/// H3 in the simulation: a miner releases a lighter branch from the checkpoint (every honest
/// node inserts it as a side branch: it is valid) and a Byzantine SUP proposer proposes it.
/// No honest validator votes for it, so it cannot prune the honest chain and its releases;
/// the honest proposer's next checkpoint is finalized as usual.
#[test]
fn a_byzantine_proposer_cannot_checkpoint_a_lighter_rival_branch() {
    let mut powers = honest(&[4, 4, 4]);
    powers.push((Role::Selfish, 2));
    let mut sim = Sim::new(17, 64, &powers);
    sim.checkpoint_every = u64::MAX;
    sim.run(600);
    let rival_miner = sim.nodes.len() - 1;
    let rival_chain = &sim.nodes[rival_miner].chain;
    let rival: Vec<Mblock> = rival_chain
        .headers(1, usize::MAX)
        .iter()
        .map(|header| rival_chain.block(&header.hash()).unwrap().unwrap())
        .collect();
    assert!(!rival.is_empty());
    for block in &rival {
        sim.broadcast(rival_miner, block);
    }
    sim.drain();
    let proposal = sim.nodes[rival_miner].chain.choose_checkpoint();
    let honest_work = work(&sim.nodes[0].chain);
    let rival_work = work(&sim.nodes[rival_miner].chain);
    assert!(rival_work < honest_work, "{rival_work} < {honest_work}");
    for i in sim.honest() {
        let node = &sim.nodes[i].chain;
        assert!(
            proposal.hashes().iter().all(|hash| node.contains(hash)),
            "every honest node knows the rival branch"
        );
        assert!(
            !node.is_known_extension(&proposal),
            "validator {i} refuses the lighter branch"
        );
    }
    let honest_records: Vec<RecordId> = sim.nodes[0]
        .chain
        .choose_checkpoint()
        .branch
        .iter()
        .flat_map(|block| &block.txs)
        .map(|tx| tx.record_id(&chain_id()))
        .collect();
    assert!(!honest_records.is_empty());
    assert!(sim.checkpoint_round(), "the honest proposal is finalized");
    assert_eq!(Sim::records_of(&sim.finalized), honest_records);
    sim.assert_agree_below_checkpoint();
}
