//! The command line: every subcommand, its arguments and its `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use medchain_api::IdPrefix;
use medchain_client::build::ExpirySpec;
use medchain_types::{
    Address, IdentityName, OrgKind, OrgName, PeerAddress, Purpose, Role, Signature, Uri,
};
use std::{path::PathBuf, time::Duration};

/// medchain: medical records shared over a consortium blockchain. The chain holds metadata,
/// consent, licences and audit; records stay off chain, encrypted, under the patient's control.
#[derive(Debug, Parser)]
#[command(name = "medchain", version, propagate_version = true)]
#[command(after_help = "Quick start: `medchain devnet` in one terminal, then see docs/cli.md.")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new key file (mode 0600), encrypted under a passphrase, and print its address.
    /// The passphrase is asked twice in a terminal, or taken from MEDCHAIN_PASSPHRASE.
    #[command(
        after_help = "Examples:\n  medchain keygen --out doctor.key\n  MEDCHAIN_PASSPHRASE=… medchain keygen --out patient.key   # in a script"
    )]
    Keygen {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the address of a key file (no passphrase needed).
    Address {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Key files: encrypt a plain one.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Write a new network: genesis, regulator key, and one directory per validator.
    Init(InitArgs),
    /// Run a validator until Ctrl-C or SIGTERM.
    Node {
        /// The node's configuration (written by `medchain init`).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a local 4-validator network in the background of this terminal (Ctrl-C stops it).
    /// Re-running it with the same --dir continues the same chain.
    Devnet(DevnetArgs),
    /// Organisations: register, approve, suspend, reinstate, endorse and join (S2-register, S2-state).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Medical records: release (doctor) and storage pointer (patient) (S1-release, S1-storage).
    #[command(subcommand)]
    Record(RecordCommand),
    /// Patient consent: grant and revoke (S1-rights, S1-sharing).
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Access requests: the chain decides and logs them (S1-rights).
    #[command(subcommand)]
    Access(AccessCommand),
    /// Tokens (S1-tokens, S1-utxo): your balance and coins, payments with change, and your
    /// history (fees paid, access rewards received), every figure verified against a finalized
    /// block.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Delegated proof of stake (S1-dpos): the validator candidates and their pools, delegate
    /// and undelegate, and register a hospital's node as a candidate.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Read chain state; every answer is verified against a finalized block before it is shown.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Doctor licences ρ = (hospital, doctor, expiry): issue, renew (hospital), show
    /// (S3-register). A doctor releases records only with a valid licence.
    #[command(subcommand)]
    Licence(LicenceCommand),
    /// The doctor revocation list: add, remove (licensing hospital or regulator), and check
    /// with a proof verified against a finalized block (S3-revoke).
    #[command(subcommand)]
    Revocation(RevocationCommand),
    /// Identities bound to chain addresses: enrol (bind an identity to your key, then obtain
    /// its identity-based keys from the validators' threshold PKG) and show (S3-register,
    /// S4-ca).
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Run a hospital's gateway until Ctrl-C: its EMR database (SQLite, or PostgreSQL by URL),
    /// encrypted record blobs (local, or S3 by URL), and the HTTP API patients and doctors use
    /// to enrol, write, share and open records (S1-release, S1-storage, S3-agree, S3-share,
    /// S3-emergency). The key file is the hospital's enrolled identity.
    #[command(
        after_help = "Example:\n  MEDCHAIN_PASSPHRASE=… medchain hospital --key hospital-a.key --node http://127.0.0.1:8400 --listen 127.0.0.1:9101 --data-dir gateway-a\n  … --database postgres://gateway@127.0.0.1:5432/emr --blobs 's3://records?endpoint=http://127.0.0.1:9000&allow_http=true'"
    )]
    Hospital(HospitalArgs),
    /// The web portal on 127.0.0.1: your records, consents and access history, a clinician's
    /// licence and shared records, the regulator's supervision, and an explorer; every value
    /// shown is verified by this process's light client, and actions sign with the key here
    /// (the browser never holds it). Prints the login URL.
    #[command(
        after_help = "Example:\n  medchain portal --key patient.key\n  medchain portal --key regulator.key --node http://127.0.0.1:8401 --listen 127.0.0.1:8480"
    )]
    Portal(PortalArgs),
    /// Patients: enrol at a hospital's gateway, read your records from every hospital (each
    /// checked against its hash on chain), file your emergency entry, consent, authorise a
    /// doctor, and see every access to your records (S3-agree, S3-entry, S3-share, S1-rights).
    #[command(subcommand)]
    Patient(PatientCommand),
    /// Doctors: write a record through your hospital's gateway, ask a patient for access,
    /// fetch a record another hospital holds, and break the glass in an emergency (S1-release,
    /// S3-share, S3-emergency).
    #[command(subcommand)]
    Doctor(DoctorCommand),
    /// Zero-knowledge circuits (S4-flow): the trusted setup of a circuit shape, whose verifying
    /// key the regulator registers with `medchain research register-circuit`.
    #[command(subcommand)]
    Zk(ZkCommand),
    /// The research market (S4-flow, S4-exclusive): studies with a predicate, a reward and an
    /// escrow; enrolments proven in zero knowledge and verified on chain; records read through
    /// t of n cloud proxies. Patients use `medchain patient studies` and `enrol-study`.
    #[command(subcommand)]
    Research(ResearchCommand),
    /// Run a cloud proxy until Ctrl-C (S4-flow steps 6–8): it holds patients' encrypted
    /// records and one key fragment each, and re-encrypts for a study's researcher once the
    /// chain shows the enrolment, logging each re-encryption on chain. It never sees a
    /// plaintext or a patient's key. The key file is a member of an audited cloud organisation.
    #[command(
        after_help = "Example:\n  MEDCHAIN_PASSPHRASE=… medchain cloud --key cloud.key --listen 127.0.0.1:9201 --data-dir cloud-1"
    )]
    Cloud(CloudArgs),
    /// Verify an answer saved with `medchain query … --save FILE`, offline: only the genesis
    /// document is trusted and no node is contacted (unless --cross-check asks one how far the
    /// chain has moved since).
    Verify(VerifyArgs),
}

/// `medchain key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Encrypt a plain key file (written before encryption existed, or by `medchain init`)
    /// in place under a passphrase: Argon2id and AES-256-GCM, as `medchain keygen` writes.
    #[command(after_help = "Example:\n  medchain key encrypt --key doctor.key")]
    Encrypt {
        /// The key file.
        #[arg(long, env = "MEDCHAIN_KEY")]
        key: PathBuf,
    },
}

/// Roles an identity enrols as, as typed on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// A patient: enrols under a pseudonym derived from the address (no name on chain).
    Patient,
    /// A doctor, member of an audited hospital.
    Doctor,
    /// A hospital's own identity (it licenses its doctors), member of an audited hospital.
    Hospital,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Patient => Self::Patient,
            RoleArg::Doctor => Self::Doctor,
            RoleArg::Hospital => Self::Hospital,
        }
    }
}

/// `medchain init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Directory to create the network in.
    #[arg(long)]
    pub out: PathBuf,
    /// Chain id (part of every signed transaction) [default: medchain-<8 random hex digits>,
    /// so two networks never accept each other's transactions].
    #[arg(long)]
    pub chain_id: Option<String>,
    /// Validator i listens for peers on 127.0.0.1:(this + i).
    #[arg(long, default_value_t = 9400)]
    pub p2p_base_port: u16,
    /// Validator i serves its HTTP API on 127.0.0.1:(this + i).
    #[arg(long, default_value_t = 8400)]
    pub api_base_port: u16,
    /// Fees, funded accounts and staking.
    #[command(flatten)]
    pub economy: EconomyArgs,
    /// The research circuit: reuse the keys `medchain zk setup` wrote to DIR (copied into the
    /// network) instead of running the setup, which takes from seconds to minutes.
    #[arg(long, value_name = "DIR", env = "MEDCHAIN_CIRCUIT")]
    pub circuit: Option<PathBuf>,
    /// Also run the MED proof-of-work record chain (S3-dual): genesis gets the devnet's MED
    /// parameters (3 s target interval, low difficulty) and every validator mines with a
    /// fifth of one core. Off by default: without it records are released on the consortium
    /// chain. `medchain devnet` turns it on.
    #[arg(long)]
    pub med: bool,
}

/// The token economy of a new network (S1-tokens, S1-dpos).
#[derive(Clone, Debug, Args)]
pub struct EconomyArgs {
    /// `default`: every transaction pays a fee, blocks reward their proposer, validators are
    /// elected by stake each epoch, and the accounts in DIR/accounts/ (and the regulator) are
    /// funded at genesis. `free`: a chain without tokens: nothing to pay, no staking, the
    /// genesis validators stay the validators.
    #[arg(long, value_enum, default_value = "default")]
    pub fees: FeesArg,
    /// Blocks per epoch: at each epoch's last block the candidates with the most stake become
    /// the next epoch's validators [default: 120, about a minute; needs --fees default].
    #[arg(long, value_name = "BLOCKS")]
    pub epoch_length: Option<u64>,
    /// Also write this many standby nodes (node-N… after the validators): their keys are not
    /// genesis validators, they follow the chain as observers and sign once elected (`medchain
    /// stake register`). Needs --fees default.
    #[arg(long, default_value_t = 0, value_name = "NODES")]
    pub standby: usize,
}

/// Fee schedules, as typed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FeesArg {
    /// Fees, rewards and staking, with funded accounts.
    Default,
    /// No tokens at all: every transaction is free.
    Free,
}

/// `medchain devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Data directory; initialised on first use, reused afterwards.
    #[arg(long, default_value = ".devnet")]
    pub dir: PathBuf,
    /// Number of validators (first run only).
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Validator i listens for peers on 127.0.0.1:(this + i) (first run only).
    #[arg(long, default_value_t = 9400)]
    pub p2p_base_port: u16,
    /// Validator i serves its HTTP API on 127.0.0.1:(this + i) (first run only).
    #[arg(long, default_value_t = 8400)]
    pub api_base_port: u16,
    /// Fees, funded accounts and staking (first run only).
    #[command(flatten)]
    pub economy: EconomyArgs,
    /// The research circuit: reuse the keys `medchain zk setup` wrote to DIR instead of
    /// running the setup (first run only).
    #[arg(long, value_name = "DIR", env = "MEDCHAIN_CIRCUIT")]
    pub circuit: Option<PathBuf>,
    /// Cloud proxy i (of 3) of the research market serves on 127.0.0.1:(this + i − 1) (first
    /// run only; a chain without tokens runs none) [default: the API base port + 801, 9201].
    #[arg(long)]
    pub cloud_base_port: Option<u16>,
    /// Run the consortium chain alone, without the MED record chain (first run only): records
    /// are then released on the consortium chain directly (`medchain record release`, the
    /// walkthrough of docs/cli.md §4), which a chain with MED refuses.
    #[arg(long)]
    pub no_med: bool,
}

/// `medchain hospital`.
/// `medchain portal`.
#[derive(Debug, Args)]
pub struct PortalArgs {
    /// Your key file: the portal acts and reads as this account.
    #[arg(long, env = "MEDCHAIN_KEY")]
    pub key: PathBuf,
    /// Where to serve the portal; loopback only (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8480")]
    pub listen: std::net::SocketAddr,
    /// Seconds an action waits for its transaction to be finalized.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Node and verification options (`--json` prints the login URL as one JSON line).
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct HospitalArgs {
    /// The hospital's key file (an enrolled hospital identity, with its identity keys).
    #[arg(long, env = "MEDCHAIN_KEY")]
    pub key: PathBuf,
    /// Where to serve the gateway's API.
    #[arg(long, default_value = "127.0.0.1:9101")]
    pub listen: std::net::SocketAddr,
    /// The gateway's directory: the SQLite database and the local blobs by default.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The EMR database: a postgres:// URL, or an SQLite file [default: DATA_DIR/emr.sqlite3].
    #[arg(long, env = "MEDCHAIN_GATEWAY_DATABASE")]
    pub database: Option<String>,
    /// The blob store: an s3:// URL (credentials from AWS_* variables) [default: DATA_DIR/blobs].
    #[arg(long, env = "MEDCHAIN_GATEWAY_BLOBS")]
    pub blobs: Option<String>,
    /// The URL patients and doctors reach the gateway at [default: http://LISTEN].
    #[arg(long)]
    pub public_url: Option<String>,
    /// Seconds to wait for finality of each of the gateway's transactions.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The most the hospital pays a patient for one access it serves under a consent; the
    /// chain refuses a served access whose consent asks more [default: the genesis
    /// access_reward_default, 0 on a chain without tokens].
    #[arg(long, value_name = "TOKENS")]
    pub max_access_reward: Option<u64>,
    /// Node and verification options (`--json`: the start-up line as JSON, with the bound
    /// address).
    #[command(flatten)]
    pub connection: Connection,
}

/// Where the node is and how to verify its answers.
#[derive(Debug, Args)]
pub struct Connection {
    /// The node's API URL.
    #[arg(long, env = "MEDCHAIN_NODE", default_value = "http://127.0.0.1:8400")]
    pub node: String,
    /// The chain's genesis document, the only thing trusted to verify answers
    /// [default: ./.devnet/genesis.json].
    #[arg(long, env = "MEDCHAIN_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of every query: where to ask, whether to keep the answer, how fresh it must be.
#[derive(Debug, Args)]
pub struct Reading {
    /// Node and verification options.
    #[command(flatten)]
    pub connection: Connection,
    /// Also write the node's whole answer (header, certificate, proof and the question) to
    /// FILE, for `medchain verify FILE` to check again later without a node.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// How current the answer must be.
    #[command(flatten)]
    pub freshness: Freshness,
}

/// Checking an answer against another validator's newest finalized block.
#[derive(Debug, Args)]
pub struct Freshness {
    /// Another validator's API URL: its newest finalized block (verified against your
    /// genesis) shows whether the answer is current. A query whose answer is more than
    /// --max-lag blocks behind it is refused.
    #[arg(long, env = "MEDCHAIN_CROSS_CHECK", value_name = "URL")]
    pub cross_check: Option<String>,
    /// How many blocks an answer may be behind the --cross-check node's newest block (about
    /// 2 blocks are finalized per second on an idle network).
    #[arg(long, default_value_t = 20, value_name = "BLOCKS")]
    pub max_lag: u64,
}

/// `medchain verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A file written by `medchain query … --save FILE`.
    pub file: PathBuf,
    /// The chain's genesis document, the only thing trusted [default: ./.devnet/genesis.json].
    #[arg(long, env = "MEDCHAIN_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also report how far the chain has moved since the answer.
    #[command(flatten)]
    pub freshness: Freshness,
}

/// Options of every command that signs and sends a transaction.
#[derive(Debug, Args)]
pub struct Sending {
    /// The signer's key file.
    #[arg(long, env = "MEDCHAIN_KEY")]
    pub key: PathBuf,
    /// Return once the node accepted the transaction instead of waiting for finality.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for finality.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The fee to pay [default: the least the chain's fee schedule accepts for this
    /// transaction's size]. More is selected sooner when the validators are busy.
    #[arg(long, value_name = "TOKENS")]
    pub fee: Option<u64>,
    /// Node and verification options.
    #[command(flatten)]
    pub connection: Connection,
}

/// Kinds of organisation, as typed on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    /// Releases records and runs a node.
    Hospital,
    /// Research institution.
    Research,
    /// Enterprise data owner.
    Enterprise,
    /// Cloud storage provider.
    Cloud,
}

impl From<KindArg> for OrgKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Hospital => Self::Hospital,
            KindArg::Research => Self::Research,
            KindArg::Enterprise => Self::Enterprise,
            KindArg::Cloud => Self::Cloud,
        }
    }
}

/// Purposes, as typed on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PurposeArg {
    /// Diagnosis and care.
    Treatment,
    /// A research study.
    Research,
    /// Billing and insurance.
    Billing,
    /// Public-health reporting.
    PublicHealth,
    /// Regulatory audit.
    Audit,
}

impl From<PurposeArg> for Purpose {
    fn from(purpose: PurposeArg) -> Self {
        match purpose {
            PurposeArg::Treatment => Self::Treatment,
            PurposeArg::Research => Self::Research,
            PurposeArg::Billing => Self::Billing,
            PurposeArg::PublicHealth => Self::PublicHealth,
            PurposeArg::Audit => Self::Audit,
        }
    }
}

/// `medchain org …`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organisation with you as its first member; it waits for the regulator's audit.
    Register {
        /// Organisation name (letters, digits, spaces, . _ -).
        #[arg(long)]
        name: OrgName,
        /// Kind of institution.
        #[arg(long, value_enum, default_value = "hospital")]
        kind: KindArg,
        #[command(flatten)]
        send: Sending,
    },
    /// Regulator: approve an audited organisation.
    Approve(OrgStateArgs),
    /// Regulator: suspend an organisation (its members can no longer act).
    Suspend(OrgStateArgs),
    /// Regulator: reinstate a suspended organisation.
    Reinstate(OrgStateArgs),
    /// Member: sign your consent for an address to join your organisation (prints the
    /// endorsement to hand to the new member; sends nothing).
    Endorse {
        /// Your organisation.
        #[arg(long)]
        name: OrgName,
        /// The address allowed to join.
        #[arg(long)]
        member: Address,
        /// Your key file.
        #[arg(long, env = "MEDCHAIN_KEY")]
        key: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Join an organisation with an endorsement from one of its members.
    Join {
        /// The organisation.
        #[arg(long)]
        name: OrgName,
        /// The member who endorsed you.
        #[arg(long)]
        endorser: Address,
        /// The endorsement hex printed by `medchain org endorse`.
        #[arg(long, value_parser = medchain_client::build::parse_signature)]
        endorsement: Signature,
        #[command(flatten)]
        send: Sending,
    },
    /// List the organisations in registration order, each verified.
    List(ListArgs),
    /// List an organisation's members, founder first, each verified.
    Members {
        /// The organisation.
        name: OrgName,
        #[command(flatten)]
        list: ListArgs,
    },
}

/// Arguments of the regulator's state changes.
#[derive(Debug, Args)]
pub struct OrgStateArgs {
    /// Organisation name.
    #[arg(long)]
    pub name: OrgName,
    #[command(flatten)]
    pub send: Sending,
}

/// `medchain record …`.
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Doctor: release a record about a patient. Only its SHA-256 (hEMR) and your signature go
    /// on chain; the record id printed is what the patient stores and shares.
    Release {
        /// The patient's address.
        #[arg(long)]
        patient: Address,
        /// The record (any file, e.g. a FHIR bundle).
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        send: Sending,
    },
    /// Patient: record where the encrypted copy of a record is stored.
    Store {
        /// The record id (from `record release`), or its first hex digits (at least 4).
        #[arg(long)]
        record: IdPrefix,
        /// The encrypted blob; its SHA-256 goes on chain.
        #[arg(long)]
        blob: PathBuf,
        /// Where the blob is kept, e.g. s3://bucket/key or file:///path.
        #[arg(long)]
        location: Uri,
        #[command(flatten)]
        send: Sending,
    },
    /// List a patient's records in release order, each verified.
    List {
        #[command(flatten)]
        whose: Whose,
        #[command(flatten)]
        list: ListArgs,
    },
}

/// `medchain consent …`.
// Parsed once per process: the size of an `Address` in one variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Patient: let a grantee access some of your records for one purpose until an expiry.
    Grant {
        /// Who may access.
        #[arg(long)]
        grantee: Address,
        /// A record id (or its first hex digits, at least 4); repeat for several (at most 64).
        #[arg(long = "record", required = true)]
        records: Vec<IdPrefix>,
        /// For what.
        #[arg(long, value_enum)]
        purpose: PurposeArg,
        #[command(flatten)]
        expiry: ExpiryArgs,
        /// Tokens each access under this consent pays you (the requester pays) [default: the
        /// chain's default access reward].
        #[arg(long, value_name = "TOKENS")]
        reward: Option<u64>,
        #[command(flatten)]
        send: Sending,
    },
    /// Patient: withdraw a consent you granted.
    Revoke {
        /// The consent id (from `consent grant`), or its first hex digits (at least 4).
        #[arg(long)]
        consent: IdPrefix,
        #[command(flatten)]
        send: Sending,
    },
    /// List a patient's consents in grant order (revoked ones too), each verified.
    List {
        #[command(flatten)]
        whose: Whose,
        #[command(flatten)]
        list: ListArgs,
    },
}

/// When a consent expires: exactly one of these. Times are compared with block timestamps
/// (the proposers' clocks); heights with block numbers.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ExpiryArgs {
    /// Valid for a duration from now: 90s, 45m, 12h, 30d, 2w.
    #[arg(long = "for", value_name = "DURATION", value_parser = medchain_client::build::parse_duration)]
    pub valid_for: Option<Duration>,
    /// Valid until a date: 2026-12-31 (00:00 UTC that day) or 2026-12-31T18:00:00Z.
    #[arg(long, value_name = "DATE", value_parser = medchain_client::build::parse_date)]
    pub until: Option<u64>,
    /// Valid until this unix time in milliseconds.
    #[arg(long, value_name = "MS")]
    pub until_ms: Option<u64>,
    /// Valid for this many blocks. Blocks are not a clock: an idle network finalizes about
    /// 2 per second (an empty block every 0.5 s), so 7200 blocks last about an hour, and
    /// fewer per second under load; prefer --for or --until for a time.
    #[arg(long, value_name = "BLOCKS")]
    pub for_blocks: Option<u64>,
    /// Valid below this block height.
    #[arg(long, value_name = "HEIGHT")]
    pub until_height: Option<u64>,
}

/// `medchain access …`.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Ask for access to a record; prints ALLOWED or DENIED and why. Either way it is logged
    /// in the patient's access log. Exits with status 3 when the chain denied the request.
    ///
    /// If a consent allows it, you pay the patient the consent's reward. The request names
    /// the most you pay: by default the reward of the consent as read (verified) now, so a
    /// patient who raises the price before the request executes gets the request refused, not
    /// your balance. The most you pay is printed.
    Request {
        /// The record id, or its first hex digits (at least 4).
        #[arg(long)]
        record: IdPrefix,
        /// Why you need it.
        #[arg(long, value_enum)]
        purpose: PurposeArg,
        /// The most you pay the patient if a consent allows the access (default: what the
        /// consent asks now).
        #[arg(long, value_name = "TOKENS")]
        max_reward: Option<u64>,
        #[command(flatten)]
        send: Sending,
    },
}

/// `medchain query …`.
#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// The chain's height and latest finalized block.
    Status(Reading),
    /// An organisation.
    Org {
        /// Its name.
        name: OrgName,
        #[command(flatten)]
        reading: Reading,
    },
    /// The threshold PKG: its threshold and public polynomial (P_pub first), set up by the
    /// validators' key generation (S3-setup).
    Pkg(Reading),
    /// An account's next nonce.
    Account {
        /// The address.
        address: Address,
        #[command(flatten)]
        reading: Reading,
    },
    /// The organisation an address belongs to.
    Member {
        /// The address.
        address: Address,
        #[command(flatten)]
        reading: Reading,
    },
    /// A released record.
    Record {
        /// The record id, or its first hex digits (at least 4).
        id: IdPrefix,
        #[command(flatten)]
        reading: Reading,
    },
    /// A record's storage pointer.
    Storage {
        /// The record id, or its first hex digits (at least 4).
        record: IdPrefix,
        #[command(flatten)]
        reading: Reading,
    },
    /// A consent.
    Consent {
        /// The consent id, or its first hex digits (at least 4).
        id: IdPrefix,
        #[command(flatten)]
        reading: Reading,
    },
    /// The consent (if any) covering a grantee, record and purpose.
    Grant {
        /// The grantee.
        grantee: Address,
        /// The record id, or its first hex digits (at least 4).
        record: IdPrefix,
        /// The purpose.
        #[arg(value_enum)]
        purpose: PurposeArg,
        #[command(flatten)]
        reading: Reading,
    },
    /// A patient's access log: who asked for which record, when, and the decision.
    AccessLog {
        /// The patient.
        patient: Address,
        /// First entry (from 0).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Entries to show (each is verified separately).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        reading: Reading,
    },
    /// A transaction's status and receipt.
    Tx {
        /// The transaction id, or its first hex digits (at least 4).
        id: IdPrefix,
        #[command(flatten)]
        reading: Reading,
    },
    /// A finalized block.
    Block {
        /// Its height.
        height: u64,
        #[command(flatten)]
        reading: Reading,
    },
}

/// Which page of a list to show, and how.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// First entry (from 0).
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Entries to show (1 to 100; page on with --from).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: u16,
    /// Show ids and addresses in full instead of their first 12 hex digits.
    #[arg(long)]
    pub long: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// Whose list: a patient's address, or a key file whose address is used.
#[derive(Debug, Args)]
pub struct Whose {
    /// The patient's address.
    #[arg(long)]
    pub patient: Option<Address>,
    /// The patient's key file (only its address is used; --patient wins over it, so an
    /// exported MEDCHAIN_KEY does not get in the way of looking at another patient).
    #[arg(long, env = "MEDCHAIN_KEY")]
    pub key: Option<PathBuf>,
}

// Tokens and staking (issue 11).

/// Whose tokens: an address, or a key file whose address is used.
#[derive(Debug, Args)]
pub struct Holder {
    /// The address.
    #[arg(long)]
    pub address: Option<Address>,
    /// A key file (only its address is used; --address wins over it).
    #[arg(long, env = "MEDCHAIN_KEY")]
    pub key: Option<PathBuf>,
}

/// `medchain token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// An account's tokens, verified: the balance (which pays fees, stakes and access rewards)
    /// and the coins (unspent outputs) locked to its key.
    #[command(
        after_help = "Example:\n  medchain token balance --key .devnet/accounts/patient-1.key"
    )]
    Balance {
        #[command(flatten)]
        holder: Holder,
        #[command(flatten)]
        connection: Connection,
    },
    /// Pay an address from your coins (the largest first, change back to you; the fee is what
    /// they pay beyond the amount) or, with --from-balance, from your account balance.
    #[command(
        after_help = "Examples:\n  medchain token send --key .devnet/regulator.key --to ADDRESS --amount 100000 --to-balance   # fund a new key's fees\n  medchain token send --key my.key --to ADDRESS --amount 250\n  medchain token send --key my.key --multisig 2:ADDR1,ADDR2,ADDR3 --amount 900 --unlock-at 2027-01-01"
    )]
    Send(SendArgs),
    /// Move some of your coins into your account balance, which pays fees, stakes and access
    /// rewards.
    #[command(after_help = "Example:\n  medchain token fund --key my.key --amount 5000")]
    Fund {
        /// How many tokens.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        amount: u64,
        #[command(flatten)]
        send: Sending,
    },
    /// An account's token history, oldest first, each entry verified: payments sent and
    /// received, access rewards, stakes, escrows and epoch rewards (fees are not listed; the
    /// balance shows them).
    History {
        #[command(flatten)]
        holder: Holder,
        #[command(flatten)]
        list: ListArgs,
    },
}

/// `medchain token send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The recipient.
    #[arg(long, required_unless_present = "multisig")]
    pub to: Option<Address>,
    /// How many tokens.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub amount: u64,
    /// Credit the recipient's account balance (which pays its fees) instead of giving it a coin.
    #[arg(long, conflicts_with_all = ["unlock_height", "unlock_at", "multisig"])]
    pub to_balance: bool,
    /// The coin can only be spent from this block height on.
    #[arg(long, value_name = "HEIGHT", conflicts_with = "unlock_at")]
    pub unlock_height: Option<u64>,
    /// The coin can only be spent from this date on: 2026-12-31 (00:00 UTC) or
    /// 2026-12-31T18:00:00Z.
    #[arg(long, value_name = "DATE", value_parser = medchain_client::build::parse_date)]
    pub unlock_at: Option<u64>,
    /// Lock the coin to K of these keys instead of to --to alone (a joint account): any K of
    /// them spend it together.
    #[arg(long, value_name = "K:ADDR,ADDR,…", conflicts_with = "to")]
    pub multisig: Option<crate::token::Multisig>,
    /// Pay from your account balance instead of your coins.
    #[arg(long)]
    pub from_balance: bool,
    #[command(flatten)]
    pub send: Sending,
}

/// A candidate's pool and an amount (`stake delegate`, `stake undelegate`).
#[derive(Debug, Args)]
pub struct PoolArgs {
    /// The candidate (its node key's address).
    #[arg(long)]
    pub candidate: Address,
    /// How many tokens.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub amount: u64,
    #[command(flatten)]
    pub send: Sending,
}

/// `medchain stake …`.
#[derive(Debug, Subcommand)]
pub enum StakeCommand {
    /// The validator candidates with their pools, and the validators of the current epoch,
    /// each verified.
    Candidates {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Bond tokens from your balance to a candidate's staking pool; the candidates with the
    /// most stake become the next epoch's validators.
    Delegate(PoolArgs),
    /// Start unbonding tokens' worth of your delegation to a candidate; `stake withdraw`
    /// returns them to your balance once the unbonding delay has passed (slashable until then).
    Undelegate(PoolArgs),
    /// Take back what you unbonded from a candidate, once its unbonding delay has passed.
    Withdraw {
        /// The candidate.
        #[arg(long)]
        candidate: Address,
        #[command(flatten)]
        send: Sending,
    },
    /// Node operator: register this node key as a validator candidate of an audited hospital,
    /// with the endorsement of one of its members (`medchain stake endorse`).
    #[command(
        after_help = "Example:\n  medchain stake register --key .devnet/node-4/validator.key --org \"Seoul General\" --p2p 127.0.0.1:9404 --endorser ADDRESS --endorsement HEX"
    )]
    Register {
        /// The hospital organisation the node runs for.
        #[arg(long)]
        org: OrgName,
        /// Where peers reach the node (host:port), once it is elected.
        #[arg(long)]
        p2p: PeerAddress,
        /// The member who endorsed the node.
        #[arg(long)]
        endorser: Address,
        /// The endorsement hex printed by `medchain stake endorse`.
        #[arg(long, value_parser = medchain_client::build::parse_signature)]
        endorsement: Signature,
        #[command(flatten)]
        send: Sending,
    },
    /// Member of an audited hospital: endorse a node key as your hospital's validator
    /// candidate (prints the endorsement to hand to the node's operator; sends nothing).
    Endorse {
        /// Your organisation.
        #[arg(long)]
        org: OrgName,
        /// The node key's address.
        #[arg(long)]
        candidate: Address,
        /// Your key file.
        #[arg(long, env = "MEDCHAIN_KEY")]
        key: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
}

// Licences, the revocation list and identities (issue 8).

/// `medchain licence …`.
#[derive(Debug, Subcommand)]
pub enum LicenceCommand {
    /// Hospital: license a doctor of your organisation until an expiry. Sign with the key of
    /// your organisation's enrolled hospital identity; the doctor must have enrolled.
    #[command(after_help = "Examples:
  medchain licence issue --key hospital.key --doctor dr-kim@seoul-general --expires 365d
  medchain licence issue --key hospital.key --doctor dr-kim@seoul-general --expires 2027-06-30")]
    Issue(LicenceArgs),
    /// Hospital: move a licence's expiry (later or earlier) — the licence becomes yours to
    /// revoke.
    #[command(after_help = "Examples:
  medchain licence renew --key hospital.key --doctor dr-kim@seoul-general --expires 730d
  medchain licence renew --key hospital.key --doctor dr-kim@seoul-general --expires 2026-12-31T18:00:00Z")]
    Renew(LicenceArgs),
    /// Show a doctor's licence, verified against a finalized block (exit status 4 if the
    /// doctor holds none: proven absent).
    #[command(after_help = "Examples:
  medchain licence show dr-kim@seoul-general
  medchain licence show dr-kim@seoul-general --json --save licence.json")]
    Show {
        /// The doctor's identity.
        doctor: IdentityName,
        #[command(flatten)]
        reading: Reading,
    },
}

/// Arguments of `licence issue` and `licence renew`.
#[derive(Debug, Args)]
pub struct LicenceArgs {
    /// The doctor's identity, as enrolled (e.g. dr-kim@seoul-general).
    #[arg(long)]
    pub doctor: IdentityName,
    /// Valid for a duration from now (90s, 45m, 12h, 30d, 2w) or until a date (2026-12-31,
    /// meaning 00:00 UTC that day, or 2026-12-31T18:00:00Z). Compared with block times.
    #[arg(long, value_name = "DURATION|DATE", value_parser = medchain_client::build::parse_deadline)]
    pub expires: ExpirySpec,
    #[command(flatten)]
    pub send: Sending,
}

/// `medchain revocation …`.
// Parsed once per process: the size of a `Reading` in one variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum RevocationCommand {
    /// Licensing hospital or regulator: put a doctor on the revocation list. A revoked doctor
    /// can no longer release records, whatever the licence says.
    #[command(after_help = "Examples:
  medchain revocation add --key hospital.key --doctor dr-kim@seoul-general
  medchain revocation add --key regulator.key --doctor dr-kim@seoul-general")]
    Add(RevocationArgs),
    /// Whoever revoked the doctor, or the regulator: take the doctor off the list.
    #[command(after_help = "Example:
  medchain revocation remove --key hospital.key --doctor dr-kim@seoul-general")]
    Remove(RevocationArgs),
    /// Check whether a doctor is revoked, with a proof verified against a finalized block:
    /// "not revoked" is an exclusion proof under that block's state root. Exits 0 if not
    /// revoked, 6 if revoked.
    #[command(after_help = "Examples:
  medchain revocation check dr-kim@seoul-general
  medchain revocation check dr-kim@seoul-general --at-height 1200
  medchain revocation check dr-kim@seoul-general --save not-revoked.json   # then: medchain verify not-revoked.json")]
    Check {
        /// The doctor's identity.
        doctor: IdentityName,
        /// Check the list as it was at this finalized height (the node must still hold its
        /// proofs) instead of the newest.
        #[arg(long, value_name = "HEIGHT")]
        at_height: Option<u64>,
        #[command(flatten)]
        reading: Reading,
    },
}

/// Arguments of `revocation add` and `revocation remove`.
#[derive(Debug, Args)]
pub struct RevocationArgs {
    /// The doctor's identity.
    #[arg(long)]
    pub doctor: IdentityName,
    #[command(flatten)]
    pub send: Sending,
}

/// `medchain identity …`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Show an identity (address, role, organisation, key part) by name, or the identity bound
    /// to an address, verified against a finalized block (exit status 4 if none: proven
    /// absent).
    #[command(after_help = "Examples:
  medchain identity show dr-kim@seoul-general
  medchain identity show --address 3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29")]
    Show(IdentityShowArgs),
    /// Bind an identity to your key on chain, then obtain its identity-based keys from t of
    /// the validators (none of whom holds the master key) and store them in your key file,
    /// encrypted. Patients enrol under their pseudonym `patient:<address>`; doctors and
    /// hospitals choose a name and must be members of an audited hospital.
    #[command(after_help = "Examples:
  medchain identity enrol --key patient.key --role patient
  medchain identity enrol --key doctor.key --role doctor --name dr-kim@seoul-general
  medchain identity enrol --key desk.key --role hospital --name seoul-general \\
      --pkg-node http://10.0.0.1:8400 --pkg-node http://10.0.0.2:8400 --pkg-node http://10.0.0.3:8400

Running it again after an interruption finishes the same enrolment.")]
    Enrol {
        /// Your role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The identity (doctors and hospitals; lowercase letters, digits and - . _ @ :).
        /// Patients take none: their identity is their pseudonym.
        #[arg(long, required_if_eq_any([("role", "doctor"), ("role", "hospital")]))]
        name: Option<IdentityName>,
        /// A validator's API to ask for a partial key; repeat it (at least the threshold
        /// many) [default: every validator of the network directory holding --genesis, e.g.
        /// the devnet's].
        #[arg(
            long = "pkg-node",
            value_name = "URL",
            env = "MEDCHAIN_PKG_NODES",
            value_delimiter = ','
        )]
        pkg_nodes: Vec<String>,
        #[command(flatten)]
        send: Sending,
    },
}

/// `medchain identity show`: exactly one of a name and an address.
#[derive(Debug, Args)]
#[group(id = "whom", required = true, multiple = false, args = ["name", "address"])]
pub struct IdentityShowArgs {
    /// The identity's name.
    pub name: Option<IdentityName>,
    /// An address: show the identity bound to it.
    #[arg(long)]
    pub address: Option<Address>,
    #[command(flatten)]
    pub reading: Reading,
}

// Hospital gateways: patients and doctors (issue 9).

/// Options of every `patient` and `doctor` command: whose key, which node, how long to wait.
#[derive(Debug, Args)]
pub struct Acting {
    /// Your key file (encrypted; its passphrase from MEDCHAIN_PASSPHRASE or the terminal).
    #[arg(long, env = "MEDCHAIN_KEY")]
    pub key: PathBuf,
    /// Seconds to wait for each transaction to be final.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Node and verification options.
    #[command(flatten)]
    pub connection: Connection,
}

/// `medchain patient …`.
// Parsed once per process: the size of one variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum PatientCommand {
    /// Enrol at a hospital (S3-agree, first visit): a key agreement with the hospital's
    /// gateway, authenticated both ways with identity keys, whose result — the factors every
    /// record key there derives from — is stored in your key file.
    #[command(
        after_help = "Example:\n  medchain patient enrol --key patient.key --hospital http://127.0.0.1:9101"
    )]
    Enrol {
        /// The hospital gateway's URL.
        #[arg(long, value_name = "URL")]
        hospital: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Your records at every hospital: listed from the chain (verified), each fetched from the
    /// hospital's gateway, decrypted with its record key and checked against hEMR on chain.
    /// Exits 1 if any record could not be fetched or does not check.
    #[command(after_help = "Example:\n  medchain patient records --key patient.key --out records/")]
    Records {
        /// Write each verified record to DIR/<record id>.json.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        acting: Acting,
    },
    /// File your encrypted EMR entry for a record (S3-entry): what a doctor who treats you in
    /// an emergency opens with your biometric template to find the record. On a chain with MED
    /// it goes through the hospital's gateway onto MED, signed with your BLS key (registered on
    /// SUP first if needed), and is final once SUP checkpoints its Mblock; otherwise you file it
    /// on SUP.
    #[command(
        after_help = "Example:\n  medchain patient entry --key patient.key --record 3fa2 --template thumb.bin --keywords diabetes,insulin"
    )]
    Entry {
        /// The record id, or its first hex digits (at least 4).
        #[arg(long)]
        record: IdPrefix,
        /// The biometric template (at least 16 bytes). A real deployment derives it with a
        /// fuzzy extractor: two scans of one finger never give the same bytes.
        #[arg(long, value_name = "FILE")]
        template: PathBuf,
        /// Keywords an emergency doctor sees once the entry opens, comma separated.
        #[arg(long, value_delimiter = ',')]
        keywords: Vec<String>,
        /// On a chain with MED: the gateway that files the entry [default: the gateway of the
        /// hospital holding the record, from your key file].
        #[arg(long, value_name = "URL")]
        gateway: Option<String>,
        /// On a chain with MED: return once the gateway queued the entry ("pending on MED")
        /// instead of waiting until SUP checkpointed it.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        acting: Acting,
    },
    /// Consent on chain: grant, revoke, list (the same as `medchain consent …`).
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Authorise a doctor for one record (S3-share): answers the doctor's agreement hello,
    /// grants the on-chain consent for the purpose, and writes the grant file to hand back.
    #[command(
        after_help = "Example:\n  medchain patient authorize --key patient.key --hello ask.json --record 3fa2 --purpose treatment --expires 1h --out grant.json"
    )]
    Authorize {
        /// The doctor's hello (written by `medchain doctor ask`).
        #[arg(long, value_name = "FILE")]
        hello: PathBuf,
        /// The record id, or its first hex digits (at least 4).
        #[arg(long)]
        record: IdPrefix,
        /// For what the doctor may use it.
        #[arg(long, value_enum)]
        purpose: PurposeArg,
        /// Until when: a duration (90s, 45m, 12h, 30d) or a date (2026-12-31).
        #[arg(long, value_name = "DURATION|DATE", value_parser = medchain_client::build::parse_deadline)]
        expires: ExpirySpec,
        /// Where to write the grant file for the doctor (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        acting: Acting,
    },
    /// File your nullifier key on chain (once): the public half of a secret derived from your
    /// chain key, which hospitals put into the commitments they attest for your records and
    /// every enrolment proof opens. `patient enrol` files it too when it is missing.
    #[command(after_help = "Example:\n  medchain patient nullifier-key --key patient.key")]
    NullifierKey {
        #[command(flatten)]
        acting: Acting,
    },
    /// The open studies your attested records qualify for (S4-flow): every study read from the
    /// chain (verified), the openings of your records fetched from their hospitals' gateways,
    /// and each predicate evaluated on this machine — nothing about your records is sent.
    #[command(after_help = "Example:\n  medchain patient studies --key patient.key")]
    Studies {
        #[command(flatten)]
        acting: Acting,
    },
    /// Enrol in a study (S4-flow, S4-exclusive): prove in zero knowledge that one of your
    /// attested records satisfies its predicate, file the enrolment from a one-time address
    /// derived for this study (the reward is paid to it and pays its fee), then hand the record,
    /// encrypted, and one sealed key fragment to each of the study's cloud proxies.
    #[command(
        after_help = "Example:\n  medchain patient enrol-study --key patient.key --study 8c3a"
    )]
    EnrolStudy {
        /// The study id (from `medchain patient studies`), or its first hex digits (at least 4).
        #[arg(long)]
        study: IdPrefix,
        /// Which of your records to enrol with [default: the first one that qualifies].
        #[arg(long)]
        record: Option<IdPrefix>,
        /// The circuit's proving key [default: zk/proving-key.bin beside the genesis document,
        /// where `medchain devnet` puts it]. Checked against the digest the regulator
        /// registered before it is used.
        #[arg(long, value_name = "FILE", env = "MEDCHAIN_PROVING_KEY")]
        proving_key: Option<PathBuf>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Take the owed rest of your reward in a study, once the researcher acknowledged your
    /// record (or the study's dispute window passed without a dispute). Signed by the study's
    /// one-time enrolment key, derived again from your key; the claim's fee is paid from it.
    #[command(after_help = "Example:\n  medchain patient claim --key patient.key --study 8c3a")]
    Claim {
        /// The study id, or its first hex digits (at least 4).
        #[arg(long)]
        study: IdPrefix,
        #[command(flatten)]
        acting: Acting,
    },
    /// Every access to your records — allowed, denied and break-glass — from your access log
    /// on chain, each entry verified.
    History {
        #[command(flatten)]
        acting: Acting,
    },
    /// Emergency (break-glass) requests naming your records, from the chain, each verified.
    Notifications {
        #[command(flatten)]
        acting: Acting,
    },
    /// Follow the MED chain as a light node (headers only, proof of work checked, SUP
    /// checkpoints verified) and verify each of your records against it.
    #[command(
        after_help = "Example:\n  medchain patient sync --key patient.key --node http://127.0.0.1:8400"
    )]
    Sync {
        /// Where the synced headers are kept between runs [default: medchain-med-headers.bin
        /// beside the key file].
        #[arg(long, value_name = "FILE")]
        headers: Option<PathBuf>,
        #[command(flatten)]
        acting: Acting,
    },
}

/// `medchain doctor …`.
#[derive(Debug, Subcommand)]
pub enum DoctorCommand {
    /// Write a record (a FHIR R4 bundle) through your hospital's gateway: you sign its release
    /// (hEMR on chain); the gateway checks, encrypts and stores it for the patient.
    #[command(
        after_help = "Example:\n  medchain doctor write --key doctor.key --hospital http://127.0.0.1:9101 --patient 3b6a… --fhir-patient Patient/123 --bundle visit.json"
    )]
    Write {
        /// Your hospital gateway's URL.
        #[arg(long, value_name = "URL")]
        hospital: String,
        /// The patient's address (enrolled at this hospital).
        #[arg(long)]
        patient: Address,
        /// The patient's reference inside the bundle (Patient/<id> or urn:uuid:…).
        #[arg(long, value_name = "REFERENCE")]
        fhir_patient: String,
        /// The FHIR R4 JSON bundle.
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        #[command(flatten)]
        acting: Acting,
    },
    /// Start a key agreement with a patient (S3-agree): writes the hello to hand to the
    /// patient to FILE, and your side of it, encrypted, to FILE.state (mode 0600).
    #[command(
        after_help = "Example:\n  medchain doctor ask --key doctor.key --patient 3b6a… --out ask.json"
    )]
    Ask {
        /// The patient's address.
        #[arg(long)]
        patient: Address,
        /// Where to write the hello (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        acting: Acting,
    },
    /// Fetch the record a patient's grant file authorises (S3-share): your licence from your
    /// own hospital's gateway, the request to the holding hospital's, then decrypt and check
    /// the record against hEMR on chain. A refusal exits 7 with its reason.
    #[command(
        after_help = "Example:\n  medchain doctor fetch --key doctor.key --grant grant.json --hospital http://127.0.0.1:9102 --out record.json"
    )]
    Fetch {
        /// The patient's grant file (from `medchain patient authorize`).
        #[arg(long, value_name = "FILE")]
        grant: PathBuf,
        /// Your own hospital gateway's URL (it signs your licence).
        #[arg(long, value_name = "URL")]
        hospital: String,
        /// Your side of the agreement [default: the file `doctor ask` wrote, as the grant names it].
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Where to write the record (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        acting: Acting,
    },
    /// Break the glass (S3-emergency): open the patient's EMR entry with their biometric
    /// template, have your hospital file the emergency request (vouched by you and it), and
    /// fetch the record from the hospital that holds it. The patient is notified. Exits 8 if
    /// no entry opens with the template, 7 if the holder refuses.
    #[command(
        after_help = "Example:\n  medchain doctor emergency --key doctor.key --patient 3b6a… --template thumb.bin --hospital http://127.0.0.1:9102 --gateway http://127.0.0.1:9101 --out record.json"
    )]
    Emergency {
        /// The patient's address.
        #[arg(long)]
        patient: Address,
        /// The patient's biometric template.
        #[arg(long, value_name = "FILE")]
        template: PathBuf,
        /// Your own hospital gateway's URL (it files and co-signs the request).
        #[arg(long, value_name = "URL")]
        hospital: String,
        /// The gateway of the hospital holding the record.
        #[arg(long, value_name = "URL")]
        gateway: String,
        /// Where to write the record (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        acting: Acting,
    },
}

// The research market (issue 12).

/// `medchain zk …`.
#[derive(Debug, Subcommand)]
pub enum ZkCommand {
    /// Trusted setup of the eligibility circuit for a shape: writes the proving key, the
    /// verifying key and `circuit.json` (shape and both SHA-256 digests) to DIR. Whoever runs
    /// it could forge proofs: the regulator runs it (or a ceremony replaces it) and registers
    /// the verifying key with `medchain research register-circuit`.
    #[command(
        after_help = "Example:\n  medchain zk setup --out zk\n  medchain research register-circuit --key regulator.key --circuit zk"
    )]
    Setup(ZkSetupArgs),
}

/// `medchain zk setup`.
#[derive(Debug, Args)]
pub struct ZkSetupArgs {
    /// The directory to write the keys to (created; existing key files are never overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Attributes per record [default: those of the schema clinical_v1, 37].
    #[arg(long)]
    pub attributes: Option<u32>,
    /// Clause slots: the most clauses a study's predicate may have.
    #[arg(long, default_value_t = crate::circuit::DEFAULT_CLAUSES)]
    pub clauses: u16,
    /// None-of slots: the most exclusion clauses (`icd10 != E11`) a predicate may have.
    #[arg(long, default_value_t = crate::circuit::DEFAULT_EXCLUSIONS)]
    pub exclusions: u16,
    /// Print machine-readable JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `medchain research …`.
// Parsed once per process: the size of one variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ResearchCommand {
    /// Regulator: register a circuit's verifying key (written by `medchain zk setup`) and its
    /// proving key's digest; studies name it, enrolments are verified against it.
    #[command(
        after_help = "Example:\n  medchain research register-circuit --key regulator.key --circuit zk"
    )]
    RegisterCircuit {
        /// The directory `medchain zk setup` wrote.
        #[arg(long, value_name = "DIR")]
        circuit: PathBuf,
        #[command(flatten)]
        send: Sending,
    },
    /// Member of an audited research organisation: publish a study — its predicate, reward
    /// per patient, number of patients, deadline, exclusivity and cloud proxies. Fund it
    /// (`research fund`) before patients can enrol; they see it in `medchain patient studies`.
    #[command(after_help = "Example:
  medchain research publish --key researcher.key --title \"T2D and HbA1c\" \\
      --predicate \"age in 40..=75 and icd10 == E11 and hba1c >= 6.5\" \\
      --reward 500 --participants 10 --deadline 7d")]
    Publish(PublishArgs),
    /// The study's researcher: move tokens from your balance into the study's pool, which
    /// pays each enrolment's reward.
    #[command(
        after_help = "Example:\n  medchain research fund --key researcher.key --study 8c3a --amount 5000"
    )]
    Fund {
        /// The study id, or its first hex digits (at least 4).
        #[arg(long)]
        study: IdPrefix,
        /// How many tokens.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        amount: u64,
        #[command(flatten)]
        send: Sending,
    },
    /// Every published study in publication order, each verified.
    List(ListArgs),
    /// A study, verified: its predicate, reward, pool, participants, deadline, exclusivity
    /// and proxies.
    Show {
        /// The study id, or its first hex digits (at least 4).
        study: IdPrefix,
        #[command(flatten)]
        reading: Reading,
    },
    /// A study's enrolments, each verified, with how many proxies re-encrypted each one.
    Results {
        /// The study id, or its first hex digits (at least 4).
        study: IdPrefix,
        #[command(flatten)]
        list: ListArgs,
    },
    /// The study's researcher: fetch an enrolment's encrypted record from the study's proxies,
    /// collect t verified re-encryptions, decrypt, check the record against the enrolment's
    /// delivery tag (the record the patient's proof is about), and write it. A proxy that is
    /// down or answers a corrupted fragment is named and skipped; a record that does not match
    /// is not written (dispute the enrolment).
    #[command(
        after_help = "Example:\n  medchain research read --key researcher.key --enrolment 0e77 --out record.json"
    )]
    Read {
        /// The enrolment id (from `medchain research results`), or its first hex digits.
        #[arg(long)]
        enrolment: IdPrefix,
        /// Where to write the record (never overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        acting: Acting,
    },
    /// The study's researcher, after the deadline: return what is left in the pool to your
    /// balance (rewards still owed to enrolments stay).
    Refund {
        /// The study id, or its first hex digits (at least 4).
        #[arg(long)]
        study: IdPrefix,
        #[command(flatten)]
        send: Sending,
    },
    /// The study's researcher: confirm that an enrolment's record matched what the patient
    /// proved (`research read` checked it); the patient may then claim the rest of its reward.
    #[command(
        after_help = "Example:\n  medchain research acknowledge --key researcher.key --enrolment 0e77"
    )]
    Acknowledge {
        /// The enrolment id, or its first hex digits (at least 4).
        #[arg(long)]
        enrolment: IdPrefix,
        #[command(flatten)]
        send: Sending,
    },
    /// The study's researcher: dispute an enrolment whose record did not match what the
    /// patient proved (or never arrived), before the study's dispute window ends; its owed
    /// reward is frozen until the regulator resolves the dispute.
    #[command(
        after_help = "Example:\n  medchain research dispute --key researcher.key --enrolment 0e77"
    )]
    Dispute {
        /// The enrolment id, or its first hex digits (at least 4).
        #[arg(long)]
        enrolment: IdPrefix,
        #[command(flatten)]
        send: Sending,
    },
    /// Regulator: settle a disputed enrolment — pay its owed reward to the patient, or return
    /// it to the study's pool.
    #[command(
        after_help = "Example:\n  medchain research resolve --key regulator.key --enrolment 0e77 --decision return"
    )]
    Resolve {
        /// The enrolment id, or its first hex digits (at least 4).
        #[arg(long)]
        enrolment: IdPrefix,
        /// Pay the patient, or return the owed reward to the study's pool.
        #[arg(long, value_enum)]
        decision: Decision,
        #[command(flatten)]
        send: Sending,
    },
}

/// How the regulator settles a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Decision {
    /// The delivery was right: the patient may claim its owed reward.
    Pay,
    /// The delivery was wrong: the owed reward returns to the study's pool.
    Return,
}

/// `medchain research publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A title patients see (at most 128 bytes).
    #[arg(long)]
    pub title: String,
    /// Who qualifies, in the `zk` text form over the schema's attributes, e.g.
    /// "age in 40..=75 and icd10 == E11 and hba1c >= 6.5" (crates/zk/README.md).
    #[arg(long)]
    pub predicate: String,
    /// Tokens each enrolled patient receives from the pool (at least an enrolment's fee: that
    /// part is paid at once, the rest once you acknowledge the record).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub reward: u64,
    /// The most patients the study enrols.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub participants: u32,
    /// Enrolment closes after a duration (90s, 45m, 12h, 30d) or at a date (2026-12-31).
    /// Compared with block times.
    #[arg(long, value_name = "DURATION|DATE", value_parser = medchain_client::build::parse_deadline)]
    pub deadline: ExpirySpec,
    /// How long after the deadline you may still dispute a delivery (90s, 45m, 12h, 30d; at
    /// most 30 days). Each enrolment is paid an advance covering its fee at once; the rest
    /// is owed until you acknowledge its record, or this window passes without a dispute.
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = medchain_client::build::parse_duration)]
    pub dispute_window: std::time::Duration,
    /// Buy an exclusive licence (S4-exclusive): a record enrolled here can be sold to no
    /// other study, and a record shared before is refused.
    #[arg(long)]
    pub exclusive: bool,
    /// A cloud proxy's URL; repeat for each (1 to 8). Each must be registered on chain
    /// [default: the proxies `medchain devnet` runs beside the genesis document].
    #[arg(
        long = "proxy",
        value_name = "URL",
        env = "MEDCHAIN_PROXIES",
        value_delimiter = ','
    )]
    pub proxies: Vec<String>,
    /// How many proxies must re-encrypt for the researcher to read a record [default: a
    /// majority of the proxies].
    #[arg(long)]
    pub threshold: Option<u8>,
    /// The circuit: the directory `medchain zk setup` wrote [default: zk/ beside the genesis
    /// document, the devnet's].
    #[arg(long, value_name = "DIR")]
    pub circuit: Option<PathBuf>,
    #[command(flatten)]
    pub send: Sending,
}

/// `medchain cloud`.
#[derive(Debug, Args)]
pub struct CloudArgs {
    /// The proxy's chain key file: a member of an audited cloud organisation.
    #[arg(long, env = "MEDCHAIN_KEY")]
    pub key: PathBuf,
    /// Where to serve the proxy's API.
    #[arg(long, default_value = "127.0.0.1:9201")]
    pub listen: std::net::SocketAddr,
    /// The proxy's directory: its encryption key (made on first start), the records and key
    /// fragments it holds.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The URL patients and researchers reach the proxy at, registered on chain [default:
    /// http://LISTEN].
    #[arg(long)]
    pub public_url: Option<String>,
    /// Node and verification options.
    #[command(flatten)]
    pub connection: Connection,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    const ADDRESS: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["medchain"].iter().chain(args))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The devnet runs MED unless `--no-med` asks for the consortium chain alone.
    #[test]
    fn the_devnet_runs_med_unless_told_not_to() {
        let no_med = |args: &[&str]| match parse(args).unwrap().command {
            Command::Devnet(devnet) => devnet.no_med,
            other => panic!("not devnet: {other:?}"),
        };
        assert!(!no_med(&["devnet"]));
        assert!(no_med(&["devnet", "--no-med"]));
    }

    #[test]
    fn patient_commands_parse_as_documented() {
        let cli = parse(&[
            "patient",
            "authorize",
            "--key",
            "p.key",
            "--hello",
            "ask.json",
            "--record",
            "3fa2",
            "--purpose",
            "treatment",
            "--expires",
            "1h",
            "--out",
            "grant.json",
            "--json",
        ])
        .unwrap();
        let Command::Patient(PatientCommand::Authorize {
            purpose,
            expires,
            acting,
            ..
        }) = cli.command
        else {
            panic!("not patient authorize");
        };
        assert!(matches!(purpose, PurposeArg::Treatment));
        assert_eq!(expires, ExpirySpec::For(Duration::from_secs(3600)));
        assert!(acting.connection.json);
        assert_eq!(acting.timeout, 60);

        let entry = |extra: &[&str]| {
            let mut args = vec![
                "patient",
                "entry",
                "--key",
                "p.key",
                "--record",
                "3fa2",
                "--template",
                "t.bin",
            ];
            args.extend_from_slice(extra);
            match parse(&args).unwrap().command {
                Command::Patient(PatientCommand::Entry {
                    keywords,
                    gateway,
                    no_wait,
                    ..
                }) => (keywords, gateway, no_wait),
                other => panic!("not patient entry: {other:?}"),
            }
        };
        let (keywords, gateway, no_wait) = entry(&["--keywords", "diabetes,insulin"]);
        assert_eq!(keywords, ["diabetes", "insulin"]);
        assert_eq!((gateway, no_wait), (None, false));
        let (_, gateway, no_wait) = entry(&["--gateway", "http://127.0.0.1:9101", "--no-wait"]);
        assert_eq!(gateway.as_deref(), Some("http://127.0.0.1:9101"));
        assert!(no_wait);

        for args in [
            &[
                "patient",
                "enrol",
                "--key",
                "p.key",
                "--hospital",
                "http://127.0.0.1:9101",
            ][..],
            &["patient", "records", "--key", "p.key", "--out", "dir"],
            &["patient", "history", "--key", "p.key"],
            &["patient", "notifications", "--key", "p.key", "--json"],
            &[
                "patient",
                "consent",
                "revoke",
                "--key",
                "p.key",
                "--consent",
                "0c5e",
            ],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn doctor_commands_parse_as_documented() {
        for args in [
            &[
                "doctor",
                "write",
                "--key",
                "d.key",
                "--hospital",
                "http://127.0.0.1:9101",
                "--patient",
                ADDRESS,
                "--fhir-patient",
                "Patient/1",
                "--bundle",
                "b.json",
            ][..],
            &[
                "doctor",
                "ask",
                "--key",
                "d.key",
                "--patient",
                ADDRESS,
                "--out",
                "ask.json",
            ],
            &[
                "doctor",
                "fetch",
                "--key",
                "d.key",
                "--grant",
                "g.json",
                "--hospital",
                "http://127.0.0.1:9102",
                "--out",
                "r.json",
            ],
            &[
                "doctor",
                "emergency",
                "--key",
                "d.key",
                "--patient",
                ADDRESS,
                "--template",
                "t.bin",
                "--hospital",
                "http://127.0.0.1:9102",
                "--gateway",
                "http://127.0.0.1:9101",
                "--out",
                "r.json",
            ],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        let Command::Doctor(DoctorCommand::Fetch { state, .. }) = parse(&[
            "doctor",
            "fetch",
            "--key",
            "d.key",
            "--grant",
            "g.json",
            "--hospital",
            "h",
            "--out",
            "r.json",
            "--state",
            "ask.json.state",
        ])
        .unwrap()
        .command
        else {
            panic!("not doctor fetch");
        };
        assert_eq!(state, Some(PathBuf::from("ask.json.state")));
    }

    #[test]
    fn token_and_stake_commands_parse_as_documented() {
        use clap::error::ErrorKind;
        let send = |extra: &[&str]| {
            let mut args = vec!["token", "send", "--key", "k.key", "--amount", "5"];
            args.extend(extra);
            parse(&args)
        };
        let Command::Token(TokenCommand::Send(args)) =
            send(&["--to", ADDRESS, "--to-balance", "--fee", "400"])
                .unwrap()
                .command
        else {
            panic!("not token send");
        };
        assert!(args.to_balance && !args.from_balance);
        assert_eq!(args.send.fee, Some(400));
        let multisig = format!("2:{ADDRESS},{}", ADDRESS.replace('3', "4"));
        let Command::Token(TokenCommand::Send(args)) =
            send(&["--multisig", &multisig, "--unlock-at", "2027-01-01"])
                .unwrap()
                .command
        else {
            panic!("not token send");
        };
        assert!(args.to.is_none() && args.multisig.is_some() && args.unlock_at.is_some());
        let kind = |args: Result<Cli, clap::Error>| args.err().map(|e| e.kind());
        // Whom to pay: --to or --multisig, not both, not neither.
        assert_eq!(kind(send(&[])), Some(ErrorKind::MissingRequiredArgument));
        assert_eq!(
            kind(send(&["--to", ADDRESS, "--multisig", &multisig])),
            Some(ErrorKind::ArgumentConflict)
        );
        // A balance credit has no lock.
        assert_eq!(
            kind(send(&[
                "--to",
                ADDRESS,
                "--to-balance",
                "--unlock-height",
                "9"
            ])),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            kind(send(&["--multisig", &format!("3:{ADDRESS}")])),
            Some(ErrorKind::ValueValidation)
        );
        // Nothing moves zero tokens.
        let zero = [
            "stake",
            "delegate",
            "--key",
            "k",
            "--candidate",
            ADDRESS,
            "--amount",
            "0",
        ];
        assert_eq!(kind(parse(&zero)), Some(ErrorKind::ValueValidation));
        let register = parse(&[
            "stake",
            "register",
            "--key",
            "node.key",
            "--org",
            "Seoul General",
            "--p2p",
            "127.0.0.1:9404",
            "--endorser",
            ADDRESS,
            "--endorsement",
            &"ab".repeat(64),
        ]);
        assert!(
            matches!(
                register.map(|cli| cli.command),
                Ok(Command::Stake(StakeCommand::Register { .. }))
            ),
            "stake register does not parse"
        );
        let history = parse(&["token", "history", "--address", ADDRESS, "--limit", "5"]).unwrap();
        assert!(matches!(
            history.command,
            Command::Token(TokenCommand::History { .. })
        ));
        let init = parse(&[
            "init",
            "--out",
            "net",
            "--standby",
            "1",
            "--epoch-length",
            "30",
        ]);
        let Command::Init(init) = init.unwrap().command else {
            panic!("not init");
        };
        assert_eq!(init.economy.fees, FeesArg::Default);
        assert_eq!(
            (init.economy.standby, init.economy.epoch_length),
            (1, Some(30))
        );
    }

    #[test]
    fn missing_or_malformed_arguments_are_usage_errors() {
        use clap::error::ErrorKind;
        let kind = |args: &[&str]| parse(args).err().map(|e| e.kind());
        // No holder gateway for an emergency.
        assert_eq!(
            kind(&[
                "doctor",
                "emergency",
                "--key",
                "d.key",
                "--patient",
                ADDRESS,
                "--template",
                "t.bin",
                "--hospital",
                "h",
                "--out",
                "r.json",
            ]),
            Some(ErrorKind::MissingRequiredArgument)
        );
        // Not an address.
        assert_eq!(
            kind(&[
                "doctor",
                "ask",
                "--key",
                "d.key",
                "--patient",
                "bob",
                "--out",
                "a.json"
            ]),
            Some(ErrorKind::ValueValidation)
        );
        // Not a duration or a date.
        assert_eq!(
            kind(&[
                "patient",
                "authorize",
                "--key",
                "p.key",
                "--hello",
                "a.json",
                "--record",
                "3fa2",
                "--purpose",
                "treatment",
                "--expires",
                "soon",
                "--out",
                "g.json",
            ]),
            Some(ErrorKind::ValueValidation)
        );
        // Not a purpose.
        assert_eq!(
            kind(&[
                "patient",
                "authorize",
                "--key",
                "p.key",
                "--hello",
                "a.json",
                "--record",
                "3fa2",
                "--purpose",
                "curiosity",
                "--expires",
                "1h",
                "--out",
                "g.json",
            ]),
            Some(ErrorKind::InvalidValue)
        );
        // A record id prefix is at least 4 hex digits.
        assert_eq!(
            kind(&[
                "patient",
                "entry",
                "--key",
                "p.key",
                "--record",
                "3f",
                "--template",
                "t",
            ]),
            Some(ErrorKind::ValueValidation)
        );
    }
}
