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

use crate::{
    chain::{AdmitError, Chain, account_nonce},
    engine::ConsensusScheme,
    epochs,
    signing::sign_paying_min_fee,
};
use commonware_actor::Feedback;
use commonware_consensus::{
    Epochable as _, Reporter,
    simplex::types::{Activity, Attributable as _},
    types::Epoch,
};
use commonware_cryptography::Signer as _;
use commonware_macros::select;
use commonware_runtime::{Clock, Handle, Spawner};
use futures::{StreamExt, channel::mpsc};
use medchain_state::{ExecError, StateRead, StateReadExt as _, keys};
use medchain_types::evidence::Equivocation;
use medchain_types::{
    Address, ChainId, FeeSchedule, Genesis, Hash32, Payload, PrivateKey, StakePayload, Transaction,
    TxBody, TxError,
};
use rand_core::CryptoRng;
use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, SystemTime},
};
use tracing::{info, warn};

/// How often an unrecorded report is submitted again (a transaction can be lost with the
/// mempool of a validator that crashed).
pub const RESUBMIT: Duration = Duration::from_secs(10);

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

/// Handles the faults `faults` receives on `chain`: reported for slashing when the chain has
/// stake ([`spawn`]), only logged otherwise ([`log_only`]).
pub fn start<E>(
    context: E,
    chain: Arc<Chain>,
    genesis: &Genesis,
    key: PrivateKey,
    faults: Faults,
) -> Handle<()>
where
    E: Spawner + Clock + CryptoRng,
{
    if genesis.tokens.is_none() {
        return log_only(context, faults);
    }
    let reporting = Reporting {
        key,
        namespace: genesis.consensus_namespace(),
        fees: genesis.fee_schedule(),
    };
    spawn(context, chain, reporting, faults)
}

/// What the reporting task signs with.
pub struct Reporting {
    /// This node's key: it signs and pays for the reports.
    pub key: PrivateKey,
    /// The chain's consensus namespace ([`medchain_types::Genesis::consensus_namespace`]).
    pub namespace: Vec<u8>,
    /// The chain's fee schedule: every report pays the minimum fee.
    pub fees: FeeSchedule,
}

/// Starts the task that turns the faults `faults` receives into `stake.report` transactions on
/// `chain`. A chain without tokens has no stake to slash: it does not start this task.
pub fn spawn<E>(
    context: E,
    chain: Arc<Chain>,
    reporting: Reporting,
    Faults(mut inbox): Faults,
) -> Handle<()>
where
    E: Spawner + Clock + CryptoRng,
{
    context.spawn(move |mut context| async move {
        let mut reports = Reports {
            address: Address::from(reporting.key.public_key()),
            reporting,
            chain,
            pending: BTreeMap::new(),
        };
        loop {
            select! {
                fault = inbox.next() => match fault.and_then(Equivocation::from_activity) {
                    Some(evidence) => reports.consider(evidence),
                    None => return,
                },
                _ = context.sleep(RESUBMIT) => {},
            }
            reports.submit(&mut context);
        }
    })
}

/// An offence waiting to be recorded on chain.
struct Pending {
    evidence: Equivocation,
    submitted_at: Option<SystemTime>,
}

struct Reports {
    reporting: Reporting,
    address: Address,
    chain: Arc<Chain>,
    /// Keyed by (epoch, offender): one report per offence, whichever votes showed it.
    pending: BTreeMap<(u64, Address), Pending>,
}

impl Reports {
    /// Keeps `evidence` if it convicts someone not already reported.
    fn consider(&mut self, evidence: Equivocation) {
        let epoch = evidence.epoch();
        let offender = match self.offender(&evidence) {
            Ok(offender) => offender,
            Err(reason) => {
                warn!(epoch, %reason, "ignoring unproven equivocation evidence");
                return;
            }
        };
        if self.pending.contains_key(&(epoch, offender)) {
            return;
        }
        warn!(epoch, %offender, "validator equivocated; reporting it");
        self.pending.insert(
            (epoch, offender),
            Pending {
                evidence,
                submitted_at: None,
            },
        );
    }

    /// The validator the evidence convicts, checked as the state machine will check it.
    fn offender(&self, evidence: &Equivocation) -> Result<Address, String> {
        let state = self.chain.store().snapshot().map_err(|e| e.to_string())?;
        let participants = epochs::committed_set(&state, Epoch::new(evidence.epoch()))
            .map_err(|e| e.to_string())?;
        let offender = evidence
            .offender(&self.reporting.namespace, participants)
            .map_err(|e| e.to_string())?;
        Ok(Address::from(offender))
    }

    /// Forgets what the chain recorded and (re)submits what is due, with consecutive nonces.
    fn submit(&mut self, context: &mut (impl Clock + CryptoRng)) {
        let Ok(state) = self.chain.store().snapshot() else {
            return;
        };
        self.pending
            .retain(|(epoch, offender), _| !slashed(&state, *epoch, offender));
        let Ok(mut nonce) = account_nonce(&state, &self.address) else {
            return;
        };
        let now = context.current();
        let mut dropped = Vec::new();
        for ((epoch, offender), pending) in &mut self.pending {
            let due = pending
                .submitted_at
                .is_none_or(|at| now.duration_since(at).unwrap_or_default() >= RESUBMIT);
            if !due {
                continue;
            }
            let tx = match sign_report(&self.reporting, self.chain.chain_id(), nonce, pending) {
                Ok(tx) => tx,
                Err(e) => {
                    warn!(%e, "cannot sign an equivocation report");
                    continue;
                }
            };
            pending.submitted_at = Some(now);
            match self.chain.admit(context, vec![tx]).remove(0) {
                Ok(admission) => {
                    info!(tx = %admission.id, epoch, %offender, "equivocation reported");
                    nonce += 1;
                }
                Err(e) if refused_for_good(&e) => {
                    warn!(%e, epoch, %offender, "equivocation report refused for good; dropping it");
                    dropped.push((*epoch, *offender));
                }
                Err(e) => warn!(%e, epoch, %offender, "equivocation report refused; retrying"),
            }
        }
        for offence in dropped {
            self.pending.remove(&offence);
        }
    }
}

/// A signed report paying the minimum fee.
fn sign_report(
    reporting: &Reporting,
    chain_id: &ChainId,
    nonce: u64,
    pending: &Pending,
) -> Result<Transaction, TxError> {
    let body = TxBody {
        chain_id: chain_id.clone(),
        sender: Address::from(reporting.key.public_key()),
        nonce,
        valid_until_ms: u64::MAX,
        fee: 0,
        payload: Payload::Stake(StakePayload::Report {
            evidence: pending.evidence.clone(),
        }),
    };
    sign_paying_min_fee(body, &reporting.key, reporting.fees)
}

/// Whether the state machine refuses the evidence itself, which no later retry changes (unlike
/// a short balance or a taken nonce): it is too old, or already slashed, or does not convict.
fn refused_for_good(error: &AdmitError) -> bool {
    matches!(
        error,
        AdmitError::Rejected(
            ExecError::EvidenceTooOld
                | ExecError::AlreadySlashed
                | ExecError::BadEvidence(_)
                | ExecError::UnknownEpoch(_)
        )
    )
}

fn slashed(state: &impl StateRead, epoch: u64, offender: &Address) -> bool {
    matches!(state.value(&keys::slash(epoch, offender)), Ok(Some(_)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verdict_on_the_evidence_stops_the_retries() {
        for error in [
            ExecError::EvidenceTooOld,
            ExecError::AlreadySlashed,
            ExecError::BadEvidence("forged".into()),
            ExecError::UnknownEpoch(9),
        ] {
            assert!(refused_for_good(&AdmitError::Rejected(error)));
        }
        let short = ExecError::InsufficientBalance {
            balance: 1,
            needed: 2,
        };
        assert!(!refused_for_good(&AdmitError::Rejected(short)));
        assert!(!refused_for_good(&AdmitError::State("busy".into())));
    }
}
