//! What `medchain patient` and `medchain doctor` share: the key file with its identity keys and
//! wallet, taka's public parameters and identities read from the chain (verified), hospital
//! gateways and new files.

use crate::{cli::Acting, connect, error::CliError, ids, output};
use medchain_api::IdPrefix;
use medchain_client::{
    Client, FinalizedHeader, ListQuery, Listed, Sent, StateQuery, WaitPolicy,
    keys::{self, Confirm, KeyError},
};
use medchain_gateway::{
    client::GatewayClient,
    doctor::{self, DoctorError},
    patient,
};
use medchain_state::values::{IdentityRecord, Record};
use medchain_types::{
    Address, IdentityName, OrgName, Payload, PrivateKey, RecordId, Role,
    keyfile::{HospitalLink, KeyFile, KeyMaterial, Wallet},
};
use rand_core_06::OsRng;
use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    time::Duration,
};
use taka::{EntityKeys, Identity, PublicParams};
use zeroize::Zeroizing;

/// The operating system's randomness, as taka takes it (rand_core 0.6).
pub fn rng() -> OsRng {
    OsRng
}

/// An opened key file that holds identity keys: the chain key, the identity keys, the wallet,
/// and the passphrase to seal it again after the wallet changes.
pub struct Holder {
    path: PathBuf,
    passphrase: Zeroizing<String>,
    /// What the file holds.
    pub material: KeyMaterial,
}

impl Holder {
    /// Opens `path`, which must be encrypted: identity keys and a wallet are never stored in
    /// clear.
    pub fn open(path: &Path) -> Result<Self, CliError> {
        let KeyFile::Encrypted(file) = keys::read_key_file(path)? else {
            return Err(KeyError::NotEncrypted(path.to_path_buf()).into());
        };
        let passphrase = keys::ask_passphrase(path, Confirm::Once)?;
        let material =
            keys::open_key_file(path, KeyFile::Encrypted(file), |_| Ok(passphrase.clone()))?;
        Ok(Self {
            path: path.to_path_buf(),
            passphrase,
            material,
        })
    }

    /// The chain address.
    pub fn address(&self) -> Address {
        self.material.address()
    }

    /// The identity-based keys, checked against the chain's P_pub.
    pub fn entity_keys(&self, params: &PublicParams) -> Result<EntityKeys, CliError> {
        let bytes = self.material.entity_keys.as_ref().ok_or_else(|| {
            CliError::Usage(format!(
                "{} holds no identity keys: run `medchain identity enrol --key {}` first",
                self.path.display(),
                self.path.display()
            ))
        })?;
        Ok(EntityKeys::from_bytes(params, bytes)?)
    }

    /// Seals the material (with its changed wallet) back into the key file, atomically.
    pub fn save(&self) -> Result<(), CliError> {
        Ok(keys::replace_key_file(
            &self.path,
            &self.material,
            &self.passphrase,
        )?)
    }
}

/// taka's public parameters (P_pub) from the chain's threshold PKG, verified.
pub fn params(client: &Client) -> Result<PublicParams, CliError> {
    doctor::public_params(client).map_err(|error| explain(client, error))
}

/// A verified read, with chain mismatches explained.
pub fn read<V: medchain_state::StateValue>(
    client: &Client,
    query: &StateQuery<V>,
) -> Result<Option<V>, CliError> {
    Ok(client
        .read(query)
        .map_err(|error| connect::explain(client, error))?
        .value)
}

/// The enrolled identity `name` (verified), which must have `role`.
pub fn identity(
    client: &Client,
    name: &IdentityName,
    role: Role,
) -> Result<IdentityRecord, CliError> {
    doctor::identity(client, name, role).map_err(|error| explain(client, error))
}

/// The identity bound to `address` (verified), which must have `role`.
pub fn identity_of(
    client: &Client,
    address: &Address,
    role: Role,
) -> Result<IdentityRecord, CliError> {
    doctor::identity_of(client, address, role).map_err(|error| explain(client, error))
}

/// The taka identity of an enrolled name.
pub fn taka_identity(name: &IdentityName) -> Result<Identity, CliError> {
    Ok(Identity::new(name.as_str())?)
}

/// The released record `id` (verified).
pub fn record(client: &Client, id: &RecordId) -> Result<Record, CliError> {
    read(client, &StateQuery::record(id))?.ok_or_else(|| {
        CliError::NotFound(format!(
            "no record {id} is released on chain (proven absent)"
        ))
    })
}

/// The 32 bytes of a transaction-derived id, as TAKA carries it: htxM for a record id, htxU
/// for an emergency id.
pub fn id_bytes(id: &[u8]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(id);
    bytes
}

/// A client for the gateway at `url`.
pub fn gateway(url: &str) -> Result<GatewayClient, CliError> {
    Ok(GatewayClient::new(url)?)
}

/// Refuses an output file that exists, before the command does anything (files are never
/// overwritten).
pub fn must_not_exist(path: &Path) -> Result<(), CliError> {
    if path.exists() {
        return Err(exists(path));
    }
    Ok(())
}

fn exists(path: &Path) -> CliError {
    CliError::Usage(format!(
        "{} exists already; choose another --out (nothing is overwritten)",
        path.display()
    ))
}

/// Writes a new file (never replacing one) with `mode`, synced to disk.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => exists(path),
            _ => CliError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(CliError::io(path))
}

/// How long a command waits for its transactions (`--timeout`).
pub fn wait_policy(acting: &Acting) -> WaitPolicy {
    WaitPolicy {
        timeout: Duration::from_secs(acting.timeout),
        ..WaitPolicy::default()
    }
}

/// Sends `payload` as `key`'s account and waits for it to be final (verified).
pub fn send(
    client: &Client,
    key: &PrivateKey,
    payload: Payload,
    acting: &Acting,
) -> Result<Sent, CliError> {
    client
        .signer(key.clone())
        .send(payload, Some(&wait_policy(acting)))
        .map_err(|error| connect::explain(client, error))
}

/// A doctor's flow failed ([`medchain_gateway::doctor`]): the failure, with the next step in
/// `medchain` commands and the status scripts branch on (a gateway's refusal 7, a template
/// that opens no entry 8).
pub fn explain(client: &Client, error: DoctorError) -> CliError {
    match error {
        DoctorError::Chain(error) => connect::explain(client, error),
        DoctorError::Gateway(error) => CliError::Gateway(error),
        DoctorError::Taka(error) => CliError::Taka(error),
        DoctorError::Seal(error) => CliError::Sealed(error),
        DoctorError::NotEnrolled { .. } => CliError::NotFound(format!(
            "{error}: run `medchain identity enrol` with its key first"
        )),
        DoctorError::PkgNotReady => CliError::NotFound(format!(
            "{error}: retry once the validators' key generation finished"
        )),
        DoctorError::UnknownIdentity { .. } | DoctorError::NotReleased { .. } => {
            CliError::NotFound(error.to_string())
        }
        DoctorError::WrongTemplate { entries, ref at } => CliError::WrongTemplate(format!(
            "no entry of this patient opens with this template ({entries} entries on chain, verified against finalized {}): check the template, or the patient has filed no entry (`medchain patient entry`)",
            output::block_phrase(at)
        )),
        DoctorError::Ungated => CliError::Usage(format!(
            "{error}; the patient must file the entry again with `medchain patient entry`"
        )),
        DoctorError::WrongHolder { ref named, .. } => {
            CliError::Usage(format!("{error}: pass --gateway with {named}'s gateway"))
        }
        DoctorError::WrongRole { .. }
        | DoctorError::NotThePatients { .. }
        | DoctorError::WrongRelease { .. }
        | DoctorError::BadRecordKey(_)
        | DoctorError::NoBlob { .. } => CliError::Inconsistent(error.to_string()),
    }
}

/// The wallet link for the hospital organisation `org`: the enrolment whose hospital identity
/// the chain places in `org` (verified). `None` when the patient is not enrolled there.
pub fn link_for_org<'w>(
    client: &Client,
    wallet: &'w Wallet,
    org: &OrgName,
) -> Result<Option<&'w HospitalLink>, CliError> {
    patient::link_for_org(wallet, org, |hospital| {
        Ok(identity(client, hospital, Role::Hospital)?.org)
    })
}

/// Where a sent transaction was finalized, as JSON (`null` if it was not waited for).
pub fn finalized_json(sent: &Sent) -> serde_json::Value {
    sent.confirmed
        .as_ref()
        .map_or(serde_json::Value::Null, |confirmed| {
            output::finality_json(&confirmed.block.at)
        })
}

/// "finalized in block N (…)", or that it was not waited for.
pub fn finalized_phrase(sent: &Sent) -> String {
    sent.confirmed.as_ref().map_or_else(
        || {
            format!(
                "not final yet: follow it with `medchain query tx {}`",
                sent.id
            )
        },
        |confirmed| format!("finalized in {}", output::block_phrase(&confirmed.block.at)),
    )
}

/// The index j at which the gateway holds `record` of `patient`.
pub fn held_index(
    gateway: &GatewayClient,
    patient: &Address,
    record: &RecordId,
) -> Result<u64, CliError> {
    gateway
        .patient_records(patient)?
        .into_iter()
        .find(|held| held.record == *record)
        .map(|held| held.index)
        .ok_or_else(|| {
            CliError::NotFound(format!(
                "the gateway at {} does not hold record {record}",
                gateway.url()
            ))
        })
}

/// The patient's enrolment at the hospital organisation that released `record`.
pub fn enrolment_for<'w>(
    client: &Client,
    wallet: &'w Wallet,
    record: &Record,
) -> Result<&'w HospitalLink, CliError> {
    link_for_org(client, wallet, &record.hospital)?.ok_or_else(|| {
        CliError::Usage(format!(
            "you are not enrolled at {}, which holds this record: run `medchain patient enrol --hospital URL` with its gateway",
            record.hospital
        ))
    })
}

/// Every entry of a list, page by page, each page verified; the last page's block.
pub fn all_pages<E: medchain_state::StateValue, V: medchain_state::StateValue>(
    client: &Client,
    query: &ListQuery<E, V>,
) -> Result<(Vec<Listed<E, V>>, FinalizedHeader), CliError> {
    client
        .list_all(query)
        .map_err(|error| connect::explain(client, error))
}

/// One of the patient's own records, as the patient names it: verified on chain to be theirs,
/// with the wallet link to the hospital holding it and its index j there (from that gateway).
pub struct OwnRecord<'w> {
    /// The record id.
    pub id: RecordId,
    /// The enrolment at the holding hospital.
    pub link: &'w HospitalLink,
    /// Its EMR index j there.
    pub index: u64,
}

/// Resolves `prefix` to one of `holder`'s records (see [`OwnRecord`]).
pub fn own_record<'w>(
    client: &Client,
    holder: &'w Holder,
    prefix: &IdPrefix,
) -> Result<OwnRecord<'w>, CliError> {
    let patient = holder.address();
    let id = ids::record(client, prefix)?;
    let released = record(client, &id)?;
    if released.patient != patient {
        return Err(CliError::Usage(format!(
            "record {id} is not yours: it was released for {}",
            released.patient
        )));
    }
    let link = enrolment_for(client, &holder.material.wallet, &released)?;
    let index = held_index(&gateway(&link.gateway)?, &patient, &id)?;
    Ok(OwnRecord { id, link, index })
}
