//! One test suite, run against both engines: SQLite in a temporary directory and a real PostgreSQL
//! server started for each test ([`crate::testkit::PostgresServer`]).

use std::collections::BTreeSet;
use std::thread;

use super::backend::{Access, Param};
use super::*;
use crate::testkit::PostgresServer;

/// A database a test can open any number of stores on (as separate gateway processes would).
trait Database: Sync {
    fn location(&self) -> EmrLocation;

    fn open(&self) -> EmrStore {
        EmrStore::open(&self.location()).expect("open the EMR store")
    }
}

struct Sqlite(tempfile::TempDir);

impl Sqlite {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temporary directory"))
    }
}

impl Database for Sqlite {
    fn location(&self) -> EmrLocation {
        EmrLocation::in_data_dir(&self.0.path().join("gateway"))
    }
}

impl Database for PostgresServer {
    fn location(&self) -> EmrLocation {
        EmrLocation::parse(&self.url())
    }
}

/// Instantiates each generic test body once per engine.
macro_rules! on_both_engines {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[test]
            fn sqlite() {
                super::$body(&super::Sqlite::new());
            }

            #[test]
            fn postgres() {
                super::$body(&super::PostgresServer::start());
            }
        }
    )*};
}

on_both_engines!(
    indexes_count_up_per_patient,
    duplicate_hemr_is_refused_and_consumes_no_index,
    release_moves_written_to_released_to_stored,
    out_of_order_and_conflicting_marks_change_nothing,
    concurrent_inserts_get_distinct_indexes,
    reopening_keeps_records_and_the_index_counter,
    migration_is_idempotent_and_refuses_a_newer_schema,
    schema_forbids_half_released_rows_and_orphans,
    enrolments_replays_and_notifications_round_trip,
    a_refused_release_is_discarded_and_its_index_reused_when_last,
    a_stored_record_keeps_one_opening_then_is_attested,
    schema_forbids_half_kept_attestations,
    an_ended_release_is_kept_not_pending_until_signed_again,
    a_release_is_claimed_by_one_gateway_until_its_claim_lapses,
    a_kept_entry_stays_queued_until_settled_once,
);

fn patient(n: u8) -> PatientAddress {
    PatientAddress([n; 32])
}

fn hemr(n: u8) -> Hemr {
    Hemr([n; 32])
}

/// The signed release transaction a written record keeps (opaque to the store).
const RELEASE: &[u8] = b"signed release";

fn bundle(n: u8) -> Vec<u8> {
    format!(r#"{{"resourceType":"Bundle","type":"collection","n":{n}}}"#).into_bytes()
}

fn indexes_count_up_per_patient(db: &dyn Database) {
    let store = db.open();
    let (alice, bob) = (patient(1), patient(2));
    let alice_keys: Vec<_> = (0..3)
        .map(|n| {
            store
                .insert_record(&alice, &hemr(n), &bundle(n), RELEASE)
                .unwrap()
        })
        .collect();
    let bob_key = store
        .insert_record(&bob, &hemr(9), &bundle(9), RELEASE)
        .unwrap();

    assert_eq!(
        alice_keys.iter().map(|k| k.index).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        bob_key,
        RecordKey {
            patient: bob,
            index: 1
        }
    );
    let record = store.get(&alice_keys[1]).unwrap().expect("record 1 exists");
    assert_eq!(record.hemr, hemr(1));
    assert_eq!(record.bundle, bundle(1));
    assert_eq!(record.release, Release::Written);
    let listed = store.list_by_patient(&alice).unwrap();
    assert_eq!(listed.iter().map(|r| r.key).collect::<Vec<_>>(), alice_keys);
    assert!(store.list_by_patient(&patient(3)).unwrap().is_empty());
    let missing = RecordKey {
        patient: alice,
        index: 4,
    };
    assert_eq!(store.get(&missing).unwrap(), None);
    let beyond_bigint = RecordKey {
        patient: alice,
        index: u64::MAX,
    };
    assert_eq!(store.get(&beyond_bigint).unwrap(), None);
}

fn duplicate_hemr_is_refused_and_consumes_no_index(db: &dyn Database) {
    let store = db.open();
    let alice = patient(1);
    store
        .insert_record(&alice, &hemr(1), &bundle(1), RELEASE)
        .unwrap();

    let refused = store.insert_record(&alice, &hemr(1), &bundle(2), RELEASE);
    assert!(
        matches!(
            refused,
            Err(EmrError::DuplicateRecord {
                existing_index: 1,
                ..
            })
        ),
        "{refused:?}"
    );
    // The refused insert left no row and did not advance the counter.
    assert_eq!(store.list_by_patient(&alice).unwrap().len(), 1);
    let next = store
        .insert_record(&alice, &hemr(2), &bundle(2), RELEASE)
        .unwrap();
    assert_eq!(next.index, 2);
    // The same bundle hash is a different record for another patient.
    let other = store
        .insert_record(&patient(2), &hemr(1), &bundle(1), RELEASE)
        .unwrap();
    assert_eq!(other.index, 1);
}

fn release_moves_written_to_released_to_stored(db: &dyn Database) {
    let store = db.open();
    let keys: Vec<_> = (0..3)
        .map(|n| {
            store
                .insert_record(&patient(1), &hemr(n), &bundle(n), RELEASE)
                .unwrap()
        })
        .collect();
    assert_eq!(pending_keys(&store), keys);

    let tx = ReleaseTxId([7; 32]);
    store.mark_released(&keys[0], &tx).unwrap();
    assert_eq!(
        store.get(&keys[0]).unwrap().unwrap().release,
        Release::Released { tx }
    );
    // Released but not stored is still unfinished.
    assert_eq!(pending_keys(&store), keys);

    store.mark_stored(&keys[0], "blobs/record-0").unwrap();
    assert_eq!(
        store.get(&keys[0]).unwrap().unwrap().release,
        Release::Stored {
            tx,
            blob_ref: "blobs/record-0".into()
        }
    );
    assert_eq!(pending_keys(&store), keys[1..]);

    // Retrying a step that already happened (crash after the effect, before the reply) succeeds.
    store.mark_released(&keys[0], &tx).unwrap();
    store.mark_stored(&keys[0], "blobs/record-0").unwrap();
    assert_eq!(pending_keys(&store), keys[1..]);
}

fn out_of_order_and_conflicting_marks_change_nothing(db: &dyn Database) {
    let store = db.open();
    let key = store
        .insert_record(&patient(1), &hemr(1), &bundle(1), RELEASE)
        .unwrap();

    let early = store.mark_stored(&key, "blobs/early");
    assert!(
        matches!(
            early,
            Err(EmrError::InvalidTransition {
                from: RecordState::Written,
                to: RecordState::Stored,
                ..
            })
        ),
        "{early:?}"
    );
    assert_eq!(store.get(&key).unwrap().unwrap().release, Release::Written);

    let tx = ReleaseTxId([1; 32]);
    store.mark_released(&key, &tx).unwrap();
    let other_tx = ReleaseTxId([2; 32]);
    let conflict = store.mark_released(&key, &other_tx);
    assert!(
        matches!(conflict, Err(EmrError::ReleaseConflict { recorded, offered, .. })
            if recorded == tx && offered == other_tx),
        "{conflict:?}"
    );

    store.mark_stored(&key, "blobs/a").unwrap();
    let moved = store.mark_stored(&key, "blobs/b");
    assert!(
        matches!(&moved, Err(EmrError::StorageConflict { recorded, .. }) if recorded == "blobs/a"),
        "{moved:?}"
    );
    assert_eq!(
        store.get(&key).unwrap().unwrap().release,
        Release::Stored {
            tx,
            blob_ref: "blobs/a".into()
        }
    );

    let absent = RecordKey {
        patient: patient(1),
        index: 5,
    };
    assert!(matches!(
        store.mark_released(&absent, &tx),
        Err(EmrError::NotFound { key }) if key == absent
    ));
    assert!(matches!(
        store.mark_stored(&absent, "blobs/x"),
        Err(EmrError::NotFound { .. })
    ));
}

fn concurrent_inserts_get_distinct_indexes(db: &dyn Database) {
    const THREADS: u8 = 6;
    const PER_THREAD: u8 = 5;
    let shared = db.open();
    let alice = patient(1);
    let indexes: Vec<u64> = thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let shared = &shared;
                scope.spawn(move || {
                    // Odd threads have their own connection, as separate gateway processes would;
                    // even threads share one store, as a gateway's request handlers do.
                    let own;
                    let store = if t % 2 == 1 {
                        own = db.open();
                        &own
                    } else {
                        shared
                    };
                    (0..PER_THREAD)
                        .map(|n| {
                            let h = hemr(t * PER_THREAD + n);
                            store
                                .insert_record(&alice, &h, &bundle(n), RELEASE)
                                .unwrap()
                                .index
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("insert thread"))
            .collect()
    });
    let total = u64::from(THREADS) * u64::from(PER_THREAD);
    let distinct: BTreeSet<u64> = indexes.iter().copied().collect();
    assert_eq!(
        indexes.len(),
        distinct.len(),
        "an index was handed out twice"
    );
    assert_eq!(
        distinct,
        (1..=total).collect(),
        "indexes are gap-free from 1"
    );
    assert_eq!(
        db.open().list_by_patient(&alice).unwrap().len() as u64,
        total
    );
}

fn reopening_keeps_records_and_the_index_counter(db: &dyn Database) {
    let tx = ReleaseTxId([3; 32]);
    {
        let store = db.open();
        let key = store
            .insert_record(&patient(1), &hemr(1), &bundle(1), RELEASE)
            .unwrap();
        store.mark_released(&key, &tx).unwrap();
        store
            .insert_record(&patient(1), &hemr(2), &bundle(2), RELEASE)
            .unwrap();
    }
    let store = db.open();
    let records = store.list_by_patient(&patient(1)).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].release, Release::Released { tx });
    assert_eq!(records[1].bundle, bundle(2));
    let next = store
        .insert_record(&patient(1), &hemr(3), &bundle(3), RELEASE)
        .unwrap();
    assert_eq!(next.index, 3);
}

fn migration_is_idempotent_and_refuses_a_newer_schema(db: &dyn Database) {
    let store = db.open();
    let latest = latest_schema_version();
    assert_eq!(store.schema_version().unwrap(), latest);
    let key = store
        .insert_record(&patient(1), &hemr(1), &bundle(1), RELEASE)
        .unwrap();

    assert_eq!(store.migrate().unwrap(), 0, "nothing left to apply");
    assert_eq!(db.open().migrate().unwrap(), 0, "reopening applies nothing");
    assert_eq!(store.schema_version().unwrap(), latest);
    assert!(
        store.get(&key).unwrap().is_some(),
        "migration kept the data"
    );

    raw_exec(
        &store,
        "INSERT INTO schema_migrations (version) VALUES ($1)",
        &[Param::Int(latest + 1)],
    )
    .unwrap();
    let refused = EmrStore::open(&db.location());
    assert!(
        matches!(refused, Err(EmrError::SchemaTooNew { found, supported })
            if found == latest + 1 && supported == latest),
        "{:?}",
        refused.err()
    );
}

fn schema_forbids_half_released_rows_and_orphans(db: &dyn Database) {
    let store = db.open();
    let key = store
        .insert_record(&patient(1), &hemr(1), &bundle(1), RELEASE)
        .unwrap();
    let patient_bytes = Param::Bytes(&key.patient.0);

    // Released without its transaction id, or stored without its blob: refused by the schema.
    for half_done in [
        "UPDATE records SET state = 'released' WHERE patient = $1",
        "UPDATE records SET state = 'stored', release_tx = hemr WHERE patient = $1",
    ] {
        let result = raw_exec(&store, half_done, std::slice::from_ref(&patient_bytes));
        assert!(result.is_err(), "{half_done} was accepted");
    }
    assert_eq!(store.get(&key).unwrap().unwrap().release, Release::Written);

    let orphan = raw_exec(
        &store,
        "INSERT INTO records (patient, emr_index, hemr, bundle) VALUES ($1, 0, $2, $2)",
        &[Param::Bytes(&[9; 32]), Param::Bytes(&[9; 32])],
    );
    assert!(
        orphan.is_err(),
        "a record of an unknown patient was accepted"
    );
}

fn enrolments_replays_and_notifications_round_trip(db: &dyn Database) {
    let store = db.open();
    assert_eq!(store.enrolment(&patient(1)).unwrap(), None);
    store
        .insert_record(&patient(1), &hemr(1), &bundle(1), RELEASE)
        .unwrap();
    assert_eq!(
        store.enrolment(&patient(1)).unwrap(),
        None,
        "seen, not enrolled"
    );
    store.set_enrolment(&patient(1), b"sealed one").unwrap();
    store.set_enrolment(&patient(2), b"sealed two").unwrap();
    store.set_enrolment(&patient(2), b"sealed again").unwrap();
    assert_eq!(
        store.enrolment(&patient(1)).unwrap().unwrap(),
        b"sealed one"
    );
    assert_eq!(
        store.enrolment(&patient(2)).unwrap().unwrap(),
        b"sealed again"
    );
    // Enrolling did not disturb the index counter.
    let next = store
        .insert_record(&patient(1), &hemr(2), &bundle(2), RELEASE)
        .unwrap();
    assert_eq!(next.index, 2);
    assert_eq!(
        store.get(&next).unwrap().unwrap().signed_release.as_deref(),
        Some(RELEASE)
    );

    // A replay tag is accepted once, across stores (gateway restarts) too.
    assert!(store.remember_share(&[5; 32], 10).unwrap());
    assert!(!store.remember_share(&[5; 32], 11).unwrap());
    assert!(!db.open().remember_share(&[5; 32], 12).unwrap());
    assert!(store.remember_share(&[6; 32], 13).unwrap());

    // Records are found by their release transaction once released.
    let tx = ReleaseTxId([8; 32]);
    assert_eq!(store.find_by_release(&tx).unwrap(), None);
    store.mark_released(&next, &tx).unwrap();
    assert_eq!(store.find_by_release(&tx).unwrap().unwrap().key, next);

    let served = ServedEmergency {
        emergency: [1; 32],
        patient: patient(1),
        record: tx,
        index: 2,
        doctor: "dr-bob".into(),
        access_tx: [2; 32],
        served_at_ms: 1_000,
    };
    store.add_notification(&served).unwrap();
    store.add_notification(&served).unwrap();
    assert_eq!(store.notifications(&patient(1)).unwrap(), vec![served]);
    assert!(store.notifications(&patient(2)).unwrap().is_empty());
}

fn a_refused_release_is_discarded_and_its_index_reused_when_last(db: &dyn Database) {
    let store = db.open();
    let alice = patient(1);
    let first = store
        .insert_record(&alice, &hemr(1), &bundle(1), RELEASE)
        .unwrap();
    let second = store
        .insert_record(&alice, &hemr(2), &bundle(2), RELEASE)
        .unwrap();

    // The last one: its index is drawn again, and its hEMR may be written again.
    assert!(store.discard_written(&second).unwrap());
    assert_eq!(store.get(&second).unwrap(), None);
    let again = store
        .insert_record(&alice, &hemr(2), &bundle(2), RELEASE)
        .unwrap();
    assert_eq!(again.index, 2);

    // Not the last one: a gap, never an index given twice.
    assert!(store.discard_written(&first).unwrap());
    let third = store
        .insert_record(&alice, &hemr(3), &bundle(3), RELEASE)
        .unwrap();
    assert_eq!(third.index, 3);

    // Past `written`, or absent: nothing is deleted.
    store.mark_released(&again, &ReleaseTxId([4; 32])).unwrap();
    assert!(!store.discard_written(&again).unwrap());
    assert!(!store.discard_written(&first).unwrap());
    assert_eq!(
        store
            .list_by_patient(&alice)
            .unwrap()
            .iter()
            .map(|r| r.key.index)
            .collect::<Vec<_>>(),
        [2, 3]
    );
}

/// A record taken to `stored`.
fn stored_record(store: &EmrStore, n: u8) -> RecordKey {
    let key = store
        .insert_record(&patient(1), &hemr(n), &bundle(n), RELEASE)
        .unwrap();
    store.mark_released(&key, &ReleaseTxId([n; 32])).unwrap();
    store.mark_stored(&key, &format!("blobs/{n}")).unwrap();
    key
}

fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
}

fn a_stored_record_keeps_one_opening_then_is_attested(db: &dyn Database) {
    let store = db.open();
    let written = store
        .insert_record(&patient(1), &hemr(9), &bundle(9), RELEASE)
        .unwrap();
    // Only a stored record is attested.
    let early = store.keep_opening(&written, &RecordCommitment([1; 32]), as_of(), b"sealed");
    assert!(
        matches!(
            early,
            Err(EmrError::InvalidTransition {
                from: RecordState::Written,
                to: RecordState::Attested,
                ..
            })
        ),
        "{early:?}"
    );
    assert_eq!(store.get(&written).unwrap().unwrap().attestation, None);

    let key = stored_record(&store, 1);
    let other = stored_record(&store, 2);
    let unattested = |store: &EmrStore| -> Vec<RecordKey> {
        store.unattested().unwrap().iter().map(|r| r.key).collect()
    };
    assert_eq!(unattested(&store), [key, other]);

    let kept = store
        .keep_opening(&key, &RecordCommitment([1; 32]), as_of(), b"first opening")
        .unwrap();
    assert_eq!(
        kept,
        Attestation {
            commitment: RecordCommitment([1; 32]),
            as_of: as_of(),
            sealed_opening: b"first opening".to_vec(),
            attested: false,
        }
    );
    assert_eq!(
        store.get(&key).unwrap().unwrap().state(),
        RecordState::Stored
    );
    // A second attempt (a concurrent request, a retry) gets the first opening back.
    let again = store
        .keep_opening(&key, &RecordCommitment([2; 32]), as_of(), b"second opening")
        .unwrap();
    assert_eq!(again, kept);
    assert_eq!(unattested(&store), [key, other], "kept is not attested yet");

    // Marking another commitment, or a record with none kept, is refused.
    let conflict = store.mark_attested(&key, &RecordCommitment([2; 32]));
    assert!(
        matches!(conflict, Err(EmrError::AttestationConflict { recorded, .. })
            if recorded == RecordCommitment([1; 32])),
        "{conflict:?}"
    );
    assert!(matches!(
        store.mark_attested(&other, &RecordCommitment([1; 32])),
        Err(EmrError::InvalidTransition { .. })
    ));

    store
        .mark_attested(&key, &RecordCommitment([1; 32]))
        .unwrap();
    store
        .mark_attested(&key, &RecordCommitment([1; 32]))
        .unwrap();
    let record = store.get(&key).unwrap().unwrap();
    assert_eq!(record.state(), RecordState::Attested);
    assert_eq!(
        record.attestation,
        Some(Attestation {
            attested: true,
            ..kept
        })
    );
    assert_eq!(unattested(&store), [other]);
    assert!(pending_keys(&store).contains(&written));
    assert!(
        !pending_keys(&store).contains(&key),
        "attested is not pending"
    );
    // Reopening keeps it.
    assert_eq!(
        db.open().get(&key).unwrap().unwrap().state(),
        RecordState::Attested
    );
}

fn schema_forbids_half_kept_attestations(db: &dyn Database) {
    let store = db.open();
    let stored = stored_record(&store, 1);
    let released = store
        .insert_record(&patient(1), &hemr(2), &bundle(2), RELEASE)
        .unwrap();
    store
        .mark_released(&released, &ReleaseTxId([2; 32]))
        .unwrap();
    let stored_index = i64::try_from(stored.index).unwrap();
    let released_index = i64::try_from(released.index).unwrap();
    for (half_done, index) in [
        // A state without its commitment, opening and date.
        (
            "UPDATE records SET attestation = 'attested' WHERE patient = $1 AND emr_index = $2",
            stored_index,
        ),
        // A commitment without a state.
        (
            "UPDATE records SET commitment = hemr WHERE patient = $1 AND emr_index = $2",
            stored_index,
        ),
        // Everything, but on a record not stored yet.
        (
            "UPDATE records SET attestation = 'sealed', commitment = hemr, \
             attested_as_of = '2026-11-30', sealed_opening = hemr \
             WHERE patient = $1 AND emr_index = $2",
            released_index,
        ),
        // An unknown state.
        (
            "UPDATE records SET attestation = 'maybe', commitment = hemr, \
             attested_as_of = '2026-11-30', sealed_opening = hemr \
             WHERE patient = $1 AND emr_index = $2",
            stored_index,
        ),
    ] {
        let result = raw_exec(
            &store,
            half_done,
            &[Param::Bytes(&stored.patient.0), Param::Int(index)],
        );
        assert!(result.is_err(), "{half_done} was accepted");
    }
    assert_eq!(store.get(&stored).unwrap().unwrap().attestation, None);
    assert_eq!(store.get(&released).unwrap().unwrap().attestation, None);
}

fn an_ended_release_is_kept_not_pending_until_signed_again(db: &dyn Database) {
    let store = db.open();
    let alice = patient(1);
    let expired = store
        .insert_record(&alice, &hemr(1), &bundle(1), RELEASE)
        .unwrap();
    let refused = store
        .insert_record(&alice, &hemr(2), &bundle(2), RELEASE)
        .unwrap();
    let released = store
        .insert_record(&alice, &hemr(3), &bundle(3), RELEASE)
        .unwrap();
    store
        .mark_released(&released, &ReleaseTxId([3; 32]))
        .unwrap();

    store.mark_ended(&expired, ReleaseEnd::Expired).unwrap();
    store.mark_ended(&expired, ReleaseEnd::Expired).unwrap();
    store.mark_ended(&refused, ReleaseEnd::Refused).unwrap();
    // Kept with how it ended, and no longer resumed.
    let kept = store.get(&expired).unwrap().unwrap();
    assert_eq!(
        (kept.state(), kept.ended, kept.release),
        (
            RecordState::Expired,
            Some(ReleaseEnd::Expired),
            Release::Written
        )
    );
    assert_eq!(
        store.get(&refused).unwrap().unwrap().state(),
        RecordState::Refused
    );
    assert_eq!(pending_keys(&store), [released]);
    // A release on chain never ends so.
    assert!(matches!(
        store.mark_ended(&released, ReleaseEnd::Expired),
        Err(EmrError::InvalidTransition {
            from: RecordState::Released,
            to: RecordState::Expired,
            ..
        })
    ));
    assert!(!store.renew_release(&released, b"signed again").unwrap());
    // The hEMR stays taken; signed again, the record is pending again at its index.
    assert!(matches!(
        store.insert_record(&alice, &hemr(1), &bundle(1), RELEASE),
        Err(EmrError::DuplicateRecord {
            existing_index: 1,
            ..
        })
    ));
    assert!(store.renew_release(&expired, b"signed again").unwrap());
    let renewed = store.get(&expired).unwrap().unwrap();
    assert_eq!(
        (renewed.ended, renewed.signed_release.as_deref()),
        (None, Some(&b"signed again"[..]))
    );
    assert_eq!(pending_keys(&store), [expired, released]);
    // The schema refuses an ending of a row past `written`, and an unknown ending.
    for sql in [
        "UPDATE records SET release_ended = 'expired' WHERE patient = $1 AND state = 'released'",
        "UPDATE records SET release_ended = 'lost' WHERE patient = $1",
    ] {
        assert!(
            raw_exec(&store, sql, &[Param::Bytes(&alice.0)]).is_err(),
            "{sql}"
        );
    }
}

fn a_release_is_claimed_by_one_gateway_until_its_claim_lapses(db: &dyn Database) {
    const NOW_MS: u64 = 1_700_000_000_000;
    let first = db.open();
    // A second gateway process on the same database.
    let second = db.open();
    let key = first
        .insert_record(&patient(1), &hemr(1), &bundle(1), RELEASE)
        .unwrap();
    assert!(first.claim(&key, "gw-a", NOW_MS, NOW_MS + 600).unwrap());
    assert!(
        !second
            .claim(&key, "gw-b", NOW_MS + 600, NOW_MS + 1_200)
            .unwrap()
    );
    // Its holder extends it; the other takes it only once it lapsed or was given up.
    assert!(
        first
            .claim(&key, "gw-a", NOW_MS + 600, NOW_MS + 1_000)
            .unwrap()
    );
    assert!(
        !second
            .claim(&key, "gw-b", NOW_MS + 1_000, NOW_MS + 2_000)
            .unwrap()
    );
    assert!(
        second
            .claim(&key, "gw-b", NOW_MS + 1_001, NOW_MS + 2_000)
            .unwrap()
    );
    first.unclaim(&key, "gw-a").unwrap();
    assert!(
        !first
            .claim(&key, "gw-a", NOW_MS + 1_500, NOW_MS + 3_000)
            .unwrap()
    );
    second.unclaim(&key, "gw-b").unwrap();
    assert!(
        first
            .claim(&key, "gw-a", NOW_MS + 1_500, NOW_MS + 3_000)
            .unwrap()
    );
    // A claim is no state: the record is still pending, and an unknown record is never held.
    assert_eq!(pending_keys(&second), [key]);
    let unknown = RecordKey {
        patient: patient(2),
        index: 1,
    };
    assert!(!first.claim(&unknown, "gw-a", NOW_MS, NOW_MS + 600).unwrap());
}

fn pending_keys(store: &EmrStore) -> Vec<RecordKey> {
    store.pending().unwrap().iter().map(|r| r.key).collect()
}

/// Runs SQL the API would never issue, to probe what the schema itself enforces.
fn raw_exec(store: &EmrStore, sql: &str, params: &[Param<'_>]) -> Result<u64, EmrError> {
    store
        .connection
        .transaction(Access::Write, |tx| tx.exec(sql, params))
}

#[test]
fn locations_parse_by_scheme() {
    for url in ["postgres://gw@db/emr", "postgresql://gw@db:5433/emr"] {
        assert_eq!(EmrLocation::parse(url), EmrLocation::Postgres(url.into()));
    }
    assert_eq!(
        EmrLocation::parse("data/emr.sqlite3"),
        EmrLocation::Sqlite("data/emr.sqlite3".into())
    );
    assert_eq!(
        EmrLocation::in_data_dir(Path::new("/var/lib/gw")),
        EmrLocation::Sqlite("/var/lib/gw/emr.sqlite3".into())
    );
}

#[test]
fn unusable_databases_are_typed_errors() {
    // An in-memory SQLite database has no write-ahead log, so it could not be shared or survive.
    let in_memory = EmrStore::open(&EmrLocation::parse(":memory:"));
    assert!(
        matches!(&in_memory, Err(EmrError::NoWriteAheadLog { journal_mode, .. }) if journal_mode == "memory"),
        "{:?}",
        in_memory.err()
    );
    // Nothing listens on port 1.
    let unreachable = EmrStore::open(&EmrLocation::parse("postgres://gw@127.0.0.1:1/emr"));
    assert!(
        matches!(unreachable, Err(EmrError::Postgres(_))),
        "{:?}",
        unreachable.err()
    );
}

fn a_kept_entry_stays_queued_until_settled_once(db: &dyn Database) {
    let store = db.open();
    let (first, second) = ([1u8; 32], [2u8; 32]);
    store
        .keep_entry(&first, &patient(1), "{\"a\":1}", 10)
        .unwrap();
    store
        .keep_entry(&second, &patient(1), "{\"b\":2}", 20)
        .unwrap();
    // Kept again (a retried request): nothing changes, the first signed entry stays.
    store
        .keep_entry(&first, &patient(1), "{\"other\":3}", 30)
        .unwrap();
    let queued = store.queued_entries().unwrap();
    assert_eq!(
        queued.iter().map(|kept| kept.entry).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert_eq!(queued[0].signed, "{\"a\":1}");
    assert_eq!(queued[0].received_at_ms, 10);
    assert_eq!(queued[0].state, EntryState::Queued);

    // A reopened store (a restarted gateway) still has both queued.
    drop(store);
    let store = db.open();
    assert_eq!(store.queued_entries().unwrap().len(), 2);

    store.settle_entry(&first, EntryState::Final).unwrap();
    // Settled once: a later answer cannot turn it into another state.
    store.settle_entry(&first, EntryState::Refused).unwrap();
    assert_eq!(
        store.entry(&first).unwrap().unwrap().state,
        EntryState::Final
    );
    assert_eq!(
        store
            .queued_entries()
            .unwrap()
            .iter()
            .map(|kept| kept.entry)
            .collect::<Vec<_>>(),
        vec![second]
    );
    assert_eq!(store.entry(&[9; 32]).unwrap(), None);

    // The schema refuses a state it does not know.
    let refused = store.connection.transaction(Access::Write, |tx| {
        tx.exec(
            "UPDATE entries SET state = 'lost' WHERE entry = $1",
            &[Param::Bytes(&second)],
        )
    });
    assert!(refused.is_err());
}
