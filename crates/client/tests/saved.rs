//! Saved answers verify offline exactly as they did online, and only for the question they
//! say they answer: each negative case changes one thing a forger (or a careless copy)
//! controls in the file.

mod common;

use common::*;
use medchain_api::{BlockView, HeaderView, TxState, TxStatusView};
use medchain_client::{
    Answer, Lag, LightClient, Proven, Question, SAVED_FORMAT, SavedAnswer, TxEvidence, VerifyError,
};
use medchain_state::{
    StateValue, keys,
    testkit::{Actor, World, org_name},
    values::Org,
};
use medchain_types::{ChainId, OrgKind, OrgState, Receipt, TxId};

fn light() -> LightClient {
    LightClient::new(genesis()).unwrap()
}

/// An audited organisation, as `medchain query org "Seoul General" --save FILE` writes it,
/// read back from its JSON text.
fn saved_org() -> SavedAnswer {
    let mut world = World::new();
    let name = org_name("Seoul General");
    world.audited_org(&Actor::new(1), &name, OrgKind::Hospital);
    let saved = SavedAnswer {
        format: SAVED_FORMAT.into(),
        chain_id: genesis().chain_id,
        node: "http://127.0.0.1:8400".into(),
        saved_at_ms: 1,
        answer: Answer::State {
            question: Question::Org { name: name.clone() },
            answer: certified_view(&world, keys::org(&name).as_bytes()),
        },
    };
    let text = serde_json::to_string(&saved).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["kind"], "state_value", "{json}");
    assert_eq!(json["question"]["of"], "org", "{json}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_saved_state_answer_verifies_offline() {
    let Proven::State { question, verified } = saved_org().verify(&light()).unwrap() else {
        panic!("not a state answer");
    };
    assert_eq!(question.to_string(), "organisation \"Seoul General\"");
    assert_eq!(verified.value.unwrap()["state"], "audited");
    assert!(verified.at.header.height > 0);
}

#[test]
fn a_saved_answer_with_a_tampered_value_is_refused() {
    let mut saved = saved_org();
    let Answer::State { answer, .. } = &mut saved.answer else {
        unreachable!()
    };
    let mut org = Org::from_bytes(answer.proven.value.as_deref().unwrap()).unwrap();
    org.state = OrgState::Suspended;
    answer.proven.value = Some(org.to_bytes());
    assert!(matches!(saved.verify(&light()), Err(VerifyError::Proof(_))));
}

#[test]
fn a_saved_answer_relabelled_as_another_question_is_refused() {
    let mut saved = saved_org();
    let Answer::State { question, .. } = &mut saved.answer else {
        unreachable!()
    };
    *question = Question::Org {
        name: org_name("Busan Clinic"),
    };
    assert!(matches!(saved.verify(&light()), Err(VerifyError::Proof(_))));
}

#[test]
fn a_saved_answer_from_another_chain_or_format_is_refused_by_name() {
    let mut saved = saved_org();
    saved.chain_id = ChainId::new("medchain-other").unwrap();
    let error = saved.verify(&light()).unwrap_err();
    assert!(matches!(error, VerifyError::OtherChain { .. }));
    assert!(error.to_string().contains("medchain-other"), "{error}");

    let mut saved = saved_org();
    saved.format = "medchain-answer/0".into();
    assert!(matches!(
        saved.verify(&light()),
        Err(VerifyError::SavedFormat(_))
    ));
}

/// A finalized block holding `tx` at position 1, and the node's status for `tx`.
fn evidence(tx: TxId) -> TxEvidence {
    let mut world = World::new();
    world.audited_org(&Actor::new(1), &org_name("A"), OrgKind::Hospital);
    let other = TxId::of_encoded(b"another transaction");
    let mut header = header_with(&world, &[other, tx]);
    let receipt = |tx: TxId, index: u32| Receipt {
        tx,
        height: header.height,
        index,
        events: vec![],
    };
    let leaves = [receipt(other, 0).leaf(), receipt(tx, 1).leaf()];
    header.receipts_root = medchain_types::receipts_root(&leaves);
    let proof = medchain_types::receipts_tree(&leaves).proof(1).unwrap();
    TxEvidence {
        status: TxStatusView {
            id: tx,
            status: TxState::Finalized,
            receipt: Some(receipt(tx, 1)),
            receipt_proof: Some(hex::encode(commonware_codec::Encode::encode(&proof))),
            waiting_for: None,
            dropped: None,
        },
        block: BlockView {
            header: HeaderView::from(&header),
            tx_ids: vec![other, tx],
            finalization: certified_by(&[0, 1, 3], &header),
        },
    }
}

#[test]
fn a_saved_transaction_verifies_its_inclusion_offline() {
    let tx = TxId::of_encoded(b"the transaction");
    let saved = Answer::Transaction(evidence(tx));
    let text = serde_json::to_string(&saved).unwrap();
    assert!(text.contains("\"kind\":\"transaction\""), "{text}");
    let saved: Answer = serde_json::from_str(&text).unwrap();
    let Proven::Transaction(confirmed) = saved.verify(&light()).unwrap() else {
        panic!("not a transaction");
    };
    assert_eq!(confirmed.receipt.tx, tx);
    assert_eq!(confirmed.block.tx_ids[1], tx);
}

#[test]
fn a_transaction_answer_naming_the_wrong_position_or_no_receipt_is_refused() {
    let tx = TxId::of_encoded(b"the transaction");
    let mut moved = evidence(tx);
    if let Some(receipt) = &mut moved.status.receipt {
        receipt.index = 0;
    }
    assert!(matches!(
        moved.verify(&light()),
        Err(VerifyError::NotIncluded { .. })
    ));
    let mut pending = evidence(tx);
    pending.status.status = TxState::Pending;
    assert!(matches!(
        pending.verify(&light()),
        Err(VerifyError::NotFinalized { .. })
    ));
}

#[test]
fn a_saved_block_must_be_the_height_asked_for() {
    let tx = TxId::of_encoded(b"the transaction");
    let block = evidence(tx).block;
    let height = block.header.height;
    let asked = |height| Answer::Block {
        height,
        answer: block.clone(),
    };
    assert!(matches!(
        asked(height).verify(&light()),
        Ok(Proven::Block(_))
    ));
    assert!(matches!(
        asked(height + 1).verify(&light()),
        Err(VerifyError::OtherQuestion { .. })
    ));
}

#[test]
fn lag_counts_blocks_and_time_behind_the_newest() {
    let tx = TxId::of_encoded(b"the transaction");
    let older = light().verify_block(&evidence(tx).block).unwrap().at;
    let mut world = World::new();
    for (founder, name) in [(1, "A"), (2, "B"), (3, "C")] {
        world.audited_org(&Actor::new(founder), &org_name(name), OrgKind::Hospital);
    }
    let header = header_at(&world);
    let newer = light()
        .verify_header(
            &HeaderView::from(&header),
            certified_by(&[0, 1, 2], &header).as_deref(),
        )
        .unwrap();
    let lag = Lag::between(&older, &newer);
    assert_eq!(lag.blocks, newer.header.height - older.header.height);
    assert!(lag.blocks > 0);
    assert_eq!(
        lag.millis,
        newer.header.timestamp_ms - older.header.timestamp_ms
    );
    assert_eq!(Lag::between(&newer, &older).blocks, 0, "never negative");
}
