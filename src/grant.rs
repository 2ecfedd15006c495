//! The two files a doctor and a patient hand each other for S3-share: the doctor's hello
//! (`medchain doctor ask`) and the patient's grant (`medchain patient authorize`). Both are JSON
//! with binary fields in hex, read strictly: a known version, no unknown fields, bounded size,
//! and every TAKA message decoded before anything else is done with the file.

use crate::error::CliError;
use medchain_types::{Address, ConsentId, IdentityName, Purpose, RecordId};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::{fs, io::Read as _, path::Path};

/// The format version both files are written with.
pub const VERSION: u32 = 1;
/// Largest file read: a hello or grant is a few kilobytes.
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// The associated data the authorization is sealed under with the doctor–patient session key,
/// so the sealed bytes open as nothing else.
pub const AUTHORIZATION_AAD: &[u8] = b"medchain grant authorization v1";

/// The doctor's hello to a patient (S3-agree before S3-share).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloFile {
    /// [`VERSION`].
    pub version: u32,
    /// The doctor's identity (the hello's initiator).
    pub doctor: IdentityName,
    /// The patient asked.
    pub patient: Address,
    /// `taka::Hello`.
    #[serde(with = "hex::serde")]
    pub hello: Vec<u8>,
    /// The doctor's own file holding the initiator state (only the doctor can open it); the
    /// grant carries the name back so `doctor fetch` finds it.
    pub state: String,
}

/// The patient's grant: the answer to the hello, the sealed authorization, and where and what
/// to ask for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantFile {
    /// [`VERSION`].
    pub version: u32,
    /// The patient's address.
    pub patient: Address,
    /// The doctor authorised.
    pub doctor: IdentityName,
    /// The hospital holding the record (identity, as enrolled).
    pub hospital: IdentityName,
    /// That hospital's gateway URL.
    pub gateway: String,
    /// The record.
    pub record: RecordId,
    /// Its EMR index j at the hospital.
    pub index: u64,
    /// The purpose the on-chain consent covers.
    pub purpose: Purpose,
    /// When the consent and the authorization end, unix milliseconds.
    pub expires_at_ms: u64,
    /// The on-chain consent.
    pub consent: ConsentId,
    /// The doctor's state file, as the hello named it.
    pub state: String,
    /// `taka::Reply` to the doctor's hello.
    #[serde(with = "hex::serde")]
    pub reply: Vec<u8>,
    /// `taka::Authorization`, sealed with the session key under [`AUTHORIZATION_AAD`].
    #[serde(with = "hex::serde")]
    pub authorization: Vec<u8>,
}

/// A file that carries its format version.
trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for HelloFile {
    fn version(&self) -> u32 {
        self.version
    }
}

impl Versioned for GrantFile {
    fn version(&self) -> u32 {
        self.version
    }
}

impl HelloFile {
    /// Reads and checks a hello file; its hello decodes.
    pub fn read(path: &Path) -> Result<(Self, taka::Hello), CliError> {
        let file: Self = read_json(path)?;
        let hello = taka::Hello::from_bytes(&file.hello)
            .map_err(|e| bad(path, format!("its hello does not decode ({e})")))?;
        if hello.is_enrolment() {
            return Err(bad(
                path,
                "its hello starts an enrolment, not a doctor's agreement".into(),
            ));
        }
        if hello.initiator().as_bytes() != file.doctor.as_str().as_bytes() {
            return Err(bad(
                path,
                "its hello is not from the doctor it names".into(),
            ));
        }
        Ok((file, hello))
    }
}

impl GrantFile {
    /// Reads and checks a grant file; its reply decodes.
    pub fn read(path: &Path) -> Result<(Self, taka::Reply), CliError> {
        let file: Self = read_json(path)?;
        let reply = taka::Reply::from_bytes(&file.reply)
            .map_err(|e| bad(path, format!("its reply does not decode ({e})")))?;
        if file.authorization.is_empty() {
            return Err(bad(path, "it carries no authorization".into()));
        }
        Ok((file, reply))
    }
}

/// Writes `value` as pretty JSON to a new file, readable by its owner only (a grant names
/// who may read which record of whom).
pub fn write(path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Inconsistent(format!("cannot render {}: {e}", path.display())))?;
    crate::sharing::write_new(path, format!("{text}\n").as_bytes(), 0o600)
}

fn read_json<T: DeserializeOwned + Versioned>(path: &Path) -> Result<T, CliError> {
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(CliError::io(path))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(
            path,
            format!("it is larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    let value: T = serde_json::from_str(&text).map_err(|e| {
        bad(
            path,
            format!("it is not a medchain hello or grant file ({e})"),
        )
    })?;
    if value.version() != VERSION {
        return Err(bad(
            path,
            format!(
                "it is version {}; this medchain reads version {VERSION}",
                value.version()
            ),
        ));
    }
    Ok(value)
}

fn bad(path: &Path, reason: String) -> CliError {
    CliError::BadFile {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_types::Hash32;
    use rand_core_06::OsRng;
    use serde_json::{Value, json};

    fn identity(name: &str) -> taka::Identity {
        taka::Identity::new(name).unwrap()
    }

    /// A genuine plain agreement's hello and reply between a doctor and a patient.
    fn hello_and_reply() -> (taka::Hello, taka::Reply) {
        let pkg = taka::Pkg::setup(&mut OsRng);
        let register = |name: &str| {
            let (pending, request) = taka::PendingRegistration::new(identity(name), &mut OsRng);
            let response = pkg.register(&request, &mut OsRng);
            pending.complete(pkg.params(), response).unwrap()
        };
        let (doctor, patient) = (register("dr-kim"), register("patient:c"));
        let (_, hello) = taka::Initiator::start(&doctor, patient.id().clone(), &mut OsRng);
        let (reply, _) = taka::respond(&patient, &hello, &mut OsRng).unwrap();
        (hello, reply)
    }

    fn grant_json(reply: &taka::Reply) -> Value {
        json!({
            "version": VERSION,
            "patient": Address::from_bytes([1; 32]),
            "doctor": "dr-kim",
            "hospital": "seoul-general",
            "gateway": "http://127.0.0.1:9101",
            "record": RecordId(Hash32::from([2; 32])),
            "index": 1,
            "purpose": "treatment",
            "expires_at_ms": 1_800_000_000_000u64,
            "consent": ConsentId(Hash32::from([3; 32])),
            "state": "ask.json.state",
            "reply": hex::encode(reply.to_bytes()),
            "authorization": "00ff",
        })
    }

    fn written(value: &Value) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.json");
        fs::write(&path, value.to_string()).unwrap();
        (dir, path)
    }

    fn refusal(value: &Value) -> String {
        let (_dir, path) = written(value);
        match GrantFile::read(&path) {
            Err(CliError::BadFile { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_genuine_grant_file_reads_back() {
        let (_, reply) = hello_and_reply();
        let (_dir, path) = written(&grant_json(&reply));
        let (grant, decoded) = GrantFile::read(&path).unwrap();
        assert_eq!(decoded, reply);
        assert_eq!(grant.index, 1);
        assert_eq!(grant.purpose, Purpose::Treatment);
    }

    #[test]
    fn malformed_grant_files_are_refused_with_the_reason() {
        let (_, reply) = hello_and_reply();
        let genuine = grant_json(&reply);
        let mut newer = genuine.clone();
        newer["version"] = json!(2);
        assert!(refusal(&newer).contains("version 2"));
        let mut extra = genuine.clone();
        extra["note"] = json!("hi");
        assert!(refusal(&extra).contains("not a medchain hello or grant file"));
        let mut bad_hex = genuine.clone();
        bad_hex["reply"] = json!("zz");
        assert!(refusal(&bad_hex).contains("not a medchain"));
        let mut short = genuine.clone();
        let reply_hex = genuine["reply"].as_str().unwrap();
        short["reply"] = json!(&reply_hex[..reply_hex.len() - 2]);
        assert!(refusal(&short).contains("reply does not decode"));
        let mut empty = genuine.clone();
        empty["authorization"] = json!("");
        assert!(refusal(&empty).contains("no authorization"));
        let mut missing = genuine.clone();
        missing.as_object_mut().unwrap().remove("record");
        assert!(refusal(&missing).contains("not a medchain"));
        let mut huge = genuine;
        huge["gateway"] = json!("x".repeat(MAX_FILE_BYTES as usize));
        assert!(refusal(&huge).contains("larger than"));
        let (_dir, path) = written(&json!("not an object"));
        assert!(matches!(
            GrantFile::read(&path),
            Err(CliError::BadFile { .. })
        ));
    }

    #[test]
    fn a_hello_file_must_carry_the_named_doctors_plain_hello() {
        let (hello, _) = hello_and_reply();
        let genuine = json!({
            "version": VERSION,
            "doctor": "dr-kim",
            "patient": Address::from_bytes([1; 32]),
            "hello": hex::encode(hello.to_bytes()),
            "state": "ask.json.state",
        });
        let (_dir, path) = written(&genuine);
        let (file, decoded) = HelloFile::read(&path).unwrap();
        assert_eq!(decoded, hello);
        assert_eq!(file.state, "ask.json.state");
        let mut impostor = genuine.clone();
        impostor["doctor"] = json!("dr-lee");
        let (_dir, path) = written(&impostor);
        assert!(matches!(
            HelloFile::read(&path),
            Err(CliError::BadFile { reason, .. }) if reason.contains("not from the doctor")
        ));
        let mut garbage = genuine;
        garbage["hello"] = json!("00");
        let (_dir, path) = written(&garbage);
        assert!(matches!(
            HelloFile::read(&path),
            Err(CliError::BadFile { reason, .. }) if reason.contains("does not decode")
        ));
    }
}
