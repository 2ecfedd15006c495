//! Groth16 on BN254 (arkworks): setup, prove, verify, and the key and proof formats (S4-flow
//! step 4 `ZKPKeyGen` / `Prove`, step 5 `Verify`).
//!
//! Keys are validated when decoded, so that [`prove`] and [`verify`] never panic on a key that
//! decodes and no degenerate verifying key (one that accepts proofs made without a witness) is
//! ever accepted; see [`VerifyingKey::from_bytes`] and [`ProvingKey::from_bytes`].

use crate::accumulator::MembershipPath;
use crate::circuit::{Assignment, EnrolmentCircuit, PUBLIC_INPUTS, PublicInputs, dimensions};
use crate::codec::{FIELD_BYTES, Reader, ark_from_bytes, ark_to_bytes};
use crate::error::{Result, ZkError};
use crate::ids::{
    AccumulatorRoot, Binding, DeliveryTag, ExclusivityNullifier, Nullifier, PatientSecret, StudyTag,
};
use crate::poseidon::Fr;
use crate::predicate::{Predicate, PredicateDigest};
use crate::record::RecordOpening;
use crate::shape::{CircuitShape, SHAPE_BYTES};
use ark_bn254::Bn254;
use ark_ec::AffineRepr;
use ark_groth16::Groth16;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Valid, Validate};
use ark_snark::SNARK;
use ark_std::rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// Phases reported by [`setup`] to a progress hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupPhase {
    /// Building the blank witness (record tree, accumulator path and padding slots).
    Preparing,
    /// Synthesising the constraints and computing the Groth16 key pair (the long phase).
    GeneratingKeys,
    /// Checking the new keys against the circuit's dimensions.
    Checking,
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
/// Trusted setup: whoever knows the randomness learns the toxic waste and can forge proofs. Run
/// it with a CSPRNG seeded by the operating system (e.g. `OsRng`) in a ceremony or by a party the
/// verifiers trust (the regulator, who registers the verifying key on chain). Passing a *seeded*
/// RNG makes the keys reproducible, which is only for tests and benchmarks: anyone who knows the
/// seed can forge proofs.
pub fn setup(
    shape: &CircuitShape,
    rng: &mut (impl RngCore + CryptoRng),
    progress: &mut impl SetupProgress,
) -> Result<(ProvingKey, VerifyingKey)> {
    progress.report(SetupPhase::Preparing, 0.0);
    let circuit = EnrolmentCircuit::blank(shape)?;
    progress.report(SetupPhase::GeneratingKeys, 0.02);
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(circuit, rng)
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))?;
    progress.report(SetupPhase::Checking, 0.98);
    check_proving_key(shape, &pk)?;
    let keys = (
        ProvingKey {
            shape: *shape,
            inner: pk,
        },
        VerifyingKey::new(*shape, vk)?,
    );
    progress.report(SetupPhase::Done, 1.0);
    Ok(keys)
}

/// What the patient proves with: the opening the hospital sent, the patient's secret and the
/// commitment's path in the accumulator.
#[derive(Debug, Clone, Copy)]
pub struct EnrolmentWitness<'a> {
    /// The opening of the attested commitment.
    pub opening: &'a RecordOpening,
    /// The patient secret whose nullifier key is in the commitment.
    pub secret: &'a PatientSecret,
    /// The commitment's path in the accumulator (its root becomes the statement's root).
    pub path: &'a MembershipPath,
}

/// Public inputs of an enrolment proof; the result is always "eligible" (a false predicate
/// cannot be proven).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Statement {
    /// A root of the accumulator of attested commitments (one the chain has had).
    pub root: AccumulatorRoot,
    /// Digest of the study's predicate for the circuit's shape.
    pub predicate: PredicateDigest,
    /// The study.
    pub study: StudyTag,
    /// The enrolment transaction's binding (sender and keys).
    pub binding: Binding,
    /// The per-(patient, study) nullifier.
    pub nullifier: Nullifier,
    /// The per-record exclusivity nullifier.
    pub exclusivity: ExclusivityNullifier,
    /// The released bundle the enrolment delivers, bound to `binding` ([`crate::delivery_tag`]).
    pub delivery: DeliveryTag,
}

/// Size of an encoded [`Statement`].
pub const STATEMENT_BYTES: usize = PUBLIC_INPUTS * FIELD_BYTES;

impl Statement {
    /// The statement a contract checks: the digest is recomputed from its own predicate and the
    /// verifying key's shape, so a key whose header claims another shape rejects every proof.
    #[allow(clippy::too_many_arguments)] // the protocol's seven public inputs, each typed
    pub fn enrolment(
        vk: &VerifyingKey,
        root: AccumulatorRoot,
        predicate: &Predicate,
        study: StudyTag,
        binding: Binding,
        nullifier: Nullifier,
        exclusivity: ExclusivityNullifier,
        delivery: DeliveryTag,
    ) -> Result<Self> {
        Ok(Self {
            root,
            predicate: predicate.digest(&vk.shape())?,
            study,
            binding,
            nullifier,
            exclusivity,
            delivery,
        })
    }

    fn from_public(public: PublicInputs) -> Self {
        Self {
            root: AccumulatorRoot::from_field(public.root),
            predicate: PredicateDigest(public.digest),
            study: StudyTag::from_field(public.study),
            binding: Binding::from_field(public.binding),
            nullifier: Nullifier::from_field(public.nullifier),
            exclusivity: ExclusivityNullifier::from_field(public.exclusivity),
            delivery: DeliveryTag::from_field(public.delivery),
        }
    }

    /// The public inputs in circuit order; refuses non-canonical encodings.
    fn public_inputs(&self) -> Result<Vec<Fr>> {
        Ok(PublicInputs {
            root: self.root.field()?,
            digest: self.predicate.0,
            study: self.study.field()?,
            binding: self.binding.field()?,
            nullifier: self.nullifier.field()?,
            exclusivity: self.exclusivity.field()?,
            delivery: self.delivery.field()?,
        }
        .to_vec())
    }

    /// Wire form: root, predicate digest, study, binding, nullifier, exclusivity, delivery (32
    /// bytes each).
    pub fn to_bytes(&self) -> [u8; STATEMENT_BYTES] {
        let parts = [
            self.root.0,
            self.predicate.to_bytes(),
            self.study.0,
            self.binding.0,
            self.nullifier.0,
            self.exclusivity.0,
            self.delivery.0,
        ];
        let mut out = [0u8; STATEMENT_BYTES];
        for (chunk, part) in out.chunks_mut(FIELD_BYTES).zip(parts) {
            chunk.copy_from_slice(&part);
        }
        out
    }

    /// Decodes exactly [`Self::to_bytes`]; every element must be canonical.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new("statement", bytes);
        let statement = Self {
            root: AccumulatorRoot::from_field(reader.field()?),
            predicate: PredicateDigest(reader.field()?),
            study: StudyTag::from_field(reader.field()?),
            binding: Binding::from_field(reader.field()?),
            nullifier: Nullifier::from_field(reader.field()?),
            exclusivity: ExclusivityNullifier::from_field(reader.field()?),
            delivery: DeliveryTag::from_field(reader.field()?),
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
    pub fn to_bytes(&self) -> [u8; PROOF_BYTES] {
        let mut out = [0u8; PROOF_BYTES];
        out.copy_from_slice(&ark_to_bytes(&self.0));
        out
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

const PK_MAGIC: &[u8] = b"MCZKPK\x03";
const VK_MAGIC: &[u8] = b"MCZKVK\x03";

/// Key wire form: magic+version (7 bytes), shape (8 bytes), arkworks key.
fn key_to_bytes(magic: &[u8], shape: &CircuitShape, body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(magic.len() + SHAPE_BYTES + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&shape.to_bytes());
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

/// Refuses verifying keys visibly built to accept proofs made without a witness: `γ = ±δ` (the
/// pairing check then collapses and `A = α, B = β, C = ±Σ xᵢ·ICᵢ` verifies any statement), any
/// point at infinity, a wrong number of input points, or two input points equal up to sign (two
/// public inputs that could trade values).
///
/// A sanity filter, not a proof of honesty: a key whose author knows a relation between its
/// points (`γ = k·δ` for a known `k`, the setup's toxic waste) looks like any other. What makes a
/// registered key sound is that the regulator registers only the key its own setup produced.
fn check_verifying_key(what: &'static str, vk: &ark_groth16::VerifyingKey<Bn254>) -> Result<()> {
    let refuse = |reason: &str| Err(ZkError::malformed(what, reason.to_owned()));
    if vk.gamma_abc_g1.len() != PUBLIC_INPUTS + 1 {
        return refuse("wrong number of public inputs");
    }
    if vk.alpha_g1.is_zero()
        || vk.beta_g2.is_zero()
        || vk.gamma_g2.is_zero()
        || vk.delta_g2.is_zero()
        || vk.gamma_abc_g1.iter().any(AffineRepr::is_zero)
    {
        return refuse("a point at infinity");
    }
    if vk.gamma_g2 == vk.delta_g2 || vk.gamma_g2 == -vk.delta_g2 {
        return refuse("gamma equals plus or minus delta");
    }
    let inputs = &vk.gamma_abc_g1;
    let equal_up_to_sign = |i: usize| {
        inputs[i + 1..]
            .iter()
            .any(|other| *other == inputs[i] || *other == -inputs[i])
    };
    if (0..inputs.len()).any(equal_up_to_sign) {
        return refuse("two input points equal up to sign");
    }
    Ok(())
}

/// Checks every vector of a proving key against the circuit of `shape`: the prover indexes them
/// by variable and constraint, so a key of another size must never reach it.
fn check_proving_key(shape: &CircuitShape, pk: &ark_groth16::ProvingKey<Bn254>) -> Result<()> {
    const WHAT: &str = "proving key";
    check_verifying_key(WHAT, &pk.vk)?;
    // Cheap consistency first, so that junk never costs a circuit synthesis.
    let variables = pk.a_query.len();
    let consistent = pk.b_g1_query.len() == variables
        && pk.b_g2_query.len() == variables
        && pk.l_query.len() + pk.vk.gamma_abc_g1.len() == variables
        && (pk.h_query.len() + 1).is_power_of_two();
    if !consistent {
        return Err(ZkError::malformed(
            WHAT,
            "query vectors of inconsistent lengths",
        ));
    }
    let d = dimensions(shape)?;
    let variables = d.instance + d.witness;
    let lengths = [
        ("a_query", pk.a_query.len(), variables),
        ("b_g1_query", pk.b_g1_query.len(), variables),
        ("b_g2_query", pk.b_g2_query.len(), variables),
        ("h_query", pk.h_query.len(), d.domain_size() - 1),
        ("l_query", pk.l_query.len(), d.witness),
        ("gamma_abc_g1", pk.vk.gamma_abc_g1.len(), d.instance),
    ];
    if let Some((name, found, expected)) = lengths
        .iter()
        .find(|(_, found, expected)| found != expected)
    {
        return Err(ZkError::malformed(
            WHAT,
            format!("{name} has {found} points, the circuit needs {expected}"),
        ));
    }
    if pk.beta_g1.is_zero() || pk.delta_g1.is_zero() {
        return Err(ZkError::malformed(WHAT, "a point at infinity"));
    }
    Ok(())
}

impl ProvingKey {
    /// The circuit shape.
    pub fn shape(&self) -> CircuitShape {
        self.shape
    }

    /// The verifying key embedded in the proving key.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        VerifyingKey::new(self.shape, self.inner.vk.clone())
    }

    /// Wire form: magic+version (7 bytes), shape (8 bytes), then the arkworks key with
    /// *uncompressed* points (twice the compressed size, but loading it needs no square roots).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.inner.uncompressed_size());
        // Writing into a Vec cannot fail (arkworks only reports I/O errors here).
        let _ = self.inner.serialize_uncompressed(&mut body);
        key_to_bytes(PK_MAGIC, &self.shape, body)
    }

    /// SHA-256 of a proving key file: what the regulator registers beside the verifying key.
    pub fn digest_of(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    /// Decodes and fully validates a proving key: every point on its curve and in its subgroup,
    /// every vector the length the shape's circuit needs, the embedded verifying key not
    /// degenerate. Slow for large shapes (see the README); prefer [`Self::from_trusted_bytes`]
    /// when the file's digest is registered.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::decode(bytes, Validate::Yes)
    }

    /// Fast path: `SHA-256(bytes)` must equal `digest` (the registered one); the query vectors'
    /// points are then not checked one by one (the registrant vouched for them), but the
    /// structure still is: every vector length, and the embedded verifying key in full (its
    /// dozen points are the only ones a pairing touches), so [`prove`] cannot panic. A key with
    /// invalid query points can only yield proofs that fail [`prove`]'s self-check.
    pub fn from_trusted_bytes(bytes: &[u8], digest: &[u8; 32]) -> Result<Self> {
        if Self::digest_of(bytes) != *digest {
            return Err(ZkError::malformed(
                "proving key",
                "digest differs from the registered one",
            ));
        }
        Self::decode(bytes, Validate::No)
    }

    fn decode(bytes: &[u8], validate: Validate) -> Result<Self> {
        const WHAT: &str = "proving key";
        let (shape, body) = key_from_bytes(WHAT, PK_MAGIC, bytes)?;
        let mut reader = body;
        let inner = ark_groth16::ProvingKey::<Bn254>::deserialize_with_mode(
            &mut reader,
            Compress::No,
            validate,
        )
        .map_err(|e| ZkError::malformed(WHAT, e.to_string()))?;
        if !reader.is_empty() {
            return Err(ZkError::malformed(WHAT, "trailing bytes"));
        }
        if validate == Validate::No {
            // Microseconds, and an off-curve α or β would make the self-check's pairing panic.
            inner
                .vk
                .check()
                .map_err(|e| ZkError::malformed(WHAT, format!("verifying key: {e}")))?;
        }
        check_proving_key(&shape, &inner)?;
        Ok(Self { shape, inner })
    }
}

impl VerifyingKey {
    fn new(shape: CircuitShape, inner: ark_groth16::VerifyingKey<Bn254>) -> Result<Self> {
        check_verifying_key("verifying key", &inner)?;
        let prepared = ark_groth16::prepare_verifying_key(&inner);
        Ok(Self {
            shape,
            inner,
            prepared,
        })
    }

    /// The circuit shape.
    pub fn shape(&self) -> CircuitShape {
        self.shape
    }

    /// Wire form: magic+version (7 bytes), shape (8 bytes), compressed arkworks key.
    pub fn to_bytes(&self) -> Vec<u8> {
        key_to_bytes(VK_MAGIC, &self.shape, ark_to_bytes(&self.inner))
    }

    /// SHA-256 of [`Self::to_bytes`]: the circuit's id on chain.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }

    /// Decodes and validates a verifying key: canonical points on the curve and in the subgroups,
    /// eight input points (one per public input, plus one), and none of the degenerate keys
    /// (`γ = ±δ`, a point at infinity, input points equal up to sign) that accept a proof made
    /// without a witness. A sanity filter: see the crate README on what it cannot detect.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (shape, body) = key_from_bytes("verifying key", VK_MAGIC, bytes)?;
        Self::new(shape, ark_from_bytes("verifying key", body)?)
    }
}

/// Proves that the opened record, attested in the accumulator, satisfies `predicate`, and
/// derives the study's nullifier and the record's exclusivity nullifier (S4-flow step 4).
///
/// A record that fails the predicate has no proof: [`ZkError::NotEligible`]. Before returning,
/// the proof is verified under the proving key's own verifying key, so a corrupt proving key
/// surfaces here as [`ZkError::SelfCheckFailed`] instead of as a rejected transaction.
pub fn prove(
    pk: &ProvingKey,
    witness: &EnrolmentWitness<'_>,
    predicate: &Predicate,
    study: StudyTag,
    binding: Binding,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(Statement, Proof)> {
    let assignment = Assignment {
        opening: witness.opening,
        secret: witness.secret.field(),
        path: witness.path,
        predicate,
        study,
        binding,
    };
    let circuit = EnrolmentCircuit::new(&pk.shape, &assignment)?;
    let statement = Statement::from_public(circuit.public_inputs());
    let proof = Groth16::<Bn254>::prove(&pk.inner, circuit, rng)
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))?;
    // A trusted key's unchecked query points could put the proof off its curves, where a pairing
    // may panic: such a proof is refused like any other that fails the self-check.
    proof.check().map_err(|_| ZkError::SelfCheckFailed)?;
    let proof = Proof(proof);
    if !verify(&pk.verifying_key()?, &statement, &proof)? {
        return Err(ZkError::SelfCheckFailed);
    }
    Ok((statement, proof))
}

/// Verifies a proof of `statement` (S4-flow step 5). `Ok(false)` means rejected; errors are
/// reserved for statements that cannot be checked at all (a non-canonical field element).
///
/// To accept an enrolment, build the statement with [`Statement::enrolment`] from a root the
/// chain has had, the study's own predicate, the binding recomputed from the transaction and the
/// nullifiers it carries: the proof then attests that an attested record of the sender's patient
/// satisfies *that* predicate.
pub fn verify(vk: &VerifyingKey, statement: &Statement, proof: &Proof) -> Result<bool> {
    Groth16::<Bn254>::verify_with_processed_vk(&vk.prepared, &statement.public_inputs()?, &proof.0)
        .map_err(|e| ZkError::ProvingSystem(e.to_string()))
}
