//! Eligibility predicates: an AND of OR-groups of interval clauses over encoded attributes.
//!
//! A [`Clause`] says: *some attribute index in `first..=last` holds a present value `v` with
//! `low ≤ v ≤ high`* (or, when negated, with `v` outside that interval). Every text operator
//! (`==`, `!=`, `>=`, `<=`, `>`, `<`, `in a..=b`) lowers to this one form, which is what the
//! circuit evaluates (S4-flow step 4: the institution's requirement R). A [`Predicate`] is a
//! conjunction of groups, each group a disjunction of clauses (CNF), and of [`Exclusion`]s:
//! *none* of the indices `first..=last` holds a value in `low..=high` (exclusion criteria such as
//! "no diagnosis E11", which "some diagnosis is not E11" cannot express). A predicate belongs to
//! one schema: its id is hashed into the digest.

mod parse;
pub(crate) mod slots;

use crate::codec::{FIELD_BYTES, Reader, fr_from_slice, fr_to_bytes};
use crate::error::{Result, ZkError};
use crate::poseidon::Fr;
use crate::record::{MISSING, Record};
use crate::schema::{Schema, check_schema_id, schema_tag};
use crate::shape::{CircuitShape, EXCLUSION_WIDTH, MAX_CLAUSES, MAX_EXCLUSIONS};

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

/// A none-of criterion: `∀ i ∈ first..=last: v_i missing ∨ v_i ∉ low..=high`.
///
/// The circuit opens *every* index of the range (up to [`EXCLUSION_WIDTH`]), so the prover
/// cannot hide a matching value by choosing which one to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exclusion {
    first: u32,
    last: u32,
    low: u64,
    high: u64,
}

impl Exclusion {
    /// Requires `first ≤ last`, `last − first < EXCLUSION_WIDTH` and `1 ≤ low ≤ high`.
    pub fn new(first: u32, last: u32, low: u64, high: u64) -> Result<Self> {
        if first > last || last - first >= EXCLUSION_WIDTH {
            return Err(ZkError::InvalidPredicate(format!(
                "exclusion range {first}..={last} is empty or wider than {EXCLUSION_WIDTH} indices"
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
        })
    }

    /// First index covered.
    pub fn first(&self) -> u32 {
        self.first
    }

    /// Last index covered.
    pub fn last(&self) -> u32 {
        self.last
    }

    /// Inclusive excluded interval `(low, high)`.
    pub fn interval(&self) -> (u64, u64) {
        (self.low, self.high)
    }

    /// Whether no index of the range holds an excluded value (indices past the record are
    /// missing).
    pub fn holds(&self, values: &[u64]) -> bool {
        (self.first..=self.last).all(|i| {
            let value = values.get(i as usize).copied().unwrap_or(MISSING);
            value == MISSING || !(self.low..=self.high).contains(&value)
        })
    }
}

/// A conjunction of disjunctive groups of clauses (at most 64 clauses) and of exclusions (at most
/// 16), over the records of one schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Predicate {
    schema: String,
    groups: Vec<Vec<Clause>>,
    exclusions: Vec<Exclusion>,
}

const PREDICATE_MAGIC: &[u8] = b"MCZKPR\x02";
const CLAUSE_BYTES: usize = 4 + 4 + 8 + 8 + 1;
const EXCLUSION_BYTES: usize = 4 + 4 + 8 + 8;

impl Predicate {
    /// `AND` over `groups`, each group an `OR` of its clauses, and over `exclusions`, for records
    /// of `schema`. No group may be empty, and the predicate must have a group or an exclusion.
    pub fn new(
        schema: &Schema,
        groups: Vec<Vec<Clause>>,
        exclusions: Vec<Exclusion>,
    ) -> Result<Self> {
        Self::build(schema.id().to_owned(), groups, exclusions)
    }

    fn build(schema: String, groups: Vec<Vec<Clause>>, exclusions: Vec<Exclusion>) -> Result<Self> {
        if (groups.is_empty() && exclusions.is_empty()) || groups.iter().any(Vec::is_empty) {
            return Err(ZkError::InvalidPredicate("empty predicate or group".into()));
        }
        let count: usize = groups.iter().map(Vec::len).sum();
        if count > usize::from(MAX_CLAUSES) {
            return Err(ZkError::InvalidPredicate(format!(
                "{count} clauses, at most {MAX_CLAUSES}"
            )));
        }
        if exclusions.len() > usize::from(MAX_EXCLUSIONS) {
            return Err(ZkError::InvalidPredicate(format!(
                "{} exclusions, at most {MAX_EXCLUSIONS}",
                exclusions.len()
            )));
        }
        check_schema_id(&schema)?;
        Ok(Self {
            schema,
            groups,
            exclusions,
        })
    }

    /// `AND` of single clauses.
    pub fn all(schema: &Schema, clauses: Vec<Clause>) -> Result<Self> {
        Self::new(
            schema,
            clauses.into_iter().map(|c| vec![c]).collect(),
            vec![],
        )
    }

    /// Id of the schema the predicate's indices and values refer to.
    pub fn schema_id(&self) -> &str {
        &self.schema
    }

    /// The OR-groups, ANDed together.
    pub fn groups(&self) -> &[Vec<Clause>] {
        &self.groups
    }

    /// The none-of criteria, ANDed with the groups.
    pub fn exclusions(&self) -> &[Exclusion] {
        &self.exclusions
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
        }) && self.exclusions.iter().all(|e| e.holds(values))
    }

    /// Checks that the predicate fits a circuit: at most `K` clauses and `E` exclusions, indices
    /// below `N`.
    pub fn check_fits(&self, shape: &CircuitShape) -> Result<()> {
        if self.clause_count() > usize::from(shape.max_clauses()) {
            return Err(ZkError::InvalidPredicate(format!(
                "{} clauses, the circuit has {} slots",
                self.clause_count(),
                shape.max_clauses()
            )));
        }
        if self.exclusions.len() > usize::from(shape.max_exclusions()) {
            return Err(ZkError::InvalidPredicate(format!(
                "{} exclusions, the circuit has {} none-of slots",
                self.exclusions.len(),
                shape.max_exclusions()
            )));
        }
        let last_index = self
            .clauses()
            .map(Clause::last)
            .chain(self.exclusions.iter().map(Exclusion::last))
            .max();
        if let Some(last) = last_index.filter(|last| *last >= shape.num_attributes()) {
            return Err(ZkError::InvalidPredicate(format!(
                "attribute index {last} outside a record of {} attributes",
                shape.num_attributes()
            )));
        }
        Ok(())
    }

    /// The public digest a verifier recomputes (see [`slots`] for the hashed layout).
    pub fn digest(&self, shape: &CircuitShape) -> Result<PredicateDigest> {
        let (clauses, exclusions) = slots::lower(self, shape)?;
        Ok(PredicateDigest(slots::digest(
            schema_tag(&self.schema),
            shape,
            &clauses,
            &exclusions,
        )))
    }

    fn clauses(&self) -> impl Iterator<Item = &Clause> {
        self.groups.iter().flatten()
    }

    /// Wire form: magic+version (7 bytes), schema id length (u8) and bytes, group count (u8),
    /// then per group its clause count (u8) and clauses (`first` u32, `last` u32, `low` u64,
    /// `high` u64, `negated` u8), then the exclusion count (u8) and exclusions (`first` u32,
    /// `last` u32, `low` u64, `high` u64).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            PREDICATE_MAGIC.len()
                + 1
                + self.schema.len()
                + 2
                + self.groups.len()
                + CLAUSE_BYTES * self.clause_count()
                + EXCLUSION_BYTES * self.exclusions.len(),
        );
        out.extend_from_slice(PREDICATE_MAGIC);
        // Schema ids are at most 32 bytes, and `build` bounds groups, clauses and exclusions by
        // 64, so every count fits in a byte.
        out.push(self.schema.len() as u8);
        out.extend_from_slice(self.schema.as_bytes());
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
        out.push(self.exclusions.len() as u8);
        for exclusion in &self.exclusions {
            out.extend_from_slice(&exclusion.first.to_le_bytes());
            out.extend_from_slice(&exclusion.last.to_le_bytes());
            out.extend_from_slice(&exclusion.low.to_le_bytes());
            out.extend_from_slice(&exclusion.high.to_le_bytes());
        }
        out
    }

    /// Decodes [`Self::to_bytes`], re-validating every clause.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new("predicate", bytes);
        reader.expect_magic(PREDICATE_MAGIC)?;
        let schema = reader.schema_id()?;
        let group_count = reader.u8()?;
        let mut groups = Vec::with_capacity(usize::from(group_count));
        for _ in 0..group_count {
            let clause_count = reader.u8()?;
            let group = (0..clause_count)
                .map(|_| read_clause(&mut reader))
                .collect::<Result<Vec<_>>>()?;
            groups.push(group);
        }
        let exclusion_count = reader.u8()?;
        let exclusions = (0..exclusion_count)
            .map(|_| {
                let (first, last) = (reader.u32()?, reader.u32()?);
                Exclusion::new(first, last, reader.u64()?, reader.u64()?)
            })
            .collect::<Result<Vec<_>>>()?;
        reader.finish()?;
        Self::build(schema, groups, exclusions)
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

impl std::fmt::Display for PredicateDigest {
    /// Lowercase hex of the 32 bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_bytes()
            .iter()
            .try_for_each(|byte| write!(f, "{byte:02x}"))
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
        let p = |groups| {
            Predicate::new(&schema(), groups, vec![])
                .expect("predicate")
                .evaluate(&record)
        };
        assert!(p(vec![vec![clause(0, 1, 5)], vec![clause(2, 9, 9)]]));
        assert!(!p(vec![vec![clause(0, 1, 4)], vec![clause(2, 9, 9)]]));
        assert!(p(vec![vec![clause(0, 1, 4), clause(2, 9, 9)]]));
        assert!(!p(vec![vec![clause(1, 1, u64::MAX)]]));
        let not_five = Clause::on(1, 5, 5, true).expect("clause");
        assert!(!p(vec![vec![not_five]]), "a missing value is not `!= 5`");
        let any_nine = Clause::new(0, 2, 9, 9, false).expect("clause");
        assert_eq!(any_nine.witness_index(record.values()), Some(2));
        let no_nine = Exclusion::new(0, 2, 9, 9).expect("exclusion");
        assert!(!no_nine.holds(record.values()));
        assert!(
            Exclusion::new(0, 1, 9, 9)
                .expect("e")
                .holds(record.values())
        );
        let with_exclusion =
            Predicate::new(&schema(), vec![vec![clause(0, 5, 5)]], vec![no_nine]).expect("p");
        assert!(!with_exclusion.evaluate(&record), "the exclusion fails it");
    }

    #[test]
    fn invalid_clauses_and_predicates_are_refused() {
        assert!(Clause::new(3, 2, 1, 1, false).is_err());
        assert!(Clause::new(0, 0, 0, 5, false).is_err());
        assert!(Clause::new(0, 0, 6, 5, false).is_err());
        let s = schema();
        assert!(Predicate::new(&s, vec![], vec![]).is_err());
        assert!(Predicate::new(&s, vec![vec![]], vec![]).is_err());
        assert!(Predicate::all(&s, vec![clause(0, 1, 1); 65]).is_err());
        assert!(Exclusion::new(3, 2, 1, 1).is_err());
        assert!(Exclusion::new(0, EXCLUSION_WIDTH, 1, 1).is_err());
        assert!(Exclusion::new(0, EXCLUSION_WIDTH - 1, 1, 1).is_ok());
        assert!(Exclusion::new(0, 0, 0, 1).is_err());
        let none_of = Exclusion::new(0, 0, 1, 1).expect("e");
        assert!(Predicate::new(&s, vec![], vec![none_of]).is_ok());
        assert!(Predicate::new(&s, vec![], vec![none_of; 17]).is_err());
    }

    #[test]
    fn predicates_must_fit_the_circuit() {
        let s = schema();
        let shape = CircuitShape::new(4, 2, 1).expect("shape");
        let fits = |p: Predicate| p.check_fits(&shape).is_ok();
        assert!(fits(Predicate::all(&s, vec![clause(3, 1, 1)]).expect("p")));
        assert!(!fits(Predicate::all(&s, vec![clause(4, 1, 1)]).expect("p")));
        let three = Predicate::all(&s, vec![clause(0, 1, 1); 3]).expect("p");
        assert!(three.check_fits(&shape).is_err());
        assert!(three.digest(&shape).is_err());
        let none_of = |first, last| Exclusion::new(first, last, 1, 1).expect("e");
        assert!(fits(
            Predicate::new(&s, vec![], vec![none_of(0, 3)]).expect("p")
        ));
        assert!(!fits(
            Predicate::new(&s, vec![], vec![none_of(1, 4)]).expect("p")
        ));
        assert!(!fits(
            Predicate::new(&s, vec![], vec![none_of(0, 1); 2]).expect("p")
        ));
    }

    #[test]
    fn malformed_predicate_bytes_are_refused() {
        let p = Predicate::new(
            &schema(),
            vec![
                vec![clause(1, 2, 3), clause(4, 5, 6)],
                vec![clause(0, 1, 1)],
            ],
            vec![Exclusion::new(3, 18, 7, 9).expect("e")],
        )
        .expect("p");
        let bytes = p.to_bytes();
        assert_eq!(Predicate::from_bytes(&bytes), Ok(p));
        for cut in 0..bytes.len() {
            assert!(
                Predicate::from_bytes(&bytes[..cut]).is_err(),
                "prefix {cut}"
            );
        }
        let header = 7 + 1 + "clinical_v1".len();
        let mut bad_bool = bytes.clone();
        bad_bool[header + 2 + CLAUSE_BYTES - 1] = 2;
        assert!(Predicate::from_bytes(&bad_bool).is_err());
        let mut empty_group = bytes.clone();
        empty_group[header + 1] = 0;
        assert!(Predicate::from_bytes(&empty_group).is_err());
        let mut wide_exclusion = bytes.clone();
        let at = bytes.len() - EXCLUSION_BYTES + 4;
        wide_exclusion[at..at + 4].copy_from_slice(&19u32.to_le_bytes());
        assert!(Predicate::from_bytes(&wide_exclusion).is_err());
        let mut bad_schema = bytes;
        bad_schema[8] = b'C';
        assert!(Predicate::from_bytes(&bad_schema).is_err());
    }

    fn schema() -> Schema {
        Schema::clinical_v1()
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
            let p = Predicate::new(&schema(), groups, vec![]).expect("valid");
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
