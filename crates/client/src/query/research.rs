//! The research market's state (S4-flow, S4-exclusive), each query naming the key its proof
//! must be for.

use super::StateQuery;
use medchain_state::{
    keys,
    values::{AccumulatorState, Attestation, Circuit, Enrolment, Exclusivity, Proxy, Study},
};
use medchain_types::{Address, EnrolmentId, Hash32, RecordId, StudyId};

impl StateQuery<Circuit> {
    /// A registered circuit, by its verifying key's digest.
    pub fn circuit(digest: &Hash32) -> Self {
        Self::new(
            format!("/v1/state/research/circuits/{}", hex::encode(digest)),
            keys::circuit(digest),
        )
    }
}

impl StateQuery<Hash32> {
    /// A patient's nullifier key; proven absent until the patient files one.
    pub fn nullifier_key(patient: &Address) -> Self {
        Self::new(
            format!("/v1/state/research/nullifier-keys/{patient}"),
            keys::nullifier_key(patient),
        )
    }
}

impl StateQuery<Attestation> {
    /// The attestation of a record's commitment by its hospital.
    pub fn attestation(record: &RecordId) -> Self {
        Self::new(
            format!("/v1/state/research/attestations/{record}"),
            keys::attestation(record),
        )
    }
}

impl StateQuery<AccumulatorState> {
    /// The accumulator of attested commitments: frontier, root and number of leaves.
    pub fn accumulator() -> Self {
        Self::new("/v1/state/research/accumulator".into(), keys::accumulator())
    }
}

impl StateQuery<u64> {
    /// How many leaves the accumulator held when it had `root`; proven absent if it never did.
    pub fn accumulator_root(root: &Hash32) -> Self {
        Self::new(
            format!("/v1/state/research/roots/{}", hex::encode(root)),
            keys::accumulator_root(root),
        )
    }
}

impl StateQuery<Proxy> {
    /// A registered cloud proxy.
    pub fn proxy(address: &Address) -> Self {
        Self::new(
            format!("/v1/state/research/proxies/{address}"),
            keys::proxy(address),
        )
    }
}

impl StateQuery<Study> {
    /// A study contract and its pool.
    pub fn study(id: &StudyId) -> Self {
        Self::new(format!("/v1/state/research/studies/{id}"), keys::study(id))
    }
}

impl StateQuery<Enrolment> {
    /// An accepted enrolment.
    pub fn enrolment(id: &EnrolmentId) -> Self {
        Self::new(
            format!("/v1/state/research/enrolments/{id}"),
            keys::enrolment(id),
        )
    }
}

impl StateQuery<EnrolmentId> {
    /// The enrolment that used `nullifier` in `study`; proven absent if none did.
    pub fn study_nullifier(study: &StudyId, nullifier: &Hash32) -> Self {
        Self::new(
            format!(
                "/v1/state/research/study-nullifiers/{study}/{}",
                hex::encode(nullifier)
            ),
            keys::study_nullifier(study, nullifier),
        )
    }
}

impl StateQuery<Exclusivity> {
    /// A record's exclusivity, by its exclusivity nullifier; proven absent if never used.
    pub fn exclusivity(nullifier: &Hash32) -> Self {
        Self::new(
            format!("/v1/state/research/exclusivity/{}", hex::encode(nullifier)),
            keys::exclusivity(nullifier),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::{address, record_id};

    #[test]
    fn research_paths_name_their_keys() {
        let hash = Hash32::from([7; 32]);
        let study = StudyId(record_id(1).0);
        let circuit = StateQuery::circuit(&hash);
        assert_eq!(
            circuit.path(),
            format!("/v1/state/research/circuits/{}", "07".repeat(32))
        );
        assert_eq!(circuit.key(), &keys::circuit(&hash));
        let nullifier = StateQuery::study_nullifier(&study, &hash).at_height(5);
        assert_eq!(
            nullifier.path(),
            format!(
                "/v1/state/research/study-nullifiers/{study}/{}?height=5",
                "07".repeat(32)
            )
        );
        assert_eq!(nullifier.key(), &keys::study_nullifier(&study, &hash));
        // A nullifier in another study is another key.
        let other = StudyId(record_id(2).0);
        assert_ne!(nullifier.key(), &keys::study_nullifier(&other, &hash));
        assert_eq!(
            StateQuery::nullifier_key(&address(1)).key(),
            &keys::nullifier_key(&address(1))
        );
        assert_eq!(
            StateQuery::accumulator_root(&hash).path(),
            format!("/v1/state/research/roots/{}", "07".repeat(32))
        );
        assert_eq!(StateQuery::accumulator().key(), &keys::accumulator());
        assert_eq!(StateQuery::study(&study).key(), &keys::study(&study));
    }
}
