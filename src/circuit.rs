//! `medchain zk setup` and the circuit directory it writes (S4-flow): the trusted setup of the
//! eligibility circuit for one shape, and where the other commands find its keys.
//!
//! ```text
//! DIR/proving-key.bin     the proving key (megabytes; distributed to patients)
//! DIR/verifying-key.bin   the verifying key (registered on chain by the regulator)
//! DIR/circuit.json        schema, shape and both SHA-256 digests
//! ```
//!
//! `medchain devnet` keeps its circuit in `.devnet/zk/`, beside the genesis document: the
//! commands that need a circuit look there when none is named.

use crate::{cli::ZkSetupArgs, error::CliError, output, sharing};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};
use zk::{CircuitShape, ProvingKey, Schema, SetupPhase, VerifyingKey};

/// The proving key's file inside a circuit directory.
const PROVING_KEY: &str = "proving-key.bin";
/// The verifying key's file.
const VERIFYING_KEY: &str = "verifying-key.bin";
/// The manifest.
const MANIFEST: &str = "circuit.json";

/// What `circuit.json` says about the keys beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The record schema the circuit proves about (`clinical_v1`).
    pub schema: String,
    /// Attributes per record.
    pub attributes: u32,
    /// Clause slots.
    pub clauses: u16,
    /// None-of slots.
    pub exclusions: u16,
    /// SHA-256 of the verifying key's bytes: the circuit's id on chain.
    pub circuit: String,
    /// SHA-256 of the proving key file.
    pub proving_key_digest: String,
    /// Seconds the key generation took.
    pub setup_seconds: f64,
}

/// A circuit directory.
pub struct CircuitDir(PathBuf);

impl CircuitDir {
    /// The directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }

    /// The devnet's: `zk/` beside the genesis document.
    pub fn beside(genesis: &Path) -> Self {
        Self(genesis.parent().unwrap_or(Path::new(".")).join("zk"))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The proving key file.
    pub fn proving_key(&self) -> PathBuf {
        self.0.join(PROVING_KEY)
    }

    /// Whether a setup has written this directory.
    pub fn exists(&self) -> bool {
        self.0.join(MANIFEST).exists()
    }

    /// The manifest.
    pub fn manifest(&self) -> Result<Manifest, CliError> {
        let path = self.0.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => CliError::Usage(format!(
                "{} holds no circuit: run `medchain zk setup --out {}` first (or pass the directory it wrote)",
                self.0.display(),
                self.0.display()
            )),
            _ => CliError::Io {
                path: path.clone(),
                source,
            },
        })?;
        serde_json::from_str(&text).map_err(|e| CliError::BadFile {
            path,
            reason: format!("not a circuit manifest ({e}); run `medchain zk setup` again"),
        })
    }

    /// The verifying key, decoded (and so validated) and checked against the manifest.
    pub fn verifying_key(&self) -> Result<(VerifyingKey, Vec<u8>), CliError> {
        let path = self.0.join(VERIFYING_KEY);
        let bytes = fs::read(&path).map_err(CliError::io(&path))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| CliError::BadFile {
            path: path.clone(),
            reason: format!("not a valid verifying key: {e}"),
        })?;
        if hex::encode(key.digest()) != self.manifest()?.circuit {
            return Err(CliError::BadFile {
                path,
                reason: format!(
                    "its digest is not the circuit {} names; run `medchain zk setup` again",
                    MANIFEST
                ),
            });
        }
        Ok((key, bytes))
    }
}

/// Copies the circuit of `source` (checked: its verifying key decodes and matches its
/// manifest) into `target`, hard-linking the files where the file system allows; the manifest.
pub fn copy(source: &CircuitDir, target: &CircuitDir) -> Result<Manifest, CliError> {
    let manifest = source.manifest()?;
    source.verifying_key()?;
    fs::create_dir_all(target.path()).map_err(CliError::io(target.path()))?;
    // The manifest last: its presence marks a complete directory.
    for file in [PROVING_KEY, VERIFYING_KEY, MANIFEST] {
        let (from, to) = (source.path().join(file), target.path().join(file));
        sharing::must_not_exist(&to)?;
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(CliError::io(&from))?;
        }
    }
    Ok(manifest)
}

/// `medchain zk setup`.
pub fn setup(args: &ZkSetupArgs) -> Result<(), CliError> {
    let schema = Schema::clinical_v1();
    let attributes = args.attributes.unwrap_or_else(|| schema.num_attributes());
    let shape = CircuitShape::new(attributes, args.clauses, args.exclusions)
        .map_err(|e| CliError::Usage(format!("{e}; choose another shape")))?;
    let dir = CircuitDir::new(&args.out);
    let manifest = run_setup(&dir, &schema, &shape, !args.json)?;
    if args.json {
        output::print_json(&manifest);
        return Ok(());
    }
    println!(
        "circuit {} ({}: {} attributes, {} clauses, {} none-of) in {:.1} s",
        manifest.circuit,
        manifest.schema,
        manifest.attributes,
        manifest.clauses,
        manifest.exclusions,
        manifest.setup_seconds
    );
    println!(
        "wrote {}, {} and {}",
        dir.path().join(PROVING_KEY).display(),
        dir.path().join(VERIFYING_KEY).display(),
        dir.path().join(MANIFEST).display()
    );
    println!("proving key digest {}", manifest.proving_key_digest);
    println!(
        "whoever ran this setup could forge proofs: keep nothing of it but these files.\nnext, the regulator registers it: medchain research register-circuit --key REGULATOR.key --circuit {}",
        dir.path().display()
    );
    Ok(())
}

/// Clause slots of the devnet's circuit (and `zk setup`'s default).
pub const DEFAULT_CLAUSES: u16 = 8;
/// None-of slots of the devnet's circuit (and `zk setup`'s default).
pub const DEFAULT_EXCLUSIONS: u16 = 1;

/// The devnet's shape: every attribute of `schema`, [`DEFAULT_CLAUSES`], [`DEFAULT_EXCLUSIONS`].
pub fn default_shape(schema: &Schema) -> Result<CircuitShape, CliError> {
    CircuitShape::new(schema.num_attributes(), DEFAULT_CLAUSES, DEFAULT_EXCLUSIONS)
        .map_err(|e| CliError::Init(format!("the default circuit shape: {e}")))
}

/// Generates the key pair of `shape` into `dir` (refusing to replace keys already there),
/// with a progress bar on standard error when `progress`; returns the manifest written.
pub fn run_setup(
    dir: &CircuitDir,
    schema: &Schema,
    shape: &CircuitShape,
    progress: bool,
) -> Result<Manifest, CliError> {
    for file in [PROVING_KEY, VERIFYING_KEY, MANIFEST] {
        sharing::must_not_exist(&dir.path().join(file))?;
    }
    fs::create_dir_all(dir.path()).map_err(CliError::io(dir.path()))?;
    let bar = progress_bar(progress);
    let started = Instant::now();
    let (proving, verifying) = zk::setup(shape, &mut sharing::rng(), &mut |phase, done| {
        bar.set_position((done * 100.0) as u64);
        bar.set_message(phase_words(phase));
    })
    .map_err(|e| CliError::Usage(format!("the setup failed: {e}")))?;
    bar.finish_and_clear();
    let setup_seconds = started.elapsed().as_secs_f64();
    let proving_bytes = proving.to_bytes();
    let manifest = Manifest {
        schema: schema.id().to_string(),
        attributes: shape.num_attributes(),
        clauses: shape.max_clauses(),
        exclusions: shape.max_exclusions(),
        circuit: hex::encode(verifying.digest()),
        proving_key_digest: hex::encode(ProvingKey::digest_of(&proving_bytes)),
        setup_seconds,
    };
    sharing::write_new(&dir.path().join(PROVING_KEY), &proving_bytes, 0o644)?;
    sharing::write_new(
        &dir.path().join(VERIFYING_KEY),
        &verifying.to_bytes(),
        0o644,
    )?;
    let text =
        serde_json::to_string_pretty(&manifest).map_err(|e| CliError::Init(e.to_string()))?;
    // The manifest last: its presence marks a complete directory.
    sharing::write_new(&dir.path().join(MANIFEST), (text + "\n").as_bytes(), 0o644)?;
    Ok(manifest)
}

/// A bar on standard error (hidden when not asked for or not a terminal): the setup reports
/// its phases with the fraction done.
fn progress_bar(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(100);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {percent:>3}% {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn phase_words(phase: SetupPhase) -> &'static str {
    match phase {
        SetupPhase::Preparing => "preparing the blank circuit",
        SetupPhase::GeneratingKeys => "generating the Groth16 keys",
        SetupPhase::Checking => "checking the keys",
        SetupPhase::Done => "done",
    }
}
