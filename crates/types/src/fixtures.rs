//! Sample values for this crate's tests: one transaction of every payload kind.

use crate::*;
use commonware_cryptography::Signer;

pub fn chain() -> ChainId {
    ChainId::new("medchain-test").unwrap()
}

pub fn key(seed: u64) -> PrivateKey {
    PrivateKey::from_seed(seed)
}

pub fn address(seed: u64) -> Address {
    Address::from(key(seed).public_key())
}

/// An arbitrary record id (not necessarily released).
pub fn record_id(n: u64) -> RecordId {
    RecordId(TxId::of_encoded(&n.to_be_bytes()).0)
}

pub fn org_name(name: &str) -> OrgName {
    OrgName::new(name).unwrap()
}

/// One payload of every kind, with valid embedded signatures for sender `key(1)`.
pub fn payloads() -> Vec<Payload> {
    let name = OrgName::new("Seoul General").unwrap();
    let record_hash = ContentHash::of(b"EMR of patient 2");
    let record = RecordId(TxId::of_encoded(b"release").0);
    let vouching = emergency::vouching_key_from(&key(1));
    vec![
        Payload::Registry(RegistryPayload::Register {
            name: name.clone(),
            kind: OrgKind::Hospital,
        }),
        Payload::Registry(RegistryPayload::SetState {
            name: name.clone(),
            state: OrgState::Audited,
        }),
        Payload::Registry(RegistryPayload::Join {
            name: name.clone(),
            endorser: address(3),
            endorsement: JoinEndorsement {
                chain_id: chain(),
                org: name,
                member: address(1),
            }
            .sign(&key(3)),
        }),
        Payload::Record(RecordPayload::Release {
            patient: address(2),
            record_hash,
            attestation: RecordAttestation {
                chain_id: chain(),
                patient: address(2),
                record_hash,
            }
            .sign(&key(1)),
        }),
        Payload::Record(RecordPayload::Store {
            record,
            blob_hash: ContentHash::of(b"ciphertext"),
            location: Uri::new("file:///blobs/1").unwrap(),
        }),
        Payload::Consent(ConsentPayload::Grant {
            grantee: address(4),
            records: vec![record],
            purpose: Purpose::Treatment,
            expiry: Expiry::AtHeight(100),
            reward: Some(50),
        }),
        Payload::Consent(ConsentPayload::Revoke {
            consent: ConsentId(record.0),
        }),
        Payload::Access(AccessPayload::Request {
            record,
            purpose: Purpose::Research,
            max_reward: 50,
        }),
        Payload::Identity(IdentityPayload::Enrol {
            identity: IdentityName::new("dr-kim@seoul-general").unwrap(),
            role: Role::Doctor,
            key_part: G1Point([0xa0; G1Point::LEN]),
        }),
        Payload::Licence(LicencePayload::Issue {
            doctor: IdentityName::new("dr-kim@seoul-general").unwrap(),
            expires_at_ms: 1_800_000_000_000,
        }),
        Payload::Licence(LicencePayload::Renew {
            doctor: IdentityName::new("dr-kim@seoul-general").unwrap(),
            expires_at_ms: 1_900_000_000_000,
        }),
        Payload::Revocation(RevocationPayload::Add {
            doctor: IdentityName::new("dr-kim@seoul-general").unwrap(),
        }),
        Payload::Revocation(RevocationPayload::Remove {
            doctor: IdentityName::new("dr-kim@seoul-general").unwrap(),
        }),
        Payload::Pkg(PkgPayload::Deal {
            round: 0,
            log: DealerLogBytes(vec![1, 2, 3]),
        }),
        Payload::Record(RecordPayload::Entry {
            entry: EntryBytes(vec![0xee; 300]),
        }),
        Payload::Identity(IdentityPayload::SetVouchingKey {
            key: vouching.public(),
            proof: vouching.proof_of_possession(&chain(), &address(1)),
        }),
        Payload::Emergency(EmergencyPayload::Request {
            doctor: IdentityName::new("dr-kim@seoul-general").unwrap(),
            record,
            hur: record_hash.0,
            issued_at_ms: 1_800_000_000_000,
            vouch: vouching.sign(b"htxu"),
        }),
    ]
    .into_iter()
    .chain(token_payloads())
    .chain(stake_payloads())
    .chain(research_payloads())
    .chain(
        [
            AccessGrounds::Consent,
            AccessGrounds::Emergency(EmergencyId(record.0)),
        ]
        .into_iter()
        .chain(
            RefusalReason::ALL
                .iter()
                .map(|&r| AccessGrounds::Refused(r)),
        )
        .map(|grounds| {
            Payload::Access(AccessPayload::Serve {
                requester: address(4),
                record,
                purpose: Purpose::Treatment,
                grounds,
                max_reward: 5,
            })
        }),
    )
    .collect()
}

/// `payloads()` signed by `key(1)` with nonces 0, 1, ...
pub fn signed_txs() -> Vec<Transaction> {
    payloads()
        .into_iter()
        .enumerate()
        .map(|(nonce, payload)| {
            TxBody {
                chain_id: chain(),
                sender: address(1),
                nonce: nonce as u64,
                valid_until_ms: u64::MAX,
                fee: nonce as u64 * 7,
                payload,
            }
            .sign(&key(1))
            .unwrap()
        })
        .collect()
}

/// One token payload of every kind (the transfer without cosignatures: a cosignature binds the
/// sender's nonce and fee, see `tx::tests`).
pub fn token_payloads() -> Vec<Payload> {
    use token::*;
    let escrow = EscrowId(TxId::of_encoded(b"open").0);
    vec![
        Payload::Token(TokenPayload::Transfer {
            inputs: vec![OutPoint {
                tx: TxId::of_encoded(b"funding"),
                index: 3,
            }],
            from_balance: 10,
            outputs: vec![
                TxOutput::to_key(40, address(2)),
                TxOutput {
                    value: 30,
                    to: Payee::Output {
                        lock: Lock::Multi {
                            threshold: 2,
                            keys: vec![address(1), address(2), address(3)],
                        },
                        unlock: Some(LockTime::TimeMs(1_800_000_000_000)),
                    },
                },
                TxOutput {
                    value: 20,
                    to: Payee::Balance(address(1)),
                },
            ],
            cosignatures: vec![],
        }),
        Payload::Token(TokenPayload::EscrowOpen {
            payee: address(2),
            arbiter: address(3),
            amount: 70,
            refund_after: LockTime::Height(1_000),
        }),
        Payload::Token(TokenPayload::EscrowRelease { escrow }),
        Payload::Token(TokenPayload::EscrowRefund { escrow }),
    ]
}

/// One research payload of every kind.
pub fn research_payloads() -> Vec<Payload> {
    use research::*;
    let study = StudyId(TxId::of_encoded(b"publish").0);
    let digest = |tag: &[u8]| TxId::of_encoded(tag).0;
    vec![
        Payload::Research(ResearchPayload::RegisterCircuit {
            schema: "clinical_v1".into(),
            verifying_key: ZkBytes(vec![0x11; 480]),
            proving_key_digest: digest(b"pk"),
        }),
        Payload::Research(ResearchPayload::NullifierKey { key: digest(b"nk") }),
        Payload::Research(ResearchPayload::Attest {
            record: RecordId(digest(b"release")),
            commitment: digest(b"commitment"),
        }),
        Payload::Research(ResearchPayload::RegisterProxy {
            encryption_key: digest(b"x25519"),
            url: Uri::new("http://127.0.0.1:9100").unwrap(),
        }),
        Payload::Research(ResearchPayload::Publish {
            title: "Type 2 diabetes outcomes".into(),
            purpose: Purpose::Research,
            circuit: digest(b"vk"),
            predicate: ZkBytes(vec![0x22; 60]),
            reward: 100,
            max_participants: 50,
            deadline_ms: 1_800_000_000_000,
            dispute_window_ms: 7 * 24 * 60 * 60 * 1_000,
            exclusive: true,
            researcher_key: ZkBytes(vec![0x02; 33]),
            proxies: vec![address(5), address(6), address(7)],
            threshold: 2,
        }),
        Payload::Research(ResearchPayload::Fund {
            study,
            amount: 5_000,
        }),
        Payload::Research(ResearchPayload::Enrol {
            study,
            root: digest(b"root"),
            nullifier: digest(b"nullifier"),
            exclusivity: digest(b"exclusivity"),
            delivery: digest(b"delivery"),
            proof: ZkBytes(vec![0x33; 128]),
            delegating_key: ZkBytes(vec![0x03; 33]),
            verifying_key: ZkBytes(vec![0x02; 33]),
            ciphertext_hash: ContentHash::of(b"sealed record"),
        }),
        Payload::Research(ResearchPayload::Reencrypted {
            enrolment: EnrolmentId(digest(b"enrol")),
        }),
        Payload::Research(ResearchPayload::Refund { study }),
        Payload::Research(ResearchPayload::Acknowledge {
            enrolment: EnrolmentId(digest(b"enrol")),
        }),
        Payload::Research(ResearchPayload::Dispute {
            enrolment: EnrolmentId(digest(b"enrol")),
        }),
        Payload::Research(ResearchPayload::Resolve {
            enrolment: EnrolmentId(digest(b"enrol")),
            pay: true,
        }),
        Payload::Research(ResearchPayload::Claim {
            enrolment: EnrolmentId(digest(b"enrol")),
        }),
    ]
}

/// One staking payload of every kind, for candidate (sender) `key(1)`.
pub fn stake_payloads() -> Vec<Payload> {
    let org = org_name("Seoul General");
    vec![
        Payload::Stake(StakePayload::Register {
            org: org.clone(),
            p2p: PeerAddress::new("127.0.0.1:9004").unwrap(),
            endorser: address(3),
            endorsement: CandidateEndorsement {
                chain_id: chain(),
                org,
                candidate: address(1),
            }
            .sign(&key(3)),
        }),
        Payload::Stake(StakePayload::Delegate {
            candidate: address(2),
            amount: 1_000,
        }),
        Payload::Stake(StakePayload::Undelegate {
            candidate: address(2),
            amount: 400,
        }),
        Payload::Stake(StakePayload::Withdraw {
            candidate: address(2),
        }),
        Payload::Stake(StakePayload::Report {
            evidence: double_notarize(),
        }),
    ]
}

/// Validator `key(2)` of the set `key(1..=4)` notarized two proposals in one round.
pub fn double_notarize() -> evidence::Equivocation {
    use commonware_consensus::{
        simplex::types::{ConflictingNotarize, Notarize, Proposal},
        types::{Epoch, Round, View},
    };
    use commonware_cryptography::{Hasher, Sha256};
    let participants =
        commonware_utils::ordered::Set::from_iter_dedup((1..=4).map(|seed| key(seed).public_key()));
    let scheme = ConsensusScheme::signer(namespace::CONSENSUS, participants, key(2)).unwrap();
    let proposal = |payload: &[u8]| {
        Proposal::new(
            Round::new(Epoch::new(0), View::new(7)),
            View::new(6),
            Sha256::hash(&[payload]),
        )
    };
    evidence::Equivocation::Notarize(ConflictingNotarize::new(
        Notarize::sign(&scheme, proposal(b"a")).unwrap(),
        Notarize::sign(&scheme, proposal(b"b")).unwrap(),
    ))
}
