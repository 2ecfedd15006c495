//! Operation counters: how many pairings, scalar multiplications and hashes-to-curve a piece of
//! code performs. Every group operation in the crate goes through [`crate::curve`], which bumps
//! these thread-local counters, so benchmarks and audits count by instrumentation rather than by
//! reading the code.

use core::cell::Cell;
use core::ops::Sub;

/// Counts of the expensive operations performed on the current thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Full pairings e(P, Q), counted as Miller loops; see `final_exps` for how many were merged.
    pub pairings: u64,
    /// Final exponentiations (a product of pairings checked at once costs one).
    pub final_exps: u64,
    /// Variable-base scalar multiplications in G1.
    pub g1_muls: u64,
    /// Variable-base scalar multiplications in G2.
    pub g2_muls: u64,
    /// Hashes to G1 or G2 (RFC 9380, SSWU).
    pub hash_to_curve: u64,
}

impl Sub for OpCounts {
    type Output = OpCounts;

    fn sub(self, rhs: OpCounts) -> OpCounts {
        OpCounts {
            pairings: self.pairings - rhs.pairings,
            final_exps: self.final_exps - rhs.final_exps,
            g1_muls: self.g1_muls - rhs.g1_muls,
            g2_muls: self.g2_muls - rhs.g2_muls,
            hash_to_curve: self.hash_to_curve - rhs.hash_to_curve,
        }
    }
}

thread_local! {
    static COUNTS: Cell<OpCounts> = Cell::new(OpCounts::default());
}

/// The counts accumulated on this thread so far.
pub fn snapshot() -> OpCounts {
    COUNTS.with(Cell::get)
}

/// Runs `f` and returns its result with the operations it performed on this thread.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, OpCounts) {
    let before = snapshot();
    let out = f();
    (out, snapshot() - before)
}

pub(crate) fn bump(update: impl FnOnce(&mut OpCounts)) {
    COUNTS.with(|c| {
        let mut counts = c.get();
        update(&mut counts);
        c.set(counts);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_reports_only_the_closure() {
        bump(|c| c.g1_muls += 3);
        let ((), counts) = measure(|| bump(|c| c.pairings += 2));
        assert_eq!(
            counts,
            OpCounts {
                pairings: 2,
                ..OpCounts::default()
            }
        );
    }
}
