//! Equivocation evidence from simplex becomes a `stake.report` transaction (S1-dpos: a
//! double-signing validator is slashed).
//!
//! Each epoch's engine reports its activity to an [`EvidenceReporter`] as well as to marshal.
//! The reporter keeps only the three faults simplex detects (two notarizes or two finalizes
//! for different blocks in one round, a nullify and a finalize in one round); these may arrive
//! unverified, so the reporting task checks them against the epoch's set from the committed
//! state exactly as the state machine will, and submits each offence once per (epoch,
//! offender), signed by this node's key, until the chain records the slash. Every honest
//! validator that saw the fault reports it; the state refuses all but the first
//! (`AlreadySlashed`).

use crate::engine::ConsensusScheme;
use commonware_actor::Feedback;
use commonware_consensus::{
    Epochable as _, Reporter,
    simplex::types::{Activity, Attributable as _},
};
use commonware_runtime::{Handle, Spawner};
use futures::{StreamExt, channel::mpsc};
use medchain_types::Hash32;
use tracing::warn;

type Fault = Activity<ConsensusScheme, Hash32>;

/// Receives every epoch engine's activity and passes the faults to the reporting task.
#[derive(Clone)]
pub struct EvidenceReporter {
    faults: mpsc::UnboundedSender<Fault>,
}

/// The receiving end of an [`EvidenceReporter`], consumed by the reporting task.
pub struct Faults(mpsc::UnboundedReceiver<Fault>);

/// A reporter for the epochs' engines and the queue it feeds.
pub fn channel() -> (EvidenceReporter, Faults) {
    let (faults, inbox) = mpsc::unbounded();
    (EvidenceReporter { faults }, Faults(inbox))
}

impl Reporter for EvidenceReporter {
    type Activity = Fault;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        if matches!(
            activity,
            Activity::ConflictingNotarize(_)
                | Activity::ConflictingFinalize(_)
                | Activity::NullifyFinalize(_)
        ) {
            // Gone only when the node stops.
            let _ = self.faults.unbounded_send(activity);
        }
        Feedback::Ok
    }
}

/// On a chain without tokens there is no stake to slash: the faults are only logged, so an
/// operator still learns which validator double-signed.
pub fn log_only<E: Spawner>(context: E, Faults(mut inbox): Faults) -> Handle<()> {
    context.spawn(move |_| async move {
        while let Some(fault) = inbox.next().await {
            let offender = match &fault {
                Activity::ConflictingNotarize(pair) => pair.signer(),
                Activity::ConflictingFinalize(pair) => pair.signer(),
                Activity::NullifyFinalize(pair) => pair.signer(),
                _ => continue,
            };
            warn!(epoch = %fault.epoch(), %offender, "validator equivocated (no stake to slash)");
        }
    })
}
