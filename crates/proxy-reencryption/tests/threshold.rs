//! 2-of-3 threshold re-encryption end to end, and every refusal.

use proxy_reencryption::{
    CapsuleFragBytes, EncryptedRecord, PreError, ProxyKey, ResearcherKey, SealedKeyFrag, StudyKeys,
    grant, reencrypt,
};
use sha2::{Digest, Sha256};

const SEED: [u8; 32] = [7; 32];
const STUDY: [u8; 32] = [1; 32];
const ENROLMENT: [u8; 32] = [42; 32];
const RECORD: &[u8] = b"{\"resourceType\":\"Bundle\",\"type\":\"collection\"}";

/// A patient, a researcher and three proxies after a 2-of-3 grant for `ENROLMENT`.
struct Fixture {
    keys: StudyKeys,
    researcher: ResearcherKey,
    proxies: Vec<ProxyKey>,
    sealed: Vec<SealedKeyFrag>,
    record: EncryptedRecord,
}

impl Fixture {
    fn new() -> Self {
        let keys = StudyKeys::derive(&SEED, &STUDY);
        let researcher = ResearcherKey::generate();
        let proxies: Vec<ProxyKey> = (0..3).map(|_| ProxyKey::generate()).collect();
        let publics: Vec<[u8; 32]> = proxies.iter().map(ProxyKey::public).collect();
        let sealed = grant(&keys, &researcher.public(), 2, &publics, &ENROLMENT).unwrap();
        let record = EncryptedRecord::encrypt(&keys.delegating_public(), RECORD).unwrap();
        Self {
            keys,
            researcher,
            proxies,
            sealed,
            record,
        }
    }

    /// Proxy `index` opens its own fragment and re-encrypts (what `medchain cloud` does).
    fn cfrag(&self, index: usize) -> CapsuleFragBytes {
        let kfrag = self.proxies[index]
            .open_kfrag(
                &self.sealed[index],
                &ENROLMENT,
                &self.keys.delegating_public(),
                &self.keys.verifying_public(),
                &self.researcher.public(),
            )
            .unwrap();
        // The proxy only has the uploaded bytes.
        let capsule =
            proxy_reencryption::RecordCapsule::from_record_bytes(&self.record.to_bytes()).unwrap();
        reencrypt(&kfrag, &capsule)
    }

    fn open(&self, cfrags: &[CapsuleFragBytes]) -> Result<Vec<u8>, PreError> {
        self.researcher.open(
            &self.record,
            cfrags,
            &self.keys.delegating_public(),
            &self.keys.verifying_public(),
            2,
        )
    }
}

#[test]
fn two_of_three_round_trip() {
    let fixture = Fixture::new();
    assert_eq!(fixture.sealed.len(), 3);
    let plaintext = fixture.open(&[fixture.cfrag(0), fixture.cfrag(1)]).unwrap();
    assert_eq!(plaintext, RECORD);
    // All three also work.
    let all = [fixture.cfrag(0), fixture.cfrag(1), fixture.cfrag(2)];
    assert_eq!(fixture.open(&all).unwrap(), RECORD);
}

#[test]
fn any_two_proxies_suffice_when_one_is_down() {
    let fixture = Fixture::new();
    for (a, b) in [(0, 2), (1, 2)] {
        let plaintext = fixture.open(&[fixture.cfrag(a), fixture.cfrag(b)]).unwrap();
        assert_eq!(plaintext, RECORD);
    }
}

#[test]
fn fewer_than_threshold_cfrags_are_refused() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture.open(&[fixture.cfrag(0)]),
        Err(PreError::NotEnoughCapsuleFrags {
            valid: 1,
            threshold: 2
        })
    );
    // The same proxy asked twice is still one fragment.
    assert_eq!(
        fixture.open(&[fixture.cfrag(1), fixture.cfrag(1)]),
        Err(PreError::NotEnoughCapsuleFrags {
            valid: 1,
            threshold: 2
        })
    );
    assert!(matches!(
        fixture.open(&[]),
        Err(PreError::NotEnoughCapsuleFrags { valid: 0, .. })
    ));
}

#[test]
fn a_corrupted_cfrag_is_detected_and_named() {
    let fixture = Fixture::new();
    let good = fixture.cfrag(0);
    // A proxy that answers with another study's fragment: decodes, does not verify.
    let other = Fixture::new();
    let foreign = other.cfrag(1);
    let err = fixture.open(&[good.clone(), foreign]).unwrap_err();
    assert!(
        matches!(err, PreError::BadCapsuleFrag { index: 1, .. }),
        "{err:?}"
    );

    // A flipped byte inside a valid encoding: either no longer decodes or fails verification.
    let honest = fixture.cfrag(2);
    let mut bytes = honest.as_bytes().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    match CapsuleFragBytes::from_bytes(&bytes) {
        Err(err) => assert_eq!(err, PreError::MalformedCapsuleFrag),
        Ok(tampered) => {
            let err = fixture.open(&[tampered, good.clone()]).unwrap_err();
            assert!(
                matches!(err, PreError::BadCapsuleFrag { index: 0, .. }),
                "{err:?}"
            );
        }
    }
    let err = fixture
        .researcher
        .check_cfrag(
            fixture.record.capsule(),
            &other.cfrag(0),
            &fixture.keys.delegating_public(),
            &fixture.keys.verifying_public(),
        )
        .unwrap_err();
    assert!(matches!(err, PreError::BadCapsuleFrag { .. }));
    fixture
        .researcher
        .check_cfrag(
            fixture.record.capsule(),
            &good,
            &fixture.keys.delegating_public(),
            &fixture.keys.verifying_public(),
        )
        .unwrap();
}

#[test]
fn a_kfrag_sealed_for_proxy_one_is_refused_by_proxy_two() {
    let fixture = Fixture::new();
    let err = fixture.proxies[1]
        .open_kfrag(
            &fixture.sealed[0],
            &ENROLMENT,
            &fixture.keys.delegating_public(),
            &fixture.keys.verifying_public(),
            &fixture.researcher.public(),
        )
        .unwrap_err();
    assert_eq!(err, PreError::SealNotForUs);
}

#[test]
fn a_kfrag_for_another_enrolment_is_refused() {
    let fixture = Fixture::new();
    let err = fixture.proxies[0]
        .open_kfrag(
            &fixture.sealed[0],
            &[43; 32],
            &fixture.keys.delegating_public(),
            &fixture.keys.verifying_public(),
            &fixture.researcher.public(),
        )
        .unwrap_err();
    assert_eq!(err, PreError::SealNotForUs);
}

#[test]
fn a_kfrag_is_verified_against_the_enrolment_keys() {
    let fixture = Fixture::new();
    let other_study = StudyKeys::derive(&SEED, &[2; 32]);
    let open = |delegating: &[u8; 33], verifying: &[u8; 33], receiving: &[u8; 33]| {
        fixture.proxies[0].open_kfrag(
            &fixture.sealed[0],
            &ENROLMENT,
            delegating,
            verifying,
            receiving,
        )
    };
    let delegating = fixture.keys.delegating_public();
    let verifying = fixture.keys.verifying_public();
    let receiving = fixture.researcher.public();
    for result in [
        open(&other_study.delegating_public(), &verifying, &receiving),
        open(&delegating, &other_study.verifying_public(), &receiving),
        open(&delegating, &verifying, &ResearcherKey::generate().public()),
    ] {
        assert!(
            matches!(result, Err(PreError::KeyFragRejected(_))),
            "{result:?}"
        );
    }
    assert_eq!(
        open(&[0; 33], &verifying, &receiving).unwrap_err(),
        PreError::BadPublicKey { role: "delegating" }
    );
}

#[test]
fn study_keys_are_deterministic_and_unlinkable_across_studies() {
    let first = StudyKeys::derive(&SEED, &STUDY);
    let again = StudyKeys::derive(&SEED, &STUDY);
    let other = StudyKeys::derive(&SEED, &[2; 32]);
    assert_eq!(first.delegating_public(), again.delegating_public());
    assert_eq!(first.verifying_public(), again.verifying_public());
    assert_ne!(first.delegating_public(), other.delegating_public());
    assert_ne!(first.verifying_public(), other.verifying_public());
    assert_ne!(first.delegating_public(), first.verifying_public());
    let researcher = ResearcherKey::derive(&SEED);
    assert_eq!(researcher.public(), ResearcherKey::derive(&SEED).public());
}

#[test]
fn keys_round_trip_through_bytes() {
    let researcher = ResearcherKey::generate();
    let back = ResearcherKey::from_bytes(researcher.to_bytes().as_ref()).unwrap();
    assert_eq!(back.public(), researcher.public());
    let proxy = ProxyKey::generate();
    let back = ProxyKey::from_bytes(proxy.to_bytes().as_ref()).unwrap();
    assert_eq!(back.public(), proxy.public());
}

#[test]
fn grant_refuses_a_bad_threshold() {
    let keys = StudyKeys::derive(&SEED, &STUDY);
    let receiving = ResearcherKey::generate().public();
    let proxies = [ProxyKey::generate().public(), ProxyKey::generate().public()];
    for threshold in [0, 3] {
        assert_eq!(
            grant(&keys, &receiving, threshold, &proxies, &ENROLMENT).unwrap_err(),
            PreError::BadThreshold {
                threshold,
                proxies: 2
            }
        );
    }
    assert_eq!(
        grant(&keys, &[0; 33], 1, &proxies, &ENROLMENT).unwrap_err(),
        PreError::BadPublicKey { role: "receiving" }
    );
}

#[test]
fn encrypted_records_round_trip_and_hash_their_canonical_bytes() {
    let fixture = Fixture::new();
    let bytes = fixture.record.to_bytes();
    let back = EncryptedRecord::from_bytes(&bytes).unwrap();
    assert_eq!(back, fixture.record);
    assert_eq!(back.hash(), <[u8; 32]>::from(Sha256::digest(&bytes)));
}

#[test]
fn malformed_bytes_are_refused_by_every_decoder() {
    let fixture = Fixture::new();
    let record = fixture.record.to_bytes();
    let cfrag = fixture.cfrag(0);
    let sealed = fixture.sealed[0].as_bytes().to_vec();
    let cfrags = [fixture.cfrag(0), fixture.cfrag(1)];
    for input in junk_variants(&record) {
        let _ = proxy_reencryption::RecordCapsule::from_record_bytes(&input);
        if input == record {
            continue;
        }
        // The ciphertext is only authenticated on decryption: altered bytes that still decode
        // must fail there (the chain's ciphertext_hash refuses them before that).
        if let Ok(altered) = EncryptedRecord::from_bytes(&input) {
            let result = fixture.researcher.open(
                &altered,
                &cfrags,
                &fixture.keys.delegating_public(),
                &fixture.keys.verifying_public(),
                2,
            );
            assert!(
                matches!(result, Err(PreError::Decrypt(_))),
                "{}: {result:?}",
                hex::encode(&input[..input.len().min(8)])
            );
        }
    }
    for input in junk_variants(cfrag.as_bytes()) {
        if let Ok(parsed) = CapsuleFragBytes::from_bytes(&input) {
            // Decodes (a flipped byte inside a field) but must not verify.
            if input != cfrag.as_bytes() {
                let err = fixture.open(&[parsed, fixture.cfrag(1)]).unwrap_err();
                assert!(
                    matches!(err, PreError::BadCapsuleFrag { index: 0, .. }),
                    "{err:?}"
                );
            }
        }
    }
    for input in junk_variants(&sealed) {
        if input == sealed {
            continue;
        }
        if let Ok(parsed) = SealedKeyFrag::from_bytes(&input) {
            let result = fixture.proxies[0].open_kfrag(
                &parsed,
                &ENROLMENT,
                &fixture.keys.delegating_public(),
                &fixture.keys.verifying_public(),
                &fixture.researcher.public(),
            );
            assert!(result.is_err());
        }
    }
    for input in [&[][..], &[1; 31], &[0xff; 32], &[1; 33]] {
        assert!(ResearcherKey::from_bytes(input).is_err(), "{input:?}");
    }
    for input in [&[][..], &[1; 31], &[1; 33]] {
        assert!(ProxyKey::from_bytes(input).is_err(), "{input:?}");
    }
    assert_eq!(
        EncryptedRecord::from_bytes(&[]).unwrap_err(),
        PreError::MalformedRecord("shorter than its header")
    );
    let mut non_canonical = record.clone();
    non_canonical[0] = 2;
    assert_eq!(
        EncryptedRecord::from_bytes(&non_canonical).unwrap_err(),
        PreError::MalformedRecord("unknown version")
    );
}

/// Truncations, extensions, byte flips at many positions and random-looking garbage.
fn junk_variants(valid: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new(), vec![0], vec![0xff; 7], vec![0x93; 200]];
    for cut in [1, 2, 3, 10, valid.len() / 2, valid.len().saturating_sub(1)] {
        out.push(valid[..cut.min(valid.len())].to_vec());
    }
    let mut longer = valid.to_vec();
    longer.push(0);
    out.push(longer);
    let step = (valid.len() / 40).max(1);
    for position in (0..valid.len().min(300)).step_by(step) {
        let mut flipped = valid.to_vec();
        flipped[position] ^= 0x5a;
        out.push(flipped);
    }
    out
}
