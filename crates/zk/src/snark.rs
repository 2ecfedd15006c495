//! Groth16 on BN254 (arkworks): setup, prove, verify, and the key and proof
//! formats (S4-flow step 4 `ZKPKeyGen` / `Prove`, step 5 `Verify`).

use crate::circuit::{EligibilityCircuit, PUBLIC_INPUTS};
use crate::codec::{FIELD_BYTES, Reader, ark_from_bytes, ark_to_bytes};
use crate::error::{Result, ZkError};
use crate::poseidon::Fr;
use crate::predicate::{Predicate, PredicateDigest};
use crate::record::{Commitment, RecordOpening};
use crate::shape::CircuitShape;
use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_snark::SNARK;
use ark_std::rand::{CryptoRng, RngCore};

/// Phases reported by [`setup`] to a progress hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupPhase {
    /// Building the blank witness (record tree and padding slots).
    Preparing,
    /// Synthesising the constraints and computing the Groth16 key pair (the long phase).
    GeneratingKeys,
    /// Keys ready.
    Done,
}

/// Receives setup progress: the phase entered and the estimated fraction of work done (0–1).
/// Any `FnMut(SetupPhase, f32)` is a hook, e.g. one driving a terminal progress bar.
pub trait SetupProgress {
    /// Called once when each phase starts.
    fn report(&mut self, phase: SetupPhase, fraction_done: f32);
}

impl<F: FnMut(SetupPhase, f32)> SetupProgress for F {
    fn report(&mut self, phase: SetupPhase, fraction_done: f32) {
        self(phase, fraction_done)
    }
}

/// Generates a key pair for the circuit of `shape`.
///
/// Trusted setup: whoever runs this learns the toxic waste and could forge proofs. Run it in a
/// ceremony or by a party the verifiers trust (e.g. the regulator, who publishes the verifying key
/// on the chain); the randomness must come from a CSPRNG.
pub fn setup(
    shape: &CircuitShape,
    rng: &mut (impl RngCore + CryptoRng),
    progress: &mut impl SetupProgress,
) -> Result<(ProvingKey, VerifyingKey)> {
    progress.report(SetupPhase::Preparing, 0.0);
    let circuit = EligibilityCircuit::blank(shape)?;
    progress.report(SetupPhase::GeneratingKeys, 0.02);
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(circuit, rng)
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))?;
    progress.report(SetupPhase::Done, 1.0);
    Ok((
        ProvingKey {
            shape: *shape,
            inner: pk,
        },
        VerifyingKey::new(*shape, vk)?,
    ))
}

/// What a verifier checks a proof against: the three public inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Statement {
    /// The hospital-signed record commitment.
    pub commitment: Commitment,
    /// Digest of the institution's predicate for the circuit's shape.
    pub predicate: PredicateDigest,
    /// Whether the record satisfies the predicate; an eligibility check requires `true`.
    pub eligible: bool,
}

const STATEMENT_BYTES: usize = 2 * FIELD_BYTES + 1;

impl Statement {
    /// The statement "`commitment` satisfies `predicate`" (`eligible = true`) under `vk`.
    ///
    /// The digest is computed for the shape recorded in `vk`, so a key whose header was altered
    /// to claim another shape yields a different digest and rejects every proof.
    pub fn eligibility(
        vk: &VerifyingKey,
        commitment: Commitment,
        predicate: &Predicate,
    ) -> Result<Self> {
        Ok(Self {
            commitment,
            predicate: predicate.digest(vk.shape())?,
            eligible: true,
        })
    }

    fn public_inputs(&self) -> [Fr; PUBLIC_INPUTS] {
        [self.commitment.0, self.predicate.0, Fr::from(self.eligible)]
    }

    /// Wire form: commitment (32 bytes), predicate digest (32 bytes), eligible (1 byte, 0 or 1).
    pub fn to_bytes(&self) -> [u8; STATEMENT_BYTES] {
        let mut out = [0u8; STATEMENT_BYTES];
        out[..FIELD_BYTES].copy_from_slice(&self.commitment.to_bytes());
        out[FIELD_BYTES..2 * FIELD_BYTES].copy_from_slice(&self.predicate.to_bytes());
        out[2 * FIELD_BYTES] = u8::from(self.eligible);
        out
    }

    /// Decodes exactly [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new("statement", bytes);
        let statement = Self {
            commitment: Commitment(reader.field()?),
            predicate: PredicateDigest(reader.field()?),
            eligible: reader.bool()?,
        };
        reader.finish()?;
        Ok(statement)
    }
}

/// A Groth16 proof: 128 bytes on the wire (compressed A ∈ G1, B ∈ G2, C ∈ G1).
#[derive(Debug, Clone, PartialEq)]
pub struct Proof(ark_groth16::Proof<Bn254>);

/// Size of an encoded [`Proof`].
pub const PROOF_BYTES: usize = 128;

impl Proof {
    /// Compressed canonical encoding, [`PROOF_BYTES`] long.
    pub fn to_bytes(&self) -> Vec<u8> {
        ark_to_bytes(&self.0)
    }

    /// Decodes exactly [`PROOF_BYTES`] canonical bytes; points must be on the curve and in the
    /// prime-order subgroups.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != PROOF_BYTES {
            return Err(ZkError::malformed(
                "proof",
                format!("expected {PROOF_BYTES} bytes"),
            ));
        }
        ark_from_bytes("proof", bytes).map(Self)
    }
}

/// The proving key, with the shape it was made for. Large (megabytes); held by provers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvingKey {
    shape: CircuitShape,
    inner: ark_groth16::ProvingKey<Bn254>,
}

/// The verifying key, with the shape it was made for and its pairing precomputation.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    shape: CircuitShape,
    inner: ark_groth16::VerifyingKey<Bn254>,
    prepared: ark_groth16::PreparedVerifyingKey<Bn254>,
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape && self.inner == other.inner
    }
}

const PK_MAGIC: &[u8] = b"MCZKPK\x01";
const VK_MAGIC: &[u8] = b"MCZKVK\x01";

/// Key wire form: magic+version (7 bytes), `N` (u32), `K` (u16), compressed arkworks key.
fn key_to_bytes(magic: &[u8], shape: &CircuitShape, body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(magic.len() + 6 + body.len());
    out.extend_from_slice(magic);
    shape.write(&mut out);
    out.extend_from_slice(&body);
    out
}

fn key_from_bytes<'a>(
    what: &'static str,
    magic: &[u8],
    bytes: &'a [u8],
) -> Result<(CircuitShape, &'a [u8])> {
    let mut reader = Reader::new(what, bytes);
    reader.expect_magic(magic)?;
    let shape = CircuitShape::read(&mut reader)?;
    Ok((shape, reader.rest()))
}

/// A verifying key for this circuit has one G1 point per public input plus one.
fn check_input_count(what: &'static str, vk: &ark_groth16::VerifyingKey<Bn254>) -> Result<()> {
    if vk.gamma_abc_g1.len() != PUBLIC_INPUTS + 1 {
        return Err(ZkError::malformed(what, "wrong number of public inputs"));
    }
    Ok(())
}

impl ProvingKey {
    /// The circuit shape.
    pub fn shape(&self) -> &CircuitShape {
        &self.shape
    }

    /// The verifying key embedded in the proving key.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        VerifyingKey::new(self.shape, self.inner.vk.clone())
    }

    /// Canonical encoding (see the crate README for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        key_to_bytes(PK_MAGIC, &self.shape, ark_to_bytes(&self.inner))
    }

    /// Decodes and fully validates a proving key (every point on its curve and in its subgroup).
    /// A tampered key that still decodes is caught when [`prove`] checks its own proof.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (shape, body) = key_from_bytes("proving key", PK_MAGIC, bytes)?;
        let inner: ark_groth16::ProvingKey<Bn254> = ark_from_bytes("proving key", body)?;
        check_input_count("proving key", &inner.vk)?;
        Ok(Self { shape, inner })
    }
}

impl VerifyingKey {
    fn new(shape: CircuitShape, inner: ark_groth16::VerifyingKey<Bn254>) -> Result<Self> {
        check_input_count("verifying key", &inner)?;
        let prepared = ark_groth16::prepare_verifying_key(&inner);
        Ok(Self {
            shape,
            inner,
            prepared,
        })
    }

    /// The circuit shape.
    pub fn shape(&self) -> &CircuitShape {
        &self.shape
    }

    /// Canonical encoding (see the crate README for the layout).
    pub fn to_bytes(&self) -> Vec<u8> {
        key_to_bytes(VK_MAGIC, &self.shape, ark_to_bytes(&self.inner))
    }

    /// Decodes and fully validates a verifying key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (shape, body) = key_from_bytes("verifying key", VK_MAGIC, bytes)?;
        Self::new(shape, ark_from_bytes("verifying key", body)?)
    }
}

/// Proves whether the opened record satisfies `predicate` (S4-flow step 4).
///
/// The statement's `eligible` bit is the true evaluation: a record that fails the predicate
/// yields a valid proof of `eligible = false`, never one of `true`. Before returning, the proof
/// is verified under the proving key's own verifying key, so a corrupt proving key surfaces here
/// as [`ZkError::SelfCheckFailed`] instead of as a rejected transaction.
pub fn prove(
    pk: &ProvingKey,
    opening: &RecordOpening,
    predicate: &Predicate,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Statement, Proof)> {
    let circuit = EligibilityCircuit::new(&pk.shape, opening, predicate)?;
    let [commitment, digest, _] = circuit.public_inputs();
    let statement = Statement {
        commitment: Commitment(commitment),
        predicate: PredicateDigest(digest),
        eligible: circuit.result(),
    };
    let proof = Groth16::<Bn254>::prove(&pk.inner, circuit, rng)
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))?;
    let proof = Proof(proof);
    if !verify(&pk.verifying_key()?, &statement, &proof)? {
        return Err(ZkError::SelfCheckFailed);
    }
    Ok((statement, proof))
}

/// Verifies a proof of `statement` (S4-flow step 5). `Ok(false)` means rejected; errors are
/// reserved for inputs that cannot be checked at all.
///
/// To accept a patient as eligible, build the statement with [`Statement::eligibility`] from the
/// commitment the hospital signed and the institution's own predicate: the proof then attests
/// that *that* record satisfies *that* predicate.
pub fn verify(vk: &VerifyingKey, statement: &Statement, proof: &Proof) -> Result<bool> {
    Groth16::<Bn254>::verify_with_processed_vk(&vk.prepared, &statement.public_inputs(), &proof.0)
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))
}
