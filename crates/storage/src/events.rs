//! Binary encoding of a transaction's events, for the `receipts` table. `medchain-types`
//! gives [`Event`] serde (for JSON) but no canonical codec, so the store defines one: a count,
//! then per event a tag byte and its fields in declaration order, with the codecs of the
//! field types. Decoding is bounded and rejects trailing bytes.

use bytes::{Buf as _, BufMut};
use commonware_codec::{Buf, Copying, Error as CodecError, RangeCfg, Read, ReadExt, Write};
use medchain_state::values::{read_decision, write_decision};
use medchain_types::{
    Address, ConsentId, ContentHash, Event, OrgKind, OrgName, OrgState, Purpose, RecordId,
};

/// Most events one transaction may have in a stored receipt.
pub const MAX_EVENTS_PER_TX: usize = 1_024;

/// Writes each value in order.
macro_rules! put {
    ($buf:expr; $($value:expr),+ $(,)?) => {{ $(($value).write($buf);)+ }};
}

/// Encodes a transaction's events.
pub fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(8 + 160 * events.len());
    events.len().write(&mut buf);
    for event in events {
        write_event(event, &mut buf);
    }
    buf
}

/// Decodes [`encode_events`] output; anything else is an error.
pub fn decode_events(bytes: &[u8]) -> Result<Vec<Event>, CodecError> {
    let mut buf = Copying(bytes);
    let count = usize::read_cfg(&mut buf, &RangeCfg::from(0..=MAX_EVENTS_PER_TX))?;
    let events = (0..count)
        .map(|_| read_event(&mut buf))
        .collect::<Result<Vec<_>, _>>()?;
    match buf.remaining() {
        0 => Ok(events),
        extra => Err(CodecError::ExtraData(extra)),
    }
}

fn write_event(event: &Event, buf: &mut impl BufMut) {
    match event {
        Event::OrgRegistered {
            name,
            kind,
            founder,
        } => put!(buf; 0u8, name, *kind, founder),
        Event::OrgStateChanged { name, from, to } => put!(buf; 1u8, name, *from, *to),
        Event::MemberJoined {
            name,
            member,
            endorser,
        } => put!(buf; 2u8, name, member, endorser),
        Event::RecordReleased {
            record,
            patient,
            doctor,
            hospital,
        } => put!(buf; 3u8, *record, patient, doctor, hospital),
        Event::RecordStored { record, blob_hash } => put!(buf; 4u8, *record, *blob_hash),
        Event::ConsentGranted {
            consent,
            patient,
            grantee,
        } => put!(buf; 5u8, *consent, patient, grantee),
        Event::ConsentRevoked { consent } => put!(buf; 6u8, *consent),
        Event::AccessDecided {
            record,
            requester,
            purpose,
            decision,
        } => {
            put!(buf; 7u8, *record, requester, *purpose);
            write_decision(decision, buf);
        }
    }
}

fn read_event(buf: &mut impl Buf) -> Result<Event, CodecError> {
    Ok(match u8::read(buf)? {
        0 => Event::OrgRegistered {
            name: OrgName::read(buf)?,
            kind: OrgKind::read(buf)?,
            founder: Address::read(buf)?,
        },
        1 => Event::OrgStateChanged {
            name: OrgName::read(buf)?,
            from: OrgState::read(buf)?,
            to: OrgState::read(buf)?,
        },
        2 => Event::MemberJoined {
            name: OrgName::read(buf)?,
            member: Address::read(buf)?,
            endorser: Address::read(buf)?,
        },
        3 => Event::RecordReleased {
            record: RecordId::read(buf)?,
            patient: Address::read(buf)?,
            doctor: Address::read(buf)?,
            hospital: OrgName::read(buf)?,
        },
        4 => Event::RecordStored {
            record: RecordId::read(buf)?,
            blob_hash: ContentHash::read(buf)?,
        },
        5 => Event::ConsentGranted {
            consent: ConsentId::read(buf)?,
            patient: Address::read(buf)?,
            grantee: Address::read(buf)?,
        },
        6 => Event::ConsentRevoked {
            consent: ConsentId::read(buf)?,
        },
        7 => Event::AccessDecided {
            record: RecordId::read(buf)?,
            requester: Address::read(buf)?,
            purpose: Purpose::read(buf)?,
            decision: read_decision(buf)?,
        },
        other => return Err(CodecError::InvalidEnum(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_state::testkit::{address, org_name, record_id};
    use medchain_types::{AccessDecision, DenyReason};

    fn every_event() -> Vec<Event> {
        let name = org_name("Seoul General");
        vec![
            Event::OrgRegistered {
                name: name.clone(),
                kind: OrgKind::Cloud,
                founder: address(1),
            },
            Event::OrgStateChanged {
                name: name.clone(),
                from: OrgState::ToAudit,
                to: OrgState::Audited,
            },
            Event::MemberJoined {
                name: name.clone(),
                member: address(2),
                endorser: address(1),
            },
            Event::RecordReleased {
                record: record_id(1),
                patient: address(3),
                doctor: address(2),
                hospital: name,
            },
            Event::RecordStored {
                record: record_id(1),
                blob_hash: ContentHash::of(b"blob"),
            },
            Event::ConsentGranted {
                consent: ConsentId(record_id(2).0),
                patient: address(3),
                grantee: address(4),
            },
            Event::ConsentRevoked {
                consent: ConsentId(record_id(2).0),
            },
            Event::AccessDecided {
                record: record_id(1),
                requester: address(4),
                purpose: Purpose::Billing,
                decision: AccessDecision::Allowed {
                    consent: Some(ConsentId(record_id(2).0)),
                },
            },
            Event::AccessDecided {
                record: record_id(1),
                requester: address(5),
                purpose: Purpose::PublicHealth,
                decision: AccessDecision::Denied {
                    reason: DenyReason::ConsentExpired,
                },
            },
        ]
    }

    #[test]
    fn every_event_round_trips_canonically() {
        let events = every_event();
        let bytes = encode_events(&events);
        assert_eq!(decode_events(&bytes).unwrap(), events);
        for event in &events {
            let one = encode_events(std::slice::from_ref(event));
            assert_eq!(decode_events(&one).unwrap(), vec![event.clone()]);
        }
        assert_eq!(decode_events(&encode_events(&[])).unwrap(), vec![]);
    }

    #[test]
    fn malformed_event_bytes_are_refused() {
        let bytes = encode_events(&every_event());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode_events(&trailing),
            Err(CodecError::ExtraData(1))
        ));
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_events(&bytes[..cut]).is_err());
        }
        // An unknown event tag.
        assert!(matches!(
            decode_events(&[1, 8]),
            Err(CodecError::InvalidEnum(8))
        ));
        // A count above the bound.
        let mut too_many = Vec::new();
        (MAX_EVENTS_PER_TX + 1).write(&mut too_many);
        assert!(decode_events(&too_many).is_err());
    }
}
