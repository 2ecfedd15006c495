//! Threshold key extraction (S3-setup, S3-register) with the master secret shared by
//! commonware-cryptography's Joint-Feldman DKG among n = 4 validators (t = 3): no single PKG
//! exists in these tests. Covers the conversion of the DKG's output into `taka` types, honest
//! enrolment, Byzantine nodes, missing nodes, malformed requests and the wire encodings.

use std::collections::BTreeMap;

use blstrs::{G1Affine, Scalar};
use commonware_codec::{Decode, Encode, RangeCfg};
use commonware_cryptography::bls12381::dkg::feldman_desmedt::{
    Dealer, Info, Logs, Output, Player, Reveal,
};
use commonware_cryptography::bls12381::primitives::group::{G1, Share};
use commonware_cryptography::bls12381::primitives::sharing::Mode;
use commonware_cryptography::bls12381::primitives::variant::MinPk;
use commonware_cryptography::{Signer, ed25519};
use commonware_math::algebra::Random;
use commonware_utils::{N3f1, TestRng, TryCollect, ordered::Set};
use ff::Field;
use group::{Curve, prime::PrimeCurveAffine};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use taka::*;

const N: usize = 4;
const T: usize = 3;

/// Runs commonware's DKG among `N` validators and returns its public output and each
/// validator's share, in player order.
fn run_dkg(seed: u64) -> (Output<MinPk, ed25519::PublicKey>, Vec<Share>) {
    let mut rng = TestRng::new(seed);
    let keys: Vec<ed25519::PrivateKey> = (0..N)
        .map(|_| ed25519::PrivateKey::random(&mut rng))
        .collect();
    let validators: Set<ed25519::PublicKey> =
        keys.iter().map(|k| k.public_key()).try_collect().unwrap();
    let info = Info::<MinPk, ed25519::PublicKey>::new::<N3f1>(
        b"taka-threshold-test",
        0,
        None,
        Mode::NonZeroCounter,
        Reveal::V1,
        validators.clone(),
        validators,
    )
    .unwrap();
    let mut players: BTreeMap<_, _> = keys
        .iter()
        .map(|k| {
            let player = Player::<MinPk, _>::new(info.clone(), k.clone()).unwrap();
            (k.public_key(), player)
        })
        .collect();
    let mut logs = Logs::<MinPk, ed25519::PublicKey, N3f1>::new(info.clone());
    for dealer_key in &keys {
        let (mut dealer, public, privates) =
            Dealer::start::<N3f1>(&mut rng, info.clone(), dealer_key.clone(), None).unwrap();
        for (player_key, private) in privates {
            let player = players.get_mut(&player_key).unwrap();
            let ack = player
                .dealer_message::<N3f1>(dealer_key.public_key(), public.clone(), private)
                .unwrap()
                .unwrap();
            dealer.receive_player_ack(player_key, ack).unwrap();
        }
        let (dealer_id, log) = dealer.finalize::<N3f1>().check(&info).unwrap();
        assert!(!logs.record(dealer_id, log), "one log per dealer");
    }
    let mut output = None;
    let shares = players
        .into_values()
        .map(|player| {
            let (out, share) = player
                .finalize::<N3f1>(&mut rng, logs.clone(), &commonware_parallel::Sequential)
                .unwrap();
            output = Some(out);
            share
        })
        .collect();
    (output.unwrap(), shares)
}

/// The DKG's public polynomial as `taka` reads it: the encoding of `Sharing<MinPk>` is
/// mode (u8) ‖ participants (u32) ‖ coefficients (`Vec<G1>`).
fn polynomial_of(output: &Output<MinPk, ed25519::PublicKey>) -> PublicPolynomial {
    let encoded = output.public().encode();
    let cfg = (
        (),
        (),
        (RangeCfg::from(1..=PublicPolynomial::MAX_THRESHOLD), ()),
    );
    let (mode, total, coefficients) = <(u8, u32, Vec<G1>)>::decode_cfg(encoded, &cfg).unwrap();
    assert_eq!((mode, total), (Mode::NonZeroCounter as u8, N as u32));
    let compressed: Vec<[u8; 48]> = coefficients
        .iter()
        .map(|c| c.encode().as_ref().try_into().unwrap())
        .collect();
    PublicPolynomial::from_compressed_coefficients(&compressed).unwrap()
}

/// A DKG share as `taka` reads it: x = commonware's participant index + 1, scalar by bytes.
fn share_of(share: &Share) -> MasterKeyShare {
    MasterKeyShare::from_be_bytes(share.index.get() + 1, &share_bytes(share)).unwrap()
}

/// A DKG share's secret scalar in commonware's encoding (32 bytes, big-endian).
fn share_bytes(share: &Share) -> [u8; 32] {
    share
        .private
        .expose(|s| s.encode())
        .as_ref()
        .try_into()
        .unwrap()
}

struct Validators {
    polynomial: PublicPolynomial,
    shares: Vec<MasterKeyShare>,
}

impl Validators {
    fn from_dkg(seed: u64) -> Self {
        let (output, shares) = run_dkg(seed);
        let polynomial = polynomial_of(&output);
        let shares: Vec<MasterKeyShare> = shares.iter().map(share_of).collect();
        for share in &shares {
            share.check(&polynomial).unwrap();
        }
        Self { polynomial, shares }
    }

    fn params(&self) -> PublicParams {
        self.polynomial.params()
    }

    fn share(&self, x: u32) -> &MasterKeyShare {
        &self.shares[x as usize - 1]
    }

    /// Round 1 at the nodes `xs`: their retained nonces and the commitments they publish.
    fn commit(
        &self,
        xs: &[u32],
        rng: &mut ChaCha20Rng,
    ) -> (Vec<SigningNonces>, Vec<NonceCommitment>) {
        xs.iter().map(|&x| self.share(x).commit(rng)).unzip()
    }

    /// Round 2 at every node of the request, each over the wire.
    fn answer(&self, nonces: Vec<SigningNonces>, request: &ExtractionRequest) -> Vec<PartialKey> {
        let request = ExtractionRequest::from_bytes(&request.to_bytes()).unwrap();
        nonces
            .into_iter()
            .map(|n| {
                let x = n.commitment().x();
                let partial = self
                    .share(x)
                    .extract(n, &request, &self.polynomial)
                    .unwrap();
                PartialKey::from_bytes(&partial.to_bytes()).unwrap()
            })
            .collect()
    }
}

/// One enrolment in flight: the entity's state, its request and the partial keys of `xs`.
struct Enrolment {
    pending: PendingRegistration,
    request: ExtractionRequest,
    partials: Vec<PartialKey>,
}

impl Enrolment {
    fn run(v: &Validators, name: &str, xs: &[u32], rng: &mut ChaCha20Rng) -> Self {
        let (pending, registration) = PendingRegistration::new(Identity::new(name).unwrap(), rng);
        let (nonces, commitments) = v.commit(xs, rng);
        let commitments = commitments
            .iter()
            .map(|c| NonceCommitment::from_bytes(&c.to_bytes()).unwrap())
            .collect();
        let request = ExtractionRequest::new(&registration, commitments).unwrap();
        let partials = v.answer(nonces, &request);
        Self {
            pending,
            request,
            partials,
        }
    }

    fn complete(self, v: &Validators) -> Result<EntityKeys> {
        self.pending
            .complete_threshold(&v.polynomial, &self.request, self.partials)
    }
}

/// Enrols "dr-bob" through nodes 1, 2 and 3, with partial key `i` replaced by what `forge`
/// makes of the honest ones; returns the enrollee's error.
fn forged_enrolment(
    v: &Validators,
    rng: &mut ChaCha20Rng,
    i: usize,
    forge: impl FnOnce(&[PartialKey]) -> PartialKey,
) -> Option<Error> {
    let mut enrolment = Enrolment::run(v, "dr-bob", &[1, 2, 3], rng);
    enrolment.partials[i] = forge(&enrolment.partials);
    enrolment.complete(v).err()
}

fn enrol(v: &Validators, name: &str, xs: &[u32], rng: &mut ChaCha20Rng) -> EntityKeys {
    Enrolment::run(v, name, xs, rng).complete(v).unwrap()
}

/// The DKG's output converts by bytes: every share matches the polynomial at x = index + 1
/// (and not at x = index), the public shares equal commonware's, and t shares interpolate to
/// the secret behind P_pub.
#[test]
fn commonware_dkg_output_converts_by_bytes() {
    let (output, shares) = run_dkg(1);
    let polynomial = polynomial_of(&output);
    assert_eq!(polynomial.threshold(), T);
    assert_eq!(
        polynomial.params().p_pub().to_compressed().as_slice(),
        output.public().public().encode().as_ref()
    );
    for share in &shares {
        let converted = share_of(share);
        assert_eq!(converted.check(&polynomial), Ok(()));
        assert_eq!(
            polynomial
                .public_share(converted.x())
                .to_compressed()
                .as_slice(),
            output
                .public()
                .partial_public(share.index)
                .unwrap()
                .encode()
                .as_ref()
        );
        if share.index.get() > 0 {
            let bytes = share_bytes(share);
            let off_by_one = MasterKeyShare::from_be_bytes(share.index.get(), &bytes).unwrap();
            assert_eq!(
                off_by_one.check(&polynomial),
                Err(Error::ShareMismatch {
                    x: share.index.get()
                })
            );
        }
    }
    // Lagrange interpolation at 0 of shares x ∈ {1, 2, 4} gives s with s·P = P_pub.
    let points: Vec<(Scalar, Scalar)> = [0usize, 1, 3]
        .iter()
        .map(|&i| {
            let x = Scalar::from(u64::from(shares[i].index.get()) + 1);
            (x, Scalar::from_bytes_be(&share_bytes(&shares[i])).unwrap())
        })
        .collect();
    let secret = points.iter().fold(Scalar::ZERO, |acc, (x, y)| {
        let lambda = points
            .iter()
            .filter(|(j, _)| j != x)
            .fold(Scalar::ONE, |l, (j, _)| l * j * (*j - x).invert().unwrap());
        acc + lambda * y
    });
    let p_pub = (G1Affine::generator() * secret).to_affine();
    assert_eq!(&p_pub, polynomial.params().p_pub());
}

/// Honest n = 4, t = 3: keys from any three nodes pass the registration checks against P_pub
/// and work for signatures and the TAKA agreement.
#[test]
fn honest_threshold_enrolment_gives_working_keys() {
    let v = Validators::from_dkg(2);
    let params = v.params();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let patient = enrol(&v, "patient-carol", &[1, 2, 3], &mut rng);
    let doctor = enrol(&v, "dr-bob", &[1, 2, 4], &mut rng);
    let hospital = enrol(&v, "hospital-a", &[2, 3, 4], &mut rng);

    let signature = Signature::sign(&doctor, &params, b"prescription", &mut rng);
    let signature = Signature::from_bytes(&signature.to_bytes()).unwrap();
    assert_eq!(
        signature.verify(&params, doctor.id(), b"prescription"),
        Ok(())
    );
    assert_eq!(
        signature.verify(&params, patient.id(), b"prescription"),
        Err(Error::BadSignature)
    );

    for (initiator, responder) in [(&doctor, &patient), (&patient, &hospital)] {
        let (state, hello) = Initiator::start(initiator, responder.id().clone(), &mut rng);
        let hello = Hello::from_bytes(&hello.to_bytes()).unwrap();
        let (reply, sk_responder) = respond(responder, &hello, &mut rng).unwrap();
        let sk_initiator = state.finish(initiator, &reply).unwrap();
        assert_eq!(sk_initiator, sk_responder);
    }

    // Stored keys reload under the polynomial's parameters.
    let reloaded = EntityKeys::from_bytes(&params, &doctor.to_bytes()).unwrap();
    assert_eq!(reloaded.l(), doctor.l());
}

/// Nodes and enrollee derive the same L_U from the request; the keys sign with it.
#[test]
fn everyone_derives_the_same_l_u() {
    let v = Validators::from_dkg(3);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let enrolment = Enrolment::run(&v, "dr-bob", &[1, 3, 4], &mut rng);
    let l_u = enrolment.request.l_u(&v.polynomial).unwrap();
    let decoded = ExtractionRequest::from_bytes(&enrolment.request.to_bytes()).unwrap();
    assert_eq!(decoded.l_u(&v.polynomial), Ok(l_u));
    assert_ne!(&l_u, enrolment.request.l_u1());
    let keys = enrolment.complete(&v).unwrap();
    assert_eq!(keys.l(), &l_u);
}

/// Honest partial keys are not checked one by one: combining costs one registration check
/// (4 Miller loops), and the per-node checks (4 more per node) run only to name a culprit.
#[test]
fn honest_combination_costs_one_registration_check() {
    let v = Validators::from_dkg(11);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let enrolment = Enrolment::run(&v, "dr-bob", &[1, 2, 3], &mut rng);
    let (keys, honest) = taka::ops::measure(|| enrolment.complete(&v));
    assert!(keys.is_ok());
    assert_eq!((honest.pairings, honest.final_exps), (4, 2));

    // Partials in any order; node 3's d_x is another enrolment's.
    let other = Enrolment::run(&v, "dr-eve", &[1, 2, 3], &mut rng);
    let mut enrolment = Enrolment::run(&v, "dr-bob", &[1, 2, 3], &mut rng);
    enrolment.partials.swap(0, 1);
    enrolment.partials[2] = splice(&enrolment.partials[2], &other.partials[2], 4..36);
    let (result, byzantine) = taka::ops::measure(|| enrolment.complete(&v));
    assert_eq!(result.err(), Some(Error::BadPartialKey { x: 3 }));
    // d checks need no pairing and come first: the combined d_U fails, nodes 1 and 2 pass
    // (4 Miller loops each), node 3's d_x fails.
    assert_eq!(byzantine.pairings, 2 * 4);
}

/// Replaces `range` of a partial key's encoding (x ‖ d ‖ Ŝ ‖ Š) with the same range of
/// `donor`'s, so the result still decodes.
fn splice(partial: &PartialKey, donor: &PartialKey, range: std::ops::Range<usize>) -> PartialKey {
    let mut bytes = partial.to_bytes().to_vec();
    bytes[range.clone()].copy_from_slice(&donor.to_bytes()[range]);
    PartialKey::from_bytes(&bytes).unwrap()
}

/// A Byzantine node sending a wrong d_x, Ŝ_x or Š_x (well-formed, so only the cryptographic
/// checks can catch it) is detected and named.
#[test]
fn byzantine_partials_are_detected_and_attributed() {
    let v = Validators::from_dkg(4);
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let other = Enrolment::run(&v, "dr-eve", &[1, 2, 3], &mut rng);
    for (field, range) in [("d", 4..36), ("S_hat", 36..84), ("S_check", 84..180)] {
        for liar in [1u32, 2, 3] {
            let i = liar as usize - 1;
            let result = forged_enrolment(&v, &mut rng, i, |honest| {
                splice(&honest[i], &other.partials[i], range.clone())
            });
            assert_eq!(
                result,
                Some(Error::BadPartialKey { x: liar }),
                "forged {field} from node {liar}"
            );
        }
    }
    // A node answering with its honest partial key for another identity's request.
    let result = forged_enrolment(&v, &mut rng, 1, |_| other.partials[1].clone());
    assert_eq!(result, Some(Error::BadPartialKey { x: 2 }));
}

/// With one of three chosen nodes down, the enrollee gets a clear error naming the count.
#[test]
fn fewer_than_t_partials_is_a_clear_error() {
    let v = Validators::from_dkg(5);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut enrolment = Enrolment::run(&v, "patient-carol", &[1, 2, 4], &mut rng);
    enrolment.partials.remove(2);
    let err = enrolment.complete(&v).unwrap_err();
    assert_eq!(err, Error::NotEnoughPartials { got: 2, need: 3 });
    assert_eq!(err.to_string(), "2 partial keys, 3 needed");

    let enrolment = Enrolment {
        partials: Vec::new(),
        ..Enrolment::run(&v, "patient-carol", &[1, 2, 4], &mut rng)
    };
    assert_eq!(
        enrolment.complete(&v).err(),
        Some(Error::NotEnoughPartials { got: 0, need: 3 })
    );
}

/// Partial keys from nodes outside the request, or twice from one node, are refused.
#[test]
fn unexpected_and_duplicate_partials_are_refused() {
    let v = Validators::from_dkg(6);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let outsider = Enrolment::run(&v, "dr-bob", &[2, 3, 4], &mut rng);
    let result = forged_enrolment(&v, &mut rng, 0, |_| outsider.partials[2].clone());
    assert_eq!(result, Some(Error::UnexpectedPartial { x: 4 }));
    let result = forged_enrolment(&v, &mut rng, 0, |honest| honest[1].clone());
    assert_eq!(result, Some(Error::UnexpectedPartial { x: 2 }));
}

/// The enrollee cannot combine partials for one registration into another's keys.
#[test]
fn request_of_another_registration_is_rejected() {
    let v = Validators::from_dkg(7);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let first = Enrolment::run(&v, "dr-bob", &[1, 2, 3], &mut rng);
    let second = Enrolment::run(&v, "dr-bob", &[1, 2, 3], &mut rng);
    let result = first
        .pending
        .complete_threshold(&v.polynomial, &second.request, second.partials);
    assert_eq!(
        result.err(),
        Some(Error::RegistrationRejected(
            "extraction request is for another registration"
        ))
    );
}

/// A node answers only a request carrying its own commitment, with nonces of its own share.
#[test]
fn nodes_refuse_requests_without_their_commitment() {
    let v = Validators::from_dkg(8);
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let (_, registration) = PendingRegistration::new(Identity::new("dr-bob").unwrap(), &mut rng);
    let (mut nonces, commitments) = v.commit(&[1, 2, 3], &mut rng);
    let request = ExtractionRequest::new(&registration, commitments).unwrap();

    // Node 1's commitment in the request was replaced by another of node 1's commitments.
    let (fresh, _) = v.share(1).commit(&mut rng);
    let refused = v.share(1).extract(fresh, &request, &v.polynomial);
    assert!(matches!(refused, Err(Error::InvalidExtractionRequest(_))));

    // Node 4, whose commitment is not in the request.
    let (outsider, _) = v.share(4).commit(&mut rng);
    let refused = v.share(4).extract(outsider, &request, &v.polynomial);
    assert!(matches!(refused, Err(Error::InvalidExtractionRequest(_))));

    // Node 2 handed node 1's nonces.
    let node1 = nonces.remove(0);
    let refused = v.share(2).extract(node1, &request, &v.polynomial);
    assert!(matches!(refused, Err(Error::InvalidExtractionRequest(_))));

    // The honest answer still works for the nodes whose nonces are unused.
    let node2 = nonces.remove(0);
    assert!(v.share(2).extract(node2, &request, &v.polynomial).is_ok());
}

/// Requests must carry exactly t commitments, sorted by x and from distinct nodes.
#[test]
fn malformed_requests_are_refused() {
    let v = Validators::from_dkg(9);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (_, registration) = PendingRegistration::new(Identity::new("dr-bob").unwrap(), &mut rng);

    for xs in [&[1u32, 2][..], &[1, 2, 3, 4][..]] {
        let (mut nonces, commitments) = v.commit(xs, &mut rng);
        let request = ExtractionRequest::new(&registration, commitments).unwrap();
        let refused = v
            .share(1)
            .extract(nonces.remove(0), &request, &v.polynomial);
        assert_eq!(
            refused.err(),
            Some(Error::InvalidExtractionRequest(
                "the request must carry exactly threshold-many commitments"
            )),
            "{} commitments",
            xs.len()
        );
        assert!(request.l_u(&v.polynomial).is_err());
    }

    let (_, commitments) = v.commit(&[1, 2, 2], &mut rng);
    assert_eq!(
        ExtractionRequest::new(&registration, commitments).err(),
        Some(Error::InvalidList("nonce commitments"))
    );
    assert_eq!(
        ExtractionRequest::new(&registration, Vec::new()).err(),
        Some(Error::InvalidList("nonce commitments"))
    );

    // On the wire: swap the first two commitments (unsorted), then duplicate the first.
    let (_, commitments) = v.commit(&[3, 1, 2], &mut rng);
    let request = ExtractionRequest::new(&registration, commitments).unwrap();
    assert_eq!(
        request
            .commitments()
            .iter()
            .map(NonceCommitment::x)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let bytes = request.to_bytes();
    let start = bytes.len() - 3 * NonceCommitment::ENCODED_LEN;
    let (first, second) = (start..start + 100, start + 100..start + 200);
    let mut unsorted = bytes.clone();
    unsorted[first.clone()].copy_from_slice(&bytes[second.clone()]);
    unsorted[second.clone()].copy_from_slice(&bytes[first.clone()]);
    assert_eq!(
        ExtractionRequest::from_bytes(&unsorted).err(),
        Some(Error::InvalidList("nonce commitments"))
    );
    let mut duplicated = bytes.clone();
    duplicated[second].copy_from_slice(&bytes[first]);
    assert_eq!(
        ExtractionRequest::from_bytes(&duplicated).err(),
        Some(Error::InvalidList("nonce commitments"))
    );
}

/// Shares and polynomials from the DKG are validated on the way in.
#[test]
fn bad_shares_and_coefficients_are_refused() {
    let v = Validators::from_dkg(10);
    assert!(MasterKeyShare::from_be_bytes(0, &[1; 32]).is_err());
    assert_eq!(
        MasterKeyShare::from_be_bytes(1, &[0; 32]).err(),
        Some(Error::ZeroScalar("master key share"))
    );
    assert!(MasterKeyShare::from_be_bytes(1, &[0xff; 32]).is_err());
    let mut one = [0u8; 32];
    one[31] = 1;
    let wrong = MasterKeyShare::from_be_bytes(3, &one).unwrap();
    assert_eq!(
        wrong.check(&v.polynomial),
        Err(Error::ShareMismatch { x: 3 })
    );

    assert!(PublicPolynomial::from_compressed_coefficients(&[]).is_err());
    assert!(PublicPolynomial::from_compressed_coefficients(&[[0x12; 48]]).is_err());
    let identity = G1Affine::identity().to_compressed();
    assert!(PublicPolynomial::from_compressed_coefficients(&[identity]).is_err());
    let too_many = vec![G1Affine::generator().to_compressed(); PublicPolynomial::MAX_THRESHOLD + 1];
    assert!(PublicPolynomial::from_compressed_coefficients(&too_many).is_err());
}

/// Every encoding of a new type round-trips exactly; every truncation and extension is refused.
fn assert_canonical<T>(
    what: &str,
    bytes: &[u8],
    decode: impl Fn(&[u8]) -> Result<T>,
    encode: impl Fn(&T) -> Vec<u8>,
) {
    let value = decode(bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(encode(&value), bytes, "{what} round trip");
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "{what} truncated to {len}");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(decode(&longer).is_err(), "{what} with a trailing byte");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn new_types_round_trip_and_refuse_truncation(seed in any::<u64>()) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let pkg = Pkg::setup(&mut rng);
        let (polynomial, shares) = pkg.deal_shares(4, 3, &mut rng).unwrap();
        let v = Validators { polynomial, shares };
        let enrolment = Enrolment::run(&v, "patient-carol", &[1, 3, 4], &mut rng);
        let commitment = enrolment.request.commitments()[0];

        assert_canonical("polynomial", &v.polynomial.to_bytes(), PublicPolynomial::from_bytes, PublicPolynomial::to_bytes);
        assert_canonical("params", &v.params().to_bytes(), PublicParams::from_bytes, PublicParams::to_bytes);
        assert_canonical("commitment", &commitment.to_bytes(), NonceCommitment::from_bytes, NonceCommitment::to_bytes);
        assert_canonical("request", &enrolment.request.to_bytes(), ExtractionRequest::from_bytes, ExtractionRequest::to_bytes);
        assert_canonical("partial key", &enrolment.partials[0].to_bytes(), PartialKey::from_bytes, |p| p.to_bytes().to_vec());
        prop_assert_eq!(commitment.to_bytes().len(), NonceCommitment::ENCODED_LEN);
        prop_assert_eq!(enrolment.partials[0].to_bytes().len(), PartialKey::ENCODED_LEN);
        prop_assert_eq!(&v.params(), pkg.params());
        prop_assert!(enrolment.complete(&v).is_ok());
    }
}
