//! Eligibility predicates: an AND of OR-groups of interval clauses over encoded attributes.
//!
//! A [`Clause`] says: *some attribute index in `first..=last` holds a present value `v` with
//! `low ≤ v ≤ high`* (or, when negated, with `v` outside that interval). Every text operator
//! (`==`, `!=`, `>=`, `<=`, `>`, `<`, `in a..=b`) lowers to this one form, which is what the
//! circuit evaluates (S4-flow step 4: the institution's requirement R). A [`Predicate`] is a
//! conjunction of groups, each group a disjunction of clauses (CNF).

mod parse;
pub(crate) mod slots;

use crate::codec::{FIELD_BYTES, Reader, fr_from_slice, fr_to_bytes};
use crate::error::{Result, ZkError};
use crate::poseidon::Fr;
use crate::record::{MISSING, Record};
use crate::shape::{CircuitShape, MAX_CLAUSES};

/// One interval test on an attribute index range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Clause {
    first: u32,
    last: u32,
    low: u64,
    high: u64,
    negated: bool,
}

impl Clause {
    /// `∃ i ∈ first..=last: v_i present ∧ (low ≤ v_i ≤ high) ≠ negated`.
    ///
    /// Requires `first ≤ last` and `1 ≤ low ≤ high` (encoded values start at 1; 0 is missing).
    pub fn new(first: u32, last: u32, low: u64, high: u64, negated: bool) -> Result<Self> {
        if first > last {
            return Err(ZkError::InvalidPredicate(format!(
                "attribute range {first}..={last} is empty"
            )));
        }
        if low == MISSING || low > high {
            return Err(ZkError::InvalidPredicate(format!(
                "value interval {low}..={high} is empty or includes the missing marker"
            )));
        }
        Ok(Self {
            first,
            last,
            low,
            high,
            negated,
        })
    }

    /// A clause on one attribute index.
    pub fn on(index: u32, low: u64, high: u64, negated: bool) -> Result<Self> {
        Self::new(index, index, low, high, negated)
    }

    /// First index the clause may look at.
    pub fn first(&self) -> u32 {
        self.first
    }

    /// Last index the clause may look at.
    pub fn last(&self) -> u32 {
        self.last
    }

    /// Inclusive encoded interval `(low, high)`.
    pub fn interval(&self) -> (u64, u64) {
        (self.low, self.high)
    }

    /// Whether the clause asks for a value *outside* the interval.
    pub fn negated(&self) -> bool {
        self.negated
    }

    /// Whether one value satisfies the clause (missing values never do).
    pub fn accepts(&self, value: u64) -> bool {
        value != MISSING && ((self.low..=self.high).contains(&value) != self.negated)
    }

    /// The first index whose value satisfies the clause, if any; indices past the record are
    /// missing.
    pub fn witness_index(&self, values: &[u64]) -> Option<u32> {
        (self.first..=self.last).find(|&i| {
            let value = values.get(i as usize).copied().unwrap_or(MISSING);
            self.accepts(value)
        })
    }
}

/// A conjunction of disjunctive groups of clauses, at most 64 clauses in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Predicate {
    groups: Vec<Vec<Clause>>,
}

const PREDICATE_MAGIC: &[u8] = b"MCZKPR\x01";
const CLAUSE_BYTES: usize = 4 + 4 + 8 + 8 + 1;

impl Predicate {
    /// `AND` over `groups`, each group an `OR` of its clauses. No group may be empty.
    pub fn new(groups: Vec<Vec<Clause>>) -> Result<Self> {
        if groups.is_empty() || groups.iter().any(Vec::is_empty) {
            return Err(ZkError::InvalidPredicate("empty predicate or group".into()));
        }
        let count: usize = groups.iter().map(Vec::len).sum();
        if count > usize::from(MAX_CLAUSES) {
            return Err(ZkError::InvalidPredicate(format!(
                "{count} clauses, at most {MAX_CLAUSES}"
            )));
        }
        Ok(Self { groups })
    }

    /// `AND` of single clauses.
    pub fn all(clauses: Vec<Clause>) -> Result<Self> {
        Self::new(clauses.into_iter().map(|c| vec![c]).collect())
    }

    /// The OR-groups, ANDed together.
    pub fn groups(&self) -> &[Vec<Clause>] {
        &self.groups
    }

    /// Total number of clauses (circuit slots used).
    pub fn clause_count(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    /// Evaluates the predicate on a record, in the clear.
    pub fn evaluate(&self, record: &Record) -> bool {
        let values = record.values();
        self.groups.iter().all(|group| {
            group
                .iter()
                .any(|clause| clause.witness_index(values).is_some())
        })
    }

    /// Checks that the predicate fits a circuit: at most `K` clauses, indices below `N`.
    pub fn check_fits(&self, shape: &CircuitShape) -> Result<()> {
        if self.clause_count() > usize::from(shape.max_clauses()) {
            return Err(ZkError::InvalidPredicate(format!(
                "{} clauses, the circuit has {} slots",
                self.clause_count(),
                shape.max_clauses()
            )));
        }
        let beyond = self.clauses().find(|c| c.last >= shape.num_attributes());
        if let Some(clause) = beyond {
            return Err(ZkError::InvalidPredicate(format!(
                "attribute index {} outside a record of {} attributes",
                clause.last,
                shape.num_attributes()
            )));
        }
        Ok(())
    }

    /// The public digest a verifier recomputes (see [`slots`] for the hashed layout).
    pub fn digest(&self, shape: &CircuitShape) -> Result<PredicateDigest> {
        let slots = slots::lower(self, shape)?;
        Ok(PredicateDigest(slots::digest(shape, &slots)))
    }

    fn clauses(&self) -> impl Iterator<Item = &Clause> {
        self.groups.iter().flatten()
    }

    /// Wire form: magic+version (7 bytes), group count (u8), then per group its clause count
    /// (u8) and clauses (`first` u32, `last` u32, `low` u64, `high` u64, `negated` u8).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            PREDICATE_MAGIC.len() + 1 + self.groups.len() + CLAUSE_BYTES * self.clause_count(),
        );
        out.extend_from_slice(PREDICATE_MAGIC);
        // `new` bounds groups and clauses by 64, so the counts fit in a byte.
        out.push(self.groups.len() as u8);
        for group in &self.groups {
            out.push(group.len() as u8);
            for clause in group {
                out.extend_from_slice(&clause.first.to_le_bytes());
                out.extend_from_slice(&clause.last.to_le_bytes());
                out.extend_from_slice(&clause.low.to_le_bytes());
                out.extend_from_slice(&clause.high.to_le_bytes());
                out.push(u8::from(clause.negated));
            }
        }
        out
    }

    /// Decodes [`Self::to_bytes`], re-validating every clause.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new("predicate", bytes);
        reader.expect_magic(PREDICATE_MAGIC)?;
        let group_count = reader.u8()?;
        let mut groups = Vec::with_capacity(usize::from(group_count));
        for _ in 0..group_count {
            let clause_count = reader.u8()?;
            let group = (0..clause_count)
                .map(|_| read_clause(&mut reader))
                .collect::<Result<Vec<_>>>()?;
            groups.push(group);
        }
        reader.finish()?;
        Self::new(groups)
    }
}

fn read_clause(reader: &mut Reader<'_>) -> Result<Clause> {
    let (first, last) = (reader.u32()?, reader.u32()?);
    let (low, high) = (reader.u64()?, reader.u64()?);
    let negated = reader.bool()?;
    Clause::new(first, last, low, high, negated)
}

/// Poseidon digest of a predicate padded to the circuit's `K` slots: a public input of the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PredicateDigest(pub(crate) Fr);

impl PredicateDigest {
    /// Canonical 32-byte encoding.
    pub fn to_bytes(&self) -> [u8; FIELD_BYTES] {
        fr_to_bytes(&self.0)
    }

    /// Decodes exactly 32 canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        fr_from_slice("predicate digest", bytes).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn clause(index: u32, low: u64, high: u64) -> Clause {
        Clause::on(index, low, high, false).expect("valid clause")
    }

    #[test]
    fn evaluation_is_an_and_of_ors_and_missing_never_matches() {
        let record = Record::new(vec![5, MISSING, 9]).expect("record");
        let p = |groups| Predicate::new(groups).expect("predicate").evaluate(&record);
        assert!(p(vec![vec![clause(0, 1, 5)], vec![clause(2, 9, 9)]]));
        assert!(!p(vec![vec![clause(0, 1, 4)], vec![clause(2, 9, 9)]]));
        assert!(p(vec![vec![clause(0, 1, 4), clause(2, 9, 9)]]));
        assert!(!p(vec![vec![clause(1, 1, u64::MAX)]]));
        let not_five = Clause::on(1, 5, 5, true).expect("clause");
        assert!(!p(vec![vec![not_five]]), "a missing value is not `!= 5`");
        let any_nine = Clause::new(0, 2, 9, 9, false).expect("clause");
        assert_eq!(any_nine.witness_index(record.values()), Some(2));
    }

    #[test]
    fn invalid_clauses_and_predicates_are_refused() {
        assert!(Clause::new(3, 2, 1, 1, false).is_err());
        assert!(Clause::new(0, 0, 0, 5, false).is_err());
        assert!(Clause::new(0, 0, 6, 5, false).is_err());
        assert!(Predicate::new(vec![]).is_err());
        assert!(Predicate::new(vec![vec![]]).is_err());
        assert!(Predicate::all(vec![clause(0, 1, 1); 65]).is_err());
    }

    #[test]
    fn predicates_must_fit_the_circuit() {
        let shape = CircuitShape::new(4, 2).expect("shape");
        assert!(
            Predicate::all(vec![clause(3, 1, 1)])
                .expect("p")
                .check_fits(&shape)
                .is_ok()
        );
        assert!(
            Predicate::all(vec![clause(4, 1, 1)])
                .expect("p")
                .check_fits(&shape)
                .is_err()
        );
        let three = Predicate::all(vec![clause(0, 1, 1); 3]).expect("p");
        assert!(three.check_fits(&shape).is_err());
        assert!(three.digest(&shape).is_err());
    }

    #[test]
    fn malformed_predicate_bytes_are_refused() {
        let p = Predicate::new(vec![
            vec![clause(1, 2, 3), clause(4, 5, 6)],
            vec![clause(0, 1, 1)],
        ])
        .expect("p");
        let bytes = p.to_bytes();
        assert_eq!(Predicate::from_bytes(&bytes), Ok(p));
        for cut in 0..bytes.len() {
            assert!(
                Predicate::from_bytes(&bytes[..cut]).is_err(),
                "prefix {cut}"
            );
        }
        let mut bad_bool = bytes.clone();
        let last = bad_bool.len() - 1;
        bad_bool[last] = 2;
        assert!(Predicate::from_bytes(&bad_bool).is_err());
        let mut empty_group = bytes.clone();
        empty_group[8] = 0;
        assert!(Predicate::from_bytes(&empty_group).is_err());
    }

    fn arb_clause() -> impl Strategy<Value = Clause> {
        (0u32..100, 0u32..4, 1u64.., any::<u64>(), any::<bool>()).prop_map(
            |(first, extra, low, span, negated)| {
                let high = low.saturating_add(span % 1000);
                Clause::new(first, first + extra, low, high, negated)
                    .expect("valid by construction")
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn predicate_bytes_round_trip(groups in prop::collection::vec(prop::collection::vec(arb_clause(), 1..4), 1..5)) {
            let p = Predicate::new(groups).expect("valid");
            prop_assert_eq!(Predicate::from_bytes(&p.to_bytes()), Ok(p));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = Predicate::from_bytes(&bytes);
            let mut prefixed = PREDICATE_MAGIC.to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = Predicate::from_bytes(&prefixed);
            let _ = PredicateDigest::from_bytes(&bytes);
        }
    }
}
