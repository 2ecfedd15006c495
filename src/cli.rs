//! The command line: every subcommand, its arguments and its `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use medchain_api::IdPrefix;
use medchain_client::build::ExpirySpec;
use medchain_types::{Address, IdentityName, OrgKind, OrgName, Purpose, Role, Signature, Uri};
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
}

/// `medchain hospital`.
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
    /// Node and verification options.
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
    #[arg(long, value_name = "DATE", value_parser = crate::time::parse_date)]
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
    Request {
        /// The record id, or its first hex digits (at least 4).
        #[arg(long)]
        record: IdPrefix,
        /// Why you need it.
        #[arg(long, value_enum)]
        purpose: PurposeArg,
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
    #[arg(long, value_name = "DURATION|DATE", value_parser = crate::time::parse_deadline)]
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
